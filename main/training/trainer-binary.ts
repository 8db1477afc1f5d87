import fs from 'node:fs';
import path from 'node:path';
import { packageDir } from '../config/version.js';
import { AppError } from '../errors.js';

const EXE = process.platform === 'win32' ? 'ilf-trainer.exe' : 'ilf-trainer';
const PLATFORM = `${process.platform}-${process.arch}`;

const COMPILER_HINT: Partial<Record<NodeJS.Platform, string>> = {
  linux: 'on Debian `apt-get install g++`',
  darwin: 'the Xcode command line tools, `xcode-select --install`',
  win32: 'MinGW-w64 g++ on PATH, or Visual Studio\'s C++ tools from a Developer Command Prompt; on Linux `npm run build:trainer -- --target win32-x64` cross-compiles it with mingw-w64',
};

/**
 * The native LoRA trainer: $ILF_TRAINER when set; in a packaged app the copy electron-builder put
 * outside the archive (resources/native/bin/<platform>-<arch>); otherwise what `npm run build:trainer`
 * built (native-models/bin/<platform>-<arch>). On Windows that is ilf-trainer.exe with the fork's DLL
 * (qvac__fabric.bare) beside it, which the exe loads itself and names when it is missing.
 */
export function trainerBinary(): string {
  const resources = (process as NodeJS.Process & { resourcesPath?: string }).resourcesPath;
  const candidates = [
    process.env.ILF_TRAINER,
    resources ? path.join(resources, 'native', 'bin', PLATFORM, EXE) : undefined,
    path.join(packageDir(), 'native-models', 'bin', PLATFORM, EXE),
  ].filter((c): c is string => c !== undefined && c !== '');
  const found = candidates.find((c) => fs.existsSync(c));
  if (!found) {
    throw new AppError('NOT_FOUND', `the LoRA trainer is not built for ${PLATFORM} (looked in ${candidates.join(', ')})`,
      `run \`npm run build:trainer\` (it needs a C++17 compiler: ${COMPILER_HINT[process.platform] ?? 'g++ or clang++'})`);
  }
  return found;
}
