import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach } from 'vitest';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** ../shared/data beside the clone: read there, never copied into the project. */
export function sharedData(file: string): string {
  const full = path.resolve(repoRoot, '..', 'shared', 'data', file);
  if (!fs.existsSync(full)) throw new Error(`${full} is missing: tests expect ../shared/data beside the repository`);
  return full;
}

const created: string[] = [];
afterEach(() => {
  for (const dir of created.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

/** A fresh folder removed after the current test. */
export function tempDir(prefix = 'ilf-test-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  created.push(dir);
  return dir;
}

export function writeLines(dir: string, name: string, lines: readonly string[]): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, lines.join('\n') + '\n');
  return file;
}
