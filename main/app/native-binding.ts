import fs from 'node:fs';
import path from 'node:path';

/**
 * better-sqlite3 compiled for Electron's ABI lives apart from the Node build in node_modules
 * (native-models/tools/ensure-electron-sqlite.mjs puts it there), so `npm test` and `npm start`
 * never overwrite each other's binary. Packaged apps carry it under resources/native.
 */
export function electronSqliteBinding(appPath: string, resourcesPath: string, packaged: boolean): string {
  const file = packaged
    ? path.join(resourcesPath, 'native', 'better_sqlite3.node')
    : path.join(appPath, '.native', 'electron', 'better_sqlite3.node');
  if (!fs.existsSync(file)) {
    throw new Error(`${file} is missing; run \`npm start\` (it builds better-sqlite3 for Electron) instead of launching electron directly`);
  }
  return file;
}
