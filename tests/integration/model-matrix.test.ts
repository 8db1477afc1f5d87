import fs from 'node:fs';
import path from 'node:path';
import type { LlamaModel } from 'node-llama-cpp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readGgufInfo } from '../../native-models/gguf/reader.js';
import { ARCHITECTURES, ARCHITECTURE_INFO, BASE_MODEL_SHA256_KEY, writeLoraAdapter, writeTinyModel, type Architecture, type TinyModelSpec } from '../../native-models/gguf/writer.js';
import { WRITABLE_TENSOR_TYPES, type WritableTensorType } from '../../native-models/gguf/quantize.js';
import { importTasks } from '../../main/datasets/import.js';
import { evaluate } from '../../main/evaluation/evaluate.js';
import { completionPrompt } from '../../main/datasets/prompt.js';
import { promptTokens } from '../../main/inference/prompt-tokens.js';
import { generateRefinements } from '../../main/inference/refine.js';
import { runSampling } from '../../main/inference/sampling.js';
import { addLocalModel, addTrainedAdapter } from '../../main/models/registry.js';
import { LlamaRuntime } from '../../main/models/runtime.js';
import { SandboxPool } from '../../main/sandbox/pool.js';
import { modelSupport } from '../../main/models/support.js';
import { Store } from '../../main/store/store.js';
import { abortReason, TrainingJobs } from '../../main/training/jobs.js';
import { expectAppError } from '../helpers/errors.js';
import { sharedData } from '../helpers/fs.js';
import { anyBackend } from '../helpers/sandbox.js';

/**
 * Every generated architecture × weight type through the app: register, sample (completion and chat), refine,
 * train, and the trained adapter loading back and changing what the model writes. Tiny dimensions (d 64, two
 * blocks, a 512-token vocabulary) keep it quick; the layouts are the real ones (see native-models/gguf/architectures.ts).
 * What cannot train is refused before a run exists; the table the test prints is the README's.
 */
const sandbox = await anyBackend();
const DIMS = { vocabSize: 512, embeddingLength: 64, blockCount: 2, feedForwardLength: 128, headCount: 4, headCountKv: 2 } as const;

let dir: string;
let store: Store;
let runtime: LlamaRuntime;
const ids = new Map<string, number>();
const files = new Map<string, string>();
const cells = new Map<string, Record<string, string>>();
const key = (arch: Architecture, type: WritableTensorType): string => `${arch} ${type}`;
const cell = (arch: Architecture, type: WritableTensorType, column: string, value: string): void => {
  const row = cells.get(key(arch, type)) ?? {};
  row[column] = value;
  cells.set(key(arch, type), row);
};

const PROMPT = completionPrompt({ text: 'Write a function to add two numbers.', exampleTest: 'assert add(1, 2) == 3', codePrefix: null });
const PROGRAM = 'def add(a, b):\n    return a + b\n';

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(process.env.TMPDIR ?? '/tmp', 'ilf-matrix-'));
  store = Store.open(path.join(dir, 'ilf.sqlite'));
  runtime = new LlamaRuntime({ threads: 1 });
  await importTasks(store, sharedData('mbpp.jsonl'), { format: 'mbpp' });
  for (const arch of ARCHITECTURES) {
    for (const type of WRITABLE_TENSOR_TYPES) {
      const file = path.join(dir, `${arch}-${type}.gguf`);
      const spec: TinyModelSpec = { architecture: arch, tensorType: type, seed: 3, name: `matrix ${arch} ${type}`, ...DIMS };
      await writeTinyModel(file, spec);
      files.set(key(arch, type), file);
    }
  }
}, 120_000);

afterAll(async () => {
  await runtime.dispose();
  store.close();
  fs.rmSync(dir, { recursive: true, force: true });
  const columns = ['register', 'sample', 'chat', 'refine', 'evaluate', 'train', 'adapter'];
  const lines = [`| architecture | weights | ${columns.join(' | ')} |`, `|---|---|${columns.map(() => '---').join('|')}|`];
  for (const arch of ARCHITECTURES) {
    for (const type of WRITABLE_TENSOR_TYPES) {
      const row = cells.get(key(arch, type)) ?? {};
      lines.push(`| ${arch} | ${type} | ${columns.map((c) => row[c] ?? '—').join(' | ')} |`);
    }
  }
  process.stdout.write(`\nmodel support matrix:\n${lines.join('\n')}\n`);
});

async function greedy(model: LlamaModel, adapter: string | undefined): Promise<string> {
  const context = await model.createContext({ contextSize: 128, ...(adapter ? { lora: { adapters: [{ filePath: adapter, scale: 1 }] } } : {}) });
  try {
    const out = [];
    for await (const token of context.getSequence().evaluate(promptTokens(model, PROMPT, 'completion'), { temperature: 0 })) {
      if (out.length >= 16) break;
      out.push(token);
    }
    return model.detokenize(out);
  } finally {
    await context.dispose();
  }
}

describe('support matrix: architecture × weight type', () => {
  it('registers every architecture at every weight type, with what it supports from its header', async () => {
    for (const arch of ARCHITECTURES) {
      for (const type of WRITABLE_TENSOR_TYPES) {
        const { model } = await addLocalModel(store, runtime, files.get(key(arch, type)) ?? '');
        expect(model).toMatchObject({ architecture: arch, quantization: type, hasChatTemplate: ARCHITECTURE_INFO[arch].chatTemplate !== undefined });
        ids.set(key(arch, type), model.id);
        cell(arch, type, 'register', 'yes');
      }
    }
    // Fused query/key/value is named as not adapted.
    const phi3 = modelSupport(await readGgufInfo(files.get(key('phi3', 'F32')) ?? ''));
    expect(phi3.train.notAdapted.join()).toMatch(/attn_qkv/);
  }, 120_000);

  it.each(ARCHITECTURES)('%s: samples (completion and chat) and refines at every weight type', async (arch) => {
    for (const type of WRITABLE_TENSOR_TYPES) {
      const modelId = ids.get(key(arch, type)) ?? 0;
      const base = { modelId, dataset: 'mbpp', split: 'test', n: 1, temperature: 0.8, topP: 0.95, maxTokens: 8, seed: 1, limit: 1 } as const;
      const completion = await runSampling({ store, runtime }, { ...base, promptFormat: 'completion' });
      expect(completion).toMatchObject({ samplesCreated: 1 });
      expect(completion.tokens).toBeGreaterThan(0);
      cell(arch, type, 'sample', 'yes');
      if (ARCHITECTURE_INFO[arch].chatTemplate !== undefined) {
        expect(await runSampling({ store, runtime }, { ...base, promptFormat: 'chat' })).toMatchObject({ samplesCreated: 1 });
        cell(arch, type, 'chat', 'yes');
      } else {
        await expectAppError(runSampling({ store, runtime }, { ...base, promptFormat: 'chat' }), 'BAD_INPUT', /no chat template/);
        cell(arch, type, 'chat', 'no template (base model)');
      }
      const sample = store.db.prepare<[number], { id: number }>('SELECT id FROM samples WHERE run_id = ? LIMIT 1').get(completion.runId);
      const feedbackId = store.lineage.addFeedback({ sampleId: sample?.id ?? 0, executionId: null, source: 'human', author: 'ada', text: 'Return the sum.' });
      const refined = await generateRefinements({ store, runtime }, { feedbackId, k: 1, modelId, temperature: 0.8, topP: 0.95, maxTokens: 8, seed: 2, promptFormat: 'completion' });
      expect(refined).toHaveLength(1);
      cell(arch, type, 'refine', 'yes');
    }
  }, 240_000);

  it.skipIf(!sandbox.available)(`evaluates every architecture at every weight type (pass@1, programs run in the ${sandbox.name} sandbox)`, async () => {
    const pool = await SandboxPool.create(await sandbox.open(), { size: 1 });
    try {
      for (const arch of ARCHITECTURES) {
        for (const type of WRITABLE_TENSOR_TYPES) {
          const report = await evaluate({ store, runtime, pool }, {
            modelId: ids.get(key(arch, type)) ?? 0, dataset: 'mbpp', split: 'test', n: 1, ks: [1], temperature: 0.8, topP: 0.95, maxTokens: 8, seed: 4, promptFormat: 'completion', limit: 1,
          });
          // Random weights pass nothing; what matters is that the run completed and was scored.
          expect(report.tasks).toHaveLength(1);
          expect(report.passAtK['1']).toBe(0);
          cell(arch, type, 'evaluate', 'yes');
        }
      }
    } finally {
      await pool.dispose();
    }
  }, 300_000);

  it.each(ARCHITECTURES)('%s: trains where the trainer can (the adapter names its base, loads back and changes the output), else refuses before a run starts', async (arch) => {
    const trainingFile = path.join(dir, `train-${arch}.jsonl`);
    fs.writeFileSync(trainingFile, `${JSON.stringify({ prompt: PROMPT, completion: PROGRAM })}\n`);
    const setId = store.training.createFileTrainingSet(`matrix ${arch}`, trainingFile, 'test');
    const jobs = new TrainingJobs({ store, dataDir: dir, runtime: () => runtime });
    for (const type of WRITABLE_TENSOR_TYPES) {
      const modelId = ids.get(key(arch, type)) ?? 0;
      const file = files.get(key(arch, type)) ?? '';
      const support = modelSupport(await readGgufInfo(file));
      const runsBefore = store.training.list().length;
      if (!support.train.trainable) {
        await expectAppError(jobs.start({ modelId, trainingSetId: setId }), 'BAD_INPUT', /cannot be trained here/);
        expect(store.training.list()).toHaveLength(runsBefore);
        cell(arch, type, 'train', `refused: ${support.train.reason?.split(/[,(]/)[0]?.trim() ?? ''}`);
        cell(arch, type, 'adapter', 'n/a');
        continue;
      }
      const started = await jobs.start({ modelId, trainingSetId: setId, config: { epochs: 20, learningRate: 1e-2, contextSize: 256, threads: 1, checkpointEvery: 0, rank: 4, alpha: 8 } });
      const run = await jobs.wait(started.id);
      expect(run.error).toBeNull();
      expect(run.status).toBe('completed');
      const losses = store.training.metrics(run.id).filter((m) => m.phase === 'train').map((m) => m.loss);
      expect(losses.at(-1)).toBeLessThan(losses[0] ?? 0);
      cell(arch, type, 'train', 'yes');
      const adapter = store.models.adapter(run.adapterId ?? 0);
      expect(adapter?.baseModelId).toBe(modelId);
      const adapterInfo = await readGgufInfo(adapter?.path ?? '');
      expect(adapterInfo.metadata[BASE_MODEL_SHA256_KEY]).toBe(store.models.get(modelId)?.sha256);
      // No LoRA pairs on bias vectors.
      expect(adapterInfo.tensors.filter((t) => /\.bias\.lora_[ab]$/.test(t.name))).toEqual([]);
      const model = await (await runtime.get()).loadModel({ modelPath: file });
      try {
        expect(await greedy(model, adapter?.path)).not.toBe(await greedy(model, undefined));
      } finally {
        await model.dispose();
      }
      cell(arch, type, 'adapter', 'loads, changes output');
    }
    await jobs.dispose();
  }, 300_000);

  it('byte-identical adapters for two base models register twice, each naming its base', async () => {
    const spec: TinyModelSpec = { architecture: 'llama', tensorType: 'F32', ...DIMS };
    const first = files.get(key('llama', 'F32')) ?? '';
    const second = path.join(dir, 'llama-other.gguf');
    await writeTinyModel(second, { ...spec, seed: 99 });
    const otherId = (await addLocalModel(store, runtime, second)).model.id;
    const adapterA = path.join(dir, 'same-a.gguf');
    await writeLoraAdapter(adapterA, spec, { rank: 4, alpha: 4, seed: 5 });
    const adapterB = path.join(dir, 'same-b.gguf');
    fs.copyFileSync(adapterA, adapterB);
    const a = await addTrainedAdapter(store, adapterA, ids.get(key('llama', 'F32')) ?? 0, { trainingRunId: store.training.list()[0]?.id ?? 0 });
    const b = await addTrainedAdapter(store, adapterB, otherId, { trainingRunId: store.training.list()[0]?.id ?? 0 });
    expect(a.created && b.created).toBe(true);
    expect(a.adapter.id).not.toBe(b.adapter.id);
    expect((await readGgufInfo(adapterB)).metadata[BASE_MODEL_SHA256_KEY]).toBe(store.models.get(otherId)?.sha256);
    // The adapter still loads: the key was added without disturbing the tensors.
    const model = await (await runtime.get()).loadModel({ modelPath: first });
    try {
      expect(await greedy(model, adapterA)).not.toBe(await greedy(model, undefined));
    } finally {
      await model.dispose();
    }
  }, 120_000);

  it('a trainer abort is reported by its assertion line, not the signal', () => {
    const tail = [
      'ilf-trainer: /tmp/x.gguf, 1 parameters, 1 threads, context 64, new adapter',
      'ggml_backend_sched_split_graph: unable to assign a backend for tensor (grad for result_norm), operation (OUT_PROD)',
      '/home/runner/vcpkg/buildtrees/qvac-fabric/src/ggml/src/ggml-backend.cpp:348: GGML_ASSERT(buf != NULL && "tensor buffer not set") failed',
    ].join('\n');
    expect(abortReason(tail)).toBe('the trainer aborted: ggml_backend_sched_split_graph: unable to assign a backend for tensor (grad for result_norm), operation (OUT_PROD)');
    expect(abortReason('/home/x/ggml/src/ggml.c:7666: ggml_compute_backward: unsupported ggml op for backward pass: NORM'))
      .toBe('the trainer aborted: ggml.c:7666: ggml_compute_backward: unsupported ggml op for backward pass: NORM');
    expect(abortReason('llama_model_load: loaded\n')).toBeUndefined();
  });
});
