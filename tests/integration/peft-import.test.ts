import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getLlama, LlamaCompletion, LlamaLogLevel, type Llama, type LlamaModel } from 'node-llama-cpp';
import { convertPeft, importPeftAdapter, permuteRows } from '../../main/models/peft-import.js';
import { readSafetensors, toFloat32, writeSafetensors } from '../../main/models/safetensors.js';
import { Store } from '../../main/store/store.js';
import { readGgufInfo, type GgufInfo } from '../../native-models/gguf/reader.js';
import { writeLoraAdapter, writeTinyModel, type TinyModelSpec } from '../../native-models/gguf/writer.js';
import { expectAppError } from '../helpers/errors.js';

const THREADS = os.availableParallelism();
/** Grouped-query attention (4 query heads, 2 KV heads), so q and k are permuted with different head counts. */
const SPEC: TinyModelSpec = { embeddingLength: 128, blockCount: 2, feedForwardLength: 352, headCount: 4, headCountKv: 2, seed: 11, name: 'peft base' };
const OTHER: TinyModelSpec = { ...SPEC, embeddingLength: 160, headCount: 5, headCountKv: 5 };
const PROMPT = 'def add(a, b):\n    return';

/** The test's own inverse of llama.cpp's names for a llama model (written out, not taken from the code under test). */
const HF_MODULES: Record<string, string> = {
  attn_q: 'self_attn.q_proj', attn_k: 'self_attn.k_proj', attn_v: 'self_attn.v_proj', attn_output: 'self_attn.o_proj',
  ffn_gate: 'mlp.gate_proj', ffn_up: 'mlp.up_proj', ffn_down: 'mlp.down_proj',
};

function tensorValues(info: GgufInfo, name: string): Float32Array {
  const t = info.tensors.find((x) => x.name === name);
  if (!t || t.type !== 'F32') throw new Error(`${name} is missing or not F32`);
  const bytes = Buffer.alloc(t.bytes);
  const fd = fs.openSync(info.file, 'r');
  try {
    fs.readSync(fd, bytes, 0, t.bytes, t.offset);
  } finally {
    fs.closeSync(fd);
  }
  return new Float32Array(bytes.buffer, bytes.byteOffset, t.elements).slice();
}

/**
 * A GGUF LoRA written back in PEFT's layout: A (ggml [in, r]) is torch [r, in] with the same bytes,
 * B (ggml [r, out]) is torch [out, r], its rows un-permuted for q/k as HF keeps them.
 */
function peftFromGguf(info: GgufInfo, heads: number, kvHeads: number): { name: string; shape: number[]; values: Float32Array }[] {
  return info.tensors.filter((t) => t.name.endsWith('.lora_a') || t.name.endsWith('.lora_b')).map((t) => {
    const m = /^blk\.(\d+)\.(\w+)\.weight\.lora_([ab])$/.exec(t.name);
    if (!m) throw new Error(`unexpected ${t.name}`);
    const [, block, kind = '', half] = m;
    const values = tensorValues(info, t.name);
    const [cols = 0, rows = 0] = t.dims;
    const unpermuted = half === 'b' && (kind === 'attn_q' || kind === 'attn_k') ? permuteRows(values, rows, cols, kind === 'attn_q' ? heads : kvHeads, true) : values;
    return { name: `base_model.model.model.layers.${block}.${HF_MODULES[kind]}.lora_${half === 'a' ? 'A' : 'B'}.weight`, shape: [rows, cols], values: unpermuted };
  });
}

function writePeftDir(dir: string, tensors: { name: string; shape: number[]; values: Float32Array; dtype?: 'F32' | 'BF16' }[], config: Record<string, unknown> = {}): string {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'adapter_config.json'), JSON.stringify({
    peft_type: 'LORA', r: 4, lora_alpha: 8, base_model_name_or_path: 'test/peft-base', bias: 'none',
    target_modules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'], ...config,
  }));
  writeSafetensors(path.join(dir, 'adapter_model.safetensors'), tensors);
  return dir;
}

describe('importing a PEFT LoRA as a GGUF adapter (no Python)', () => {
  let dir: string;
  let store: Store;
  let modelId: number;
  let original: GgufInfo;
  let peft: ReturnType<typeof peftFromGguf>;
  let llama: Llama;
  let model: LlamaModel;
  const adapterCount = (): number => store.db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM adapters').get()?.n ?? 0;
  const importedFiles = (): string[] => (fs.existsSync(path.join(dir, 'adapters')) ? fs.readdirSync(path.join(dir, 'adapters')) : []);

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ilf-peft-'));
    const baseFile = path.join(dir, 'base.gguf');
    const base = await writeTinyModel(baseFile, SPEC);
    await writeLoraAdapter(path.join(dir, 'original.gguf'), SPEC, { rank: 4, alpha: 8, seed: 5, baseModelSha256: base.sha256 });
    original = await readGgufInfo(path.join(dir, 'original.gguf'));
    peft = peftFromGguf(original, SPEC.headCount, SPEC.headCountKv ?? SPEC.headCount);
    store = Store.open(path.join(dir, 'ilf.sqlite'));
    modelId = store.models.add({ name: 'peft base', path: baseFile, sha256: base.sha256, architecture: 'llama', quantization: 'F32', sizeBytes: base.sizeBytes, hasChatTemplate: false }).id;
    llama = await getLlama({ gpu: false, build: 'never', skipDownload: true, progressLogs: false, maxThreads: THREADS, logLevel: LlamaLogLevel.error });
    model = await llama.loadModel({ modelPath: baseFile });
  }, 60_000);

  afterAll(async () => {
    await model?.dispose();
    await llama?.dispose();
    store?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function greedy(adapter: string | undefined): Promise<string> {
    const context = await model.createContext({ contextSize: 128, threads: THREADS, ...(adapter ? { lora: { adapters: [{ filePath: adapter, scale: 1 }] } } : {}) });
    try {
      return await new LlamaCompletion({ contextSequence: context.getSequence() }).generateCompletion(PROMPT, { maxTokens: 16, temperature: 0 });
    } finally {
      await context.dispose();
    }
  }

  it('llama\'s rope permutation of q/k rows is LlamaModel.permute: [head, 2, half] → [head, half, 2]', () => {
    const rows = Float32Array.from([0, 1, 2, 3, 4, 5, 6, 7]); // 8 rows of 1 column, 2 heads of 2 × 2
    expect([...permuteRows(rows, 8, 1, 2)]).toEqual([0, 2, 1, 3, 4, 6, 5, 7]);
    expect([...permuteRows(permuteRows(rows, 8, 1, 2), 8, 1, 2, true)]).toEqual([...rows]);
  });

  it('a PEFT adapter written from a known GGUF adapter converts back to the same tensors and changes greedy output exactly as the original', async () => {
    const before = adapterCount();
    const { adapter, created, file } = await importPeftAdapter(store, writePeftDir(path.join(dir, 'peft-f32'), peft), modelId, dir);
    expect(created).toBe(true);
    expect(adapter).toMatchObject({ baseModelId: modelId, rank: 4, alpha: 8, path: file });
    expect(adapterCount()).toBe(before + 1);
    const imported = await readGgufInfo(file);
    expect(imported).toMatchObject({ architecture: 'llama', fileKind: 'adapter' });
    expect(imported.metadata['adapter.lora.alpha']).toBe(8);
    const names = (i: GgufInfo): string[] => i.tensors.map((t) => t.name).sort();
    expect(names(imported)).toEqual(names(original));
    for (const t of original.tensors) {
      expect(imported.tensors.find((x) => x.name === t.name)?.dims, t.name).toEqual(t.dims);
      expect(tensorValues(imported, t.name), t.name).toEqual(tensorValues(original, t.name));
    }

    const plain = await greedy(undefined);
    const withOriginal = await greedy(path.join(dir, 'original.gguf'));
    expect(withOriginal).not.toBe(plain);
    expect(await greedy(file)).toBe(withOriginal);
  }, 120_000);

  it('BF16 and F16 weights are widened exactly; rsLoRA\'s alpha/√r becomes alpha·√r', async () => {
    // BF16: the top 16 bits of each float32 (values rounded to bf16 first, so the round trip is exact).
    const toBf16 = (v: Float32Array): Float32Array => { const u = new Uint32Array(v.slice().buffer); for (let i = 0; i < u.length; i++) u[i] = (u[i] ?? 0) & 0xffff0000; return new Float32Array(u.buffer); };
    const bf16 = peft.map((t) => ({ ...t, values: toBf16(t.values), dtype: 'BF16' as const }));
    const { file } = await importPeftAdapter(store, writePeftDir(path.join(dir, 'peft-bf16'), bf16, { use_rslora: true }), modelId, dir);
    const imported = await readGgufInfo(file);
    expect(imported.metadata['adapter.lora.alpha']).toBeCloseTo(8 * 2, 5); // r = 4: √r = 2
    const q = original.tensors.find((t) => t.name === 'blk.1.attn_v.weight.lora_a');
    if (!q) throw new Error('no blk.1.attn_v lora_a');
    expect(tensorValues(imported, q.name)).toEqual(toBf16(tensorValues(original, q.name)));

    // F16, by hand: 1, -2, the smallest subnormal, 65504, -0.
    const f16 = path.join(dir, 'f16.safetensors');
    const header = Buffer.from(JSON.stringify({ x: { dtype: 'F16', shape: [5], data_offsets: [0, 10] } }));
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(header.length));
    const data = Buffer.alloc(10);
    [0x3c00, 0xc000, 0x0001, 0x7bff, 0x8000].forEach((bits, i) => data.writeUInt16LE(bits, i * 2));
    fs.writeFileSync(f16, Buffer.concat([len, header, data]));
    const [x] = readSafetensors(f16);
    if (!x) throw new Error('no tensor');
    expect([...toFloat32(x)]).toEqual([1, -2, 2 ** -24, 65504, -0]);
  }, 60_000);

  it('names per architecture: qwen2 keeps q rows as they are, phi3\'s fused qkv/gate_up and starcoder2\'s c_fc/c_proj map to llama.cpp\'s tensors', () => {
    const base = (arch: string, tensors: [string, number[]][]): GgufInfo => ({
      architecture: arch, metadata: { [`${arch}.attention.head_count`]: 2, [`${arch}.attention.head_count_kv`]: 1 },
      tensors: tensors.map(([name, dims]) => ({ name, dims })),
    } as unknown as GgufInfo);
    const pair = (module: string, inF: number, outF: number): { name: string; dtype: 'F32'; shape: number[]; data: Buffer }[] => [
      { name: `base_model.model.model.layers.0.${module}.lora_A.weight`, dtype: 'F32', shape: [2, inF], data: Buffer.from(Float32Array.from({ length: 2 * inF }, (_, i) => i).buffer) },
      { name: `base_model.model.model.layers.0.${module}.lora_B.weight`, dtype: 'F32', shape: [outF, 2], data: Buffer.from(Float32Array.from({ length: 2 * outF }, (_, i) => 100 + i).buffer) },
    ];
    const config = { rank: 2, alpha: 4, baseModel: null, targetModules: [] };
    const qwen = convertPeft(config, pair('self_attn.q_proj', 8, 8), base('qwen2', [['blk.0.attn_q.weight', [8, 8]]]));
    expect(qwen.tensors.map((t) => [t.name, t.dims])).toEqual([['blk.0.attn_q.weight.lora_a', [8, 2]], ['blk.0.attn_q.weight.lora_b', [2, 8]]]);
    expect([...(qwen.tensors[1]?.values ?? [])]).toEqual(Array.from({ length: 16 }, (_, i) => 100 + i)); // no rope permutation for qwen2
    const llama = convertPeft(config, pair('self_attn.q_proj', 8, 8), base('llama', [['blk.0.attn_q.weight', [8, 8]]]));
    expect([...(llama.tensors[1]?.values ?? [])].slice(0, 4)).toEqual([100, 101, 104, 105]); // rows 0, 2 of head 0: permuted
    const phi3 = convertPeft(config, [...pair('self_attn.qkv_proj', 8, 24), ...pair('mlp.gate_up_proj', 8, 32)],
      base('phi3', [['blk.0.attn_qkv.weight', [8, 24]], ['blk.0.ffn_up.weight', [8, 32]]]));
    expect(phi3.tensors.map((t) => t.name)).toEqual(['blk.0.attn_qkv.weight.lora_a', 'blk.0.attn_qkv.weight.lora_b', 'blk.0.ffn_up.weight.lora_a', 'blk.0.ffn_up.weight.lora_b']);
    const sc2 = convertPeft(config, [...pair('mlp.c_fc', 8, 32), ...pair('mlp.c_proj', 32, 8)],
      base('starcoder2', [['blk.0.ffn_up.weight', [8, 32]], ['blk.0.ffn_down.weight', [32, 8]]]));
    expect(sc2.tensors.map((t) => [t.name, t.dims])).toEqual([['blk.0.ffn_down.weight.lora_a', [32, 2]], ['blk.0.ffn_down.weight.lora_b', [2, 8]],
      ['blk.0.ffn_up.weight.lora_a', [8, 2]], ['blk.0.ffn_up.weight.lora_b', [2, 32]]]);
    expect(() => convertPeft(config, pair('mlp.gate_proj', 8, 32), base('starcoder2', []))).toThrow(/module model\.layers\.0\.mlp\.gate_proj has no llama\.cpp tensor for starcoder2/);
    expect(() => convertPeft(config, pair('self_attn.q_proj', 8, 8), base('gpt2', []))).toThrow(/the base model is gpt2; PEFT import knows llama, qwen2, gemma2, starcoder2, phi3/);
  });

  it('bad input: clear errors and nothing registered or left behind', async () => {
    const before = adapterCount();
    const files = importedFiles();
    const expectRefused = async (peftDir: string, pattern: RegExp): Promise<void> => {
      await expectAppError(importPeftAdapter(store, peftDir, modelId, dir), 'BAD_INPUT', pattern);
      expect(adapterCount()).toBe(before);
      expect(importedFiles()).toEqual(files);
    };
    // Missing files.
    const empty = path.join(dir, 'bad-empty');
    fs.mkdirSync(empty);
    await expectRefused(empty, /has no adapter_config\.json/);
    const noWeights = writePeftDir(path.join(dir, 'bad-noweights'), peft);
    fs.rmSync(path.join(noWeights, 'adapter_model.safetensors'));
    await expectRefused(noWeights, /has no adapter_model\.safetensors/);
    // Wrong shapes: an adapter trained on another size of model.
    await writeLoraAdapter(path.join(dir, 'other.gguf'), OTHER, { rank: 4, alpha: 8, seed: 5 });
    const other = peftFromGguf(await readGgufInfo(path.join(dir, 'other.gguf')), OTHER.headCount, OTHER.headCountKv ?? OTHER.headCount);
    await expectRefused(writePeftDir(path.join(dir, 'bad-shape'), other), /blk\.0\.\w+\.weight is \[\d+ × 128\] \(out × in\) in the base model, but the adapter's lora_A is \[4,160\]/);
    // An unknown module.
    await expectRefused(writePeftDir(path.join(dir, 'bad-module'), [...peft, { name: 'base_model.model.model.layers.0.self_attn.rotary_emb.lora_A.weight', shape: [4, 128], values: new Float32Array(512) }]),
      /module model\.layers\.0\.self_attn\.rotary_emb has no llama\.cpp tensor for llama/);
    // A half-pair, a rank the config does not say, DoRA, embeddings.
    await expectRefused(writePeftDir(path.join(dir, 'bad-half'), peft.filter((t) => !t.name.includes('layers.1.mlp.down_proj.lora_B'))), /blk\.1\.ffn_down\.weight has lora_A but no lora_B/);
    await expectRefused(writePeftDir(path.join(dir, 'bad-rank'), peft, { r: 8 }), /has rank 4, but adapter_config\.json says r = 8/);
    await expectRefused(writePeftDir(path.join(dir, 'bad-dora'), peft, { use_dora: true }), /is a DoRA adapter/);
    await expectRefused(writePeftDir(path.join(dir, 'bad-embed'), [...peft, { name: 'base_model.model.model.embed_tokens.lora_embedding_A', shape: [4, 10], values: new Float32Array(40) }]),
      /token embeddings in the adapter cannot be imported/);
    // An unsupported dtype.
    const int8 = writePeftDir(path.join(dir, 'bad-dtype'), peft);
    const header = Buffer.from(JSON.stringify({ 'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight': { dtype: 'I8', shape: [4, 128], data_offsets: [0, 512] } }));
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(header.length));
    fs.writeFileSync(path.join(int8, 'adapter_model.safetensors'), Buffer.concat([len, header, Buffer.alloc(512)]));
    await expectRefused(int8, /is I8; only F32, F16 and BF16 adapters can be imported/);
    // A truncated file.
    const cut = writePeftDir(path.join(dir, 'bad-truncated'), peft);
    const whole = fs.readFileSync(path.join(cut, 'adapter_model.safetensors'));
    fs.writeFileSync(path.join(cut, 'adapter_model.safetensors'), whole.subarray(0, whole.length - 100));
    await expectRefused(cut, /data lies outside the file/);
  }, 60_000);
});
