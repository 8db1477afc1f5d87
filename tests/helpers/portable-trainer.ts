import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describeError } from '../../main/errors.js';
import { trainerBinary } from '../../main/training/trainer-binary.js';
import { repoRoot } from './shared-data.js';

/** Debian installs Wine's 64-bit loader here and puts no `wine64` on PATH. */
const WINE_CANDIDATES = ['/usr/lib/wine/wine64', '/usr/bin/wine64', '/opt/wine-stable/bin/wine64'];
const MINGW = process.env.MINGW_CXX ?? 'x86_64-w64-mingw32-g++-posix';

/**
 * The trainer a non-Linux user runs: on Linux, ilf-trainer.exe (cross-compiled with mingw-w64) under
 * Wine; on macOS and Windows (CI), the trainer built natively there.
 */
export interface PortableTrainer {
  available: boolean;
  /** Why it cannot run here (null when available): goes into the skipped suite's name. */
  reason: string | null;
  /** What the suite runs, for its name. */
  label: string;
  /** The program to start and the arguments before the trainer's own (Wine: the loader, then the exe). */
  command: string;
  prefix: string[];
  /** A path on this machine as the trainer sees it. */
  path: (file: string) => string;
  env: NodeJS.ProcessEnv;
}

const onPath = (command: string): boolean => spawnSync('sh', ['-c', 'command -v "$1"', 'sh', command], { stdio: 'ignore' }).status === 0;

/**
 * The prefix .ci/setup-win creates, keyed by Wine's version (a prefix made by another version is
 * upgraded on first use, which is slow): ${XDG_CACHE_HOME:-~/.cache}/ilf-studio/wine-prefix-<version>.
 */
export function winePrefix(wine: string): string {
  const version = execFileSync(wine, ['--version'], { encoding: 'utf8' }).trim().replace(/[^A-Za-z0-9.]/g, '_');
  const cache = process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache');
  return path.join(cache, 'ilf-studio', `wine-prefix-${version}`);
}

/** A Linux path as a Windows program under Wine sees it: Wine maps Z: to /. */
export const winePath = (file: string): string => `Z:${path.resolve(file).replaceAll('/', '\\')}`;

function underWine(): PortableTrainer {
  const wine = WINE_CANDIDATES.find((c) => fs.existsSync(c)) ?? '';
  const exe = path.join(repoRoot, 'native-models', 'bin', 'win32-x64', 'ilf-trainer.exe');
  const missing = [
    wine ? null : `wine64 is not installed (looked in ${WINE_CANDIDATES.join(', ')}; Debian: apt-get install wine64, or run .ci/setup-win)`,
    onPath(MINGW) ? null : `the mingw-w64 compiler ${MINGW} is not installed (Debian: apt-get install g++-mingw-w64-x86-64-posix)`,
  ].filter((m): m is string => m !== null);
  let reason = missing.length > 0 ? missing.join('; ') : null;
  if (reason === null) {
    // Up to date costs nothing; otherwise a ~20 s cross-compile.
    const built = spawnSync(process.execPath, [path.join(repoRoot, 'native-models', 'tools', 'build-trainer.mjs'), '--target', 'win32-x64'], { encoding: 'utf8' });
    if (built.status !== 0) reason = `cross-compiling the trainer failed: ${built.stderr.trim()}`;
  }
  return {
    available: reason === null, reason, label: 'the Windows trainer (mingw-w64) under Wine', command: wine, prefix: [exe], path: winePath,
    // mscoree/mshtml off: a new prefix would otherwise try to install Mono and Gecko. WINEDEBUG: no fixme noise.
    env: reason === null ? { ...process.env, WINEPREFIX: winePrefix(wine), WINEDEBUG: '-all', WINEDLLOVERRIDES: 'mscoree,mshtml=' } : process.env,
  };
}

function native(): PortableTrainer {
  let binary = '';
  let reason: string | null = null;
  try {
    binary = trainerBinary();
  } catch (e) {
    reason = describeError(e);
  }
  return { available: reason === null, reason, label: `the ${process.platform}-${process.arch} trainer`, command: binary, prefix: [], path: (f) => path.resolve(f), env: process.env };
}

/**
 * In CI (CI=true) the trainer must run: .ci/setup-win installs Wine and mingw-w64 on Linux, the
 * workflow builds the trainer on macOS and Windows. Elsewhere the suite is skipped with the reason.
 */
export function portableTrainer(): PortableTrainer {
  const found = process.platform === 'linux' ? underWine() : native();
  if (!found.available && process.env.CI) throw new Error(`CI must be able to run ${found.label}: ${found.reason ?? ''}`);
  return found;
}
