import fs from 'node:fs/promises';
import { AppError } from '../../main/errors.js';
import { encodeMetadata, type MetadataValue } from './file-writer.js';
import { alignUp } from './format.js';
import { readGgufInfo } from './reader.js';

/**
 * Adds string keys to an existing GGUF file: the header's key/value section grows, the tensor table and data are
 * copied unchanged (tensor offsets are relative to the data section, which only moves to the new alignment
 * boundary). Written under a temporary name and renamed, so the file is never half-rewritten. A key already
 * there with the same value is left alone; with another value it is an error (a file never silently changes
 * identity).
 */
export async function addGgufMetadata(file: string, entries: ReadonlyArray<readonly [string, string]>): Promise<void> {
  const info = await readGgufInfo(file);
  const fresh: Array<readonly [string, MetadataValue]> = [];
  for (const [key, value] of entries) {
    const existing = info.metadata[key];
    if (existing === undefined) fresh.push([key, { type: 'string', value }]);
    else if (existing !== value) throw new AppError('BAD_INPUT', `${file} already has ${key} = ${String(existing)}, not ${value}`, 'leave the file as it is');
  }
  if (fresh.length === 0) return;
  const source = await fs.open(file, 'r');
  const temporary = `${file}.partial-${process.pid}`;
  const out = await fs.open(temporary, 'w');
  try {
    const head = Buffer.alloc(info.tensorTableEnd);
    await source.read(head, 0, head.length, 0);
    // Bytes 16–23 hold the key/value count.
    head.writeBigUInt64LE(head.readBigUInt64LE(16) + BigInt(fresh.length), 16);
    const added = encodeMetadata(fresh);
    const headerLength = info.tensorTableEnd + added.length;
    const padding = Buffer.alloc(alignUp(headerLength, info.alignment) - headerLength);
    await out.write(head.subarray(0, info.metadataEnd));
    await out.write(added);
    await out.write(head.subarray(info.metadataEnd));
    await out.write(padding);
    const chunk = Buffer.alloc(8 << 20);
    for (let at = info.dataOffset; at < info.fileSize;) {
      const { bytesRead } = await source.read(chunk, 0, Math.min(chunk.length, info.fileSize - at), at);
      if (bytesRead === 0) throw new Error(`${file} shrank while it was being rewritten`);
      await out.write(chunk.subarray(0, bytesRead));
      at += bytesRead;
    }
    await out.sync();
  } catch (e) {
    await out.close();
    await source.close();
    await fs.rm(temporary, { force: true });
    throw e;
  }
  await out.close();
  await source.close();
  await fs.rename(temporary, file);
}
