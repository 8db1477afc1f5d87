import { AppError } from '../../main/errors.js';
import { meta, writeGguf, type MetadataValue, type TensorSource, type WritableTensorType } from './file-writer.js';
import { LLAMA_FILE_TYPE_FOR_TENSOR_TYPE } from './format.js';
import { ARCHITECTURE_INFO, LEGACY_SPECIAL_TOKENS } from './architectures.js';
import { buildSyntheticVocab } from './synthetic-vocab.js';
import { TokenType } from './tiny-vocab.js';
import { countParameters, headSize, layoutDims, layoutOf, resolveSpec, type ResolvedTinyModelSpec, type TinyModelSpec } from './tiny-model-spec.js';
import { halfExact } from './quantize.js';
import { WeightStream } from './weights.js';

export { countParameters, parseParamCount, specForParams, type TinyModelSpec } from './tiny-model-spec.js';
export type { WritableTensorType } from './file-writer.js';
export { ARCHITECTURES, ARCHITECTURE_INFO, NAMED_SHAPES, type Architecture } from './architectures.js';

export interface WrittenModel {
  readonly sha256: string;
  readonly sizeBytes: number;
  readonly parameterCount: number;
}

export interface WrittenAdapter {
  readonly sha256: string;
  readonly sizeBytes: number;
}

/** The per-block matrices a LoRA adapter can adapt, plus the output projection. */
export type LoraTarget = 'attn_q' | 'attn_k' | 'attn_v' | 'attn_output' | 'ffn_gate' | 'ffn_up' | 'ffn_down' | 'output';

export const DEFAULT_LORA_TARGETS: readonly LoraTarget[] = ['attn_q', 'attn_k', 'attn_v', 'attn_output', 'ffn_gate', 'ffn_up', 'ffn_down'];

export interface LoraOptions {
  readonly rank: number;
  /** llama.cpp scales the adapter's product by alpha / rank (times the scale it is loaded with). */
  readonly alpha: number;
  readonly seed: number;
  readonly targets?: readonly LoraTarget[];
  /** Stored as `ilf.base_model.sha256`, so the app can tell which base model an adapter was trained on. */
  readonly baseModelSha256?: string;
  readonly name?: string;
}

/** The metadata key naming the base model an adapter belongs to. */
export const BASE_MODEL_SHA256_KEY = 'ilf.base_model.sha256';

/** A matrix of the base model: its name and its ggml dimensions [inputs, outputs]. */
interface Matrix {
  readonly name: string;
  readonly inputs: number;
  readonly outputs: number;
  /** Which LoRA target it is; undefined for matrices no target names (a fused attn_qkv, the embedding). */
  readonly target: LoraTarget | undefined;
}

const TARGETS = new Set<string>(['attn_q', 'attn_k', 'attn_v', 'attn_output', 'ffn_gate', 'ffn_up', 'ffn_down']);

function matrices(s: ResolvedTinyModelSpec): Matrix[] {
  return layoutOf(s).filter((t) => t.role === 'matrix' || t.role === 'output').map((t) => {
    const kind = /^blk\.\d+\.(\w+)\.weight$/.exec(t.name)?.[1];
    const target = t.role === 'output' ? 'output' : kind !== undefined && TARGETS.has(kind) ? (kind as LoraTarget) : undefined;
    return { name: t.name, inputs: t.dims[0] ?? 0, outputs: t.dims[1] ?? 0, target };
  });
}

function randomTensor(name: string, dims: readonly number[], type: WritableTensorType, seed: number, std: number): TensorSource {
  const stream = new WeightStream(seed, name);
  return { name, dims, type, fill: (out) => stream.fillUniform(out, std) };
}

/**
 * Uniform weights of standard deviation `std` on an int8 grid (int8 × d with d = √3·std / 128, rounded to F16):
 * the fast path for the architecture fixtures, which can be half a billion weights.
 */
function gridTensor(name: string, dims: readonly number[], type: WritableTensorType, seed: number, std: number): TensorSource {
  const stream = new WeightStream(seed, name);
  const scale = halfExact((Math.sqrt(3) * std) / 128);
  const fillInt8 = (q: Int8Array): void => stream.fillInt8(q);
  let scratch = new Int8Array(0);
  return {
    name, dims, type, grid: { scale, fill: fillInt8 },
    fill: (out) => {
      if (scratch.length < out.length) scratch = new Int8Array(out.length);
      const q = scratch.subarray(0, out.length);
      fillInt8(q);
      for (let i = 0; i < out.length; i++) out[i] = (q[i] ?? 0) * scale;
    },
  };
}

function constantTensor(name: string, length: number, value: number): TensorSource {
  return { name, dims: [length], type: 'F32', fill: (out) => out.fill(value) };
}

/** The vocabulary of a spec: the legacy tiny one, or a synthetic one of the spec's size with the architecture's special tokens. */
function vocabularyOf(s: ResolvedTinyModelSpec): { tokens: readonly string[]; tokenTypes: readonly number[]; merges: readonly string[]; bos: number; eos: number; addBos: boolean } {
  const info = ARCHITECTURE_INFO[s.architecture];
  const specials = s.legacy ? LEGACY_SPECIAL_TOKENS : info.specialTokens;
  const vocab = buildSyntheticVocab(s.vocabSize, specials);
  const id = (text: string): number => {
    const found = vocab.special.get(text);
    if (found === undefined) throw new Error(`special token ${text} missing`);
    return found;
  };
  return s.legacy
    ? { ...vocab, bos: id('<s>'), eos: id('</s>'), addBos: true }
    : { ...vocab, bos: id(info.bos), eos: id(info.eos), addBos: info.addBos };
}

/**
 * Writes a GGUF of the spec's architecture with random weights that llama.cpp loads and generates from: a
 * byte-level BPE vocabulary (so every string round-trips through the tokenizer) and the architecture's tensors.
 * Weights are scaled by 1/√inputs so activations stay near unit size through any depth, and the output projection
 * so logits have a standard deviation of about 2: sampling is neither uniform noise nor stuck. Values are drawn
 * per tensor name and seed, so the F32, F16, BF16, Q8_0 and Q4_0 files of one spec hold the same weights at
 * different precisions.
 */
export async function writeTinyModel(file: string, spec: TinyModelSpec, options: { utf8Output?: boolean } = {}): Promise<WrittenModel> {
  const s = resolveSpec(spec);
  const info = ARCHITECTURE_INFO[s.architecture];
  const vocab = vocabularyOf(s);
  // utf8Output: the lone bytes 0x80–0xFF (token ids 128–255) are marked UNUSED, so llama.cpp detokenizes them to
  // nothing and random weights cannot write invalid UTF-8 — which llama-server's output parser rejects with a 500.
  const tokenTypes = options.utf8Output ? vocab.tokenTypes.map((t, i) => (i >= 0x80 && i <= 0xff ? TokenType.UNUSED : t)) : vocab.tokenTypes;
  const arch = s.architecture;
  const d = s.embeddingLength;
  const extra = info.extraMetadata(layoutDims(s));
  const metadata: Array<readonly [string, MetadataValue]> = [
    ['general.architecture', meta.string(arch)],
    ['general.type', meta.string('model')],
    ['general.name', meta.string(s.name)],
    ['general.file_type', meta.uint32(LLAMA_FILE_TYPE_FOR_TENSOR_TYPE[s.tensorType])],
    [`${arch}.vocab_size`, meta.uint32(vocab.tokens.length)],
    [`${arch}.context_length`, meta.uint32(s.contextLength)],
    [`${arch}.embedding_length`, meta.uint32(d)],
    [`${arch}.block_count`, meta.uint32(s.blockCount)],
    [`${arch}.feed_forward_length`, meta.uint32(s.feedForwardLength)],
    [`${arch}.attention.head_count`, meta.uint32(s.headCount)],
    [`${arch}.attention.head_count_kv`, meta.uint32(s.headCountKv)],
    [`${arch}.rope.dimension_count`, meta.uint32(headSize(s))],
    [`${arch}.rope.freq_base`, meta.float32(s.legacy ? 10_000 : info.ropeFreqBase)],
    info.norm === 'layer' ? [`${arch}.attention.layer_norm_epsilon`, meta.float32(1e-5)] : [`${arch}.attention.layer_norm_rms_epsilon`, meta.float32(1e-5)],
    ...extra.uint32.map(([k, v]) => [`${arch}.${k}`, meta.uint32(v)] as const),
    ...extra.float32.map(([k, v]) => [`${arch}.${k}`, meta.float32(v)] as const),
    ['tokenizer.ggml.model', meta.string('gpt2')],
    // "qwen2" is a GPT-2-style pre-tokenizer that, unlike "default"/"gpt-2", does not "clean up" spaces before
    // punctuation when detokenizing — code such as `f(a , b)` must come back byte for byte.
    ['tokenizer.ggml.pre', meta.string('qwen2')],
    ['tokenizer.ggml.tokens', meta.strings(vocab.tokens)],
    ['tokenizer.ggml.token_type', meta.int32s(tokenTypes)],
    ['tokenizer.ggml.merges', meta.strings(vocab.merges)],
    ['tokenizer.ggml.bos_token_id', meta.uint32(vocab.bos)],
    ['tokenizer.ggml.eos_token_id', meta.uint32(vocab.eos)],
    ['tokenizer.ggml.add_bos_token', meta.bool(vocab.addBos)],
    ['tokenizer.ggml.add_eos_token', meta.bool(false)],
    ['ilf.generator.seed', meta.int32(s.seed | 0)],
  ];
  if (s.chatTemplate !== undefined) metadata.push(['tokenizer.chat_template', meta.string(s.chatTemplate)]);

  // The older fixtures keep their exact values; the architecture fixtures draw on the faster int8 grid.
  const random = s.legacy ? randomTensor : gridTensor;
  const tensors = layoutOf(s).map((t): TensorSource => {
    const inputs = t.dims[0] ?? 1;
    switch (t.role) {
      // Embeddings feed a norm first, so their scale is free; unit size keeps F16 far from its limits, unless the
      // embedding doubles as the output projection.
      case 'embedding':
        // A tied embedding is also the output projection: scaled like one, so logits are not sharply peaked.
        return random(t.name, t.dims, s.tensorType, s.seed, info.tiedOutput ? (2 * info.outputScale) / Math.sqrt(inputs) : 1);
      case 'output':
        return random(t.name, t.dims, s.tensorType, s.seed, (2 * info.outputScale) / Math.sqrt(inputs));
      case 'matrix': {
        const writesResidual = /\.(attn_output|ffn_down)\.weight$/.test(t.name);
        return random(t.name, t.dims, s.tensorType, s.seed, (writesResidual ? info.blockOutputScale ?? 1 : 1) / Math.sqrt(inputs));
      }
      case 'bias':
        return random(t.name, t.dims, 'F32', s.seed, 0.1);
      case 'norm':
        return constantTensor(t.name, inputs, 1);
      case 'norm_bias':
        return constantTensor(t.name, inputs, 0);
    }
  });
  const written = await writeGguf(file, metadata, tensors);
  return { ...written, parameterCount: countParameters(s) };
}

/**
 * Writes a LoRA adapter for a model generated from `baseSpec`, in the layout llama.cpp's llama-adapter.cpp expects:
 * for a base matrix W of ggml dims [inputs, outputs], `<name>.lora_a` has dims [inputs, rank] and `<name>.lora_b`
 * has dims [rank, outputs], and the adapted product is W·x + scale·(alpha/rank)·B·(A·x). B is random rather than
 * zero (a fresh adapter from training starts at zero and changes nothing), so loading the adapter visibly changes
 * what the model generates; with alpha = rank the change is about as large as the base matrix's own output.
 */
export async function writeLoraAdapter(file: string, baseSpec: TinyModelSpec, options: LoraOptions): Promise<WrittenAdapter> {
  const s = resolveSpec(baseSpec);
  const { rank, alpha, seed } = options;
  const targets = new Set<LoraTarget>(options.targets ?? DEFAULT_LORA_TARGETS);
  if (targets.size === 0) throw new AppError('BAD_INPUT', 'a LoRA adapter needs at least one target matrix', 'Leave targets out to adapt attention and feed-forward matrices.');
  const chosen = matrices(s).filter((m) => m.target !== undefined && targets.has(m.target));
  if (chosen.length === 0) throw new AppError('BAD_INPUT', `a ${s.architecture} model has none of the target matrices ${[...targets].join(', ')}`, 'Choose targets the architecture has.');
  const smallest = Math.min(...chosen.map((m) => Math.min(m.inputs, m.outputs)));
  if (!Number.isInteger(rank) || rank <= 0 || rank > smallest) {
    throw new AppError('BAD_INPUT', `LoRA rank ${rank} is not usable here`, `Choose a whole number from 1 to ${smallest}.`);
  }
  if (!Number.isFinite(alpha) || alpha <= 0) throw new AppError('BAD_INPUT', `LoRA alpha ${alpha} must be a positive number`, 'Use alpha = rank for a scale of 1.');
  if (!Number.isInteger(seed)) throw new AppError('BAD_INPUT', `LoRA seed ${seed} must be an integer`, 'Use any whole number.');

  const metadata: Array<readonly [string, MetadataValue]> = [
    ['general.architecture', meta.string(s.architecture)],
    ['general.type', meta.string('adapter')],
    ['general.name', meta.string(options.name ?? `${s.name} LoRA r${rank}`)],
    ['adapter.type', meta.string('lora')],
    ['adapter.lora.alpha', meta.float32(alpha)],
  ];
  if (options.baseModelSha256 !== undefined) metadata.push([BASE_MODEL_SHA256_KEY, meta.string(options.baseModelSha256)]);

  const tensors = chosen.flatMap((m): TensorSource[] => [
    randomTensor(`${m.name}.lora_a`, [m.inputs, rank], 'F32', seed, 1 / Math.sqrt(m.inputs)),
    randomTensor(`${m.name}.lora_b`, [rank, m.outputs], 'F32', seed, 1 / Math.sqrt(rank)),
  ]);
  return writeGguf(file, metadata, tensors);
}
