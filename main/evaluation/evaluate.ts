import { AppError } from '../errors.js';
import type { PromptFormat } from '../datasets/prompt.js';
import { runSampling, type SamplingProgress } from '../inference/sampling.js';
import type { LlamaRuntime } from '../models/runtime.js';
import { testSamplingRun } from '../pipeline/test-samples.js';
import type { SandboxPool } from '../sandbox/pool.js';
import type { EvaluationRow, EvaluationTask } from '../store/evaluations.js';
import type { Store } from '../store/store.js';
import { meanPassAtK, pairedBootstrap, passAtK, type PairedDifference } from './pass-at-k.js';

export interface EvaluationConfig {
  modelId: number;
  adapterId?: number | null;
  dataset: string;
  split: string;
  /** Samples per task; pass@k is reported for every k in `ks` up to n. */
  n: number;
  temperature: number;
  topP: number;
  maxTokens: number;
  seed: number;
  promptFormat: PromptFormat;
  limit?: number | undefined;
  ks?: readonly number[];
}

export interface EvaluationReport extends EvaluationRow {
  tasks: EvaluationTask[];
}

export type EvaluationPhase = { phase: 'sampling'; progress: SamplingProgress } | { phase: 'testing'; done: number; total: number };

/**
 * pass@k of a model, or model + adapter, on a split: n samples per task, each tested in the
 * sandbox, pass@k by the unbiased estimator, stored with n, temperature and seed and the per-task
 * counts. Resumable: give the sampling run of an interrupted evaluation and only what is missing is
 * sampled and tested; an evaluation already stored for that run is returned as it is.
 */
export async function evaluate(
  deps: { store: Store; runtime: LlamaRuntime; pool: SandboxPool },
  config: EvaluationConfig,
  options: { signal?: AbortSignal; resumeRunId?: number; onRun?: (samplingRunId: number) => void; onProgress?: (p: EvaluationPhase) => void } = {},
): Promise<EvaluationReport> {
  const { store } = deps;
  if (options.resumeRunId !== undefined) {
    const done = store.evaluations.bySamplingRun(options.resumeRunId);
    if (done) return { ...done, tasks: store.evaluations.tasks(done.id) };
  }
  const ks = (config.ks ?? [1, 10]).filter((k) => k <= config.n);
  if (ks.length === 0) throw new AppError('BAD_INPUT', `n = ${config.n} is too few samples for pass@${(config.ks ?? [1]).join(', pass@')}`, 'raise n');
  const sampling = await runSampling({ store, runtime: deps.runtime }, { ...config, purpose: 'evaluation' }, {
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.resumeRunId !== undefined ? { resumeRunId: options.resumeRunId } : {}),
    onRun: (id) => options.onRun?.(id),
    onProgress: (progress) => options.onProgress?.({ phase: 'sampling', progress }),
  });
  const tested = await testSamplingRun(store, deps.pool, sampling.runId, {
    ...(options.signal ? { signal: options.signal } : {}),
    onProgress: (done, total) => options.onProgress?.({ phase: 'testing', done, total }),
  });
  if (tested.sandboxErrors > 0) {
    throw new AppError('SANDBOX_UNAVAILABLE', `${tested.sandboxErrors} samples could not be run in the sandbox; the evaluation is incomplete`,
      `run it again to retry them (\`ilf eval --resume ${sampling.runId}\`)`);
  }
  const counts = store.db
    .prepare<[number], { task_id: number; n: number; correct: number }>(
      'SELECT task_id, COUNT(*) AS n, SUM(passed) AS correct FROM samples WHERE run_id = ? GROUP BY task_id ORDER BY task_id',
    )
    .all(sampling.runId);
  const run = store.runs.samplingRun(sampling.runId);
  if (!run) throw new Error(`sampling run ${sampling.runId} vanished`);
  const passAt = Object.fromEntries(ks.map((k) => [String(k), meanPassAtK(counts.map((c) => ({ n: c.n, c: c.correct })), k)]));
  const id = store.evaluations.add({
    modelId: config.modelId, adapterId: config.adapterId ?? null, samplingRunId: sampling.runId, datasetId: run.datasetId, split: config.split,
    n: config.n, temperature: config.temperature, seed: config.seed, passAtK: passAt,
    tasks: counts.map((c) => ({ taskId: c.task_id, n: c.n, correct: c.correct })),
  });
  const row = store.evaluations.get(id);
  if (!row) throw new Error(`evaluation ${id} vanished`);
  return { ...row, tasks: store.evaluations.tasks(id) };
}

export interface Comparison {
  before: number;
  after: number;
  k: number;
  difference: PairedDifference;
  tasks: { taskKey: string; before: number; after: number }[];
}

/**
 * Paired comparison of two evaluations of the same tasks (base vs base+adapter): per-task pass@k,
 * the mean difference and its bootstrap confidence interval over tasks.
 */
export function compareEvaluations(store: Store, beforeId: number, afterId: number, k: number, options: { resamples?: number; seed?: number } = {}): Comparison {
  const [before, after] = [beforeId, afterId].map((id) => {
    const row = store.evaluations.get(id);
    if (!row) throw new AppError('NOT_FOUND', `no evaluation ${id}`, 'list evaluations with `ilf eval --list`');
    return { row, tasks: new Map(store.evaluations.tasks(id).map((t) => [t.taskKey, t])) };
  }) as [{ row: EvaluationRow; tasks: Map<string, EvaluationTask> }, { row: EvaluationRow; tasks: Map<string, EvaluationTask> }];
  if (before.row.dataset !== after.row.dataset || before.tasks.size !== after.tasks.size || [...before.tasks.keys()].some((t) => !after.tasks.has(t))) {
    throw new AppError('BAD_INPUT', `evaluations ${beforeId} and ${afterId} are not of the same tasks`, 'compare evaluations of the same dataset, split and limit');
  }
  if (k > Math.min(before.row.n, after.row.n)) throw new AppError('BAD_INPUT', `pass@${k} needs n ≥ ${k} in both evaluations`);
  const tasks = [...before.tasks.values()].map((b) => {
    const a = after.tasks.get(b.taskKey) ?? b;
    return { taskKey: b.taskKey, before: passAtK(b.n, b.correct, k), after: passAtK(a.n, a.correct, k) };
  });
  const mean = (xs: number[]): number => xs.reduce((s, x) => s + x, 0) / xs.length;
  return {
    k, before: mean(tasks.map((t) => t.before)), after: mean(tasks.map((t) => t.after)), tasks,
    difference: pairedBootstrap(tasks.map((t) => t.before), tasks.map((t) => t.after), options),
  };
}
