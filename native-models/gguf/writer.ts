import { AppError } from '../../main/errors.js';
import { meta, writeGguf, type MetadataValue, type TensorSource, type WritableTensorType } from './file-writer.js';
import { LLAMA_FILE_TYPE_FOR_TENSOR_TYPE } from './format.js';
import { countParameters, headSize, resolveSpec, tinyVocab, type ResolvedTinyModelSpec, type TinyModelSpec } from './tiny-model-spec.js';
import { WeightStream } from './weights.js';

export { countParameters, parseParamCount, specForParams, type TinyModelSpec } from './tiny-model-spec.js';
export type { WritableTensorType } from './file-writer.js';

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
  readonly target: LoraTarget | 'token_embd';
}

function matrices(s: ResolvedTinyModelSpec): { global: Matrix[]; perBlock: (block: number) => Matrix[] } {
  const d = s.embeddingLength;
  const q = s.headCount * headSize(s);
  const kv = s.headCountKv * headSize(s);
  const vocabSize = tinyVocab().tokens.length;
  return {
    global: [
      { name: 'token_embd.weight', inputs: d, outputs: vocabSize, target: 'token_embd' },
      { name: 'output.weight', inputs: d, outputs: vocabSize, target: 'output' },
    ],
    perBlock: (i) => [
      { name: `blk.${i}.attn_q.weight`, inputs: d, outputs: q, target: 'attn_q' },
      { name: `blk.${i}.attn_k.weight`, inputs: d, outputs: kv, target: 'attn_k' },
      { name: `blk.${i}.attn_v.weight`, inputs: d, outputs: kv, target: 'attn_v' },
      { name: `blk.${i}.attn_output.weight`, inputs: q, outputs: d, target: 'attn_output' },
      { name: `blk.${i}.ffn_gate.weight`, inputs: d, outputs: s.feedForwardLength, target: 'ffn_gate' },
      { name: `blk.${i}.ffn_up.weight`, inputs: d, outputs: s.feedForwardLength, target: 'ffn_up' },
      { name: `blk.${i}.ffn_down.weight`, inputs: s.feedForwardLength, outputs: d, target: 'ffn_down' },
    ],
  };
}

function randomTensor(name: string, dims: readonly number[], type: WritableTensorType, seed: number, std: number): TensorSource {
  const stream = new WeightStream(seed, name);
  return { name, dims, type, fill: (out) => stream.fillUniform(out, std) };
}

function onesTensor(name: string, length: number): TensorSource {
  return { name, dims: [length], type: 'F32', fill: (out) => out.fill(1) };
}

/**
 * Writes a small llama-architecture GGUF with random weights that llama.cpp loads and generates from: a
 * byte-level BPE vocabulary (so every string round-trips through the tokenizer) and the tensors of a standard
 * llama block. Weights are scaled by 1/√inputs so activations stay near unit size through any depth, and the
 * output projection so logits have a standard deviation of about 2: sampling is neither uniform noise nor stuck.
 */
export async function writeTinyModel(file: string, spec: TinyModelSpec): Promise<WrittenModel> {
  const s = resolveSpec(spec);
  const vocab = tinyVocab();
  const arch = 'llama';
  const metadata: Array<readonly [string, MetadataValue]> = [
    ['general.architecture', meta.string(arch)],
    ['general.type', meta.string('model')],
    ['general.name', meta.string(s.name)],
    ['general.file_type', meta.uint32(LLAMA_FILE_TYPE_FOR_TENSOR_TYPE[s.tensorType])],
    [`${arch}.vocab_size`, meta.uint32(vocab.tokens.length)],
    [`${arch}.context_length`, meta.uint32(s.contextLength)],
    [`${arch}.embedding_length`, meta.uint32(s.embeddingLength)],
    [`${arch}.block_count`, meta.uint32(s.blockCount)],
    [`${arch}.feed_forward_length`, meta.uint32(s.feedForwardLength)],
    [`${arch}.attention.head_count`, meta.uint32(s.headCount)],
    [`${arch}.attention.head_count_kv`, meta.uint32(s.headCountKv)],
    [`${arch}.rope.dimension_count`, meta.uint32(headSize(s))],
    [`${arch}.rope.freq_base`, meta.float32(10_000)],
    [`${arch}.attention.layer_norm_rms_epsilon`, meta.float32(1e-5)],
    ['tokenizer.ggml.model', meta.string('gpt2')],
    // "qwen2" is a GPT-2-style pre-tokenizer that, unlike "default"/"gpt-2", does not "clean up" spaces before
    // punctuation when detokenizing — code such as `f(a , b)` must come back byte for byte.
    ['tokenizer.ggml.pre', meta.string('qwen2')],
    ['tokenizer.ggml.tokens', meta.strings(vocab.tokens)],
    ['tokenizer.ggml.token_type', meta.int32s(vocab.tokenTypes)],
    ['tokenizer.ggml.merges', meta.strings(vocab.merges)],
    ['tokenizer.ggml.bos_token_id', meta.uint32(vocab.bosId)],
    ['tokenizer.ggml.eos_token_id', meta.uint32(vocab.eosId)],
    ['tokenizer.ggml.add_bos_token', meta.bool(true)],
    ['tokenizer.ggml.add_eos_token', meta.bool(false)],
    ['ilf.generator.seed', meta.int32(s.seed | 0)],
  ];
  if (s.chatTemplate !== undefined) metadata.push(['tokenizer.chat_template', meta.string(s.chatTemplate)]);

  const d = s.embeddingLength;
  const { global, perBlock } = matrices(s);
  const [embedding, output] = global;
  if (!embedding || !output) throw new Error('llama tensors missing');
  const tensors: TensorSource[] = [
    // Embeddings feed an RMS norm first, so their scale is free; unit size keeps F16 far from its limits.
    randomTensor(embedding.name, [embedding.inputs, embedding.outputs], s.tensorType, s.seed, 1),
    onesTensor('output_norm.weight', d),
    randomTensor(output.name, [output.inputs, output.outputs], s.tensorType, s.seed, 2 / Math.sqrt(d)),
  ];
  for (let i = 0; i < s.blockCount; i++) {
    const [q, k, v, o, gate, up, down] = perBlock(i);
    const linear = (m: Matrix | undefined): TensorSource => {
      if (!m) throw new Error('llama block tensors missing');
      return randomTensor(m.name, [m.inputs, m.outputs], s.tensorType, s.seed, 1 / Math.sqrt(m.inputs));
    };
    tensors.push(onesTensor(`blk.${i}.attn_norm.weight`, d), linear(q), linear(k), linear(v), linear(o));
    tensors.push(onesTensor(`blk.${i}.ffn_norm.weight`, d), linear(gate), linear(up), linear(down));
  }

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
  const { global, perBlock } = matrices(s);
  const chosen = [...global, ...Array.from({ length: s.blockCount }, (_, i) => perBlock(i)).flat()].filter(
    (m) => m.target !== 'token_embd' && targets.has(m.target),
  );
  const smallest = Math.min(...chosen.map((m) => Math.min(m.inputs, m.outputs)));
  if (!Number.isInteger(rank) || rank <= 0 || rank > smallest) {
    throw new AppError('BAD_INPUT', `LoRA rank ${rank} is not usable here`, `Choose a whole number from 1 to ${smallest}.`);
  }
  if (!Number.isFinite(alpha) || alpha <= 0) throw new AppError('BAD_INPUT', `LoRA alpha ${alpha} must be a positive number`, 'Use alpha = rank for a scale of 1.');
  if (!Number.isInteger(seed)) throw new AppError('BAD_INPUT', `LoRA seed ${seed} must be an integer`, 'Use any whole number.');

  const metadata: Array<readonly [string, MetadataValue]> = [
    ['general.architecture', meta.string('llama')],
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
