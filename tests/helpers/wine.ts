import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { repoRoot } from './shared-data.js';

/** Debian installs Wine's 64-bit loader here and puts no `wine64` on PATH. */
const WINE_CANDIDATES = ['/usr/lib/wine/wine64', '/usr/bin/wine64', '/opt/wine-stable/bin/wine64'];
const MINGW = process.env.MINGW_CXX ?? 'x86_64-w64-mingw32-g++-posix';

export interface WineTrainer {
  available: boolean;
  /** Why it cannot run here (null when available): goes into the skipped suite's name. */
  reason: string | null;
  wine: string;
  /** ilf-trainer.exe, cross-compiled by build-trainer.mjs. */
  exe: string;
  /** Environment for wine: a prefix outside the clone, cached between runs (its first creation is slow). */
  env: NodeJS.ProcessEnv;
}

const onPath = (command: string): boolean => spawnSync('sh', ['-c', `command -v "$1"`, 'sh', command], { stdio: 'ignore' }).status === 0;

/**
 * The prefix .ci/setup-win creates, keyed by Wine's version (a prefix made by another version is
 * upgraded on first use, which is slow): ${XDG_CACHE_HOME:-~/.cache}/ilf-studio/wine-prefix-<version>.
 */
export function winePrefix(wine: string): string {
  const version = execFileSync(wine, ['--version'], { encoding: 'utf8' }).trim().replace(/[^A-Za-z0-9.]/g, '_');
  const cache = process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache');
  return path.join(cache, 'ilf-studio', `wine-prefix-${version}`);
}

/** A Linux path as the Windows program sees it: Wine maps Z: to /. */
export const winePath = (file: string): string => `Z:${path.resolve(file).replaceAll('/', '\\')}`;

/**
 * Wine and mingw-w64, with the Windows trainer built. In CI (CI=true) both must be there (.ci/setup-win
 * installs them), so a missing one fails the run; elsewhere the suite is skipped with the reason.
 */
export function wineTrainer(): WineTrainer {
  const wine = WINE_CANDIDATES.find((c) => fs.existsSync(c)) ?? '';
  const exe = path.join(repoRoot, 'native-models', 'bin', 'win32-x64', 'ilf-trainer.exe');
  const missing = [
    wine ? null : `wine64 is not installed (looked in ${WINE_CANDIDATES.join(', ')}; Debian: apt-get install wine64)`,
    onPath(MINGW) ? null : `the mingw-w64 compiler ${MINGW} is not installed (Debian: apt-get install g++-mingw-w64-x86-64-posix)`,
  ].filter((m): m is string => m !== null);
  let reason = missing.length > 0 ? missing.join('; ') : null;
  let env: NodeJS.ProcessEnv = {};
  if (reason === null) {
    // Up to date costs nothing; otherwise a ~20 s cross-compile.
    const built = spawnSync(process.execPath, [path.join(repoRoot, 'native-models', 'tools', 'build-trainer.mjs'), '--target', 'win32-x64'], { encoding: 'utf8' });
    if (built.status !== 0) reason = `cross-compiling the trainer failed: ${built.stderr.trim()}`;
    // mscoree/mshtml off: a new prefix would otherwise try to install Mono and Gecko. WINEDEBUG: no fixme noise.
    env = { ...process.env, WINEPREFIX: winePrefix(wine), WINEDEBUG: '-all', WINEDLLOVERRIDES: 'mscoree,mshtml=' };
  }
  if (reason !== null && process.env.CI) throw new Error(`CI must be able to run the Windows trainer under Wine: ${reason}`);
  return { available: reason === null, reason, wine, exe, env };
}
