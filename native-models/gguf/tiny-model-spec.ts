import { AppError } from '../../main/errors.js';
import { ARCHITECTURE_INFO, isArchitecture, type Architecture, type LayoutDims, type LayoutTensor } from './architectures.js';
import { BLOCK_ELEMENTS, WRITABLE_TENSOR_TYPES, type WritableTensorType } from './quantize.js';
import { buildTinyVocab, type TinyVocab } from './tiny-vocab.js';

/** The shape of a generated model. Only the dimensions are required. */
export interface TinyModelSpec {
  /**
   * llama.cpp architecture; when left out, the llama layout with the small legacy vocabulary every older test
   * uses. When given, the architecture's own special tokens and chat template, and a vocabulary of `vocabSize`.
   */
  readonly architecture?: Architecture;
  /** Tokens in the vocabulary; the real model family's size by default when `architecture` is given. */
  readonly vocabSize?: number;
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
  /**
   * Stored as `tokenizer.chat_template`. Left out: the architecture's real template when `architecture` is given,
   * none otherwise; null: none.
   */
  readonly chatTemplate?: string | null;
}

export type ResolvedTinyModelSpec = Required<Omit<TinyModelSpec, 'chatTemplate'>> & {
  readonly chatTemplate: string | undefined;
  /** The older llama fixtures: legacy vocabulary, special tokens and RoPE base. */
  readonly legacy: boolean;
};

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
  const legacy = spec.architecture === undefined;
  const architecture = spec.architecture ?? 'llama';
  if (!isArchitecture(architecture)) throw badSpec(`unknown architecture "${String(architecture)}"`);
  const info = ARCHITECTURE_INFO[architecture];
  const resolved: ResolvedTinyModelSpec = {
    architecture,
    legacy,
    vocabSize: spec.vocabSize ?? (legacy ? tinyVocab().tokens.length : info.realVocabSize),
    embeddingLength: spec.embeddingLength,
    blockCount: spec.blockCount,
    feedForwardLength: spec.feedForwardLength,
    headCount: spec.headCount,
    headCountKv: spec.headCountKv ?? spec.headCount,
    contextLength: spec.contextLength ?? 2048,
    tensorType: spec.tensorType ?? 'F32',
    seed: spec.seed ?? 1,
    name: spec.name ?? 'ILF tiny llama',
    chatTemplate: spec.chatTemplate === null ? undefined : spec.chatTemplate ?? (legacy ? undefined : info.chatTemplate),
  };
  const counts = ['embeddingLength', 'blockCount', 'feedForwardLength', 'headCount', 'headCountKv', 'contextLength', 'vocabSize'] as const;
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
  if (!WRITABLE_TENSOR_TYPES.includes(resolved.tensorType)) {
    throw badSpec(`tensorType must be one of ${WRITABLE_TENSOR_TYPES.join(', ')}, got ${String(resolved.tensorType)}`);
  }
  if (legacy && resolved.vocabSize !== tinyVocab().tokens.length) throw badSpec('vocabSize needs an architecture (the legacy llama fixture has a fixed vocabulary)');
  const minVocab = 256 + info.specialTokens.length + 64;
  if (resolved.vocabSize < minVocab) throw badSpec(`vocabSize must be at least ${minVocab} (every byte, the special tokens and some merges)`);
  // Quantized blocks run along a row: every matrix's input width must be whole blocks.
  const block = BLOCK_ELEMENTS[resolved.tensorType];
  for (const t of block === 1 ? [] : ARCHITECTURE_INFO[architecture].tensors({ ...layoutDims(resolved), blockCount: 1 })) {
    const rows = t.dims[0] ?? 1;
    if (t.dims.length > 1 && rows % block !== 0) throw badSpec(`${t.name} has rows of ${rows}, not whole ${resolved.tensorType} blocks of ${block}`);
  }
  if (!Number.isInteger(resolved.seed)) throw badSpec(`seed must be an integer, got ${resolved.seed}`);
  return resolved;
}

export function headSize(spec: ResolvedTinyModelSpec): number {
  return spec.embeddingLength / spec.headCount;
}

export function layoutDims(s: Omit<ResolvedTinyModelSpec, 'tensorType'>): LayoutDims {
  return { embeddingLength: s.embeddingLength, blockCount: s.blockCount, feedForwardLength: s.feedForwardLength, headCount: s.headCount, headCountKv: s.headCountKv, vocabSize: s.vocabSize };
}

/** The tensors of a model of this spec, in file order, as llama.cpp's loader expects them for the architecture. */
export function layoutOf(s: ResolvedTinyModelSpec): LayoutTensor[] {
  return ARCHITECTURE_INFO[s.architecture].tensors(layoutDims(s));
}

/** Parameters of a model with these dimensions, counted as llama.cpp counts them (a tied output counts once). */
export function countParameters(spec: TinyModelSpec): number {
  const s = resolveSpec(spec);
  // Blocks are alike: count one and two, not all of them (specForParams counts thousands of candidate shapes).
  const count = (blockCount: number): number =>
    ARCHITECTURE_INFO[s.architecture].tensors({ ...layoutDims(s), blockCount }).reduce((sum, t) => sum + t.dims.reduce((p, d) => p * d, 1), 0);
  const one = count(1);
  return one + (s.blockCount - 1) * (count(2) - one);
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
