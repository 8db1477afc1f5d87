import fs from 'node:fs/promises';
import { AppError } from '../../main/errors.js';
import { encodeMetadata, type MetadataValue } from './file-writer.js';
import { alignUp } from './format.js';
import { readGgufInfo } from './reader.js';

export interface GgufEdit {
  /** String keys to add. One already there with the same value is left alone; with another value it is an error. */
  readonly addMetadata?: ReadonlyArray<readonly [string, string]>;
  /** Tensors to leave out. */
  readonly dropTensor?: (name: string) => boolean;
}

/**
 * Rewrites a GGUF file with keys added and tensors left out: the original key/value bytes are kept, the tensor
 * table is re-encoded with new offsets, and each kept tensor's bytes are copied unchanged. Written under a
 * temporary name and renamed, so the file is never half-rewritten. Returns false when there was nothing to change.
 */
export async function editGguf(file: string, edit: GgufEdit): Promise<boolean> {
  const info = await readGgufInfo(file);
  const fresh: Array<readonly [string, MetadataValue]> = [];
  for (const [key, value] of edit.addMetadata ?? []) {
    const existing = info.metadata[key];
    if (existing === undefined) fresh.push([key, { type: 'string', value }]);
    else if (existing !== value) throw new AppError('BAD_INPUT', `${file} already has ${key} = ${String(existing)}, not ${value}`, 'leave the file as it is');
  }
  const kept = info.tensors.filter((t) => !(edit.dropTensor?.(t.name) ?? false));
  if (fresh.length === 0 && kept.length === info.tensors.length) return false;

  const source = await fs.open(file, 'r');
  const temporary = `${file}.partial-${process.pid}`;
  const out = await fs.open(temporary, 'w');
  try {
    const original = Buffer.alloc(info.metadataEnd);
    await source.read(original, 0, original.length, 0);
    const counts = Buffer.alloc(16);
    counts.writeBigUInt64LE(BigInt(kept.length), 0);
    counts.writeBigUInt64LE(original.readBigUInt64LE(16) + BigInt(fresh.length), 8);
    const table: Buffer[] = [];
    let offset = 0;
    for (const t of kept) {
      const name = Buffer.from(t.name, 'utf8');
      const entry = Buffer.alloc(8 + name.length + 4 + 8 * t.dims.length + 4 + 8);
      let at = entry.writeBigUInt64LE(BigInt(name.length), 0);
      at += name.copy(entry, at);
      at = entry.writeUInt32LE(t.dims.length, at);
      for (const d of t.dims) at = entry.writeBigUInt64LE(BigInt(d), at);
      at = entry.writeUInt32LE(t.typeId, at);
      entry.writeBigUInt64LE(BigInt(offset), at);
      offset += alignUp(t.bytes, info.alignment);
      table.push(entry);
    }
    const header = Buffer.concat([original.subarray(0, 8), counts, original.subarray(24), encodeMetadata(fresh), ...table]);
    let written = header.length;
    await out.write(header);
    const pad = async (): Promise<void> => {
      const n = alignUp(written, info.alignment) - written;
      if (n > 0) await out.write(Buffer.alloc(n));
      written += n;
    };
    if (kept.length > 0) await pad();
    const chunk = Buffer.alloc(8 << 20);
    for (const t of kept) {
      for (let done = 0; done < t.bytes;) {
        const { bytesRead } = await source.read(chunk, 0, Math.min(chunk.length, t.bytes - done), t.offset + done);
        if (bytesRead === 0) throw new Error(`${file} shrank while it was being rewritten`);
        await out.write(chunk.subarray(0, bytesRead));
        done += bytesRead;
        written += bytesRead;
      }
      await pad();
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
  return true;
}
