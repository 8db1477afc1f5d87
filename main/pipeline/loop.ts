import { IlfRunConfig } from '../../preload/contract.js';
import { describeIssues } from '../datasets/task-record.js';
import { AppError } from '../errors.js';
import { compareEvaluations, evaluate, type Comparison } from '../evaluation/evaluate.js';
import { runSampling } from '../inference/sampling.js';
import type { LlamaRuntime } from '../models/runtime.js';
import type { SandboxPool } from '../sandbox/pool.js';
import type { PipelineRow, PipelineStep } from '../store/pipeline.js';
import type { Store } from '../store/store.js';
import { buildTrainingSet } from '../training/dataset.js';
import type { TrainingJobs } from '../training/jobs.js';
import { automaticFeedback, feedbackCandidates } from './feedback-step.js';
import { refineAndTest } from './refine-step.js';
import { testSamplingRun } from './test-samples.js';

export type LoopConfig = IlfRunConfig;

export interface LoopDeps {
  store: Store;
  runtime: LlamaRuntime;
  /** Opened when a step needs the sandbox. */
  pool: () => Promise<SandboxPool>;
  training: TrainingJobs;
}

export interface LoopProgress {
  pipelineId: number;
  step: PipelineStep;
  text: string;
}

export interface LoopResult {
  pipeline: PipelineRow;
  comparisons: Comparison[];
}

export function parseLoopConfig(input: unknown): LoopConfig {
  const parsed = IlfRunConfig.safeParse(input);
  if (!parsed.success) throw new AppError('BAD_INPUT', `invalid ILF run configuration: ${describeIssues(parsed.error)}`, 'fix the setting and start again');
  return parsed.data;
}

/** Starts round 1 (or the round after `previousId`, whose adapter becomes the model being improved). */
export function createLoop(store: Store, modelId: number, config: LoopConfig, previousId?: number): number {
  if (previousId === undefined && !store.models.get(modelId)) throw new AppError('NOT_FOUND', `no model with id ${modelId}`, 'list models with `ilf models list`');
  if (!store.catalog.dataset(config.dataset)) throw new AppError('NOT_FOUND', `no dataset "${config.dataset}"`, 'import it first with `ilf import`');
  if (config.feedbackSource === 'model' && config.criticModelId === undefined) throw new AppError('BAD_INPUT', 'model feedback needs a critic model', 'give --critic MODEL_ID');
  if (previousId === undefined) return store.pipeline.create({ modelId, adapterId: null, config });
  const previous = store.pipeline.get(previousId);
  if (!previous) throw new AppError('NOT_FOUND', `no ILF run ${previousId}`);
  if (previous.status !== 'completed' || previous.resultAdapterId === null) {
    throw new AppError('BAD_INPUT', `ILF run ${previousId} has not finished with an adapter`, `finish it first (\`ilf run --resume ${previousId}\`)`);
  }
  return store.pipeline.create({ modelId: previous.modelId, adapterId: previous.resultAdapterId, config, previousId, round: previous.round + 1 });
}

const NEXT: Record<PipelineStep, PipelineStep> = {
  sample: 'test', test: 'feedback', feedback: 'refine', refine: 'review', review: 'train', train: 'evaluate', evaluate: 'done', done: 'done',
};

/**
 * Runs an ILF round from the step it is at: sample → test → feedback → refine → review → train →
 * evaluate. Every step is idempotent and records what it makes as soon as it exists, so after a
 * crash, a kill or a cancel the same call continues without redoing or duplicating anything.
 * With human feedback or human review the round stops at that step with status `waiting` until
 * people have done their part, and continues when called again.
 */
export async function runLoop(deps: LoopDeps, pipelineId: number, options: { signal?: AbortSignal; onProgress?: (p: LoopProgress) => void } = {}): Promise<LoopResult> {
  const { store } = deps;
  const row = (): PipelineRow => {
    const p = store.pipeline.get(pipelineId);
    if (!p) throw new AppError('NOT_FOUND', `no ILF run ${pipelineId}`, 'list them with `ilf run --list`');
    return p;
  };
  const config = parseLoopConfig(row().config);
  const say = (step: PipelineStep, text: string): void => options.onProgress?.({ pipelineId, step, text });
  const signal = options.signal;
  const withSignal = signal ? { signal } : {};
  store.pipeline.setState(pipelineId, { status: 'running' });

  try {
    for (let p = row(); p.step !== 'done'; p = row()) {
      signal?.throwIfAborted();
      const step = p.step;
      const wait = (message: string): LoopResult => {
        store.pipeline.setState(pipelineId, { status: 'waiting', message });
        say(step, message);
        return { pipeline: row(), comparisons: [] };
      };
      switch (step) {
        case 'sample': {
          const report = await runSampling({ store, runtime: deps.runtime }, {
            modelId: p.modelId, adapterId: p.adapterId, dataset: config.dataset, split: config.split, n: config.n, temperature: config.temperature,
            topP: config.topP, maxTokens: config.maxTokens, seed: config.seed, promptFormat: config.promptFormat, limit: config.limit, purpose: 'ilf',
          }, {
            ...withSignal,
            ...(p.samplingRunId !== null ? { resumeRunId: p.samplingRunId } : {}),
            onRun: (id) => store.pipeline.setArtifact(pipelineId, 'samplingRunId', id),
            onProgress: (s) => say(step, `sampling: ${s.tasksDone}/${s.tasksTotal} tasks, ${s.tokensPerSecond.toFixed(0)} tok/s` +
              `${s.etaSeconds !== null ? `, ~${Math.ceil(s.etaSeconds)} s left` : ''}`),
          });
          say(step, `sampled ${report.samplesCreated} programs (${report.samplesSkipped} already there)`);
          break;
        }
        case 'test': {
          const report = await testSamplingRun(store, await deps.pool(), p.samplingRunId ?? 0, {
            ...withSignal, onProgress: (done, total) => say(step, `testing: ${done}/${total}`),
          });
          if (report.sandboxErrors > 0) throw new AppError('SANDBOX_UNAVAILABLE', `${report.sandboxErrors} samples hit sandbox errors`, 'resume to retry them');
          say(step, `${report.tasksWithoutPass} of ${report.tasks} tasks have no passing sample`);
          break;
        }
        case 'feedback': {
          const runId = p.samplingRunId ?? 0;
          if (config.feedbackSource === 'human') {
            const candidates = feedbackCandidates(store, runId);
            const withFeedback = humanFeedbackIds(store, runId);
            if (withFeedback.length === 0) {
              return wait(`waiting for feedback: ${candidates.length} tasks have no passing sample; write feedback in the inbox (\`ilf failures --run ${runId}\`, \`ilf feedback add\`), then resume`);
            }
          } else {
            const ids = await automaticFeedback({ store, runtime: deps.runtime }, runId, config.feedbackSource, {
              ...withSignal, seed: config.seed, ...(config.criticModelId !== undefined ? { modelId: config.criticModelId } : {}),
            });
            say(step, `${ids.length} feedbacks (${config.feedbackSource})`);
          }
          break;
        }
        case 'refine': {
          const ids = feedbackIdsOf(store, p.samplingRunId ?? 0, config.feedbackSource);
          const report = await refineAndTest({ store, runtime: deps.runtime, pool: await deps.pool() }, ids, {
            k: config.k, modelId: p.modelId, adapterId: p.adapterId, temperature: config.refineTemperature, topP: config.topP, maxTokens: config.maxTokens,
            seed: config.seed, promptFormat: config.promptFormat, fewShot: config.fewShot,
          }, { ...withSignal, onProgress: (done, total) => say(step, `refining: ${done}/${total} feedbacks`) });
          say(step, `${report.generated} refinements made, ${report.passed} pass their tests`);
          break;
        }
        case 'review': {
          const runId = p.samplingRunId ?? 0;
          if (config.review === 'auto') {
            const accepted = autoAccept(store, runId, config.feedbackSource);
            say(step, `${accepted} passing refinements accepted`);
          }
          if (acceptedCount(store, runId) === 0) {
            return wait(config.review === 'auto'
              ? 'no refinement passes its tests, so there is nothing to train on: review them by hand (edit one into a passing program), then resume'
              : 'waiting for review: accept or edit the passing refinements (`ilf review`), then resume');
          }
          break;
        }
        case 'train': {
          let trainingRunId = p.trainingRunId;
          if (trainingRunId === null) {
            const setId = p.trainingSetId ?? buildTrainingSet(store, `ILF run ${pipelineId} round ${p.round}`, { samplingRunId: p.samplingRunId ?? 0 }).trainingSetId;
            store.pipeline.setArtifact(pipelineId, 'trainingSetId', setId);
            const started = await deps.training.start({ modelId: p.modelId, trainingSetId: setId, config: config.training, baseAdapterId: p.adapterId });
            trainingRunId = started.id;
            store.pipeline.setArtifact(pipelineId, 'trainingRunId', trainingRunId);
          } else if (deps.training.get(trainingRunId).status !== 'completed') {
            await deps.training.resume(trainingRunId);
          }
          const abort = (): void => { deps.training.stop(trainingRunId ?? 0); };
          signal?.addEventListener('abort', abort, { once: true });
          const run = await deps.training.wait(trainingRunId).finally(() => signal?.removeEventListener('abort', abort));
          signal?.throwIfAborted();
          if (run.status !== 'completed' || run.adapterId === null) {
            throw new AppError('INTERNAL', `training run ${trainingRunId} ${run.status}${run.error ? `: ${run.error}` : ''}`, `resume with \`ilf run --resume ${pipelineId}\``);
          }
          store.pipeline.setArtifact(pipelineId, 'resultAdapterId', run.adapterId);
          say(step, `adapter ${run.adapterId} trained (${run.step} steps)`);
          break;
        }
        case 'evaluate': {
          const pool = await deps.pool();
          const base = { modelId: p.modelId, dataset: config.dataset, split: config.evalSplit, n: config.evalN, temperature: config.evalTemperature,
            topP: config.topP, maxTokens: config.maxTokens, seed: config.seed, promptFormat: config.promptFormat, limit: config.evalLimit, ks: config.ks };
          for (const which of ['before', 'after'] as const) {
            if ((which === 'before' ? p.evalBeforeId : p.evalAfterId) !== null) continue;
            const resumeRun = which === 'before' ? p.evalBeforeRun : p.evalAfterRun;
            const report = await evaluate({ store, runtime: deps.runtime, pool }, { ...base, adapterId: which === 'before' ? p.adapterId : row().resultAdapterId }, {
              ...withSignal, ...(resumeRun !== null ? { resumeRunId: resumeRun } : {}),
              onRun: (id) => store.pipeline.setArtifact(pipelineId, which === 'before' ? 'evalBeforeRun' : 'evalAfterRun', id),
              onProgress: (e) => say(step, e.phase === 'sampling' ? `evaluating ${which}: sampling ${e.progress.tasksDone}/${e.progress.tasksTotal} tasks` : `evaluating ${which}: testing ${e.done}/${e.total}`),
            });
            store.pipeline.setArtifact(pipelineId, which === 'before' ? 'evalBeforeId' : 'evalAfterId', report.id);
          }
          break;
        }
      }
      store.pipeline.setState(pipelineId, { step: NEXT[step], status: NEXT[step] === 'done' ? 'completed' : 'running' });
    }
  } catch (e) {
    const cancelled = (e as Error).name === 'AbortError' || signal?.aborted === true;
    store.pipeline.setState(pipelineId, { status: cancelled ? 'cancelled' : 'failed', message: (e as Error).message });
    throw e;
  }
  return { pipeline: row(), comparisons: loopComparisons(store, row(), config.ks) };
}

/** Before vs after of a finished round, for every k both evaluations allow. */
export function loopComparisons(store: Store, p: PipelineRow, ks: readonly number[]): Comparison[] {
  if (p.evalBeforeId === null || p.evalAfterId === null) return [];
  const before = store.evaluations.get(p.evalBeforeId);
  return ks.filter((k) => k <= (before?.n ?? 0)).map((k) => compareEvaluations(store, p.evalBeforeId ?? 0, p.evalAfterId ?? 0, k));
}

function humanFeedbackIds(store: Store, samplingRunId: number): number[] {
  return store.db
    .prepare<[number], { id: number }>(`SELECT f.id FROM feedback f JOIN samples s ON s.id = f.sample_id WHERE s.run_id = ? AND f.source = 'human' ORDER BY f.id`)
    .all(samplingRunId).map((r) => r.id);
}

/** The feedback of a round's samples from its source. */
function feedbackIdsOf(store: Store, samplingRunId: number, source: LoopConfig['feedbackSource']): number[] {
  return store.db
    .prepare<[number, string], { id: number }>('SELECT f.id FROM feedback f JOIN samples s ON s.id = f.sample_id WHERE s.run_id = ? AND f.source = ? ORDER BY f.id')
    .all(samplingRunId, source).map((r) => r.id);
}

function acceptedCount(store: Store, samplingRunId: number): number {
  return store.db
    .prepare<[number], { n: number }>(`SELECT COUNT(*) AS n FROM reviews rv JOIN refinements rf ON rf.id = rv.refinement_id JOIN feedback f ON f.id = rf.feedback_id
      JOIN samples s ON s.id = f.sample_id WHERE s.run_id = ? AND rv.decision = 'accepted'`)
    .get(samplingRunId)?.n ?? 0;
}

/** Automatic review: the first passing refinement of each feedback is accepted (once). */
function autoAccept(store: Store, samplingRunId: number, source: LoopConfig['feedbackSource']): number {
  const firstPassing = store.db
    .prepare<[number, string], { id: number }>(
      `SELECT MIN(rf.id) AS id FROM refinements rf JOIN feedback f ON f.id = rf.feedback_id JOIN samples s ON s.id = f.sample_id
       WHERE s.run_id = ? AND f.source = ? AND rf.passed = 1
         AND NOT EXISTS (SELECT 1 FROM reviews rv JOIN refinements r2 ON r2.id = rv.refinement_id WHERE r2.feedback_id = f.id)
       GROUP BY f.id`,
    )
    .all(samplingRunId, source);
  return store.transaction(() => {
    for (const r of firstPassing) store.lineage.addReview({ refinementId: r.id, reviewer: `auto:${source}`, decision: 'accepted' });
    return firstPassing.length;
  });
}
