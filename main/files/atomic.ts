import fs from 'node:fs';
import path from 'node:path';

/**
 * Flushes a folder's entries to disk, so that a rename into it survives a crash. Windows cannot open
 * a folder for flushing (NTFS journals the rename itself), so there it is skipped.
 */
export async function fsyncDir(dir: string): Promise<void> {
  if (process.platform === 'win32') return;
  const handle = await fs.promises.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Writes through a temporary file in the same folder, flushes it, renames it into place and flushes
 * the folder: after a crash or a failed write the file is either the old one or the whole new one.
 */
export async function writeFileAtomic(file: string, text: string | Uint8Array): Promise<void> {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${Date.now().toString(36)}.tmp`);
  try {
    const handle = await fs.promises.open(tmp, 'wx');
    try {
      await handle.writeFile(text);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.promises.rename(tmp, file);
  } catch (e) {
    await fs.promises.rm(tmp, { force: true });
    throw e;
  }
  await fsyncDir(dir);
}
