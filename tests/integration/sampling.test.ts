import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { specForParams, writeLoraAdapter, writeTinyModel } from '../../native-models/gguf/writer.js';
import { importTasks } from '../../main/datasets/import.js';
import { AppError } from '../../main/errors.js';
import { firstStop, generateSamples, sampleSeed } from '../../main/inference/generate.js';
import { extractCode, promptTokens } from '../../main/inference/prompt-tokens.js';
import { ModelSession } from '../../main/inference/session.js';
import { runSampling, type SamplingConfig } from '../../main/inference/sampling.js';
import { generateRefinements, refinePrompt } from '../../main/inference/refine.js';
import { addAdapter, addLocalModel } from '../../main/models/registry.js';
import { LlamaRuntime } from '../../main/models/runtime.js';
import { CHATML_TEMPLATE } from '../../main/cli/commands/dev.js';
import { Store } from '../../main/store/store.js';
import { sharedData } from '../helpers/fs.js';

/** One generated model (and adapters) for the whole file: tiny, so sampling takes a moment. */
let dir: string;
let store: Store;
let runtime: LlamaRuntime;
let modelId: number;
let chatModelId: number;
let adapterId: number;
let strangerAdapter: string;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(process.env.TMPDIR ?? '/tmp', 'ilf-sampling-'));
  store = Store.open(path.join(dir, 'ilf.sqlite'));
  runtime = new LlamaRuntime({ threads: 1 }); // other test files use the other core: spinning ggml threads must not outnumber free cores
  await importTasks(store, sharedData('mbpp.jsonl'), { format: 'mbpp' });
  const spec = specForParams('2M', { seed: 7 });
  const model = await writeTinyModel(path.join(dir, 'tiny.gguf'), spec);
  await writeLoraAdapter(path.join(dir, 'tiny-lora.gguf'), spec, { rank: 8, alpha: 32, seed: 8, baseModelSha256: model.sha256 });
  const other = specForParams('3M', { seed: 9 });
  await writeLoraAdapter((strangerAdapter = path.join(dir, 'other-lora.gguf')), other, { rank: 4, alpha: 8, seed: 10 });
  await writeTinyModel(path.join(dir, 'chat.gguf'), specForParams('2M', { seed: 11, chatTemplate: CHATML_TEMPLATE }));
  modelId = (await addLocalModel(store, runtime, path.join(dir, 'tiny.gguf'))).model.id;
  chatModelId = (await addLocalModel(store, runtime, path.join(dir, 'chat.gguf'))).model.id;
  adapterId = (await addAdapter(store, path.join(dir, 'tiny-lora.gguf'), modelId)).adapter.id;
}, 120_000);

afterAll(async () => {
  await runtime.dispose();
  store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const base = (): SamplingConfig => ({
  modelId, dataset: 'mbpp', split: 'test', n: 4, temperature: 0.8, topP: 0.95, maxTokens: 24, seed: 42,
  promptFormat: 'completion', limit: 2,
});

function programs(runId: number): string[] {
  return store.db.prepare<[number], { completion: string }>('SELECT completion FROM samples WHERE run_id = ? ORDER BY task_id, sample_index').all(runId).map((r) => r.completion);
}

describe('sampling on a generated model', () => {
  it('draws n samples per task with provenance, and the same seed gives the same samples', async () => {
    const first = await runSampling({ store, runtime }, base());
    expect(first).toMatchObject({ tasks: 2, samplesCreated: 8, samplesSkipped: 0 });
    expect(first.tokens).toBeGreaterThan(0);
    const again = await runSampling({ store, runtime }, base());
    expect(programs(again.runId)).toEqual(programs(first.runId));
    const other = await runSampling({ store, runtime }, { ...base(), seed: 43 });
    expect(programs(other.runId)).not.toEqual(programs(first.runId));

    const run = store.runs.samplingRun(first.runId);
    expect(run).toMatchObject({ modelId, n: 4, temperature: 0.8, topP: 0.95, seed: 42, promptFormat: 'completion', status: 'completed' });
    expect(run?.params).toMatchObject({ modelSha256: store.models.get(modelId)?.sha256 });
    const row = store.db.prepare<[number], { seed: number; prompt: string; finish_reason: string }>(
      'SELECT s.seed, p.text AS prompt, s.finish_reason FROM samples s JOIN prompts p ON p.id = s.prompt_id WHERE s.run_id = ? ORDER BY s.id LIMIT 1',
    ).get(first.runId);
    expect(row?.seed).toBe(sampleSeed(42, '11', 0));
    expect(row?.prompt).toMatch(/^"""\nWrite a python function to remove first and last occurrence/);
  }, 120_000);

  it('stops before any stop sequence', async () => {
    const report = await runSampling({ store, runtime }, { ...base(), stop: ['e', 'a'], maxTokens: 40 });
    for (const text of programs(report.runId)) {
      expect(text).not.toMatch(/[ea]/);
    }
    const reasons = store.db.prepare<[number], { finish_reason: string }>('SELECT DISTINCT finish_reason FROM samples WHERE run_id = ?').all(report.runId).map((r) => r.finish_reason);
    expect(reasons).toContain('stop');
  }, 60_000);

  it('cancel mid-run keeps what finished; resume does only the rest and matches an uninterrupted run', async () => {
    const controller = new AbortController();
    let runId = 0;
    const cancelled = runSampling({ store, runtime }, { ...base(), limit: 4 }, {
      signal: controller.signal,
      onProgress: (p) => {
        runId = p.runId;
        if (p.tasksDone >= 1) controller.abort();
      },
    });
    await expect(cancelled).rejects.toMatchObject({ name: 'AbortError' });
    expect(store.runs.samplingRun(runId)?.status).toBe('cancelled');
    const partial = programs(runId).length;
    expect(partial).toBeGreaterThanOrEqual(4);
    expect(partial).toBeLessThan(16);

    const resumed = await runSampling({ store, runtime }, { ...base(), limit: 4 }, { resumeRunId: runId });
    expect(resumed).toMatchObject({ runId, samplesSkipped: partial, samplesCreated: 16 - partial });
    expect(store.runs.samplingRun(runId)?.status).toBe('completed');
    const straight = await runSampling({ store, runtime }, { ...base(), limit: 4 });
    expect(programs(runId)).toEqual(programs(straight.runId));
    await expect(runSampling({ store, runtime }, { ...base(), limit: 4, temperature: 0.5 }, { resumeRunId: runId })).rejects.toThrow(/other settings/);
  }, 120_000);

  it('an adapter changes the output', async () => {
    const plain = await runSampling({ store, runtime }, { ...base(), temperature: 0 });
    const adapted = await runSampling({ store, runtime }, { ...base(), temperature: 0, adapterId });
    expect(programs(adapted.runId)).not.toEqual(programs(plain.runId));
    expect(store.runs.samplingRun(adapted.runId)?.adapterId).toBe(adapterId);
  }, 60_000);

  it('an adapter for another model is refused with a clear error, and nothing is registered', async () => {
    const e: unknown = await addAdapter(store, strangerAdapter, modelId).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(AppError);
    expect((e as AppError).message).toMatch(/does not fit .*: .*\[/);
    expect((e as AppError).hint).toMatch(/base model it was trained on/);
    expect(store.models.adapters()).toHaveLength(1);
  });

  it('chat format goes through the model\'s chat template', async () => {
    const report = await runSampling({ store, runtime }, { ...base(), modelId: chatModelId, promptFormat: 'chat', n: 2, limit: 1 });
    expect(report.samplesCreated).toBe(2);
    await expect(runSampling({ store, runtime }, { ...base(), promptFormat: 'chat' })).rejects.toThrow(/has no chat template/);
  }, 60_000);

  it('a file that is not a GGUF model is refused and not registered', async () => {
    const notGguf = path.join(dir, 'notes.gguf');
    fs.writeFileSync(notGguf, 'these are not weights\n'.repeat(100));
    const e: unknown = await addLocalModel(store, runtime, notGguf).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(AppError);
    expect((e as AppError).message).toMatch(/not a GGUF/i);
    const adapterAsModel: unknown = await addLocalModel(store, runtime, path.join(dir, 'tiny-lora.gguf')).catch((x: unknown) => x);
    expect((adapterAsModel as AppError).message).toMatch(/is a LoRA adapter, not a model/);
    expect(store.models.list()).toHaveLength(2);
  });
});

describe('parallel decoding', () => {
  it('every batch holds one token of every sample still running (never n−1), and the first holds all n', async () => {
    await using session = await ModelSession.open(runtime, { modelPath: path.join(dir, 'tiny.gguf') });
    const input = promptTokens(session.model, 'def add(a, b):\n', 'completion');
    const batches: number[] = [];
    const n = 6;
    const out = await generateSamples(session.model, { contextSize: input.length + 48, threads: runtime.threads }, input,
      { temperature: 1.5, topP: 1, maxTokens: 40, stop: [], seeds: Array.from({ length: n }, (_, i) => 500 + i) },
      { onBatch: (size) => batches.push(size) });
    expect(batches[0]).toBe(n);
    // Samples only ever leave the batch: sizes never grow back, as they do when a straggler is decoded alone.
    for (let i = 1; i < batches.length; i += 1) expect(batches[i]).toBeLessThanOrEqual(batches[i - 1] ?? 0);
    // One decode per kept token, plus the one that produced end-of-sequence.
    const decoded = out.reduce((sum, g) => sum + g.tokens + (g.finishReason === 'eos' ? 1 : 0), 0);
    expect(batches.reduce((a, b) => a + b, 0)).toBe(decoded);
    expect(batches.length).toBe(Math.max(...out.map((g) => g.tokens + (g.finishReason === 'eos' ? 1 : 0))));
  }, 60_000);

  it('a sample that draws end-of-sequence finishes with "eos", not "length"', async () => {
    await using session = await ModelSession.open(runtime, { modelPath: path.join(dir, 'tiny.gguf') });
    const input = promptTokens(session.model, 'def add(a, b):\n', 'completion');
    // Random weights and a hot temperature spread the draws over the whole byte vocabulary, so some
    // of 24 samples × 200 tokens draw end-of-sequence (about 1 draw in 260).
    const maxTokens = 200;
    const out = await generateSamples(session.model, { contextSize: input.length + maxTokens + 8, threads: runtime.threads }, input,
      { temperature: 3, topP: 1, maxTokens, stop: [], seeds: Array.from({ length: 24 }, (_, i) => 900 + i) });
    const early = out.filter((g) => g.tokens < maxTokens);
    expect(early.length).toBeGreaterThan(0);
    for (const g of early) expect(g.finishReason).toBe('eos');
    for (const g of out.filter((x) => x.tokens === maxTokens)) expect(g.finishReason).toBe('length');
  }, 120_000);
});

describe('refinement generation', () => {
  function feedbackOn(taskKey: string, text: string): number {
    const sample = store.db.prepare<[string], { id: number }>(
      "SELECT s.id FROM samples s JOIN tasks t ON t.id = s.task_id WHERE t.task_key = ? ORDER BY s.id LIMIT 1",
    ).get(taskKey);
    if (!sample) throw new Error(`no sample of task ${taskKey}`);
    return store.lineage.addFeedback({ sampleId: sample.id, executionId: null, source: 'human', author: 'ada', text });
  }
  const refinedPrograms = (ids: number[]): string[] =>
    ids.map((id) => store.db.prepare<[number], { program: string }>('SELECT program FROM refinements WHERE id = ?').get(id)?.program ?? '');
  const promptOf = (id: number): string =>
    store.db.prepare<[number], { text: string }>('SELECT p.text FROM refinements r JOIN prompts p ON p.id = r.prompt_id WHERE r.id = ?').get(id)?.text ?? '';

  it('writes k refinements in the refine format, reproducibly, and an adapter changes them', async () => {
    const feedbackId = feedbackOn('11', 'Remove the first and the last occurrence, not every occurrence.');
    const config = { feedbackId, k: 3, modelId, temperature: 0.8, topP: 0.95, maxTokens: 24, seed: 5, promptFormat: 'completion' as const };
    const ids = await generateRefinements({ store, runtime }, config);
    expect(ids).toHaveLength(3);
    const row = store.db.prepare<[number], { origin: string; refiner_model_id: number; feedback_id: number; refinement_index: number; seed: number }>(
      'SELECT origin, refiner_model_id, feedback_id, refinement_index, seed FROM refinements WHERE id = ?').get(ids[2] ?? 0);
    expect(row).toMatchObject({ origin: 'model', refiner_model_id: modelId, feedback_id: feedbackId, refinement_index: 2 });
    const prompt = promptOf(ids[0] ?? 0);
    expect(prompt).toMatch(/^"""\nWrite a python function to remove first and last occurrence/);
    expect(prompt).toMatch(/# Incorrect solution:\n[\s\S]*# Feedback:\n# Remove the first and the last occurrence, not every occurrence\.\n# Refined solution:\n$/);
    expect(refinedPrograms(await generateRefinements({ store, runtime }, config))).toEqual(refinedPrograms(ids));
    expect(refinedPrograms(await generateRefinements({ store, runtime }, { ...config, temperature: 0, adapterId })))
      .not.toEqual(refinedPrograms(await generateRefinements({ store, runtime }, { ...config, temperature: 0 })));
  }, 120_000);

  it('few-shot prompts show accepted refinements of other tasks first', async () => {
    const first = feedbackOn('11', 'Use str.replace with a count.');
    const [refinementId] = await generateRefinements({ store, runtime }, { feedbackId: first, k: 1, modelId, temperature: 0.8, topP: 0.95, maxTokens: 16, seed: 1, promptFormat: 'completion' });
    store.lineage.addReview({ refinementId: refinementId ?? 0, reviewer: 'grace', decision: 'accepted', editedProgram: 'def remove_Occ(s, ch):\n    return s\n' });
    const second = feedbackOn('12', 'Sort by the row sums.');
    const [id] = await generateRefinements({ store, runtime }, { feedbackId: second, k: 1, modelId, temperature: 0.8, topP: 0.95, maxTokens: 16, seed: 1, promptFormat: 'completion', fewShot: 2 });
    const prompt = promptOf(id ?? 0);
    expect(prompt.indexOf('def remove_Occ(s, ch):\n    return s')).toBeGreaterThan(0);
    expect(prompt.indexOf('# Sort by the row sums.')).toBeGreaterThan(prompt.indexOf('def remove_Occ'));
    expect(refinePrompt({ text: 't', exampleTest: null, codePrefix: null, program: 'x = 1', feedback: 'f' }, [], 'chat')).toMatch(/one Python code block/);
  }, 60_000);
});

describe('sampling helpers', () => {
  it('finds the earliest stop sequence', () => {
    expect(firstStop('def f():\n    return 1\ndef g():', ['\ndef', '\nclass'])).toBe(21);
    expect(firstStop('x = 1', ['\ndef'])).toBe(-1);
    expect(firstStop('a\nclass b\ndef', ['\ndef', '\nclass'])).toBe(1);
  });

  it('extracts the code block of a chat reply', () => {
    expect(extractCode('Here:\n```python\ndef f():\n    return 1\n```\nDone.')).toBe('def f():\n    return 1\n');
    expect(extractCode('```\nx = 1\n```')).toBe('x = 1\n');
    expect(extractCode('def f(): pass')).toBe('def f(): pass\n');
  });

  it('seeds are stable per task and index, and differ between them', () => {
    expect(sampleSeed(1, '11', 0)).toBe(sampleSeed(1, '11', 0));
    expect(new Set([sampleSeed(1, '11', 0), sampleSeed(1, '11', 1), sampleSeed(1, '12', 0), sampleSeed(2, '11', 0)]).size).toBe(4);
  });
});
