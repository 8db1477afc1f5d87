/**
 * Deterministic random weights for generated models. Every tensor draws from its own stream, seeded from the model
 * seed and the tensor's name, so a tensor's values do not depend on which other tensors a file holds or in which
 * order they are written — a LoRA adapter and its base can be regenerated independently.
 */

/** FNV-1a over the name's UTF-16 code units: a stable 32-bit mix of the tensor name into the seed. */
function hashName(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** splitmix32: spreads a seed over xoshiro's 128-bit state so nearby seeds give unrelated streams. */
function splitmix32(state: { s: number }): number {
  state.s = (state.s + 0x9e3779b9) | 0;
  let z = state.s;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/**
 * xoshiro128**: 32-bit arithmetic only (Math.imul), so it runs at tens of millions of values per second in V8 —
 * a 20M-parameter model's weights take a fraction of a second.
 */
export class WeightStream {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number, name: string) {
    const state = { s: (seed ^ hashName(name)) | 0 };
    this.a = splitmix32(state);
    this.b = splitmix32(state);
    this.c = splitmix32(state);
    this.d = splitmix32(state);
  }

  private next(): number {
    const result = Math.imul(rotl(Math.imul(this.b, 5), 7), 9);
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return result >>> 0;
  }

  /**
   * Fills `out` with values uniform in [-√3·std, √3·std): that interval has standard deviation `std`, and a uniform
   * draw needs one random number where a Gaussian needs two and a logarithm.
   */
  /**
   * Fills `out` with uniform signed bytes, four per random number: weights on a grid of int8 × scale are
   * exactly what a Q8_0 file stores, so a model of half a billion of them is written in seconds (see file-writer).
   */
  fillInt8(out: Int8Array): void {
    const whole = out.length & ~3;
    let i = 0;
    for (; i < whole; i += 4) {
      const r = this.next();
      out[i] = r;
      out[i + 1] = r >>> 8;
      out[i + 2] = r >>> 16;
      out[i + 3] = r >>> 24;
    }
    for (; i < out.length; i++) out[i] = this.next();
  }

  fillUniform(out: Float32Array, std: number): void {
    const half = Math.sqrt(3) * std;
    const scale = (2 * half) / 4294967296;
    for (let i = 0; i < out.length; i++) out[i] = this.next() * scale - half;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** IEEE 754 binary32 → binary16 bits, rounding to nearest even like ggml_fp32_to_fp16; Node 20 has no Float16Array. */
export function toHalfBits(value: number): number {
  f32Scratch[0] = value;
  const bits = u32Scratch[0] ?? 0;
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  let mantissa = bits & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa !== 0 ? 0x200 : 0);
  const halfExponent = exponent - 127 + 15;
  if (halfExponent >= 0x1f) return sign | 0x7c00;
  if (halfExponent <= 0) {
    // Subnormal in half precision: shift the full 24-bit significand down to units of 2^-24.
    if (halfExponent < -10) return sign;
    mantissa |= 0x800000;
    const shift = 14 - halfExponent;
    let half = mantissa >>> shift;
    const rest = mantissa & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rest > halfway || (rest === halfway && (half & 1) === 1)) half++;
    return sign | half;
  }
  let half = (halfExponent << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  // A carry out of the mantissa correctly bumps the exponent (and 65520 and up round to infinity).
  if (rest > 0x1000 || (rest === 0x1000 && (half & 1) === 1)) half++;
  return sign | half;
}

/** Converts a chunk of values into half-precision bits in place of a preallocated output. */
export function toHalfArray(values: Float32Array, out: Uint16Array): void {
  for (let i = 0; i < values.length; i++) out[i] = toHalfBits(values[i] ?? 0);
}
