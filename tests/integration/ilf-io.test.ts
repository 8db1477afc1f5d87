import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { specForParams, writeTinyModel } from '../../native-models/gguf/writer.js';
import { importTasks } from '../../main/datasets/import.js';
import { evaluate } from '../../main/evaluation/evaluate.js';
import { runSampling } from '../../main/inference/sampling.js';
import { addLocalModel } from '../../main/models/registry.js';
import { LlamaRuntime } from '../../main/models/runtime.js';
import { exportEvaluation, exportFeedback, exportSamples } from '../../main/pipeline/exports.js';
import { automaticFeedback, feedbackCandidates } from '../../main/pipeline/feedback-step.js';
import { detectFields, importFeedback } from '../../main/pipeline/import-feedback.js';
import { reviewRefinement } from '../../main/pipeline/review.js';
import { testSamplingRun } from '../../main/pipeline/test-samples.js';
import { SandboxPool } from '../../main/sandbox/pool.js';
import { dispatch } from '../../main/services/dispatch.js';
import { createHandlers } from '../../main/services/handlers.js';
import { Store } from '../../main/store/store.js';
import { buildTrainingSet, trainingRows } from '../../main/training/dataset.js';
import { expectAppError } from '../helpers/errors.js';
import { sharedData } from '../helpers/fs.js';
import { anyBackend } from '../helpers/sandbox.js';

/** Feedback sources, feedback imports and the exports, on three MBPP tasks, a tiny model and a sandbox (bubblewrap, else Docker). */
const sandbox = await anyBackend();
const onSandbox = (name: string): string => (sandbox.available ? `${name} (${sandbox.name} sandbox)` : `${name} (no sandbox here: ${sandbox.reason ?? ''})`);
const TASKS = [502, 536, 847];
let dir: string;
let store: Store;
let runtime: LlamaRuntime;
let pool: SandboxPool;
let modelId: number;
let runId: number;
const gold = new Map<string, string>();

const jsonl = (name: string, rows: readonly unknown[]): string => {
  const file = path.join(dir, name);
  fs.writeFileSync(file, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  return file;
};
const readLines = (file: string): Record<string, unknown>[] => fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);

beforeAll(async () => {
  if (!sandbox.available) return; // every suite below is skipped, visibly
  dir = fs.mkdtempSync(path.join(process.env.TMPDIR ?? '/tmp', 'ilf-io-'));
  const rows = fs.readFileSync(sharedData('mbpp.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { task_id: number; code: string })
    .filter((r) => TASKS.includes(r.task_id));
  for (const r of rows) gold.set(String(r.task_id), r.code.replace(/\r\n/g, '\n'));
  store = Store.open(path.join(dir, 'ilf.sqlite'));
  runtime = new LlamaRuntime({ threads: 1 });
  pool = await SandboxPool.create(await sandbox.open(), { size: 1 });
  await importTasks(store, jsonl('mbpp-few.jsonl', rows), { format: 'mbpp', name: 'mbpp-few' });
  const model = path.join(dir, 'tiny.gguf');
  await writeTinyModel(model, specForParams('500K', { seed: 1 }));
  modelId = (await addLocalModel(store, runtime, model)).model.id;
  runId = (await runSampling({ store, runtime }, { modelId, dataset: 'mbpp-few', split: 'train', n: 2, temperature: 0.8, topP: 0.95, maxTokens: 24, seed: 3, promptFormat: 'completion' })).runId;
  await testSamplingRun(store, pool, runId);
}, 120_000);

afterAll(async () => {
  if (!sandbox.available) return;
  await pool.dispose();
  await runtime.dispose();
  store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!sandbox.available)(onSandbox('automatic feedback sources'), () => {
  it('execution feedback names the failing test; the shuffled control hands each sample another task\'s; both are idempotent', async () => {
    const candidates = feedbackCandidates(store, runId);
    expect(candidates).toHaveLength(3);
    const execution = await automaticFeedback({ store }, runId, 'execution');
    expect(execution).toHaveLength(3);
    expect(await automaticFeedback({ store }, runId, 'execution')).toEqual(execution);
    const texts = execution.map((id) => store.db.prepare<[number], { text: string; author: string }>('SELECT text, author FROM feedback WHERE id = ?').get(id));
    for (const t of texts) expect(t?.text).toMatch(/^The code (does not parse|raises an error|returns wrong results|runs too long)/);

    const shuffled = await automaticFeedback({ store }, runId, 'shuffled-control', { seed: 5 });
    expect(shuffled).toHaveLength(3);
    const rows = shuffled.map((id) => store.db.prepare<[number], { text: string; from_task: string; own_task: string }>(
      `SELECT f.text, ts.task_key AS from_task, t.task_key AS own_task FROM feedback f
       JOIN feedback src ON src.id = f.shuffled_from_feedback_id JOIN samples ss ON ss.id = src.sample_id JOIN tasks ts ON ts.id = ss.task_id
       JOIN samples s ON s.id = f.sample_id JOIN tasks t ON t.id = s.task_id WHERE f.id = ?`).get(id));
    for (const r of rows) {
      expect(r?.from_task).not.toBe(r?.own_task);
      const source = store.db.prepare<[string, number], { text: string }>(
        `SELECT f.text FROM feedback f JOIN samples s ON s.id = f.sample_id JOIN tasks t ON t.id = s.task_id WHERE t.task_key = ? AND f.source = 'execution' AND s.run_id = ?`).get(r?.from_task ?? '', runId);
      expect(r?.text).toBe(source?.text);
    }
    expect(await automaticFeedback({ store }, runId, 'shuffled-control', { seed: 5 })).toEqual(shuffled);
  });

  it('model feedback: the loaded model critiques each program, recorded with its model', async () => {
    const ids = await automaticFeedback({ store, runtime }, runId, 'model', { modelId });
    expect(ids).toHaveLength(3);
    const row = store.db.prepare<[number], { author: string; model_id: number; text: string }>('SELECT author, model_id, text FROM feedback WHERE id = ?').get(ids[0] ?? 0);
    expect(row).toMatchObject({ author: 'model:ILF tiny llama', model_id: modelId });
    expect(row?.text.length).toBeGreaterThan(0);
    await expectAppError(automaticFeedback({ store }, runId, 'model'), 'BAD_INPUT', /model feedback needs a model/);
  }, 60_000);
});

describe.skipIf(!sandbox.available)(onSandbox('feedback imports'), () => {
  it('detects common field names, checks every row in the sandbox, reports what it refused, and refuses a second import', async () => {
    const wrong = 'def lcopy(xs):\n  return None\n';
    const file = jsonl('annotations.jsonl', [
      { problem_id: 'Mbpp/847', code: wrong, annotation: 'Return a copy of the list.', fixed_program: gold.get('847'), worker: 'lin' },
      { problem_id: '502', code: 'def find(n,m):\n  return n/m\n', annotation: 'Use the remainder operator %.', worker: 'lin' },
      { problem_id: '536', code: gold.get('536'), annotation: 'looks wrong to me', worker: 'sam' },
      { problem_id: '847', code: wrong, annotation: 'Slice it.', fixed_program: wrong, worker: 'sam' },
      { problem_id: '9999', code: wrong, annotation: 'x', worker: 'sam' },
    ]);
    const report = await importFeedback(store, pool, file, { dataset: 'mbpp-few' });
    expect(report.fields).toEqual({ task_id: 'problem_id', program: 'code', feedback: 'annotation', refinement: 'fixed_program', annotator: 'worker' });
    expect(report).toMatchObject({ rows: 5, imported: 2, withRefinement: 1 });
    expect(report.rejected).toEqual([
      { line: 5, reason: 'no task 9999 in dataset "mbpp-few"' },
      { line: 3, reason: 'the original program passes its tests: feedback is for failing programs' },
      { line: 4, reason: 'the refinement fails its tests (assertion_failure)' },
    ]);
    const imported = store.db.prepare<[number], { author: string; source: string; passed: number | null }>(
      `SELECT f.author, f.source, rf.passed FROM feedback f JOIN samples s ON s.id = f.sample_id LEFT JOIN refinements rf ON rf.feedback_id = f.id WHERE s.run_id = ? ORDER BY f.id`).all(report.samplingRunId ?? 0);
    expect(imported).toEqual([{ author: 'lin', source: 'human', passed: 1 }, { author: 'lin', source: 'human', passed: null }]);
    await expectAppError(importFeedback(store, pool, file, { dataset: 'mbpp-few' }), 'BAD_INPUT', /imported already \(run \d+\)/);

    // The human refinement can be accepted and trained on: the paper's human-written refinements.
    const refinement = store.db.prepare<[number], { id: number }>(
      `SELECT rf.id FROM refinements rf JOIN feedback f ON f.id = rf.feedback_id JOIN samples s ON s.id = f.sample_id WHERE s.run_id = ?`).get(report.samplingRunId ?? 0);
    await reviewRefinement(store, pool, { refinementId: refinement?.id ?? 0, reviewer: 'lin', decision: 'accepted' });
    const set = buildTrainingSet(store, 'human refinements', { samplingRunId: report.samplingRunId ?? 0 });
    expect(trainingRows(store, set.trainingSetId).map((r) => [r.lineage.taskId, r.lineage.feedbackAuthor, r.completion])).toEqual([['847', 'lin', gold.get('847')]]);
  }, 60_000);

  it('takes an explicit field mapping, and says which fields it could not find', async () => {
    expect(detectFields(['q', 'src', 'note'], { task_id: 'q', program: 'src', feedback: 'note' })).toEqual({ task_id: 'q', program: 'src', feedback: 'note' });
    const odd = jsonl('odd.jsonl', [{ q: '502', src: 'def find(n,m):\n  return m\n', note: 'Return n % m.' }]);
    await expectAppError(importFeedback(store, pool, odd, { dataset: 'mbpp-few' }), 'BAD_INPUT', /no field for task_id, program, feedback/);
    const report = await importFeedback(store, pool, odd, { dataset: 'mbpp-few', mapping: { task_id: 'q', program: 'src', feedback: 'note' }, defaultAnnotator: 'kim' });
    expect(report).toMatchObject({ imported: 1, rejected: [] });
  });
});

describe.skipIf(!sandbox.available)(onSandbox('exports'), () => {
  it('samples as EvalPlus {task_id, completion}, feedback with refinements and reviews, evaluation reports as JSON and CSV', async () => {
    const samples = path.join(dir, 'samples.jsonl');
    expect(await exportSamples(store, runId, samples)).toBe(6);
    const lines = readLines(samples);
    expect(lines.map((l) => l.task_id)).toEqual(['Mbpp/502', 'Mbpp/502', 'Mbpp/536', 'Mbpp/536', 'Mbpp/847', 'Mbpp/847']);
    expect(lines.every((l) => typeof l.completion === 'string' && l.passed === false)).toBe(true);

    const feedback = path.join(dir, 'feedback.jsonl');
    await exportFeedback(store, feedback);
    const withReview = readLines(feedback).find((l) => (l.refinements as { reviews: unknown[] }[]).some((r) => r.reviews.length > 0));
    expect(withReview).toMatchObject({ task_id: '847', feedback: { source: 'human', author: 'lin' }, refinements: [{ origin: 'human', passed: true, reviews: [{ reviewer: 'lin', decision: 'accepted' }] }] });

    const evaluation = await evaluate({ store, runtime, pool }, { modelId, dataset: 'mbpp-few', split: 'train', n: 2, temperature: 0.8, topP: 0.95, maxTokens: 24, seed: 9, promptFormat: 'completion' });
    expect(Object.keys(evaluation.passAtK)).toEqual(['1']); // pass@10 needs n ≥ 10
    expect(evaluation.tasks).toHaveLength(3);
    const asJson = path.join(dir, 'eval.json');
    await exportEvaluation(store, evaluation.id, asJson, 'json');
    expect(JSON.parse(fs.readFileSync(asJson, 'utf8'))).toMatchObject({ id: evaluation.id, n: 2, temperature: 0.8, seed: 9, passAtK: { 1: 0 }, tasks: [{ task_id: '502', n: 2, correct: 0, 'pass@1': 0 }, {}, {}] });
    const asCsv = path.join(dir, 'eval.csv');
    await exportEvaluation(store, evaluation.id, asCsv, 'csv');
    expect(fs.readFileSync(asCsv, 'utf8')).toBe('task_id,n,correct,pass@1\n502,2,0,0\n536,2,0,0\n847,2,0,0\n');
  }, 60_000);
});

describe.skipIf(!sandbox.available)(onSandbox('the loop through the contract (what the app and server mode call)'), () => {
  it('starts a round in the background, waits for a person, takes their feedback and reviewed edit, resumes to an adapter and a comparison', async () => {
    const events: { step: string; text: string }[] = [];
    const handlers = createHandlers({ store, dataDir: dir, version: 'test', runtime: () => runtime, sandbox: () => Promise.resolve(pool),
      emit: (name, p) => { if (name === 'pipeline.progress') events.push(p as { step: string; text: string }); } });
    const call = async (name: string, payload: unknown): Promise<unknown> => {
      const r = await dispatch(handlers, name, payload);
      if (!r.ok) throw new Error(`${name}: ${r.error.message}`);
      return r.value;
    };
    const status = async (id: number): Promise<{ step: string; status: string; message: string | null }> =>
      ((await call('pipeline.get', { pipelineId: id })) as { pipeline: { step: string; status: string; message: string | null } }).pipeline;

    const bad = await dispatch(handlers, 'feedback.add', { sampleId: 1, author: ' ', text: 'x' });
    expect(!bad.ok && bad.error).toMatchObject({ code: 'BAD_REQUEST', message: expect.stringMatching(/give your name/) });

    const started = (await call('pipeline.start', { modelId, config: {
      dataset: 'mbpp-few', split: 'train', evalSplit: 'train', n: 2, maxTokens: 24, k: 1, feedbackSource: 'execution', review: 'auto', seed: 11,
      training: { epochs: 300, learningRate: 3e-4, contextSize: 256, validationFraction: 0, threads: 1, targetModules: ['attn_q', 'attn_k', 'attn_v', 'attn_o', 'ffn_gate', 'ffn_up', 'ffn_down', 'output'] },
      evalN: 1, evalTemperature: 0, ks: [1],
    } })) as { id: number };
    const again = await dispatch(handlers, 'pipeline.start', { modelId, config: { dataset: 'mbpp-few' } });
    expect(!again.ok && again.error.message).toMatch(/is running; one round runs at a time/);
    await expect.poll(() => status(started.id), { timeout: 60_000, interval: 50 }).toMatchObject({ step: 'review', status: 'waiting' });
    expect((await status(started.id)).message).toMatch(/no refinement passes its tests/);
    // Progress is throttled (the latest line a few times a second), and the round's final state always arrives.
    expect(events.at(-1)).toMatchObject({ step: 'review', text: expect.stringMatching(/no refinement passes its tests/) });
    expect(events.length).toBeLessThan(100);

    // A person: their own feedback on task 847, then the model's refinement of the execution feedback, edited and accepted.
    const pipeline = (await call('pipeline.get', { pipelineId: started.id })) as { pipeline: { samplingRunId: number } };
    const sample = feedbackCandidates(store, pipeline.pipeline.samplingRunId).find((c) => c.taskKey === '847');
    expect(await call('feedback.add', { sampleId: sample?.sampleId, author: 'ada', text: 'Return a copy: xs[:].' })).toMatchObject({ feedbackId: expect.any(Number) });
    const refinement = store.db.prepare<[number], { id: number }>(
      `SELECT rf.id FROM refinements rf JOIN feedback f ON f.id = rf.feedback_id WHERE f.sample_id = ? AND f.source = 'execution'`).get(sample?.sampleId ?? 0);
    const review = await call('refinements.review', { refinementId: refinement?.id, reviewer: 'ada', decision: 'accepted', editedProgram: gold.get('847') });
    expect(review).toMatchObject({ decision: 'accepted', execution: { status: 'passed' } });

    await call('pipeline.resume', { pipelineId: started.id });
    await expect.poll(() => status(started.id), { timeout: 90_000, interval: 100 }).toMatchObject({ step: 'done', status: 'completed' });
    const finished = (await call('pipeline.get', { pipelineId: started.id })) as { comparisons: { k: number; before: number; after: number }[] };
    expect(finished.comparisons).toHaveLength(1);
    expect(finished.comparisons[0]?.after).toBeGreaterThan(finished.comparisons[0]?.before ?? 1);
    const evaluations = (await call('evaluations.list', undefined)) as { id: number }[];
    expect(evaluations.length).toBeGreaterThanOrEqual(2);

    // Cancel: a new round stops where it is and says so.
    const next = (await call('pipeline.start', { modelId, config: { dataset: 'mbpp-few', split: 'train', n: 50, maxTokens: 64, feedbackSource: 'execution' } })) as { id: number };
    await call('pipeline.cancel', { pipelineId: next.id });
    await expect.poll(() => status(next.id), { timeout: 30_000, interval: 50 }).toMatchObject({ status: 'cancelled' });
  }, 180_000);
});
