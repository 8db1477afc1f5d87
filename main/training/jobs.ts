import fs from 'node:fs';
import path from 'node:path';
import { TrainingConfig, TrainingDataReport, type TrainingProgress, type TrainingRunInfo } from '../../preload/contract.js';
import { describeIssues } from '../datasets/task-record.js';
import { AppError } from '../errors.js';
import { readGgufInfo } from '../../native-models/gguf/reader.js';
import { modelSupport } from '../models/support.js';
import { addTrainedAdapter } from '../models/registry.js';
import { physicalCores, type LlamaRuntime } from '../models/runtime.js';
import { latestEvery } from '../services/throttle.js';
import { isProcessAlive } from '../process-alive.js';
import type { Store } from '../store/store.js';
import type { TrainingRunRow } from '../store/training.js';
import { tokenizeExample, tooLongRows, trainingSetExamples } from './examples.js';
import { trainerBinary } from './trainer-binary.js';
import { TRAINER_EXIT, TrainerEvent, TrainerProcess } from './trainer-process.js';

/** A graceful stop (end the batch, checkpoint, write the adapter) that takes longer than this is a kill. */
export const DEFAULT_STOP_TIMEOUT_MS = 60_000;

export interface TrainingJobsOptions {
  store: Store;
  dataDir: string;
  /** For tokenizing the examples exactly as sampling does (a vocabulary-only load). */
  runtime: () => LlamaRuntime;
  /** Throttled progress for a UI or a terminal; the final state of a run is always delivered. */
  onProgress?: (p: TrainingProgress) => void;
  /** Every trainer line, unthrottled. */
  onEvent?: (runId: number, e: TrainerEvent) => void;
  /** Frees the inference model before training takes the memory (GPU or RAM). */
  releaseInference?: () => Promise<void>;
  /** How long a graceful stop may take before the trainer is killed (default DEFAULT_STOP_TIMEOUT_MS). */
  stopTimeoutMs?: number;
  progressIntervalMs?: number;
  /** The trainer binary; default: see trainerBinary(). */
  trainer?: string;
}

export interface StartTraining {
  modelId: number;
  trainingSetId: number;
  config?: Partial<TrainingConfig>;
  /** Continue training this adapter of the model (a later ILF round) instead of a new one. */
  baseAdapterId?: number | null;
  /** Where the run's files go (adapter.gguf, checkpoints/, data and config); default `<dataDir>/training/run-<id>`. */
  outDir?: string;
}

interface Active {
  runId: number;
  trainer: TrainerProcess;
  stopRequested: boolean;
  finished: Promise<TrainingRunRow>;
}

/** The data report a run's record holds (see TrainingRuns.setDataReport), or null for a run from before reports. */
function dataReportOf(run: TrainingRunRow): TrainingDataReport | null {
  const parsed = TrainingDataReport.safeParse(run.config.dataReport);
  return parsed.success ? parsed.data : null;
}

const runFiles = (dir: string) => ({
  dir,
  data: path.join(dir, 'data.jsonl'),
  config: path.join(dir, 'config.json'),
  checkpoints: path.join(dir, 'checkpoints'),
  adapter: path.join(dir, 'adapter.gguf'),
  log: path.join(dir, 'trainer.log'),
  metrics: path.join(dir, 'metrics.jsonl'),
});

/**
 * Runs the native LoRA trainer as a child process, one run at a time (one device, one job), with
 * its progress streamed into SQLite. A run survives the app: if the app goes away the trainer
 * checkpoints and stops, the run shows as interrupted at the next start, and resume continues from
 * the checkpoint. A finished run registers its adapter against the base model.
 */
export class TrainingJobs implements AsyncDisposable {
  private active: Active | undefined;
  private readonly store: Store;

  constructor(private readonly options: TrainingJobsOptions) {
    this.store = options.store;
    this.store.training.interruptOrphans(isProcessAlive);
  }

  /** Checks everything that can be checked before a run exists, then starts the trainer. */
  async start(request: StartTraining): Promise<TrainingRunInfo> {
    this.refuseWhileBusy();
    const parsed = TrainingConfig.safeParse(request.config ?? {});
    if (!parsed.success) throw new AppError('BAD_INPUT', `invalid training configuration: ${describeIssues(parsed.error)}`, 'fix the setting and start again');
    const config = { ...parsed.data, threads: parsed.data.threads === 0 ? physicalCores() : parsed.data.threads };
    const named = this.store.models.get(request.modelId);
    if (!named) throw new AppError('NOT_FOUND', `no model with id ${request.modelId}`, 'list models with `ilf models list`');
    // An endpoint is trained through the local GGUF it serves; the adapter then goes back to the server.
    const model = named.endpoint ? (named.endpoint.servesModelId === null ? undefined : this.store.models.get(named.endpoint.servesModelId)) : named;
    if (!model) {
      throw new AppError('BAD_INPUT', `${named.name} is an endpoint: training needs the GGUF it serves`, 'add the GGUF (`ilf models add`), then the endpoint again with --serves ID');
    }
    if (!fs.existsSync(model.path)) {
      throw new AppError('NOT_FOUND', `the file of model ${model.name} is missing: ${model.path}`, 'put the file back or add the model again');
    }
    // Refused here, before a run exists, rather than minutes later as a trainer abort.
    // The file's header decides (its tensors show LayerNorm or fused matrices); the registered weight type too.
    const header = await readGgufInfo(model.path);
    const support = modelSupport({ ...header, quantization: model.quantization });
    if (!support.train.trainable) {
      throw new AppError('BAD_INPUT', `${model.name} cannot be trained here: ${support.train.reason ?? ''}`, support.train.instead ?? 'use another model');
    }
    const baseAdapter = request.baseAdapterId == null ? undefined : this.store.models.adapter(request.baseAdapterId);
    if (request.baseAdapterId != null && (!baseAdapter || baseAdapter.baseModelId !== model.id)) {
      throw new AppError('BAD_INPUT', `adapter ${request.baseAdapterId} is not an adapter of ${model.name}`, 'continue from an adapter trained on the same base model');
    }
    if (baseAdapter && !fs.existsSync(baseAdapter.path)) throw new AppError('NOT_FOUND', `the file of adapter ${baseAdapter.id} is missing: ${baseAdapter.path}`);
    const examples = await trainingSetExamples(this.store, request.trainingSetId);
    if (examples.length === 0) {
      throw new AppError('BAD_INPUT', `training set ${request.trainingSetId} is empty`, 'accept some refinements and build the training set again');
    }
    const trainer = this.options.trainer ?? trainerBinary();

    const runId = this.store.transaction(() => {
      const id = this.store.training.create({ trainingSetId: request.trainingSetId, baseModelId: model.id, baseAdapterId: baseAdapter?.id ?? null, config, checkpointDir: '', adapterPath: '' });
      const files = runFiles(path.resolve(request.outDir ?? path.join(this.options.dataDir, 'training', `run-${id}`)));
      this.store.training.setPaths(id, files.checkpoints, files.adapter);
      return id;
    });
    const files = this.filesOf(runId);
    try {
      fs.mkdirSync(files.dir, { recursive: true });
      await this.options.releaseInference?.();
      const llama = await this.options.runtime().get();
      const vocab = await llama.loadModel({ modelPath: model.path, vocabOnly: true });
      let limit = config.contextSize;
      try {
        const tokenized = examples.map((e) => tokenizeExample(vocab, e));
        // No row may be longer than the model's own context either.
        if (vocab.trainContextSize > 0) limit = Math.min(limit, vocab.trainContextSize);
        // The trainer leaves these rows out by the same rule; the run's record names them.
        const tooLong = tooLongRows(examples, tokenized, limit);
        this.store.training.setDataReport(runId, { limit, tooLong: { count: tooLong.count, rows: tooLong.rows } });
        fs.writeFileSync(files.data, `${tokenized.map((t) => JSON.stringify(t)).join('\n')}\n`);
      } finally {
        await vocab.dispose();
      }
      fs.writeFileSync(files.config, `${JSON.stringify({ ...config, contextSize: limit }, null, 2)}\n`);
    } catch (e) {
      this.store.training.finish(runId, 'failed', { error: `preparing the run failed: ${(e as Error).message}` });
      throw e;
    }
    return this.launch(runId, trainer, false);
  }

  /** Continues a run that was interrupted, stopped or failed: from its last checkpoint, else from the start. */
  async resume(runId: number): Promise<TrainingRunInfo> {
    this.refuseWhileBusy();
    const run = this.store.training.get(runId);
    if (!run) throw new AppError('NOT_FOUND', `no training run ${runId}`, 'list runs with `ilf train --list`');
    if (run.status === 'completed') throw new AppError('BAD_INPUT', `training run ${runId} has already finished`, 'start a new run to train further');
    const files = this.filesOf(runId);
    if (!fs.existsSync(files.data) || !fs.existsSync(files.config)) {
      throw new AppError('NOT_FOUND', `the files of training run ${runId} are gone from ${files.dir}`, 'start a new run');
    }
    await this.options.releaseInference?.();
    const fromCheckpoint = fs.existsSync(path.join(files.checkpoints, 'latest.json'));
    return this.launch(runId, this.options.trainer ?? trainerBinary(), fromCheckpoint);
  }

  /** Asks the running trainer to stop after its current batch; it still writes a checkpoint and an adapter. */
  stop(runId: number): TrainingRunInfo {
    const active = this.active;
    if (!active || active.runId !== runId) {
      const run = this.store.training.get(runId);
      if (!run) throw new AppError('NOT_FOUND', `no training run ${runId}`);
      return this.info(run);
    }
    active.stopRequested = true;
    active.trainer.stop(this.options.stopTimeoutMs ?? DEFAULT_STOP_TIMEOUT_MS);
    return this.info(this.mustGet(runId));
  }

  /** Resolves when the run is no longer running (at once if it is not running here). */
  async wait(runId: number): Promise<TrainingRunInfo> {
    if (this.active?.runId === runId) return this.info(await this.active.finished);
    return this.info(this.mustGet(runId));
  }

  get(runId: number): TrainingRunInfo {
    return this.info(this.mustGet(runId));
  }

  list(): TrainingRunInfo[] {
    return this.store.training.list().map((r) => this.info(r));
  }

  /** Shutting down: stops the running trainer (it checkpoints and writes a usable adapter) and waits for it. */
  async dispose(): Promise<void> {
    const active = this.active;
    if (!active) return;
    this.stop(active.runId);
    await active.finished;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }

  private info(run: TrainingRunRow): TrainingRunInfo {
    const adapter = this.store.models.adapterOfRun(run.id);
    return {
      id: run.id, trainingSetId: run.trainingSetId, baseModelId: run.baseModelId, baseAdapterId: run.baseAdapterId, adapterId: adapter?.id ?? null,
      config: run.config, status: run.status, step: run.step, totalSteps: run.totalSteps, error: run.error, logTail: run.logTail,
      dataReport: dataReportOf(run),
      createdAt: run.createdAt, startedAt: run.startedAt, finishedAt: run.finishedAt,
    };
  }

  private mustGet(runId: number): TrainingRunRow {
    const run = this.store.training.get(runId);
    if (!run) throw new AppError('NOT_FOUND', `no training run ${runId}`);
    return run;
  }

  private filesOf(runId: number): ReturnType<typeof runFiles> {
    const run = this.mustGet(runId);
    return runFiles(path.dirname(run.checkpointDir ?? ''));
  }

  private refuseWhileBusy(): void {
    if (this.active) {
      throw new AppError('BAD_INPUT', `training run ${this.active.runId} is still running; one run trains at a time`, 'stop it or wait for it to finish');
    }
  }

  private launch(runId: number, binary: string, resume: boolean): TrainingRunInfo {
    const run = this.mustGet(runId);
    const model = this.store.models.get(run.baseModelId);
    if (!model) throw new AppError('NOT_FOUND', `the base model of run ${runId} is no longer registered`);
    const files = this.filesOf(runId);
    const initAdapter = run.baseAdapterId === null ? undefined : this.store.models.adapter(run.baseAdapterId);
    if (resume) this.replayMetrics(runId, files.metrics);
    const log = fs.createWriteStream(files.log, { flags: 'a' });
    let last: TrainingProgress = {
      runId, status: 'running', step: run.step, totalSteps: run.totalSteps, epoch: 0, loss: null, validationLoss: null, tokensPerS: null,
      computedTokensPerS: null, etaS: null,
    };
    const progress = this.throttledProgress();
    const trainer = new TrainerProcess(binary, [
      '--model', model.path, '--data', files.data, '--config', files.config, '--out', files.adapter, '--checkpoint-dir', files.checkpoints,
      '--metrics', files.metrics,
      ...(resume ? ['--resume'] : initAdapter ? ['--init-adapter', initAdapter.path] : []),
    ], (e) => {
      this.options.onEvent?.(runId, e);
      if (e.phase === 'start') {
        this.store.training.setTotalSteps(runId, e.total_steps);
        const report = dataReportOf(this.mustGet(runId));
        if (report && e.groups) {
          this.store.training.setDataReport(runId, {
            ...report, groups: e.groups, usefulTokensPerEpoch: e.useful_tokens_per_epoch, computedTokensPerEpoch: e.computed_tokens_per_epoch,
          });
        }
        last = { ...last, totalSteps: e.total_steps, step: e.resumed_from_step };
      } else if (e.phase === 'train') {
        this.store.training.recordMetric(runId, { phase: 'train', step: e.step, epoch: e.epoch, loss: e.loss, accuracy: e.accuracy, tokensPerS: e.tokens_per_s });
        last = { ...last, step: e.step, epoch: e.epoch, loss: e.loss, tokensPerS: e.tokens_per_s, computedTokensPerS: e.slots_per_s ?? null, etaS: e.eta_s };
      } else if (e.phase === 'validation') {
        this.store.training.recordMetric(runId, { phase: 'validation', step: e.step, epoch: e.epoch, loss: e.loss, accuracy: null, tokensPerS: null });
        last = { ...last, validationLoss: e.loss };
      } else {
        return;
      }
      progress.push(last);
    }, { onLog: (chunk) => log.write(chunk) });
    this.store.training.markRunning(runId, process.pid);
    const active: Active = { runId, trainer, stopRequested: false, finished: Promise.resolve(run) };
    active.finished = trainer.exited.then(async (exit) => {
      log.end();
      this.replayMetrics(runId, files.metrics);
      let status: 'completed' | 'failed' | 'cancelled';
      let error: string | null = null;
      if (exit.code === TRAINER_EXIT.done) {
        try {
          await addTrainedAdapter(this.store, files.adapter, model.id, { trainingRunId: runId, name: `${model.name} · run ${runId}` });
          status = 'completed';
        } catch (e) {
          status = 'failed';
          error = `the trainer finished but its adapter could not be registered: ${(e as Error).message}`;
        }
      } else if (exit.code === TRAINER_EXIT.stopped || (active.stopRequested && exit.signal === 'SIGKILL')) {
        status = 'cancelled';
        if (exit.signal) error = 'the trainer did not stop in time and was killed; resume continues from its last checkpoint';
      } else {
        status = 'failed';
        error = exit.error ?? abortReason(exit.logTail) ?? (exit.signal ? `the trainer was killed by ${exit.signal}` : `the trainer crashed (exit code ${exit.code ?? 'none'})`);
      }
      this.store.training.finish(runId, status, { error, logTail: exit.logTail.split('\n').slice(-40).join('\n') });
      this.active = undefined;
      progress.flush({ ...last, status });
      return this.mustGet(runId);
    });
    this.active = active;
    progress.push(last);
    return this.info(this.mustGet(runId));
  }

  /**
   * The trainer's own metrics file into SQLite: steps a previous driver never recorded (it died
   * between the trainer's line and its write) are filled in; a repeated step's later attempt wins.
   */
  private replayMetrics(runId: number, file: string): void {
    if (!fs.existsSync(file)) return;
    const lines = fs.readFileSync(file, 'utf8').split('\n').filter(Boolean);
    this.store.transaction(() => {
      for (const line of lines) {
        let parsed: unknown;
        try {
          parsed = JSON.parse(line);
        } catch {
          continue; // a line cut off by a crash
        }
        const e = TrainerEvent.safeParse(parsed);
        if (!e.success) continue;
        if (e.data.phase === 'train') {
          this.store.training.recordMetric(runId, { phase: 'train', step: e.data.step, epoch: e.data.epoch, loss: e.data.loss, accuracy: e.data.accuracy, tokensPerS: e.data.tokens_per_s });
        } else if (e.data.phase === 'validation') {
          this.store.training.recordMetric(runId, { phase: 'validation', step: e.data.step, epoch: e.data.epoch, loss: e.data.loss, accuracy: null, tokensPerS: null });
        }
      }
    });
  }

  /** At most one progress message per interval (the latest wins); the final one always goes out. */
  private throttledProgress(): { push: (p: TrainingProgress) => void; flush: (p: TrainingProgress) => void } {
    return latestEvery<TrainingProgress>(this.options.progressIntervalMs ?? 250, (p) => this.options.onProgress?.(p));
  }

}

/**
 * The line of the trainer's stderr that says why it aborted: ggml prints the failed assertion or the unsupported
 * operation (`…/ggml.c:7666: ggml_compute_backward: unsupported ggml op for backward pass: NORM`) before calling
 * abort(), which a signal name hides. The first such line is the cause; later ones are consequences.
 */
export function abortReason(logTail: string): string | undefined {
  const telling = /GGML_ASSERT|GGML_ABORT|unsupported ggml op|unable to assign|not implemented|terminate called|what\(\)/;
  const line = logTail.split('\n').map((l) => l.trim()).find((l) => telling.test(l));
  // Build-machine paths say nothing to a user: keep the source file's name and line.
  return line === undefined ? undefined : `the trainer aborted: ${line.replace(/^\S*\/(ggml[\w.-]*\.c(?:pp)?:\d+:)/, '$1').slice(0, 500)}`;
}
