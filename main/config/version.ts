import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

let root: { dir: string; version: string } | undefined;

/** The folder holding our package.json, found by walking up from this module (src or dist). */
function packageRoot(): { dir: string; version: string } {
  if (root) return root;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = path.join(dir, 'package.json');
    if (fs.existsSync(candidate)) {
      const pkg = JSON.parse(fs.readFileSync(candidate, 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === 'ilf-studio' && typeof pkg.version === 'string') return (root = { dir, version: pkg.version });
    }
    const parent = path.dirname(dir);
    if (parent === dir) return (root = { dir: process.cwd(), version: '0.0.0' });
    dir = parent;
  }
}

/** The app's version from package.json. */
export function appVersion(): string {
  return packageRoot().version;
}

/** Where `npm run build` puts the renderer bundle. */
export function rendererDistDir(): string {
  return path.join(packageRoot().dir, 'dist', 'renderer');
}

/** The folder of our package.json (inside app.asar when packaged). */
export function packageDir(): string {
  return packageRoot().dir;
}
