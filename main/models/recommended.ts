import { isTrainable } from './quantization.js';

export interface RecommendedModel {
  name: string;
  /** A reference for `ilf models download`. */
  ref: string;
  sizeBytes: number;
  licence: string;
  quantization: string;
  format: 'completion' | 'chat';
  trainable: boolean;
  note: string;
}

const entry = (m: Omit<RecommendedModel, 'trainable'>): RecommendedModel => ({ ...m, trainable: isTrainable(m.quantization) });

/** A short list of code models that fit a desktop GPU (sizes approximate). */
export const RECOMMENDED_MODELS: readonly RecommendedModel[] = [
  entry({
    name: 'Qwen2.5-Coder 0.5B Instruct', ref: 'hf:Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF/qwen2.5-coder-0.5b-instruct-q8_0.gguf',
    sizeBytes: 531_000_000, licence: 'Apache-2.0', quantization: 'Q8_0', format: 'chat',
    note: 'smallest useful instruct model: quick loops on a laptop GPU or CPU',
  }),
  entry({
    name: 'Qwen2.5-Coder 1.5B Instruct', ref: 'hf:Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF/qwen2.5-coder-1.5b-instruct-q8_0.gguf',
    sizeBytes: 1_650_000_000, licence: 'Apache-2.0', quantization: 'Q8_0', format: 'chat',
    note: 'good first choice on a 6–8 GB GPU',
  }),
  entry({
    name: 'Qwen2.5-Coder 1.5B Instruct (Q4_K_M)', ref: 'hf:Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf',
    sizeBytes: 1_120_000_000, licence: 'Apache-2.0', quantization: 'Q4_K_M', format: 'chat',
    note: 'smaller and faster for sampling, but a K-quant: the trainer cannot fine-tune it',
  }),
  entry({
    name: 'DeepSeek-Coder 1.3B Base', ref: 'hf:TheBloke/deepseek-coder-1.3b-base-GGUF/deepseek-coder-1.3b-base.Q8_0.gguf',
    sizeBytes: 1_430_000_000, licence: 'DeepSeek License', quantization: 'Q8_0', format: 'completion',
    note: 'a base model for the paper\'s completion prompts',
  }),
];
