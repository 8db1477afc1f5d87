/**
 * The model architectures the fixture writer can generate, each with the tensor layout and metadata llama.cpp
 * reads for it (src/models/<arch>.cpp load_arch_hparams / load_arch_tensors, and create_tensor_qkv in
 * src/llama-model.cpp), the special tokens and the chat template of the real model family.
 *
 * One simplification, on purpose: every vocabulary is byte-level BPE with the "qwen2" pre-tokenizer, which
 * round-trips code byte for byte. Real Gemma and Phi-3 use SentencePiece vocabularies; what the app does with a
 * vocabulary (tokenize, detokenize, sample) does not depend on which kind it is, only on its size.
 */

export const ARCHITECTURES = ['llama', 'qwen2', 'gemma2', 'starcoder2', 'phi3', 'granite'] as const;
export type Architecture = (typeof ARCHITECTURES)[number];

export function isArchitecture(value: string): value is Architecture {
  return (ARCHITECTURES as readonly string[]).includes(value);
}

/** How a tensor is initialised and stored: matrices take the model's weight type; norms and biases stay F32. */
export type TensorRole = 'embedding' | 'output' | 'matrix' | 'norm' | 'norm_bias' | 'bias';

export interface LayoutTensor {
  readonly name: string;
  /** ggml order: dims[0] is the row length (the matrix's inputs). */
  readonly dims: readonly number[];
  readonly role: TensorRole;
}

export interface LayoutDims {
  readonly embeddingLength: number;
  readonly blockCount: number;
  readonly feedForwardLength: number;
  readonly headCount: number;
  readonly headCountKv: number;
  readonly vocabSize: number;
}

interface MetadataNumbers {
  readonly uint32: ReadonlyArray<readonly [string, number]>;
  readonly float32: ReadonlyArray<readonly [string, number]>;
}

export interface ArchitectureInfo {
  readonly name: Architecture;
  /** What real models of this architecture are, for help texts. */
  readonly family: string;
  /** The vocabulary size of the real model family. */
  readonly realVocabSize: number;
  readonly specialTokens: readonly string[];
  readonly bos: string;
  readonly eos: string;
  readonly addBos: boolean;
  readonly chatTemplate: string | undefined;
  /** RMS norm (most) or LayerNorm with biases (StarCoder2). */
  readonly norm: 'rms' | 'layer';
  /** Output projection shared with the token embedding (no output.weight in the file). */
  readonly tiedOutput: boolean;
  /** Multiplier on the output projection's scale, where the graph divides the logits (Granite's logit_scale). */
  readonly outputScale: number;
  /**
   * Multiplier on the matrices that write into the residual stream (attn_output, ffn_down), where the graph scales
   * the embeddings up and the blocks' outputs down (Granite): random blocks would otherwise vanish beside the
   * embedding, and the model would only repeat its input.
   */
  readonly blockOutputScale?: number;
  readonly ropeFreqBase: number;
  readonly tensors: (d: LayoutDims) => LayoutTensor[];
  /** Architecture-specific hyperparameters beyond the common ones. */
  readonly extraMetadata: (d: LayoutDims) => MetadataNumbers;
}

const none: MetadataNumbers = { uint32: [], float32: [] };

function headSizeOf(d: LayoutDims): number {
  return d.embeddingLength / d.headCount;
}

const m = (name: string, inputs: number, outputs: number): LayoutTensor => ({ name, dims: [inputs, outputs], role: 'matrix' });
const norm = (name: string, n: number): LayoutTensor => ({ name, dims: [n], role: 'norm' });
const normBias = (name: string, n: number): LayoutTensor => ({ name, dims: [n], role: 'norm_bias' });
const bias = (name: string, n: number): LayoutTensor => ({ name, dims: [n], role: 'bias' });

function globals(d: LayoutDims, tied: boolean, extra: LayoutTensor[] = []): LayoutTensor[] {
  return [
    { name: 'token_embd.weight', dims: [d.embeddingLength, d.vocabSize], role: 'embedding' },
    norm('output_norm.weight', d.embeddingLength),
    ...extra,
    ...(tied ? [] : [{ name: 'output.weight', dims: [d.embeddingLength, d.vocabSize], role: 'output' } satisfies LayoutTensor]),
  ];
}

/** Separate q, k, v projections and the output projection, as create_tensor_qkv makes them without a fused tensor. */
function splitAttention(d: LayoutDims, i: number, withBiases: boolean): LayoutTensor[] {
  const n = d.embeddingLength;
  const q = d.headCount * headSizeOf(d);
  const kv = d.headCountKv * headSizeOf(d);
  return [
    m(`blk.${i}.attn_q.weight`, n, q),
    m(`blk.${i}.attn_k.weight`, n, kv),
    m(`blk.${i}.attn_v.weight`, n, kv),
    ...(withBiases ? [bias(`blk.${i}.attn_q.bias`, q), bias(`blk.${i}.attn_k.bias`, kv), bias(`blk.${i}.attn_v.bias`, kv)] : []),
    m(`blk.${i}.attn_output.weight`, q, n),
  ];
}

function gatedFfn(d: LayoutDims, i: number): LayoutTensor[] {
  return [
    m(`blk.${i}.ffn_gate.weight`, d.embeddingLength, d.feedForwardLength),
    m(`blk.${i}.ffn_up.weight`, d.embeddingLength, d.feedForwardLength),
    m(`blk.${i}.ffn_down.weight`, d.feedForwardLength, d.embeddingLength),
  ];
}

function blocks(d: LayoutDims, block: (i: number) => LayoutTensor[]): LayoutTensor[] {
  return Array.from({ length: d.blockCount }, (_, i) => block(i)).flat();
}

const CHATML_QWEN =
  "{%- if messages[0]['role'] == 'system' %}{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}" +
  "{%- else %}{{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}{%- endif %}" +
  "{%- for message in messages %}{%- if not (message['role'] == 'system' and loop.first) %}" +
  "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}{%- endif %}{%- endfor %}" +
  "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}";

const LLAMA3 =
  "{{- bos_token }}{%- for message in messages %}{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}{%- endfor %}" +
  "{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}";

const GEMMA =
  "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}" +
  "{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}" +
  "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}" +
  "{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}" +
  "{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{'<start_of_turn>model\\n'}}{% endif %}";

const PHI3 =
  "{% for message in messages %}{% if message['role'] == 'system' %}{{'<|system|>\\n' + message['content'] + '<|end|>\\n'}}" +
  "{% elif message['role'] == 'user' %}{{'<|user|>\\n' + message['content'] + '<|end|>\\n'}}" +
  "{% elif message['role'] == 'assistant' %}{{'<|assistant|>\\n' + message['content'] + '<|end|>\\n'}}{% endif %}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% else %}{{ eos_token }}{% endif %}";

const GRANITE =
  "{%- for message in messages %}{{- '<|start_of_role|>' + message['role'] + '<|end_of_role|>' + message['content'] + '<|end_of_text|>\\n' }}{%- endfor %}" +
  "{%- if add_generation_prompt %}{{- '<|start_of_role|>assistant<|end_of_role|>' }}{%- endif %}";

export const ARCHITECTURE_INFO: Readonly<Record<Architecture, ArchitectureInfo>> = {
  llama: {
    name: 'llama', family: 'Llama 3, CodeLlama, DeepSeek-Coder (grouped-query attention)', realVocabSize: 128_256,
    specialTokens: ['<|begin_of_text|>', '<|end_of_text|>', '<|start_header_id|>', '<|end_header_id|>', '<|eot_id|>'],
    bos: '<|begin_of_text|>', eos: '<|eot_id|>', addBos: true, chatTemplate: LLAMA3, norm: 'rms', tiedOutput: false, outputScale: 1,
    ropeFreqBase: 500_000,
    tensors: (d) => [...globals(d, false), ...blocks(d, (i) => [norm(`blk.${i}.attn_norm.weight`, d.embeddingLength), ...splitAttention(d, i, false), norm(`blk.${i}.ffn_norm.weight`, d.embeddingLength), ...gatedFfn(d, i)])],
    extraMetadata: () => none,
  },
  qwen2: {
    name: 'qwen2', family: 'Qwen2.5, Qwen2.5-Coder (QKV biases, tied output)', realVocabSize: 151_936,
    specialTokens: ['<|endoftext|>', '<|im_start|>', '<|im_end|>'],
    bos: '<|endoftext|>', eos: '<|im_end|>', addBos: false, chatTemplate: CHATML_QWEN, norm: 'rms', tiedOutput: true, outputScale: 1,
    ropeFreqBase: 1_000_000,
    tensors: (d) => [...globals(d, true), ...blocks(d, (i) => [norm(`blk.${i}.attn_norm.weight`, d.embeddingLength), ...splitAttention(d, i, true), norm(`blk.${i}.ffn_norm.weight`, d.embeddingLength), ...gatedFfn(d, i)])],
    extraMetadata: () => none,
  },
  gemma2: {
    name: 'gemma2', family: 'Gemma 2, CodeGemma (post-norms, soft-capped logits, tied output)', realVocabSize: 256_000,
    specialTokens: ['<pad>', '<eos>', '<bos>', '<start_of_turn>', '<end_of_turn>'],
    bos: '<bos>', eos: '<eos>', addBos: true, chatTemplate: GEMMA, norm: 'rms', tiedOutput: true, outputScale: 1,
    ropeFreqBase: 10_000,
    tensors: (d) => [...globals(d, true), ...blocks(d, (i) => [
      norm(`blk.${i}.attn_norm.weight`, d.embeddingLength), ...splitAttention(d, i, false), norm(`blk.${i}.post_attention_norm.weight`, d.embeddingLength),
      norm(`blk.${i}.ffn_norm.weight`, d.embeddingLength), ...gatedFfn(d, i), norm(`blk.${i}.post_ffw_norm.weight`, d.embeddingLength),
    ])],
    extraMetadata: (d) => ({
      uint32: [['attention.key_length', headSizeOf(d)], ['attention.value_length', headSizeOf(d)], ['attention.sliding_window', 4096]],
      float32: [['attn_logit_softcapping', 50], ['final_logit_softcapping', 30]],
    }),
  },
  starcoder2: {
    name: 'starcoder2', family: 'StarCoder2 (LayerNorm, biases, plain GELU feed-forward)', realVocabSize: 49_152,
    specialTokens: ['<|endoftext|>'],
    bos: '<|endoftext|>', eos: '<|endoftext|>', addBos: false, chatTemplate: undefined, norm: 'layer', tiedOutput: false, outputScale: 1,
    ropeFreqBase: 100_000,
    tensors: (d) => [
      ...globals(d, false, [normBias('output_norm.bias', d.embeddingLength)]),
      ...blocks(d, (i) => [
        norm(`blk.${i}.attn_norm.weight`, d.embeddingLength), normBias(`blk.${i}.attn_norm.bias`, d.embeddingLength),
        ...splitAttention(d, i, true), bias(`blk.${i}.attn_output.bias`, d.embeddingLength),
        norm(`blk.${i}.ffn_norm.weight`, d.embeddingLength), normBias(`blk.${i}.ffn_norm.bias`, d.embeddingLength),
        m(`blk.${i}.ffn_up.weight`, d.embeddingLength, d.feedForwardLength), bias(`blk.${i}.ffn_up.bias`, d.feedForwardLength),
        m(`blk.${i}.ffn_down.weight`, d.feedForwardLength, d.embeddingLength), bias(`blk.${i}.ffn_down.bias`, d.embeddingLength),
      ]),
    ],
    extraMetadata: () => none,
  },
  phi3: {
    name: 'phi3', family: 'Phi-3, Phi-3.5 (fused QKV and fused gate/up)', realVocabSize: 32_064,
    // llama.cpp sets attributes on <unk>, <s> and <|endoftext|> by name for any model named phi3, and fails without them.
    specialTokens: ['<unk>', '<s>', '</s>', '<|endoftext|>', '<|assistant|>', '<|end|>', '<|system|>', '<|user|>'],
    bos: '<s>', eos: '<|endoftext|>', addBos: true, chatTemplate: PHI3, norm: 'rms', tiedOutput: false, outputScale: 1,
    ropeFreqBase: 10_000,
    tensors: (d) => [...globals(d, false), ...blocks(d, (i) => {
      const kv = d.headCountKv * headSizeOf(d);
      return [
        norm(`blk.${i}.attn_norm.weight`, d.embeddingLength),
        m(`blk.${i}.attn_qkv.weight`, d.embeddingLength, d.embeddingLength + 2 * kv),
        m(`blk.${i}.attn_output.weight`, d.embeddingLength, d.embeddingLength),
        norm(`blk.${i}.ffn_norm.weight`, d.embeddingLength),
        // Gate and up in one matrix of twice the width: llama.cpp splits it in the graph (a "fused swiglu").
        m(`blk.${i}.ffn_up.weight`, d.embeddingLength, 2 * d.feedForwardLength),
        m(`blk.${i}.ffn_down.weight`, d.feedForwardLength, d.embeddingLength),
      ];
    })],
    extraMetadata: () => none,
  },
  granite: {
    name: 'granite', family: 'Granite 3 and Granite Code (scaled embeddings, residuals and logits, tied output)', realVocabSize: 49_155,
    specialTokens: ['<|end_of_text|>', '<|start_of_role|>', '<|end_of_role|>'],
    bos: '<|end_of_text|>', eos: '<|end_of_text|>', addBos: false, chatTemplate: GRANITE, norm: 'rms', tiedOutput: true, outputScale: 8,
    blockOutputScale: 12 / 0.22,
    ropeFreqBase: 10_000,
    tensors: (d) => [...globals(d, true), ...blocks(d, (i) => [norm(`blk.${i}.attn_norm.weight`, d.embeddingLength), ...splitAttention(d, i, false), norm(`blk.${i}.ffn_norm.weight`, d.embeddingLength), ...gatedFfn(d, i)])],
    // Granite 3.1 2B's multipliers (config.json: logits_scaling, residual_multiplier, embedding_multiplier, attention_multiplier).
    extraMetadata: () => ({ uint32: [], float32: [['logit_scale', 8], ['residual_scale', 0.22], ['embedding_scale', 12], ['attention.scale', 0.015625]] }),
  },
};

/** The vocabulary and special tokens of the generated llama models every older test uses: kept byte for byte. */
export const LEGACY_SPECIAL_TOKENS: readonly string[] = ['<s>', '</s>', '<|im_start|>', '<|im_end|>'];

/** Real model shapes, for benchmarks at the size users run. */
export interface NamedShape {
  readonly architecture: Architecture;
  readonly embeddingLength: number;
  readonly blockCount: number;
  readonly feedForwardLength: number;
  readonly headCount: number;
  readonly headCountKv: number;
  readonly vocabSize: number;
  readonly contextLength: number;
  readonly name: string;
}

export const NAMED_SHAPES: Readonly<Record<string, NamedShape>> = {
  // Qwen/Qwen2.5-Coder-0.5B-Instruct config.json.
  'qwen2.5-coder-0.5b': {
    architecture: 'qwen2', embeddingLength: 896, blockCount: 24, feedForwardLength: 4864, headCount: 14, headCountKv: 2,
    vocabSize: 151_936, contextLength: 32_768, name: 'Qwen2.5-Coder-0.5B shape (random weights)',
  },
  // Qwen/Qwen2.5-Coder-1.5B-Instruct config.json.
  'qwen2.5-coder-1.5b': {
    architecture: 'qwen2', embeddingLength: 1536, blockCount: 28, feedForwardLength: 8960, headCount: 12, headCountKv: 2,
    vocabSize: 151_936, contextLength: 32_768, name: 'Qwen2.5-Coder-1.5B shape (random weights)',
  },
};
