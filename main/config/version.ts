import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: string | undefined;

/** The app's version from package.json, found by walking up from this module (src or dist). */
export function appVersion(): string {
  if (cached !== undefined) return cached;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = path.join(dir, 'package.json');
    if (fs.existsSync(candidate)) {
      const pkg = JSON.parse(fs.readFileSync(candidate, 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === 'ilf-studio' && typeof pkg.version === 'string') return (cached = pkg.version);
    }
    const parent = path.dirname(dir);
    if (parent === dir) return (cached = '0.0.0');
    dir = parent;
  }
}
