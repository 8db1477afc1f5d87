import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { editGguf } from '../../native-models/gguf/edit.js';
import { readGgufInfo, type GgufInfo } from '../../native-models/gguf/reader.js';
import { BASE_MODEL_SHA256_KEY } from '../../native-models/gguf/writer.js';
import { AppError } from '../errors.js';
import type { AdapterRow, ModelRow } from '../store/models.js';
import type { Store } from '../store/store.js';
import type { LlamaRuntime } from './runtime.js';
import { downloadDestination, downloadFile, resolveModelReference, type DownloadProgress } from './download.js';
import { pinnedFile, recommendedEntry } from './recommended.js';

const HF_ID = /^[A-Za-z0-9][A-Za-z0-9._-]*\/[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** A Hugging Face id as given by a person (OWNER/NAME); a clear error otherwise. */
export function checkHfId(hfId: string): string {
  const id = hfId.trim();
  if (!HF_ID.test(id)) throw new AppError('BAD_INPUT', `"${hfId}" is not a Hugging Face id`, 'give OWNER/NAME, e.g. Qwen/Qwen2.5-Coder-0.5B-Instruct');
  return id;
}

/**
 * The Hugging Face id a GGUF names as its source: llama.cpp's converter writes
 * general.source.repo_url (the model converted) and general.base_model.N.repo_url (what it was
 * fine-tuned from); only huggingface.co URLs count.
 */
export function hfIdFromGguf(info: GgufInfo): string | null {
  for (const key of ['general.source.repo_url', 'general.base_model.0.repo_url']) {
    const url = info.metadata[key];
    if (typeof url !== 'string') continue;
    const m = /^https:\/\/huggingface\.co\/([^/?#]+\/[^/?#]+)\/?$/.exec(url.trim());
    if (m?.[1] && HF_ID.test(m[1])) return m[1];
  }
  return null;
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(fs.createReadStream(file), hash);
  return hash.digest('hex');
}

/**
 * Registers a local GGUF model: the header is checked (magic, version, tensors inside the file),
 * llama.cpp must be able to load its architecture (a vocabulary-only load, which is quick), and
 * its sha256 becomes its identity. Nothing is registered when any check fails.
 */
export async function addLocalModel(store: Store, runtime: LlamaRuntime, file: string, options: { name?: string; source?: string; hfId?: string } = {}): Promise<{ model: ModelRow; created: boolean }> {
  const givenHfId = options.hfId === undefined ? undefined : checkHfId(options.hfId);
  const absolute = path.resolve(file);
  const info = await readGgufInfo(absolute);
  if (info.fileKind === 'adapter' || info.metadata['adapter.type'] !== undefined) {
    throw new AppError('BAD_INPUT', `${file} is a LoRA adapter, not a model`, 'add it with `ilf models add-adapter FILE --model ID`');
  }
  const llama = await runtime.get();
  try {
    const probe = await llama.loadModel({ modelPath: absolute, vocabOnly: true });
    await probe.dispose();
  } catch (e) {
    throw new AppError('BAD_INPUT', `llama.cpp cannot load ${file} (architecture ${info.architecture ?? 'unknown'}): ${(e as Error).message}`,
      'use a GGUF of an architecture llama.cpp supports (llama, qwen2, starcoder2, …), converted by a recent llama.cpp');
  }
  const sha256 = await sha256File(absolute);
  const { id, created } = store.models.add({
    name: options.name ?? info.name ?? path.basename(absolute, '.gguf'),
    path: absolute,
    sha256,
    architecture: info.architecture ?? 'unknown',
    quantization: info.quantization ?? 'unknown',
    sizeBytes: info.fileSize,
    parameterCount: info.parameterCount,
    contextLength: info.contextLength ?? null,
    hasChatTemplate: info.hasChatTemplate,
    source: options.source ?? absolute,
    hfId: givenHfId ?? hfIdFromGguf(info),
  });
  const model = store.models.get(id);
  if (!model) throw new Error(`model ${id} vanished`);
  return { model, created };
}

/** Why `adapter` cannot apply to `base`, or undefined when every LoRA pair fits a base tensor. */
export function adapterMismatch(adapter: GgufInfo, base: GgufInfo): string | undefined {
  if (adapter.architecture && base.architecture && adapter.architecture !== base.architecture) {
    return `it is for ${adapter.architecture} models, the base is ${base.architecture}`;
  }
  const baseTensors = new Map(base.tensors.map((t) => [t.name, t]));
  const pairs = adapter.tensors.filter((t) => t.name.endsWith('.lora_a'));
  if (pairs.length === 0) return 'it has no LoRA tensors (*.lora_a / *.lora_b)';
  const byName = new Map(adapter.tensors.map((t) => [t.name, t]));
  for (const a of pairs) {
    const target = a.name.slice(0, -'.lora_a'.length);
    const b = byName.get(`${target}.lora_b`);
    const w = baseTensors.get(target);
    if (!b) return `${a.name} has no matching ${target}.lora_b`;
    if (!w) return `it adapts ${target}, which the base model does not have`;
    // ggml order: W is [n_in, n_out], A is [n_in, r], B is [r, n_out].
    const [inW, outW] = w.dims;
    const [inA, rA] = a.dims;
    const [rB, outB] = b.dims;
    if (inA !== inW || outB !== outW || rA !== rB) {
      return `${target} is [${w.dims.join(', ')}] in the base, but the adapter's A/B are [${a.dims.join(', ')}] and [${b.dims.join(', ')}]`;
    }
  }
  return undefined;
}

/** Registers a LoRA adapter against its base model, refusing one made for another model. */
export async function addAdapter(store: Store, file: string, baseModelId: number, options: { name?: string; trainingRunId?: number | null } = {}): Promise<{ adapter: AdapterRow; created: boolean }> {
  const base = store.models.get(baseModelId);
  if (!base) throw new AppError('NOT_FOUND', `no model with id ${baseModelId}`, 'list models with `ilf models list`');
  const absolute = path.resolve(file);
  const info = await readGgufInfo(absolute);
  if (info.fileKind !== 'adapter' && info.metadata['adapter.type'] !== 'lora') {
    throw new AppError('BAD_INPUT', `${file} is not a LoRA adapter`, 'give a GGUF LoRA adapter (general.type = adapter)');
  }
  const declared = info.metadata[BASE_MODEL_SHA256_KEY];
  if (typeof declared === 'string' && declared !== base.sha256) {
    throw new AppError('BAD_INPUT', `${file} was made for another base model (sha256 ${declared.slice(0, 12)}…), not ${base.name} (${base.sha256.slice(0, 12)}…)`,
      'register it against the model it was trained on');
  }
  const why = adapterMismatch(info, await readGgufInfo(base.path));
  if (why) throw new AppError('BAD_INPUT', `${file} does not fit ${base.name}: ${why}`, 'an adapter works only with the base model it was trained on');
  const sha256 = await sha256File(absolute);
  // Adapters are identified by content; the same bytes registered for another base would silently become that
  // model's adapter. Trained adapters carry their base's sha256, so their bytes differ per base (addTrainedAdapter).
  const same = store.models.adapters().find((a) => a.sha256 === sha256);
  if (same && same.baseModelId !== baseModelId) {
    throw new AppError('BAD_INPUT', `${file} is byte for byte adapter ${same.id}, registered for model ${same.baseModelId}`,
      'an adapter belongs to one base model; register a copy that names its base (ilf.base_model.sha256)');
  }
  const alpha = info.metadata['adapter.lora.alpha'];
  const rank = info.tensors.find((t) => t.name.endsWith('.lora_a'))?.dims[1];
  const { id, created } = store.models.addAdapter({
    baseModelId, trainingRunId: options.trainingRunId ?? null, name: options.name ?? path.basename(absolute, '.gguf'),
    path: absolute, sha256, rank: rank ?? null, alpha: typeof alpha === 'number' ? alpha : null,
  });
  const adapter = store.models.adapter(id);
  if (!adapter) throw new Error(`adapter ${id} vanished`);
  return { adapter, created };
}

/**
 * Downloads a model into `<dataDir>/models` (resumable, see downloadFile) and registers it. The file
 * name derives from the reference (downloadDestination), so nothing outside that folder is written
 * and two references never share a file. A sha256 (given, or pinned by the recommended list) is
 * always checked, also for a file already there; a file that fails a check is deleted: it must
 * never look usable.
 */
export async function downloadModel(store: Store, runtime: LlamaRuntime, ref: string, dataDir: string, options: {
  signal?: AbortSignal; onProgress?: (p: DownloadProgress) => void; expectedSha256?: string; expectedSize?: number;
} = {}): Promise<{ model: ModelRow; created: boolean }> {
  const { url } = resolveModelReference(ref);
  const pin = pinnedFile(ref);
  const given = options.expectedSha256?.toLowerCase();
  if (given && pin && given !== pin.sha256) {
    throw new AppError('BAD_INPUT', `${ref} is pinned to sha256 ${pin.sha256} in the recommended list, not ${given}`, 'leave --sha256 out for a recommended model');
  }
  const expectedSha256 = given ?? pin?.sha256;
  const hfId = recommendedEntry(ref)?.hfId;
  const register = (): Promise<{ model: ModelRow; created: boolean }> => addLocalModel(store, runtime, dest, { source: ref, ...(hfId ? { hfId } : {}) });
  const expectedSize = options.expectedSize ?? pin?.sizeBytes;
  const dest = downloadDestination(path.join(dataDir, 'models'), ref);
  if (fs.existsSync(dest)) {
    if (expectedSha256) {
      const sha256 = await sha256File(dest);
      if (sha256 !== expectedSha256) {
        await fs.promises.rm(dest, { force: true });
        throw new AppError('BAD_INPUT', `${dest} has sha256 ${sha256}, not the expected ${expectedSha256}; it was deleted`, 'download it again');
      }
    }
    return register();
  }
  await downloadFile(url, dest, {
    ...options, source: ref, token: process.env.HF_TOKEN,
    ...(expectedSha256 ? { expectedSha256 } : {}), ...(expectedSize !== undefined ? { expectedSize } : {}),
  });
  try {
    return await register();
  } catch (e) {
    await fs.promises.rm(dest, { force: true });
    throw e;
  }
}

/**
 * Registers an adapter the trainer wrote: first records the base model's sha256 in it (the fork's save writes
 * none), so it is tied to that model, and two runs on two models that end in the same bytes register as two.
 */
export async function addTrainedAdapter(store: Store, file: string, baseModelId: number, options: { name?: string; trainingRunId: number }): Promise<{ adapter: AdapterRow; created: boolean }> {
  const base = store.models.get(baseModelId);
  if (!base) throw new AppError('NOT_FOUND', `no model with id ${baseModelId}`, 'list models with `ilf models list`');
  // The fork also gives bias vectors LoRA pairs that never train (all zero): they are dropped, not shipped.
  await editGguf(file, { addMetadata: [[BASE_MODEL_SHA256_KEY, base.sha256]], dropTensor: (name) => /\.bias\.lora_[ab]$/.test(name) });
  return addAdapter(store, file, baseModelId, options);
}
