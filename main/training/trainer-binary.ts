import fs from 'node:fs';
import path from 'node:path';
import { packageDir } from '../config/version.js';
import { AppError } from '../errors.js';

const EXE = process.platform === 'win32' ? 'ilf-trainer.exe' : 'ilf-trainer';
const PLATFORM = `${process.platform}-${process.arch}`;

/**
 * The native LoRA trainer: $ILF_TRAINER when set; in a packaged app the copy electron-builder put
 * outside the archive (resources/native/bin); otherwise what `npm run build:trainer` built.
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
      'run `npm run build:trainer` (it needs a C++17 compiler: on Debian `apt-get install g++`)');
  }
  return found;
}
