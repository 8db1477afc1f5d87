import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from './shared-data.js';

/** The built `ilf` (npm test builds it first). */
export const ilfBin = path.join(repoRoot, 'dist', 'main', 'cli', 'bin.js');

export interface CliResult { code: number; stdout: string; stderr: string }

/** Throws with what to do when the CLI has not been built. */
export function requireBuiltCli(): void {
  if (!fs.existsSync(ilfBin)) throw new Error(`${ilfBin} is missing: run \`npm run build\` (npm test does it first)`);
}

/** Runs the built `ilf` as a user would: a real process with its own exit code. ILF_DATA_DIR is cleared unless given. */
export async function ilf(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return promisify(execFile)(process.execPath, [ilfBin, ...args], { env: { ...process.env, ILF_DATA_DIR: '', ...env }, maxBuffer: 64 * 1024 * 1024 })
    .then(({ stdout, stderr }) => ({ code: 0, stdout, stderr }), (e: unknown) => {
      const err = e as { code: number; stdout: string; stderr: string };
      return { code: err.code, stdout: err.stdout, stderr: err.stderr };
    });
}
