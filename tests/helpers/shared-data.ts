import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Free of vitest, so benchmarks can use it too. */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** ../shared/data beside the clone: read there, never copied into the project. */
export function sharedData(file: string): string {
  const full = path.resolve(repoRoot, '..', 'shared', 'data', file);
  if (!fs.existsSync(full)) throw new Error(`${full} is missing: tests and benchmarks expect ../shared/data beside the repository`);
  return full;
}
