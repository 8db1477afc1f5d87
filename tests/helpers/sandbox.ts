import { describeError } from '../../main/errors.js';
import { openBackend } from '../../main/sandbox/select.js';
import type { SandboxBackend, SandboxBackendName } from '../../main/sandbox/types.js';

/**
 * The backends this machine can run. In CI (CI=true) both must be there: .ci/run installs
 * bubblewrap and starts dockerd, so a missing one is a failure, not a skip.
 */
export async function availableBackends(): Promise<{ name: SandboxBackendName; open: () => Promise<SandboxBackend> }[]> {
  const found: { name: SandboxBackendName; open: () => Promise<SandboxBackend> }[] = [];
  for (const name of ['bwrap', 'docker'] as const) {
    try {
      const backend = await openBackend(name);
      await backend.dispose();
      found.push({ name, open: () => openBackend(name) });
    } catch (e) {
      if (process.env.CI) throw new Error(`CI must be able to run the ${name} sandbox: ${describeError(e)}`, { cause: e });
      console.warn(`sandbox tests: ${name} is not available here, skipped (${describeError(e)})`);
    }
  }
  return found;
}
