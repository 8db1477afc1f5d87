/**
 * Float values → the bytes of ggml's tensor types, written in TypeScript so generated fixtures need no Python.
 * Each encoder follows ggml's reference quantizer (ggml-quants.c quantize_row_*_ref, ggml-impl.h for BF16), so a
 * file written here holds what llama-quantize would have written for the same values.
 */
import { toHalfBits } from './weights.js';

/** The tensor types the fixture writer can produce. */
export type WritableTensorType = 'F32' | 'F16' | 'BF16' | 'Q8_0' | 'Q4_0';
export const WRITABLE_TENSOR_TYPES: readonly WritableTensorType[] = ['F32', 'F16', 'BF16', 'Q8_0', 'Q4_0'];

/** Elements per block: a row's length (and so every chunk the writer hands over) must be a multiple of it. */
export const BLOCK_ELEMENTS: Readonly<Record<WritableTensorType, number>> = { F32: 1, F16: 1, BF16: 1, Q8_0: 32, Q4_0: 32 };
const BLOCK_BYTES: Readonly<Record<WritableTensorType, number>> = { F32: 4, F16: 2, BF16: 2, Q8_0: 34, Q4_0: 18 };

export function encodedBytes(type: WritableTensorType, elements: number): number {
  return (elements / BLOCK_ELEMENTS[type]) * BLOCK_BYTES[type];
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** ggml_compute_fp32_to_bf16: round to nearest even, NaN kept quiet. */
export function toBf16Bits(value: number): number {
  f32[0] = value;
  const bits = u32[0] ?? 0;
  if ((bits & 0x7fffffff) > 0x7f800000) return ((bits >>> 16) | 64) & 0xffff;
  return ((bits + (0x7fff + ((bits >>> 16) & 1))) >>> 16) & 0xffff;
}

/**
 * Encodes `values` (a whole number of blocks) into `out`, which must hold encodedBytes(type, values.length) bytes,
 * and returns the filled part.
 */
export function encodeTensorChunk(type: WritableTensorType, values: Float32Array, out: Uint8Array): Uint8Array {
  const bytes = encodedBytes(type, values.length);
  const view = new DataView(out.buffer, out.byteOffset, bytes);
  switch (type) {
    case 'F32':
      return new Uint8Array(values.buffer, values.byteOffset, bytes);
    case 'F16':
      for (let i = 0; i < values.length; i++) view.setUint16(2 * i, toHalfBits(values[i] ?? 0), true);
      break;
    case 'BF16':
      for (let i = 0; i < values.length; i++) view.setUint16(2 * i, toBf16Bits(values[i] ?? 0), true);
      break;
    case 'Q8_0':
      quantizeQ8_0(values, out, view);
      break;
    case 'Q4_0':
      quantizeQ4_0(values, out, view);
      break;
  }
  return out.subarray(0, bytes);
}

/**
 * Values int8 × scale into `type`: F32, F16 and BF16 by a 256-entry table, Q8_0 as the bytes themselves under one
 * scale (a valid block: ggml's dequantization is d × q whatever d the quantizer would have picked).
 */
export function encodeGridChunk(type: Exclude<WritableTensorType, 'Q4_0'>, scale: number, q: Int8Array, out: Uint8Array): Uint8Array {
  const bytes = encodedBytes(type, q.length);
  if (type === 'Q8_0') {
    const d = toHalfBits(scale);
    const blocks = q.length / 32;
    const src = new Uint8Array(q.buffer, q.byteOffset, q.length);
    for (let b = 0; b < blocks; b++) {
      const at = b * 34;
      out[at] = d & 0xff;
      out[at + 1] = d >>> 8;
      out.set(src.subarray(b * 32, b * 32 + 32), at + 2);
    }
    return out.subarray(0, bytes);
  }
  if (type === 'F32') {
    const table = new Float32Array(256);
    for (let v = -128; v < 128; v++) table[v & 0xff] = v * scale;
    const values = new Float32Array(out.buffer, out.byteOffset, q.length);
    for (let i = 0; i < q.length; i++) values[i] = table[(q[i] ?? 0) & 0xff] ?? 0;
    return out.subarray(0, bytes);
  }
  const table = new Uint16Array(256);
  for (let v = -128; v < 128; v++) table[v & 0xff] = type === 'F16' ? toHalfBits(v * scale) : toBf16Bits(v * scale);
  const halves = new Uint16Array(out.buffer, out.byteOffset, q.length);
  for (let i = 0; i < q.length; i++) halves[i] = table[(q[i] ?? 0) & 0xff] ?? 0;
  return out.subarray(0, bytes);
}

/** The nearest value F16 holds exactly: grid scales must survive being stored as a Q8_0 block's F16 scale. */
export function halfExact(value: number): number {
  return halfToFloat(toHalfBits(value));
}

/** block_q8_0: an F16 scale d = max|x| / 127, then 32 signed bytes round(x / d). */
function quantizeQ8_0(values: Float32Array, out: Uint8Array, view: DataView): void {
  const blocks = values.length / 32;
  for (let b = 0; b < blocks; b++) {
    const base = b * 32;
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(values[base + j] ?? 0));
    const d = amax / 127;
    const id = d !== 0 ? 1 / d : 0;
    const at = b * 34;
    view.setUint16(at, toHalfBits(d), true);
    for (let j = 0; j < 32; j++) {
      // roundf rounds halves away from zero; Math.round rounds them up.
      const x = (values[base + j] ?? 0) * id;
      out[at + 2 + j] = (x < 0 ? -Math.round(-x) : Math.round(x)) & 0xff;
    }
  }
}

/**
 * block_q4_0: the value of largest magnitude m gives d = m / -8; each value becomes min(15, trunc(x / d + 8.5)),
 * two per byte: element j in the low nibble of byte j, element j + 16 in its high nibble.
 */
function quantizeQ4_0(values: Float32Array, out: Uint8Array, view: DataView): void {
  const blocks = values.length / 32;
  for (let b = 0; b < blocks; b++) {
    const base = b * 32;
    let amax = 0;
    let max = 0;
    for (let j = 0; j < 32; j++) {
      const v = values[base + j] ?? 0;
      if (Math.abs(v) > amax) {
        amax = Math.abs(v);
        max = v;
      }
    }
    const d = max / -8;
    const id = d !== 0 ? 1 / d : 0;
    const at = b * 18;
    view.setUint16(at, toHalfBits(d), true);
    for (let j = 0; j < 16; j++) {
      const x0 = Math.min(15, Math.trunc((values[base + j] ?? 0) * id + 8.5));
      const x1 = Math.min(15, Math.trunc((values[base + 16 + j] ?? 0) * id + 8.5));
      out[at + 2 + j] = x0 | (x1 << 4);
    }
  }
}

/** The inverse, for tests: bytes of one type back to floats. */
export function decodeTensor(type: WritableTensorType, bytes: Uint8Array, elements: number): Float32Array {
  const out = new Float32Array(elements);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const half = (at: number): number => halfToFloat(view.getUint16(at, true));
  for (let i = 0; i < elements; i++) {
    switch (type) {
      case 'F32':
        out[i] = view.getFloat32(4 * i, true);
        break;
      case 'F16':
        out[i] = half(2 * i);
        break;
      case 'BF16':
        u32[0] = view.getUint16(2 * i, true) << 16;
        out[i] = f32[0] ?? 0;
        break;
      case 'Q8_0': {
        const b = Math.floor(i / 32);
        out[i] = half(b * 34) * view.getInt8(b * 34 + 2 + (i % 32));
        break;
      }
      case 'Q4_0': {
        const b = Math.floor(i / 32);
        const j = i % 32;
        const byte = view.getUint8(b * 18 + 2 + (j % 16));
        out[i] = half(b * 18) * ((j < 16 ? byte & 15 : byte >> 4) - 8);
        break;
      }
    }
  }
  return out;
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const mantissa = h & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa ? NaN : sign * Infinity;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}
