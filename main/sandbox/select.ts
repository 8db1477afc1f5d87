import type { SandboxBackendName } from '../../preload/contract.js';
import { AppError } from '../errors.js';
import { BwrapBackend } from './bwrap.js';
import { dockerUnreachableHint } from './docker-desktop.js';
import type { SandboxBackend } from './types.js';

export type BackendChoice = SandboxBackendName | 'auto';

export interface OpenOptions {
  /** Docker: shipping the sandbox image to a daemon that lacks it (see docker-image.ts). */
  onProgress?: (message: string, milestone: boolean) => void;
}

/**
 * Opens the chosen backend, or for 'auto' the first that works here: bubblewrap on Linux, else
 * Docker. Never falls back to running unsandboxed: if nothing works, says what to install.
 */
export async function openBackend(choice: BackendChoice = 'auto', options: OpenOptions = {}): Promise<SandboxBackend> {
  if (choice === 'bwrap') return BwrapBackend.detect();
  if (choice === 'docker') {
    const { DockerBackend } = await import('./docker.js');
    return DockerBackend.connect(options.onProgress ? { onProgress: options.onProgress } : {});
  }
  const reasons: string[] = [];
  let dockerHint: string | undefined;
  for (const name of ['bwrap', 'docker'] as const) {
    try {
      return await openBackend(name, options);
    } catch (e) {
      reasons.push(`${name}: ${e instanceof AppError ? e.message : String(e)}`);
      if (name === 'docker' && e instanceof AppError) dockerHint = e.hint;
    }
  }
  // Off Linux Docker is the only sandbox, so its own hint (install or start Docker Desktop, load the image) is the one to follow.
  throw new AppError('SANDBOX_UNAVAILABLE', `no sandbox can run programs here (${reasons.join('; ')})`,
    process.platform === 'linux' ? 'install bubblewrap (sudo apt-get install bubblewrap) or Docker' : dockerHint ?? dockerUnreachableHint());
}
