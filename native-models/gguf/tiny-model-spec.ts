import { AppError } from '../../main/errors.js';
import type { WritableTensorType } from './file-writer.js';
import { buildTinyVocab, type TinyVocab } from './tiny-vocab.js';

/** The shape of a generated llama-architecture model. Only the dimensions are required. */
export interface TinyModelSpec {
  readonly embeddingLength: number;
  readonly blockCount: number;
  readonly feedForwardLength: number;
  readonly headCount: number;
  /** Fewer key/value heads than query heads is grouped-query attention; defaults to `headCount`. */
  readonly headCountKv?: number;
  /** Written as `llama.context_length`; 2048 by default. */
  readonly contextLength?: number;
  /** Type of the matrices; norm vectors are always F32, as in every real model. F32 by default. */
  readonly tensorType?: WritableTensorType;
  /** The same seed gives byte-identical files. 1 by default. */
  readonly seed?: number;
  /** `general.name`; "ILF tiny llama" by default. */
  readonly name?: string;
  /** Stored as `tokenizer.chat_template` when given. */
  readonly chatTemplate?: string;
}

export type ResolvedTinyModelSpec = Required<Omit<TinyModelSpec, 'chatTemplate'>> & Pick<TinyModelSpec, 'chatTemplate'>;

/** llama.cpp's LLAMA_MAX_LAYERS: past it the loader aborts the whole process instead of throwing. */
const MAX_BLOCKS = 512;

let vocab: TinyVocab | undefined;
/** Every generated model shares one vocabulary; it is built once. */
export function tinyVocab(): TinyVocab {
  vocab ??= buildTinyVocab();
  return vocab;
}

function badSpec(message: string): AppError {
  return new AppError('BAD_INPUT', `invalid tiny model spec: ${message}`, 'Use specForParams() to choose consistent dimensions.');
}

/**
 * Fills in defaults and rejects shapes llama.cpp cannot run. Checking here matters: several of llama.cpp's own
 * checks are assertions that abort the process rather than errors a caller could catch.
 */
export function resolveSpec(spec: TinyModelSpec): ResolvedTinyModelSpec {
  const resolved: ResolvedTinyModelSpec = {
    embeddingLength: spec.embeddingLength,
    blockCount: spec.blockCount,
    feedForwardLength: spec.feedForwardLength,
    headCount: spec.headCount,
    headCountKv: spec.headCountKv ?? spec.headCount,
    contextLength: spec.contextLength ?? 2048,
    tensorType: spec.tensorType ?? 'F32',
    seed: spec.seed ?? 1,
    name: spec.name ?? 'ILF tiny llama',
    chatTemplate: spec.chatTemplate,
  };
  const counts = ['embeddingLength', 'blockCount', 'feedForwardLength', 'headCount', 'headCountKv', 'contextLength'] as const;
  for (const key of counts) {
    const v = resolved[key];
    if (!Number.isInteger(v) || v <= 0 || v > 0xffffffff) throw badSpec(`${key} must be a positive integer, got ${v}`);
  }
  if (resolved.blockCount > MAX_BLOCKS) throw badSpec(`blockCount ${resolved.blockCount} exceeds llama.cpp's ${MAX_BLOCKS}`);
  if (resolved.embeddingLength % resolved.headCount !== 0) {
    throw badSpec(`embeddingLength ${resolved.embeddingLength} is not a multiple of headCount ${resolved.headCount}`);
  }
  // RoPE rotates pairs of values within a head.
  if ((resolved.embeddingLength / resolved.headCount) % 2 !== 0) throw badSpec('the head size (embeddingLength / headCount) must be even');
  if (resolved.headCount % resolved.headCountKv !== 0) {
    throw badSpec(`headCount ${resolved.headCount} is not a multiple of headCountKv ${resolved.headCountKv}`);
  }
  if (resolved.tensorType !== 'F32' && resolved.tensorType !== 'F16') throw badSpec(`tensorType must be F32 or F16, got ${String(resolved.tensorType)}`);
  if (!Number.isInteger(resolved.seed)) throw badSpec(`seed must be an integer, got ${resolved.seed}`);
  return resolved;
}

export function headSize(spec: ResolvedTinyModelSpec): number {
  return spec.embeddingLength / spec.headCount;
}

/** Parameters of a model with these dimensions and the shared tiny vocabulary, counted as llama.cpp counts them. */
export function countParameters(spec: TinyModelSpec): number {
  const s = resolveSpec(spec);
  const d = s.embeddingLength;
  const kv = s.headCountKv * headSize(s);
  const perBlock = 2 * d + d * d + 2 * d * kv + d * d + 3 * d * s.feedForwardLength;
  return 2 * tinyVocab().tokens.length * d + d + s.blockCount * perBlock;
}

const SUFFIXES: Readonly<Record<string, number>> = { '': 1, K: 1e3, M: 1e6, B: 1e9 };
const MIN_PARAMS = 30_000;
const MAX_PARAMS = 2_000_000_000;

/** 20_000_000, "20M", "500K", "1.5B" → a number of parameters. */
export function parseParamCount(params: number | string): number {
  let n: number;
  if (typeof params === 'number') {
    n = params;
  } else {
    const m = /^\s*(\d+(?:\.\d+)?)\s*([kmb]?)\s*$/i.exec(params);
    if (!m) throw new AppError('BAD_INPUT', `"${params}" is not a parameter count`, 'Write a number with an optional K, M or B suffix, e.g. 500K or 20M.');
    n = Number(m[1]) * (SUFFIXES[(m[2] ?? '').toUpperCase()] ?? 1);
  }
  if (!Number.isFinite(n) || n < MIN_PARAMS || n > MAX_PARAMS) {
    throw new AppError('BAD_INPUT', `a tiny model of ${String(params)} parameters is not supported`, `Choose between ${MIN_PARAMS / 1000}K and ${MAX_PARAMS / 1e9}B.`);
  }
  return Math.round(n);
}

/**
 * Dimensions for a model of about `params` parameters. Searches widths (multiples of the head size) and depths
 * for the closest count, and among near-equally close shapes prefers about 64 width per layer, the proportion of
 * small real models (TinyStories, SmolLM): a 1-layer giant or a 100-layer sliver would load but time oddly.
 */
export function specForParams(params: number | string, extra: Omit<TinyModelSpec, 'embeddingLength' | 'blockCount' | 'feedForwardLength' | 'headCount' | 'headCountKv'> = {}): TinyModelSpec {
  const target = parseParamCount(params);
  type Candidate = { spec: TinyModelSpec; error: number; shape: number };
  const candidates: Candidate[] = [];
  for (let width = 32; width <= 8192; width += width < 256 ? 32 : 64) {
    const head = width >= 128 && width % 64 === 0 ? 64 : 32;
    const feedForward = Math.ceil((8 * width) / 3 / 32) * 32;
    for (let blocks = 1; blocks <= 64; blocks++) {
      const spec: TinyModelSpec = { embeddingLength: width, blockCount: blocks, feedForwardLength: feedForward, headCount: width / head, ...extra };
      const count = countParameters(spec);
      candidates.push({ spec, error: Math.abs(Math.log(count / target)), shape: Math.abs(Math.log(width / blocks / 64)) });
    }
  }
  const best = Math.min(...candidates.map((c) => c.error));
  const close = candidates.filter((c) => c.error <= best + 0.03);
  close.sort((a, b) => a.shape - b.shape || a.error - b.error);
  const chosen = close[0];
  if (!chosen) throw new Error('no candidate shapes');
  return chosen.spec;
}
