// Before `npm start` / `npm run dist`: build better-sqlite3 for Electron's ABI into .native/electron,
// from a private copy of its sources, so the Node build in node_modules (used by `npm test` and the
// CLI) is never overwritten. Skipped when the build for this Electron and better-sqlite3 exists.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const electronVersion = require('electron/package.json').version;
const sqliteDir = path.dirname(require.resolve('better-sqlite3/package.json'));
const sqliteVersion = require('better-sqlite3/package.json').version;
const outDir = path.join(root, '.native', 'electron');
const stampFile = path.join(outDir, 'stamp.json');
const stamp = JSON.stringify({ electron: electronVersion, betterSqlite3: sqliteVersion, arch: process.arch, platform: process.platform });

if (fs.existsSync(stampFile) && fs.readFileSync(stampFile, 'utf8') === stamp && fs.existsSync(path.join(outDir, 'better_sqlite3.node'))) {
  process.exit(0);
}

const work = path.join(root, '.native', 'electron-build');
fs.rmSync(work, { recursive: true, force: true });
fs.cpSync(sqliteDir, work, { recursive: true, filter: (src) => !src.includes(`${path.sep}build${path.sep}`) && !src.endsWith(`${path.sep}build`) });
console.log(`building better-sqlite3 ${sqliteVersion} for Electron ${electronVersion}…`);
const env = { ...process.env };
// A user-level nodedir (set on some machines for Node's own headers) would build against Node's ABI.
for (const key of Object.keys(env)) if (/^npm_config_nodedir$/i.test(key)) delete env[key];
const nodeGyp = require.resolve('node-gyp/bin/node-gyp.js');
try {
  execFileSync(process.execPath, [nodeGyp, 'rebuild', '--release', `--target=${electronVersion}`, '--runtime=electron',
    '--dist-url=https://electronjs.org/headers', `--arch=${process.arch}`], { cwd: work, stdio: 'inherit', env });
} catch {
  console.error('could not build better-sqlite3 for Electron: it needs Electron\'s headers (downloaded from electronjs.org) and a C++ toolchain (python3, make, g++)');
  process.exit(1);
}
fs.mkdirSync(outDir, { recursive: true });
fs.copyFileSync(path.join(work, 'build', 'Release', 'better_sqlite3.node'), path.join(outDir, 'better_sqlite3.node'));
fs.writeFileSync(stampFile, stamp);
fs.rmSync(work, { recursive: true, force: true });
console.log(`better-sqlite3 for Electron is in ${path.relative(root, outDir)}`);
