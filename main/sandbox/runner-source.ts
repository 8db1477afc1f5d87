import fs from 'node:fs';

let cached: string | undefined;

/**
 * The in-sandbox runner, passed to `python3 -c` so that no host file needs to be mounted into the
 * sandbox. Kept as a real .py file for editing and linting; the build copies it beside this module.
 */
export function runnerSource(): string {
  cached ??= fs.readFileSync(new URL('./runner.py', import.meta.url), 'utf8');
  return cached;
}
