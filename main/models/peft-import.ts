import fs from 'node:fs';
import path from 'node:path';
import { meta, writeGguf, type MetadataValue, type TensorSource } from '../../native-models/gguf/file-writer.js';
import { readGgufInfo, type GgufInfo } from '../../native-models/gguf/reader.js';
import { BASE_MODEL_SHA256_KEY } from '../../native-models/gguf/writer.js';
import { AppError } from '../errors.js';
import type { AdapterRow } from '../store/models.js';
import type { Store } from '../store/store.js';
import { addAdapter } from './registry.js';
import { readSafetensors, toFloat32, type SafeTensor } from './safetensors.js';

/*
 * PEFT LoRA → GGUF LoRA, following llama.cpp's convert_lora_to_gguf.py (llama.cpp 80fb11a, the
 * source node-llama-cpp ships) and the base-model rules it reuses from convert_hf_to_gguf.py:
 *  1. Tensor names: strip "base_model.model.", take ".lora_A.weight" / ".lora_B.weight" as the A and B
 *     of the base weight "<module>.weight" (get_base_tensor_name), then map the module to llama.cpp's
 *     tensor name as the architecture's converter does (model.layers.N.self_attn.q_proj → blk.N.attn_q, …).
 *  2. Data: A (torch [r, in]) and B (torch [out, r]) are written as they are, which in ggml order is
 *     A [in, r] and B [r, out] (what llama-adapter.cpp reads); no transpose for linear layers.
 *  3. Whatever the base converter does to a weight's rows is done to B (LoraTorchTensor applies
 *     reshape/swapaxes/permute to B, the output side): for llama, q_proj and k_proj are permuted for
 *     rope (LlamaModel.permute(w, n_head, n_head) and (w, n_head, n_head_kv)).
 *  4. token_embd is the one tensor whose lora_a is transposed (see llm_build_inp_embd()); we refuse
 *     embeddings instead (PEFT saves them as lora_embedding_A/B of another orientation, and the
 *     converter itself refuses full embed_tokens/lm_head weights: new tokens in the vocabulary).
 *  5. lm_head is refused when the base ties it to the embeddings (no output.weight), as the converter does.
 *  6. adapter.lora.alpha = adapter_config.json's lora_alpha; anything else in the adapter (bias, DoRA
 *     magnitudes) is an error, not silently dropped.
 * Our own additions: rsLoRA's scale alpha/√r is written as alpha·√r (llama.cpp scales by alpha/r);
 * per-module rank/alpha patterns are refused (a GGUF adapter has one alpha); every shape is checked
 * against the base model before anything is written.
 */

/** HF module (inside model.layers.N) → llama.cpp tensor (inside blk.N), per architecture. */
const BLOCK_MODULES: Readonly<Record<string, Readonly<Record<string, string>>>> = (() => {
  const attention = { 'self_attn.q_proj': 'attn_q', 'self_attn.k_proj': 'attn_k', 'self_attn.v_proj': 'attn_v', 'self_attn.o_proj': 'attn_output' };
  const gated = { 'mlp.gate_proj': 'ffn_gate', 'mlp.up_proj': 'ffn_up', 'mlp.down_proj': 'ffn_down' };
  return {
    llama: { ...attention, ...gated },
    qwen2: { ...attention, ...gated },
    gemma2: { ...attention, ...gated },
    // Starcoder2's MLP is c_fc → act → c_proj (no gate).
    starcoder2: { ...attention, 'mlp.c_fc': 'ffn_up', 'mlp.c_proj': 'ffn_down' },
    // Phi-3 keeps q/k/v fused (attn_qkv) and gate/up fused (ffn_up, twice n_ff wide), as llama.cpp does.
    phi3: { 'self_attn.qkv_proj': 'attn_qkv', 'self_attn.o_proj': 'attn_output', 'mlp.gate_up_proj': 'ffn_up', 'mlp.down_proj': 'ffn_down' },
  };
})();

export const PEFT_ARCHITECTURES = Object.keys(BLOCK_MODULES);

/** PEFT target_modules that import-peft can bring back for `architecture` (llama's when unknown). */
export function peftTargetModules(architecture: string): string[] {
  return Object.keys(BLOCK_MODULES[architecture] ?? BLOCK_MODULES.llama ?? {}).map((k) => k.split('.')[1] ?? k);
}

/** Architectures whose converter permutes q/k rows for rope (rule 3). */
const ROPE_PERMUTED = new Set(['llama']);

export interface PeftConfig {
  rank: number;
  alpha: number;
  baseModel: string | null;
  targetModules: string[];
}

function peftError(message: string, hint: string): AppError {
  return new AppError('BAD_INPUT', message, hint);
}

/** adapter_config.json: a LoRA, its r and lora_alpha, and nothing we would have to drop. */
export function readPeftConfig(dir: string): PeftConfig {
  const file = path.join(dir, 'adapter_config.json');
  if (!fs.existsSync(file)) throw peftError(`${dir} has no adapter_config.json`, 'give the folder PEFT saved (`model.save_pretrained(DIR)`): adapter_config.json and adapter_model.safetensors');
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    throw peftError(`${file} is not valid JSON`, 'save the adapter again with PEFT');
  }
  const c = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
  if (c.peft_type !== undefined && c.peft_type !== 'LORA') throw peftError(`${file} is a ${JSON.stringify(c.peft_type)} adapter, not a LoRA`, 'only LoRA adapters can become GGUF adapters');
  const rank = c.r;
  const alpha = c.lora_alpha;
  if (typeof rank !== 'number' || !Number.isInteger(rank) || rank < 1) throw peftError(`${file} has no valid rank "r"`, 'a PEFT LoRA config has r (an integer ≥ 1)');
  if (typeof alpha !== 'number' || !Number.isFinite(alpha)) throw peftError(`${file} has no valid "lora_alpha"`, 'a PEFT LoRA config has lora_alpha');
  const nonEmpty = (v: unknown): boolean => typeof v === 'object' && v !== null && Object.keys(v).length > 0;
  if (nonEmpty(c.rank_pattern) || nonEmpty(c.alpha_pattern)) {
    throw peftError(`${file} sets a per-module rank_pattern/alpha_pattern`, 'a GGUF adapter has one alpha/rank scale: train with one r and lora_alpha for every module');
  }
  if (c.use_dora === true) throw peftError(`${file} is a DoRA adapter`, 'DoRA magnitudes have no GGUF LoRA equivalent: train with use_dora=False');
  if (c.fan_in_fan_out === true) throw peftError(`${file} sets fan_in_fan_out (GPT-2 style Conv1D layers)`, `only ${PEFT_ARCHITECTURES.join(', ')} models are supported`);
  const targets = Array.isArray(c.target_modules) ? c.target_modules.filter((t): t is string => typeof t === 'string') : typeof c.target_modules === 'string' ? [c.target_modules] : [];
  return {
    rank,
    // rsLoRA scales by alpha/√r; llama.cpp by alpha/r: the same product with alpha·√r.
    alpha: c.use_rslora === true ? alpha * Math.sqrt(rank) : alpha,
    baseModel: typeof c.base_model_name_or_path === 'string' ? c.base_model_name_or_path : null,
    targetModules: targets,
  };
}

/** A PEFT tensor name → the llama.cpp base tensor it adapts and which half (rule 1). */
export function mapPeftName(name: string, architecture: string): { target: string; half: 'a' | 'b' } {
  const known = BLOCK_MODULES[architecture];
  if (!known) throw peftError(`the base model is ${architecture}; PEFT import knows ${PEFT_ARCHITECTURES.join(', ')}`, 'import adapters for one of those architectures');
  if (/\.lora_embedding_[AB]\b/.test(name) || /(^|\.)embed_tokens\./.test(name)) {
    throw peftError(`${name}: token embeddings in the adapter cannot be imported`, 'train without embed_tokens in target_modules (and without new tokens)');
  }
  const m = /^(?:base_model\.model\.)?(.+)\.lora_([AB])(?:\.[A-Za-z0-9_-]+)?\.weight$/.exec(name);
  if (!m) throw peftError(`${name} is not a LoRA tensor (lora_A/lora_B)`, 'only plain LoRA weights can be imported: train with bias="none" and no modules_to_save');
  const [, module = '', half = 'A'] = m;
  if (module === 'lm_head') return { target: 'output.weight', half: half === 'A' ? 'a' : 'b' };
  const block = /^model\.layers\.(\d+)\.(.+)$/.exec(module);
  const mapped = block ? known[block[2] ?? ''] : undefined;
  if (!block || !mapped) {
    throw peftError(`${name}: module ${module} has no llama.cpp tensor for ${architecture}`,
      `target only these modules: ${Object.keys(known).map((k) => k.split('.')[1]).join(', ')}, lm_head`);
  }
  return { target: `blk.${block[1]}.${mapped}.weight`, half: half === 'A' ? 'a' : 'b' };
}

/**
 * LlamaModel.permute on the rows of B (rule 3): rows are [heads, 2, half] → [heads, half, 2].
 * `inverse` undoes it (GGUF → PEFT), for writing a PEFT adapter from a GGUF one.
 */
export function permuteRows(values: Float32Array, rows: number, cols: number, heads: number, inverse = false): Float32Array {
  const half = rows / heads / 2;
  if (!Number.isInteger(half)) throw new Error(`${rows} rows do not split into ${heads} heads of two halves`);
  const out = new Float32Array(values.length);
  for (let h = 0; h < heads; h++) {
    for (let j = 0; j < 2; j++) {
      for (let k = 0; k < half; k++) {
        const from = h * 2 * half + j * half + k; // [h, j, k] in HF order
        const to = h * 2 * half + k * 2 + j; // [h, k, j] in llama.cpp order
        const [src, dst] = inverse ? [to, from] : [from, to];
        out.set(values.subarray(src * cols, (src + 1) * cols), dst * cols);
      }
    }
  }
  return out;
}

function headCounts(base: GgufInfo, arch: string): { heads: number; kvHeads: number } {
  const heads = base.metadata[`${arch}.attention.head_count`];
  const kv = base.metadata[`${arch}.attention.head_count_kv`];
  if (typeof heads !== 'number') throw peftError(`the base model has no ${arch}.attention.head_count`, 'use a GGUF converted by llama.cpp');
  return { heads, kvHeads: typeof kv === 'number' ? kv : heads };
}

export interface ConvertedLora {
  tensors: { name: string; dims: number[]; values: Float32Array }[];
  rank: number;
  alpha: number;
}

/**
 * Maps and checks every tensor of a PEFT adapter against the base model; returns the GGUF
 * tensors (ggml dims) without writing anything.
 */
export function convertPeft(config: PeftConfig, tensors: readonly SafeTensor[], base: GgufInfo): ConvertedLora {
  const arch = base.architecture ?? 'unknown';
  const pairs = new Map<string, { a?: SafeTensor; b?: SafeTensor }>();
  for (const t of tensors) {
    const { target, half } = mapPeftName(t.name, arch);
    const pair = pairs.get(target) ?? {};
    if (pair[half]) throw peftError(`${t.name}: ${target} has two lora_${half.toUpperCase()} tensors`, 'the adapter file is inconsistent: save it again');
    pair[half] = t;
    pairs.set(target, pair);
  }
  if (pairs.size === 0) throw peftError('the adapter has no LoRA tensors', 'give the adapter_model.safetensors PEFT saved');
  const baseTensors = new Map(base.tensors.map((t) => [t.name, t]));
  const { heads, kvHeads } = headCounts(base, arch);
  const out: ConvertedLora['tensors'] = [];
  for (const [target, { a, b }] of [...pairs].sort(([x], [y]) => x.localeCompare(y, 'en', { numeric: true }))) {
    if (!a || !b) throw peftError(`${target} has lora_${a ? 'A' : 'B'} but no lora_${a ? 'B' : 'A'}`, 'the adapter file is incomplete: save it again');
    const w = baseTensors.get(target);
    if (!w) {
      throw peftError(target === 'output.weight' ? 'the adapter adapts lm_head, but the base model ties it to the token embeddings' : `the adapter adapts ${target}, which the base model does not have`,
        'this adapter was trained on another model: import it for the model it was trained on');
    }
    const [inW = 0, outW = 0] = w.dims; // ggml: W is [in, out]
    if (a.shape.length !== 2 || b.shape.length !== 2) throw peftError(`${target}: lora_A/lora_B must be matrices, got ${JSON.stringify(a.shape)} and ${JSON.stringify(b.shape)}`, 'save the adapter again with PEFT');
    const [rA = 0, inA = 0] = a.shape; // torch: A is [r, in]
    const [outB = 0, rB = 0] = b.shape; // torch: B is [out, r]
    if (inA !== inW || outB !== outW || rA !== rB) {
      throw peftError(`${target} is [${outW} × ${inW}] (out × in) in the base model, but the adapter's lora_A is ${JSON.stringify(a.shape)} and lora_B ${JSON.stringify(b.shape)}`,
        'this adapter was trained on another model (or another size of it): import it for the model it was trained on');
    }
    if (rA !== config.rank) throw peftError(`${target} has rank ${rA}, but adapter_config.json says r = ${config.rank}`, 'the config and the weights disagree: save the adapter again');
    let bValues = toFloat32(b);
    if (ROPE_PERMUTED.has(arch) && /\.attn_[qk]\.weight$/.test(target)) {
      bValues = permuteRows(bValues, outB, rB, target.includes('.attn_q.') ? heads : kvHeads);
    }
    out.push({ name: `${target}.lora_a`, dims: [inA, rA], values: toFloat32(a) });
    out.push({ name: `${target}.lora_b`, dims: [rB, outB], values: bValues });
  }
  return { tensors: out, rank: config.rank, alpha: config.alpha };
}

function source(values: Float32Array): (out: Float32Array) => void {
  let at = 0;
  return (out) => {
    out.set(values.subarray(at, at + out.length));
    at += out.length;
  };
}

/** Writes a converted adapter as a GGUF LoRA for `base` (F32: no precision lost from F16/BF16). */
export async function writeGgufLora(file: string, lora: ConvertedLora, base: { architecture: string; sha256: string }, name: string): Promise<void> {
  const metadata: [string, MetadataValue][] = [
    ['general.architecture', meta.string(base.architecture)],
    ['general.type', meta.string('adapter')],
    ['general.name', meta.string(name)],
    ['adapter.type', meta.string('lora')],
    ['adapter.lora.alpha', meta.float32(lora.alpha)],
    [BASE_MODEL_SHA256_KEY, meta.string(base.sha256)],
  ];
  const tensors: TensorSource[] = lora.tensors.map((t) => ({ name: t.name, dims: t.dims, type: 'F32', fill: source(t.values) }));
  await writeGguf(file, metadata, tensors);
}

/**
 * `ilf models import-peft DIR --model ID`: converts the PEFT LoRA in DIR for model ID, writes it
 * to `<dataDir>/adapters/`, and registers it as an adapter of that model. Every check runs before
 * the file is written; a failed registration deletes the file. Nothing else is touched.
 */
export async function importPeftAdapter(store: Store, dir: string, baseModelId: number, dataDir: string, options: { name?: string } = {}): Promise<{ adapter: AdapterRow; created: boolean; file: string }> {
  const base = store.models.get(baseModelId);
  if (!base) throw new AppError('NOT_FOUND', `no model with id ${baseModelId}`, 'list models with `ilf models list`');
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw peftError(`${dir} is not a folder`, 'give the folder PEFT saved the adapter in');
  const config = readPeftConfig(dir);
  const weights = path.join(dir, 'adapter_model.safetensors');
  if (!fs.existsSync(weights)) {
    const hint = fs.existsSync(path.join(dir, 'adapter_model.bin'))
      ? 'it has adapter_model.bin (pickle), which we do not read: save with safe_serialization=True'
      : 'give the folder PEFT saved (`model.save_pretrained(DIR)`)';
    throw peftError(`${dir} has no adapter_model.safetensors`, hint);
  }
  const baseInfo = await readGgufInfo(base.path);
  const lora = convertPeft(config, readSafetensors(weights), baseInfo);
  const name = options.name ?? `${path.basename(path.resolve(dir))} (PEFT)`;
  const outDir = path.join(dataDir, 'adapters');
  fs.mkdirSync(outDir, { recursive: true });
  const file = path.join(outDir, `peft-${base.sha256.slice(0, 12)}-${path.basename(path.resolve(dir)).replace(/[^A-Za-z0-9._-]/g, '_')}-${Date.now().toString(36)}.gguf`);
  await writeGgufLora(file, lora, { architecture: base.architecture, sha256: base.sha256 }, name);
  try {
    const { adapter, created } = await addAdapter(store, file, baseModelId, { name });
    if (!created) fs.rmSync(file, { force: true }); // the same adapter was imported before: keep its file only
    return { adapter, created, file: created ? file : adapter.path };
  } catch (e) {
    fs.rmSync(file, { force: true });
    throw e;
  }
}
