import os from 'node:os';
import path from 'node:path';

export const APP_NAME = 'ILF Studio';
export const DATABASE_FILE = 'ilf.sqlite';

/**
 * The same folder Electron's app.getPath('userData') gives for our productName, computed without
 * Electron so the CLI and the app share one store.
 */
export function defaultDataDir(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): string {
  const home = os.homedir();
  if (platform === 'win32') return path.join(env.APPDATA ?? path.join(home, 'AppData', 'Roaming'), APP_NAME);
  if (platform === 'darwin') return path.join(home, 'Library', 'Application Support', APP_NAME);
  return path.join(env.XDG_CONFIG_HOME ?? path.join(home, '.config'), APP_NAME);
}

/** --data-dir wins, then ILF_DATA_DIR, then the app's user data folder. */
export function resolveDataDir(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const chosen = flag ?? env.ILF_DATA_DIR;
  return chosen ? path.resolve(chosen) : defaultDataDir(env);
}

export function databasePath(dataDir: string): string {
  return path.join(dataDir, DATABASE_FILE);
}
