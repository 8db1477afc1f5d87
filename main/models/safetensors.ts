import fs from 'node:fs';
import { AppError } from '../errors.js';

/** One tensor of a .safetensors file: torch order shape (shape[0] is the outermost dimension). */
export interface SafeTensor {
  name: string;
  dtype: 'F32' | 'F16' | 'BF16';
  shape: number[];
  /** The raw little-endian bytes. */
  data: Buffer;
}

const DTYPE_BYTES = { F32: 4, F16: 2, BF16: 2 } as const;
/** The JSON header is small (a few hundred bytes per tensor); far more means a corrupt or hostile file. */
const MAX_HEADER_BYTES = 100 << 20;

function bad(file: string, why: string): AppError {
  return new AppError('BAD_INPUT', `${file} is not a usable safetensors file: ${why}`, 'save the adapter again with PEFT (`model.save_pretrained(DIR)`)');
}

/**
 * Reads a safetensors file (8-byte little-endian header length, a JSON header of
 * name → {dtype, shape, data_offsets}, then the data). Every offset and size is checked against
 * the file before use; dtypes other than F32/F16/BF16 are refused by name.
 */
export function readSafetensors(file: string): SafeTensor[] {
  const bytes = fs.readFileSync(file);
  if (bytes.length < 8) throw bad(file, 'it is shorter than its 8-byte header length');
  const headerLength = bytes.readBigUInt64LE(0);
  if (headerLength > BigInt(Math.min(MAX_HEADER_BYTES, bytes.length - 8))) throw bad(file, `its header length ${headerLength} does not fit the file`);
  const dataStart = 8 + Number(headerLength);
  let header: unknown;
  try {
    header = JSON.parse(bytes.subarray(8, dataStart).toString('utf8'));
  } catch {
    throw bad(file, 'its header is not JSON');
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw bad(file, 'its header is not a JSON object');
  const data = bytes.subarray(dataStart);
  const tensors: SafeTensor[] = [];
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') continue;
    const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof e.dtype !== 'string') throw bad(file, `tensor ${name} has no dtype`);
    if (!(e.dtype in DTYPE_BYTES)) {
      throw new AppError('BAD_INPUT', `${file}: tensor ${name} is ${e.dtype}; only F32, F16 and BF16 adapters can be imported`,
        'save the adapter in float precision (e.g. `model.to(torch.bfloat16).save_pretrained(DIR)`); quantized adapters cannot be converted');
    }
    const dtype = e.dtype as SafeTensor['dtype'];
    if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isInteger(d) && (d as number) >= 0)) throw bad(file, `tensor ${name} has a bad shape`);
    const shape = e.shape as number[];
    const offsets = e.data_offsets;
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isInteger(o) && (o as number) >= 0)) throw bad(file, `tensor ${name} has bad data_offsets`);
    const [begin, end] = offsets as [number, number];
    const expected = shape.reduce((p, d) => p * d, 1) * DTYPE_BYTES[dtype];
    if (end < begin || end > data.length) throw bad(file, `tensor ${name}'s data lies outside the file (truncated?)`);
    if (end - begin !== expected) throw bad(file, `tensor ${name} has ${end - begin} bytes, but ${dtype} ${JSON.stringify(shape)} needs ${expected}`);
    tensors.push({ name, dtype, shape, data: data.subarray(begin, end) });
  }
  return tensors;
}

/** A tensor's values as float32 (F16 and BF16 widened exactly). */
export function toFloat32(t: SafeTensor): Float32Array {
  const n = t.data.length / DTYPE_BYTES[t.dtype];
  const out = new Float32Array(n);
  if (t.dtype === 'F32') {
    for (let i = 0; i < n; i++) out[i] = t.data.readFloatLE(i * 4);
  } else if (t.dtype === 'BF16') {
    // bfloat16 is the top half of a float32.
    const word = new Uint32Array(1);
    const asFloat = new Float32Array(word.buffer);
    for (let i = 0; i < n; i++) {
      word[0] = t.data.readUInt16LE(i * 2) << 16;
      out[i] = asFloat[0] ?? 0;
    }
  } else {
    for (let i = 0; i < n; i++) out[i] = halfToFloat(t.data.readUInt16LE(i * 2));
  }
  return out;
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 0x1f) return fraction ? NaN : sign * Infinity;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

/** Writes tensors as a safetensors file (F32 only: what tests and exports need). */
export function writeSafetensors(file: string, tensors: readonly { name: string; shape: number[]; values: Float32Array; dtype?: 'F32' | 'BF16' | 'F16' }[]): void {
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  const chunks: Buffer[] = [];
  let offset = 0;
  for (const t of tensors) {
    const dtype = t.dtype ?? 'F32';
    const buf = Buffer.alloc(t.values.length * DTYPE_BYTES[dtype]);
    for (let i = 0; i < t.values.length; i++) {
      const v = t.values[i] ?? 0;
      if (dtype === 'F32') buf.writeFloatLE(v, i * 4);
      else if (dtype === 'BF16') {
        const f = new Float32Array([v]);
        buf.writeUInt16LE(new Uint32Array(f.buffer)[0]! >>> 16, i * 2); // truncation: exact for values that are bf16 already
      } else {
        throw new Error('writeSafetensors: F16 is not written');
      }
    }
    header[t.name] = { dtype, shape: t.shape, data_offsets: [offset, offset + buf.length] };
    offset += buf.length;
    chunks.push(buf);
  }
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const pad = (8 - (json.length % 8)) % 8;
  json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  fs.writeFileSync(file, Buffer.concat([length, json, ...chunks]));
}
