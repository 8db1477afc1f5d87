import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { specForParams, writeTinyModel } from '../../native-models/gguf/writer.js';
import { importTasks } from '../../main/datasets/import.js';
import { AppError } from '../../main/errors.js';
import { addLocalModel } from '../../main/models/registry.js';
import { LlamaRuntime } from '../../main/models/runtime.js';
import { addHumanFeedback, feedbackCandidates } from '../../main/pipeline/feedback-step.js';
import { createLoop, parseLoopConfig, runLoop } from '../../main/pipeline/loop.js';
import { reviewRefinement } from '../../main/pipeline/review.js';
import { SandboxPool } from '../../main/sandbox/pool.js';
import { Store } from '../../main/store/store.js';
import { TrainingJobs } from '../../main/training/jobs.js';
import { repoRoot, sharedData } from '../helpers/fs.js';
import { expectComparisonFromCounts } from '../helpers/evaluation.js';
import { trainerPids } from '../helpers/processes.js';
import { anyBackend } from '../helpers/sandbox.js';

/**
 * The ILF loop end to end on CPU: a generated 0.5M-parameter model, a sandbox (bubblewrap, else
 * Docker), real SQLite and three short MBPP train-split tasks (written from ../shared/data at test time).
 */
const sandbox = await anyBackend();
const onSandbox = (name: string): string => (sandbox.available ? `${name} (${sandbox.name} sandbox)` : `${name} (no sandbox here: ${sandbox.reason ?? ''})`);
const TASKS = [536, 847, 502];
const GOLD_847 = 'def lcopy(xs):\n  return xs[:]\n';
let dir: string;
let dataFile: string;
let modelFile: string;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(process.env.TMPDIR ?? '/tmp', 'ilf-loop-'));
  const rows = fs.readFileSync(sharedData('mbpp.jsonl'), 'utf8').trim().split('\n').filter((l) => TASKS.includes((JSON.parse(l) as { task_id: number }).task_id));
  dataFile = path.join(dir, 'mbpp-few.jsonl');
  fs.writeFileSync(dataFile, `${rows.join('\n')}\n`);
  modelFile = path.join(dir, 'tiny.gguf');
  await writeTinyModel(modelFile, specForParams('500K', { seed: 1 }));
}, 60_000);

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const TRAINING = { epochs: 300, learningRate: 3e-4, contextSize: 256, validationFraction: 0, threads: 1, checkpointEvery: 10,
  targetModules: ['attn_q', 'attn_k', 'attn_v', 'attn_o', 'ffn_gate', 'ffn_up', 'ffn_down', 'output'] };

describe.skipIf(!sandbox.available)(onSandbox('the ILF loop'), () => {
  it('sample → failures → a person\'s feedback → refinements → an edited refinement accepted → train → pass@1 rises; lineage resolves', async () => {
    const store = Store.open(path.join(dir, 'loop.sqlite'));
    const runtime = new LlamaRuntime({ threads: 1 });
    const pool = await SandboxPool.create(await sandbox.open(), { size: 1 });
    await using training = new TrainingJobs({ store, dataDir: dir, runtime: () => runtime });
    try {
      await importTasks(store, dataFile, { format: 'mbpp', name: 'mbpp-few' });
      const modelId = (await addLocalModel(store, runtime, modelFile)).model.id;
      const config = parseLoopConfig({
        dataset: 'mbpp-few', split: 'train', evalSplit: 'train', n: 3, maxTokens: 48, k: 2, feedbackSource: 'human', review: 'human',
        training: TRAINING, evalN: 2, evalTemperature: 0, ks: [1],
      });
      const id = createLoop(store, modelId, config);
      const deps = { store, runtime, pool: () => Promise.resolve(pool), training };
      const steps: string[] = [];
      const onProgress = (p: { step: string }): void => { if (steps.at(-1) !== p.step) steps.push(p.step); };

      // 1. Sample and test; the loop then waits for a person.
      let result = await runLoop(deps, id, { onProgress });
      expect(result.pipeline).toMatchObject({ step: 'feedback', status: 'waiting' });
      expect(steps).toEqual(['sample', 'test', 'feedback']);
      const runId = result.pipeline.samplingRunId ?? 0;
      expect(store.db.prepare('SELECT COUNT(*) AS n FROM samples WHERE run_id = ?').get(runId)).toEqual({ n: 9 });
      const candidates = feedbackCandidates(store, runId);
      expect(candidates.map((c) => c.taskKey)).toEqual(['502', '536', '847']); // the tiny model passes nothing
      const inbox = store.runs.failures({ runId, limit: 50 });
      expect(inbox).toHaveLength(9);

      // 2. The test acts as the person: feedback on task 847's failing program.
      const target = candidates.find((c) => c.taskKey === '847');
      const feedbackId = addHumanFeedback(store, { sampleId: target?.sampleId ?? 0, author: 'ada', text: 'Return a copy of the list: slice it with xs[:].' });
      expect(() => addHumanFeedback(store, { sampleId: target?.sampleId ?? 0, author: 'ada', text: '  ' })).toThrow(/empty/);

      // 3. Refine: k refinements, each tested; the tiny model's all fail, so the loop waits for review.
      result = await runLoop(deps, id, { onProgress });
      expect(result.pipeline).toMatchObject({ step: 'review', status: 'waiting' });
      const refinements = store.db.prepare<[number], { id: number; passed: number }>('SELECT id, passed FROM refinements WHERE feedback_id = ? ORDER BY id').all(feedbackId);
      expect(refinements).toHaveLength(2);
      expect(refinements.every((r) => r.passed === 0)).toBe(true);
      const executions = store.db.prepare('SELECT COUNT(*) AS n FROM executions WHERE refinement_id IN (SELECT id FROM refinements WHERE feedback_id = ?)').get(feedbackId);
      expect(executions).toEqual({ n: 2 });

      // 4. Review: a failing refinement cannot be accepted as it is, nor with a failing edit; a correct edit is re-tested and accepted.
      const first = refinements[0]?.id ?? 0;
      await expect(reviewRefinement(store, pool, { refinementId: first, reviewer: 'ada', decision: 'accepted' })).rejects.toThrow(/fails its tests, so it cannot be accepted/);
      const wrong = await reviewRefinement(store, pool, { refinementId: first, reviewer: 'ada', decision: 'accepted', editedProgram: 'def lcopy(xs):\n  return None\n' })
        .then(() => undefined, (e: unknown) => e);
      expect(wrong).toBeInstanceOf(AppError);
      expect((wrong as AppError).message).toMatch(/edited program fails its tests/);
      expect(store.db.prepare('SELECT COUNT(*) AS n FROM reviews').get()).toEqual({ n: 0 });
      const accepted = await reviewRefinement(store, pool, { refinementId: first, reviewer: 'ada', decision: 'accepted', editedProgram: GOLD_847 });
      expect(accepted.execution?.status).toBe('passed');
      await reviewRefinement(store, pool, { refinementId: refinements[1]?.id ?? 0, reviewer: 'ada', decision: 'rejected' });

      // 5. Train on the accepted refinement and evaluate base vs base + adapter.
      result = await runLoop(deps, id, { onProgress });
      expect(result.pipeline).toMatchObject({ step: 'done', status: 'completed' });
      expect(steps.slice(-3)).toEqual(['review', 'train', 'evaluate']);
      const [pass1] = result.comparisons;
      expect(pass1?.k).toBe(1);
      expect(pass1?.before).toBe(0);
      expect(pass1?.tasks.find((t) => t.taskKey === '847')?.after).toBe(1);
      expect(pass1?.after).toBeGreaterThan(pass1?.before ?? 1);
      // The reported difference and its interval agree with the stored per-task counts (task 847 went 0 → 1).
      const diffs = expectComparisonFromCounts(store.db, result.pipeline.evalBeforeId ?? 0, result.pipeline.evalAfterId ?? 0, pass1 ?? { k: 1, difference: { mean: NaN, low: NaN, high: NaN } });
      expect(diffs).toHaveLength(3);
      expect(diffs).toContain(1);
      expect(pass1?.difference.low).toBeLessThan(pass1?.difference.high ?? 0);
      const after = store.evaluations.get(result.pipeline.evalAfterId ?? 0);
      expect(after).toMatchObject({ adapterId: result.pipeline.resultAdapterId, n: 2, temperature: 0, seed: 1, split: 'train' });

      // 6. Every training example traces back to its task, sample, execution, feedback and author.
      const examples = store.db.prepare<[number], { id: number }>('SELECT id FROM training_examples WHERE training_set_id = ?').all(result.pipeline.trainingSetId ?? 0);
      expect(examples).toHaveLength(1);
      const trace = store.lineage.trace(examples[0]?.id ?? 0);
      expect(trace).toMatchObject({
        task: { dataset: 'mbpp-few', taskId: '847', split: 'train' },
        sample: { id: target?.sampleId, runId },
        execution: { status: 'failed' },
        feedback: { id: feedbackId, source: 'human', author: 'ada' },
        refinement: { id: first, origin: 'model' },
        review: { reviewer: 'ada', decision: 'accepted', editedProgram: GOLD_847 },
      });

      // 7. The next round improves base + this round's adapter: its samples are drawn with the adapter.
      const round2 = createLoop(store, 0, { ...config, temperature: 0 }, id);
      expect(store.pipeline.get(round2)).toMatchObject({ round: 2, previousId: id, modelId, adapterId: result.pipeline.resultAdapterId, step: 'sample' });
      const waiting = await runLoop(deps, round2);
      expect(waiting.pipeline).toMatchObject({ step: 'feedback', status: 'waiting' });
      expect(store.runs.samplingRun(waiting.pipeline.samplingRunId ?? 0)?.adapterId).toBe(result.pipeline.resultAdapterId);
      // Task 847 now passes, so it is no longer an ILF candidate.
      expect(feedbackCandidates(store, waiting.pipeline.samplingRunId ?? 0).map((c) => c.taskKey)).not.toContain('847');
    } finally {
      await pool.dispose();
      await runtime.dispose();
      store.close();
    }
  }, 180_000);
});

describe.skipIf(!sandbox.available)(onSandbox('ilf run survives being killed'), () => {
  const bin = path.join(repoRoot, 'dist', 'main', 'cli', 'bin.js');
  const env = { ...process.env, UV_THREADPOOL_SIZE: '1', ILF_AUTHOR: 'grace' };
  // The same sandbox as the suite above, whichever this machine has.
  const backendArgs = ['--backend', sandbox.name];
  const start = (dataDir: string, args: string[]): ChildProcess => spawn(process.execPath, [bin, '--data-dir', dataDir, ...backendArgs, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const ilf = (dataDir: string, args: string[]): { status: number | null; stdout: string; stderr: string } =>
    spawnSync(process.execPath, [bin, '--data-dir', dataDir, ...backendArgs, ...args], { env, encoding: 'utf8' });
  const until = async (child: ChildProcess, ready: () => boolean): Promise<void> => {
    await new Promise<void>((resolve, reject) => {
      const poll = setInterval(() => {
        if (ready()) { clearInterval(poll); resolve(); }
      }, 10);
      child.once('exit', (code) => { clearInterval(poll); reject(new Error(`ilf run ended (code ${code}) before it was killed`)); });
    });
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('close', resolve));
  };

  it('killed while sampling and while training, `ilf run --resume` loses nothing, duplicates nothing, and finishes', async () => {
    const dataDir = path.join(dir, 'killed');
    expect(ilf(dataDir, ['import', dataFile, '--format', 'mbpp', '--name', 'mbpp-few']).status).toBe(0);
    expect(ilf(dataDir, ['models', 'add', modelFile]).status).toBe(0);
    const store = Store.open(path.join(dataDir, 'ilf.sqlite'));
    const count = (sql: string): number => (store.db.prepare<[], { n: number }>(sql).get()?.n ?? 0);
    try {
      // Killed in the middle of sampling (3 tasks × 24 samples).
      const first = start(dataDir, ['run', '--model', '1', '--dataset', 'mbpp-few', '--split', 'train', '--n', '24', '--max-tokens', '96', '--k', '1',
        '--feedback', 'execution', '--review', 'human', '--eval-split', 'train', '--eval-n', '1', '--eval-temperature', '0',
        '--epochs', '400', '--lr', '3e-4', '--context', '256', '--threads', '1', '--checkpoint-every', '10', '--targets', 'attn_q,attn_k,attn_v,attn_o,ffn_gate,ffn_up,ffn_down,output', '--validation', '0']);
      await until(first, () => { const n = count('SELECT COUNT(*) AS n FROM samples'); return n >= 24 && n < 60; });
      const partial = count('SELECT COUNT(*) AS n FROM samples');
      expect(store.pipeline.get(1)).toMatchObject({ step: 'sample', status: 'running' });

      // Resumed: sampling continues (nothing redone or duplicated), then test, feedback, refine; it waits for review.
      const second = ilf(dataDir, ['run', '--resume', '1']);
      expect(second.stdout).toMatch(/waiting at review/);
      expect(count('SELECT COUNT(*) AS n FROM samples')).toBe(72);
      expect(count('SELECT COUNT(*) AS n FROM (SELECT DISTINCT task_id, sample_index FROM samples)')).toBe(72);
      expect(count('SELECT COUNT(*) AS n FROM sampling_runs')).toBe(1);
      expect(partial).toBeLessThan(72);
      expect(count(`SELECT COUNT(*) AS n FROM feedback WHERE source = 'execution'`)).toBe(3);

      // A person accepts task 847's refinement with an edit, through the CLI.
      const refinement = store.db.prepare<[], { id: number }>(
        `SELECT rf.id FROM refinements rf JOIN feedback f ON f.id = rf.feedback_id JOIN samples s ON s.id = f.sample_id JOIN tasks t ON t.id = s.task_id WHERE t.task_key = '847'`).get();
      const edit = path.join(dir, 'gold-847.py');
      fs.writeFileSync(edit, GOLD_847);
      expect(ilf(dataDir, ['review', '--refinement', String(refinement?.id), '--accept', '--edit', edit])).toMatchObject({ status: 0, stdout: expect.stringMatching(/accepted \(edit re-tested: passes\)/) });

      // Killed in the middle of training, after a checkpoint.
      // This run's trainer, found by its exact data file, so another test file's trainer never counts.
      const trainingData = path.join(dataDir, 'training', 'run-1', 'data.jsonl');
      const third = start(dataDir, ['run', '--resume', '1']);
      await until(third, () => {
        const latest = path.join(dataDir, 'training', 'run-1', 'checkpoints', 'latest.json');
        return fs.existsSync(latest) && (JSON.parse(fs.readFileSync(latest, 'utf8')) as { step: number }).step >= 30 && trainerPids(trainingData).length === 1;
      });
      // The trainer notices its parent is gone, checkpoints and exits.
      await expect.poll(() => trainerPids(trainingData), { timeout: 20_000, interval: 50 }).toEqual([]);
      // SQLite may lag the checkpoint by the lines the killed CLI had not written yet; the resume fills them in.
      expect(count(`SELECT COUNT(*) AS n FROM training_metrics WHERE phase = 'train'`)).toBeGreaterThan(0);

      const last = ilf(dataDir, ['run', '--resume', '1', '--json']);
      expect(last.status).toBe(0);
      const done = JSON.parse(last.stdout) as { status: string; step: string; comparisons: { k: number; before: number; after: number }[] };
      expect(done).toMatchObject({ status: 'completed', step: 'done' });
      expect(count('SELECT COUNT(*) AS n FROM training_runs')).toBe(1);
      expect(store.training.get(1)).toMatchObject({ status: 'completed', step: 400 });
      const steps = store.training.metrics(1).filter((m) => m.phase === 'train').map((m) => m.step);
      expect(steps).toEqual(Array.from({ length: 400 }, (_, i) => i + 1));
      expect(done.comparisons[0]?.after).toBeGreaterThan(done.comparisons[0]?.before ?? 1);
    } finally {
      store.close();
    }
  }, 240_000);
});
