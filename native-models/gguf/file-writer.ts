import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import {
  DEFAULT_ALIGNMENT,
  GGUF_MAGIC,
  GgufValueType,
  MAX_TENSOR_DIMS,
  MAX_TENSOR_NAME_BYTES,
  WRITTEN_GGUF_VERSION,
  alignUp,
  ggmlTypeByName,
  tensorByteSize,
} from './format.js';
import { BLOCK_ELEMENTS, encodeGridChunk, encodeTensorChunk, encodedBytes, type WritableTensorType } from './quantize.js';

export type { WritableTensorType } from './quantize.js';

/**
 * A metadata value with its GGUF type spelled out: llama.cpp checks types strictly (a context length stored as
 * u64 instead of u32 fails to load with "key … has wrong type"), so the writer never guesses them.
 */
export type MetadataValue =
  | { readonly type: 'string'; readonly value: string }
  | { readonly type: 'uint32'; readonly value: number }
  | { readonly type: 'int32'; readonly value: number }
  | { readonly type: 'uint64'; readonly value: bigint }
  | { readonly type: 'float32'; readonly value: number }
  | { readonly type: 'bool'; readonly value: boolean }
  | { readonly type: 'string[]'; readonly value: readonly string[] }
  | { readonly type: 'int32[]'; readonly value: readonly number[] }
  | { readonly type: 'float32[]'; readonly value: readonly number[] };

export const meta = {
  string: (value: string): MetadataValue => ({ type: 'string', value }),
  uint32: (value: number): MetadataValue => ({ type: 'uint32', value }),
  int32: (value: number): MetadataValue => ({ type: 'int32', value }),
  uint64: (value: bigint): MetadataValue => ({ type: 'uint64', value }),
  float32: (value: number): MetadataValue => ({ type: 'float32', value }),
  bool: (value: boolean): MetadataValue => ({ type: 'bool', value }),
  strings: (value: readonly string[]): MetadataValue => ({ type: 'string[]', value }),
  int32s: (value: readonly number[]): MetadataValue => ({ type: 'int32[]', value }),
  float32s: (value: readonly number[]): MetadataValue => ({ type: 'float32[]', value }),
};

export interface TensorSource {
  readonly name: string;
  /** ggml order: dims[0] is the row length. */
  readonly dims: readonly number[];
  readonly type: WritableTensorType;
  /** Fills `out` with the tensor's next `out.length` values in storage order; called until all are produced. */
  readonly fill: (out: Float32Array) => void;
  /**
   * The same values as int8 × scale, when they lie on that grid (`scale` exactly representable in F16): then F32,
   * F16, BF16 and Q8_0 are encoded by table lookup instead of per-value arithmetic.
   */
  readonly grid?: { readonly scale: number; readonly fill: (out: Int8Array) => void };
}

export interface WrittenFile {
  readonly sha256: string;
  readonly sizeBytes: number;
}

/** Values are produced and converted in chunks of this many elements: 4 MiB of float32, small enough to stay in cache-friendly reuse. */
const CHUNK_ELEMENTS = 1 << 20;
/** Output is gathered into writes of this size; a few large writes are what makes a 100 MB file take well under a second. */
const SINK_BYTES = 8 << 20;

/**
 * Writes a GGUF v3 file: header, metadata, tensor table, then each tensor's data padded to the alignment. The file
 * is written under a temporary name and renamed into place, so a crash never leaves a half-written model where a
 * complete one is expected. The SHA-256 is computed from the bytes as they are written.
 */
export async function writeGguf(
  file: string,
  metadata: ReadonlyArray<readonly [string, MetadataValue]>,
  tensors: readonly TensorSource[],
): Promise<WrittenFile> {
  if (os.endianness() !== 'LE') throw new Error('GGUF files are written little-endian; this machine is big-endian');
  const header = encodeHeader(metadata, tensors);
  const temporary = `${file}.partial-${process.pid}`;
  const handle = await fs.open(temporary, 'w');
  const sink = new HashingSink(handle);
  try {
    await sink.write(header);
    await sink.pad(DEFAULT_ALIGNMENT);
    const values = new Float32Array(CHUNK_ELEMENTS);
    const encoded = new Uint8Array(CHUNK_ELEMENTS * 4);
    const grid = new Int8Array(CHUNK_ELEMENTS);
    for (const tensor of tensors) {
      let left = tensor.dims.reduce((product, d) => product * d, 1);
      if (left % BLOCK_ELEMENTS[tensor.type] !== 0) throw new Error(`tensor ${tensor.name}: ${left} values are not whole ${tensor.type} blocks`);
      while (left > 0) {
        // CHUNK_ELEMENTS is a multiple of every block size, so chunks never split a block.
        const n = Math.min(left, CHUNK_ELEMENTS);
        const out = encoded.subarray(0, encodedBytes(tensor.type, n));
        if (tensor.grid && tensor.type !== 'Q4_0') {
          const q = grid.subarray(0, n);
          tensor.grid.fill(q);
          await sink.write(encodeGridChunk(tensor.type, tensor.grid.scale, q, out));
        } else {
          const chunk = values.subarray(0, n);
          tensor.fill(chunk);
          await sink.write(encodeTensorChunk(tensor.type, chunk, out));
        }
        left -= n;
      }
      await sink.pad(DEFAULT_ALIGNMENT);
    }
    await sink.flush();
    await handle.sync();
  } catch (e) {
    await handle.close();
    await fs.rm(temporary, { force: true });
    throw e;
  }
  await handle.close();
  await fs.rename(temporary, file);
  return { sha256: sink.digest(), sizeBytes: sink.written };
}

/** Gathers small writes (norm vectors, padding) into large ones and hashes everything that goes out. */
class HashingSink {
  private readonly buffer = Buffer.allocUnsafe(SINK_BYTES);
  private used = 0;
  private readonly hash = crypto.createHash('sha256');
  written = 0;

  constructor(private readonly handle: fs.FileHandle) {}

  async write(bytes: Uint8Array): Promise<void> {
    if (this.used + bytes.length > this.buffer.length) await this.flush();
    if (bytes.length >= this.buffer.length) {
      await this.out(bytes);
      return;
    }
    this.buffer.set(bytes, this.used);
    this.used += bytes.length;
  }

  /** Zero bytes up to the next multiple of `alignment` in the file. */
  async pad(alignment: number): Promise<void> {
    const position = this.written + this.used;
    const padding = alignUp(position, alignment) - position;
    if (padding > 0) await this.write(new Uint8Array(padding));
  }

  async flush(): Promise<void> {
    if (this.used === 0) return;
    await this.out(this.buffer.subarray(0, this.used));
    this.used = 0;
  }

  private async out(bytes: Uint8Array): Promise<void> {
    this.hash.update(bytes);
    let done = 0;
    while (done < bytes.length) {
      const { bytesWritten } = await this.handle.write(bytes, done, bytes.length - done);
      done += bytesWritten;
    }
    this.written += bytes.length;
  }

  digest(): string {
    return this.hash.digest('hex');
  }
}

/** Grows as the header is encoded; headers are small (the tiny vocabulary is a few kilobytes). */
class ByteBuilder {
  private buffer = Buffer.alloc(64 << 10);
  length = 0;

  /** Grows the buffer if needed; callers take the position first, since growing replaces `this.buffer`. */
  private reserve(n: number): number {
    if (this.length + n > this.buffer.length) {
      const bigger = Buffer.alloc(Math.max(this.buffer.length * 2, this.length + n));
      this.buffer.copy(bigger, 0, 0, this.length);
      this.buffer = bigger;
    }
    const at = this.length;
    this.length += n;
    return at;
  }

  u8(v: number): void {
    const at = this.reserve(1);
    this.buffer.writeUInt8(v, at);
  }
  u32(v: number): void {
    const at = this.reserve(4);
    this.buffer.writeUInt32LE(v, at);
  }
  i32(v: number): void {
    const at = this.reserve(4);
    this.buffer.writeInt32LE(v, at);
  }
  u64(v: bigint | number): void {
    const at = this.reserve(8);
    this.buffer.writeBigUInt64LE(BigInt(v), at);
  }
  f32(v: number): void {
    const at = this.reserve(4);
    this.buffer.writeFloatLE(v, at);
  }
  string(s: string): void {
    const bytes = Buffer.from(s, 'utf8');
    this.u64(bytes.length);
    const at = this.reserve(bytes.length);
    bytes.copy(this.buffer, at);
  }

  bytes(): Buffer {
    return this.buffer.subarray(0, this.length);
  }
}

function encodeHeader(metadata: ReadonlyArray<readonly [string, MetadataValue]>, tensors: readonly TensorSource[]): Buffer {
  const out = new ByteBuilder();
  for (const ch of GGUF_MAGIC) out.u8(ch.charCodeAt(0));
  out.u32(WRITTEN_GGUF_VERSION);
  out.u64(tensors.length);
  out.u64(metadata.length);

  const keys = new Set<string>();
  for (const [key, value] of metadata) {
    if (keys.has(key)) throw new Error(`metadata key ${key} given twice`);
    keys.add(key);
    out.string(key);
    encodeValue(out, value);
  }

  let offset = 0;
  const names = new Set<string>();
  for (const tensor of tensors) {
    const type = ggmlTypeByName(tensor.type);
    const bytes = type && tensorByteSize(type, tensor.dims);
    if (!type || bytes === undefined) throw new Error(`tensor ${tensor.name}: cannot store ${tensor.dims.join('×')} as ${tensor.type}`);
    if (Buffer.byteLength(tensor.name) > MAX_TENSOR_NAME_BYTES) throw new Error(`tensor name ${tensor.name} is too long for ggml`);
    if (tensor.dims.length === 0 || tensor.dims.length > MAX_TENSOR_DIMS) throw new Error(`tensor ${tensor.name} has ${tensor.dims.length} dimensions`);
    if (names.has(tensor.name)) throw new Error(`tensor ${tensor.name} given twice`);
    names.add(tensor.name);
    out.string(tensor.name);
    out.u32(tensor.dims.length);
    for (const d of tensor.dims) out.u64(d);
    out.u32(type.id);
    // ggml requires each offset to be exactly the previous tensor's padded end.
    out.u64(offset);
    offset += alignUp(bytes, DEFAULT_ALIGNMENT);
  }
  return out.bytes();
}

/** Key/value pairs as they appear in a header, for adding keys to an existing file (see add-metadata.ts). */
export function encodeMetadata(metadata: ReadonlyArray<readonly [string, MetadataValue]>): Buffer {
  const out = new ByteBuilder();
  for (const [key, value] of metadata) {
    out.string(key);
    encodeValue(out, value);
  }
  return Buffer.from(out.bytes());
}

function encodeValue(out: ByteBuilder, value: MetadataValue): void {
  switch (value.type) {
    case 'string':
      out.u32(GgufValueType.STRING);
      out.string(value.value);
      return;
    case 'uint32':
      out.u32(GgufValueType.UINT32);
      out.u32(value.value);
      return;
    case 'int32':
      out.u32(GgufValueType.INT32);
      out.i32(value.value);
      return;
    case 'uint64':
      out.u32(GgufValueType.UINT64);
      out.u64(value.value);
      return;
    case 'float32':
      out.u32(GgufValueType.FLOAT32);
      out.f32(value.value);
      return;
    case 'bool':
      out.u32(GgufValueType.BOOL);
      out.u8(value.value ? 1 : 0);
      return;
    case 'string[]':
      arrayHeader(out, GgufValueType.STRING, value.value.length);
      for (const s of value.value) out.string(s);
      return;
    case 'int32[]':
      arrayHeader(out, GgufValueType.INT32, value.value.length);
      for (const n of value.value) out.i32(n);
      return;
    case 'float32[]':
      arrayHeader(out, GgufValueType.FLOAT32, value.value.length);
      for (const n of value.value) out.f32(n);
      return;
  }
}

function arrayHeader(out: ByteBuilder, itemType: number, length: number): void {
  out.u32(GgufValueType.ARRAY);
  out.u32(itemType);
  out.u64(length);
}
