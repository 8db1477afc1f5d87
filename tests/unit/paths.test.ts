import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { databasePath, defaultDataDir, resolveDataDir } from '../../main/config/paths.js';

describe('where data is kept', () => {
  it('prefers --data-dir, then ILF_DATA_DIR, then the app folder', () => {
    const env = { ILF_DATA_DIR: '/from/env', XDG_CONFIG_HOME: '/xdg' };
    expect(resolveDataDir('/from/flag', env)).toBe('/from/flag');
    expect(resolveDataDir(undefined, env)).toBe('/from/env');
    expect(resolveDataDir(undefined, { XDG_CONFIG_HOME: '/xdg' })).toBe(path.join('/xdg', 'ILF Studio'));
    expect(resolveDataDir('rel', {})).toBe(path.resolve('rel'));
  });

  it('matches Electron userData per platform', () => {
    expect(defaultDataDir({}, 'linux')).toBe(path.join(os.homedir(), '.config', 'ILF Studio'));
    expect(defaultDataDir({}, 'darwin')).toBe(path.join(os.homedir(), 'Library', 'Application Support', 'ILF Studio'));
    expect(defaultDataDir({ APPDATA: 'C:\\Users\\a\\AppData\\Roaming' }, 'win32')).toBe(path.join('C:\\Users\\a\\AppData\\Roaming', 'ILF Studio'));
    expect(databasePath('/d')).toBe(path.join('/d', 'ilf.sqlite'));
  });
});
