import { describeError } from '../../main/errors.js';
import { openBackend } from '../../main/sandbox/select.js';
import type { SandboxBackend, SandboxBackendName } from '../../main/sandbox/types.js';

/** One sandbox backend as a test case: always declared, skipped visibly where it cannot run. */
export interface BackendCase {
  name: SandboxBackendName;
  available: boolean;
  /** Why it cannot run here (null when available): goes into the skipped suite's name. */
  reason: string | null;
  open: () => Promise<SandboxBackend>;
}

/**
 * Both backends, always. In CI (CI=true) both must be there: .ci/run installs bubblewrap and starts
 * dockerd, so a missing one is a failure, not a skip. Elsewhere a missing one is returned with
 * available=false, so suites use `describe.skipIf(!c.available)` and show up as skipped instead of
 * vanishing.
 */
export async function backendCases(): Promise<BackendCase[]> {
  const cases: BackendCase[] = [];
  for (const name of ['bwrap', 'docker'] as const) {
    const open = (): Promise<SandboxBackend> => openBackend(name);
    try {
      const backend = await open();
      await backend.dispose();
      cases.push({ name, available: true, reason: null, open });
    } catch (e) {
      if (process.env.CI) throw new Error(`CI must be able to run the ${name} sandbox: ${describeError(e)}`, { cause: e });
      cases.push({ name, available: false, reason: describeError(e), open });
    }
  }
  return cases;
}

/** The backends this machine can run (see backendCases for suites that must not vanish). */
export async function availableBackends(): Promise<{ name: SandboxBackendName; open: () => Promise<SandboxBackend> }[]> {
  return (await backendCases()).filter((c) => c.available);
}

/**
 * One sandbox for suites that need programs run but test no backend in particular: bubblewrap where
 * it runs, else Docker. With neither, available=false and the reason, for `describe.skipIf`.
 */
export async function anyBackend(): Promise<BackendCase> {
  const cases = await backendCases();
  const usable = cases.find((c) => c.available);
  if (usable) return usable;
  return { name: 'bwrap', available: false, reason: cases.map((c) => `${c.name}: ${c.reason ?? ''}`).join('; '), open: () => openBackend('auto') };
}
