import { isTrainable } from './quantization.js';

export interface RecommendedModel {
  name: string;
  /** A reference for `ilf models download`; pinned entries name the repository revision the hash is of. */
  ref: string;
  /** Exact when the entry is pinned, approximate otherwise. */
  sizeBytes: number;
  /** The file's sha256 (its Git LFS oid on the hub); null when unpinned: the download is then checked by size only if the server says it. */
  sha256: string | null;
  licence: string;
  quantization: string;
  format: 'completion' | 'chat';
  /** The Hugging Face id of the model the GGUF was converted from: the base model for TRL/Axolotl exports. */
  hfId: string;
  trainable: boolean;
  note: string;
}

const entry = (m: Omit<RecommendedModel, 'trainable'>): RecommendedModel => ({ ...m, trainable: isTrainable(m.quantization) });

/**
 * A short list of code models that fit a desktop GPU. Sizes and hashes are the hub's LFS pointers
 * (oid, size) at the pinned revision, as published by several independent projects that pin the
 * same files; an entry no two sources agreed on stays unpinned rather than carry a guessed hash.
 */
export const RECOMMENDED_MODELS: readonly RecommendedModel[] = [
  entry({
    name: 'Qwen2.5-Coder 0.5B Instruct',
    ref: 'hf:Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF@ebb2015119c907b064c512bf053e945850b5875f/qwen2.5-coder-0.5b-instruct-q8_0.gguf',
    sizeBytes: 675_710_848, sha256: 'e1a77721fa97d412f121878223eec81fb4ae6f271e18f922d746711f67b344d1',
    licence: 'Apache-2.0', quantization: 'Q8_0', format: 'chat', hfId: 'Qwen/Qwen2.5-Coder-0.5B-Instruct',
    note: 'smallest useful instruct model: quick loops on a laptop GPU or CPU',
  }),
  entry({
    name: 'Qwen2.5-Coder 1.5B Instruct',
    ref: 'hf:Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF@f86cb2c1fa58255f8052cc32aeede1b7482d4361/qwen2.5-coder-1.5b-instruct-q8_0.gguf',
    sizeBytes: 1_894_532_160, sha256: '507de59046601282ba768a9789900e6ccf60ed93ddf346730b7c68eb0715bc47',
    licence: 'Apache-2.0', quantization: 'Q8_0', format: 'chat', hfId: 'Qwen/Qwen2.5-Coder-1.5B-Instruct',
    note: 'good first choice on a 6–8 GB GPU',
  }),
  entry({
    name: 'Qwen2.5-Coder 1.5B Instruct (Q4_K_M)',
    ref: 'hf:Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF@f86cb2c1fa58255f8052cc32aeede1b7482d4361/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf',
    sizeBytes: 1_117_320_768, sha256: 'cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046',
    licence: 'Apache-2.0', quantization: 'Q4_K_M', format: 'chat', hfId: 'Qwen/Qwen2.5-Coder-1.5B-Instruct',
    note: 'smaller and faster for sampling, but a K-quant: the trainer cannot fine-tune it',
  }),
  entry({
    // Unpinned: its exact size was found nowhere, and its hash in one project only.
    name: 'DeepSeek-Coder 1.3B Base', ref: 'hf:TheBloke/deepseek-coder-1.3b-base-GGUF/deepseek-coder-1.3b-base.Q8_0.gguf',
    sizeBytes: 1_430_000_000, sha256: null, licence: 'DeepSeek License', quantization: 'Q8_0', format: 'completion',
    hfId: 'deepseek-ai/deepseek-coder-1.3b-base', note: 'a base model for the paper\'s completion prompts',
  }),
];

/** The recommended entry a reference names, if any. */
export function recommendedEntry(ref: string): RecommendedModel | undefined {
  return RECOMMENDED_MODELS.find((r) => r.ref === ref.trim());
}

/** The pinned size and hash of a recommended reference, if it is one and is pinned. */
export function pinnedFile(ref: string): { sha256: string; sizeBytes: number } | undefined {
  const m = RECOMMENDED_MODELS.find((r) => r.ref === ref.trim());
  return m?.sha256 ? { sha256: m.sha256, sizeBytes: m.sizeBytes } : undefined;
}
