import type { Handlers, Emit } from './dispatch.js';
import { AppError } from '../errors.js';
import { importTasks } from '../datasets/import.js';
import type { Store } from '../store/store.js';
import type { ModelInfo } from '../../preload/contract.js';
import { detectHardware } from '../models/hardware.js';
import { describeSupport, supportOfModel } from '../models/support.js';
import { RECOMMENDED_MODELS } from '../models/recommended.js';
import { addLocalModel } from '../models/registry.js';
import { DownloadJobs } from '../models/download-jobs.js';
import type { LlamaRuntime } from '../models/runtime.js';
import type { ModelRow } from '../store/models.js';
import { addEndpoint } from '../inference/endpoint.js';
import { TrainingJobs } from '../training/jobs.js';
import { trainingCompute } from '../training/compute.js';
import { buildTrainingSet, exportTrainingSet, trainingRows } from '../training/dataset.js';
import { exportEvaluation, exportFeedback, exportSamples } from '../pipeline/exports.js';
import fs from 'node:fs';
import path from 'node:path';
import { compareEvaluations } from '../evaluation/evaluate.js';
import { addHumanFeedback, feedbackVersion, updateHumanFeedback } from '../pipeline/feedback-step.js';
import { listRefinements, reviewRefinement } from '../pipeline/review.js';
import { PipelineService } from '../pipeline/service.js';
import { SandboxPool } from '../sandbox/pool.js';
import { openBackend } from '../sandbox/select.js';

export interface ServiceContext {
  store: Store;
  dataDir: string;
  version: string;
  emit: Emit;
  /** The llama.cpp runtime, started on first use (hardware detection, model checks). */
  runtime: () => LlamaRuntime;
  /** The sandbox pool; by default the best backend of the machine, opened on first use. */
  sandbox?: () => Promise<SandboxPool>;
  /**
   * When set (server mode shared beyond loopback), files named by a client must lie inside this
   * folder: annotators on the network cannot make the server read arbitrary files.
   */
  fileRoot?: string;
}

const modelInfo = (m: ModelRow): ModelInfo => {
  // An endpoint is sampled remotely; its training goes through the GGUF it serves (--serves), if any.
  if (m.kind === 'endpoint') return { ...m, trainable: false, support: 'sample, chat, refine, evaluate on the server; train: the GGUF it serves' };
  const support = supportOfModel(m);
  return { ...m, trainable: support.train.trainable, support: describeSupport(support) };
};

/**
 * The handlers and what they started: disposing stops a running round, stops training (with a
 * checkpoint), cancels downloads and closes the sandbox pool this layer opened. The store and the
 * runtime belong to whoever made the context: close them after this.
 */
export type ServiceHandlers = Handlers & AsyncDisposable;

/** The app's services, one per request of the contract; the same for Electron, server mode and tests. */
export function createHandlers(ctx: ServiceContext): ServiceHandlers {
  const { store } = ctx;
  let disposed = false;
  // Requests that arrive while shutting down must not start what was just stopped.
  const open = (): void => {
    if (disposed) throw new AppError('UNAVAILABLE', 'ILF Studio is shutting down', 'start it again');
  };
  const clientFile = (file: string): string => {
    const absolute = path.resolve(ctx.fileRoot ?? '.', file);
    if (ctx.fileRoot !== undefined && !absolute.startsWith(path.resolve(ctx.fileRoot) + path.sep)) {
      throw new AppError('BAD_INPUT', `${file} is outside the data folder, which is all a shared server reads`, `put the file in ${ctx.fileRoot} and give its name`);
    }
    return absolute;
  };
  // One job runner per service layer (one per app, server or CLI): one training run at a time.
  let jobs: TrainingJobs | undefined;
  const training = (): TrainingJobs => {
    open();
    return (jobs ??= new TrainingJobs({
      store, dataDir: ctx.dataDir, runtime: ctx.runtime, onProgress: (p) => ctx.emit('training.progress', p),
      // Training takes the memory (VRAM or RAM) the loaded inference models hold: free them first.
      releaseInference: () => ctx.runtime().dispose(),
    }));
  };
  let pool: Promise<SandboxPool> | undefined;
  const ownPool = (): Promise<SandboxPool> => {
    if (disposed) return Promise.reject(new AppError('UNAVAILABLE', 'ILF Studio is shutting down', 'start it again'));
    return (pool ??= openBackend('auto').then((b) => SandboxPool.create(b)).catch((e: unknown) => {
      pool = undefined;
      throw e;
    }));
  };
  const sandbox = ctx.sandbox ?? ownPool;
  let downloadJobs: DownloadJobs | undefined;
  const downloadIds = new Set<number>();
  const downloads = (): DownloadJobs => {
    open();
    return (downloadJobs ??= new DownloadJobs({ store, runtime: ctx.runtime, dataDir: ctx.dataDir, onProgress: (p) => ctx.emit('download.progress', p) }));
  };
  let loops: PipelineService | undefined;
  const pipeline = (): PipelineService => {
    open();
    return (loops ??= new PipelineService({ store, runtime: ctx.runtime, pool: sandbox, training, onProgress: (p) => ctx.emit('pipeline.progress', p) }));
  };
  const dispose = async (): Promise<void> => {
    if (disposed) return;
    disposed = true;
    // A round first: cancelling it also stops the training it runs. Then training started directly, then downloads.
    await loops?.dispose();
    await jobs?.dispose();
    for (const id of downloadIds) downloadJobs?.cancel(id);
    const opened = await pool?.catch(() => undefined);
    pool = undefined;
    await opened?.dispose();
  };
  return {
    [Symbol.asyncDispose]: dispose,
    'app.info': () => ({
      version: ctx.version,
      dataDir: ctx.dataDir,
      databaseFile: store.file,
      schemaVersion: store.schemaVersion,
    }),
    'datasets.list': () => store.catalog.listDatasets(),
    'datasets.import': (p) =>
      importTasks(store, clientFile(p.file), {
        format: p.format,
        name: p.name,
        defaultSplit: p.defaultSplit,
        onProgress: (progress) => ctx.emit('import.progress', { file: p.file, ...progress }),
      }),
    'tasks.list': (p) => store.catalog.listTasks(p),
    'models.list': () => ({
      models: store.models.list().map(modelInfo),
      adapters: store.models.adapters().map(({ baseModelSha256: _sha, trainingRunId: _run, ...a }) => a),
    }),
    'models.add': async (p) => {
      const file = clientFile(p.file); // checked before anything starts
      const { model, created } = await addLocalModel(store, ctx.runtime(), file, p.name ? { name: p.name } : {});
      return { model: modelInfo(model), created };
    },
    'models.addEndpoint': async (p) => {
      // A shared server (ilf serve --root) reaches no address an annotator names: only the app's own user adds endpoints.
      if (ctx.fileRoot !== undefined) throw new AppError('BAD_INPUT', 'endpoints are added on the machine that runs the app', 'run `ilf models add-endpoint` there');
      const { model, created } = await addEndpoint(store, p.url, {
        servedModel: p.servedModel, apiKeyEnv: p.apiKeyEnv, maxConcurrency: p.maxConcurrency, nPerRequest: p.nPerRequest, servesModelId: p.servesModelId, name: p.name,
      });
      return { model: modelInfo(model), created };
    },
    'models.recommended': () => [...RECOMMENDED_MODELS],
    'models.download': (p) => {
      // A shared server fetches only from the model hub, never a URL an annotator points at the LAN.
      if (ctx.fileRoot !== undefined && !p.ref.startsWith('hf:')) {
        throw new AppError('BAD_INPUT', 'a server shared on the network downloads only hf:OWNER/REPO/FILE.gguf references', 'give an hf: reference, or download on the server itself');
      }
      const downloadId = downloads().start(p.ref, p.sha256);
      downloadIds.add(downloadId);
      return { downloadId };
    },
    'models.downloadCancel': (p) => ({ cancelled: downloads().cancel(p.downloadId) }),
    'hardware.detect': async () => {
      // Sampling's backend from node-llama-cpp; training's from the trainer itself (its fork has other backends).
      const inference = await detectHardware(ctx.runtime());
      const training = await trainingCompute(inference.backend);
      return { ...inference, training: training.compute, warnings: [...inference.warnings, ...training.warnings] };
    },
    'failures.list': (p) => store.runs.failures(p),
    'failures.get': (p) => {
      const detail = store.runs.failureDetail(p.sampleId);
      if (!detail) throw new AppError('NOT_FOUND', `no tested sample ${p.sampleId}`, 'open one from the failures inbox');
      return detail;
    },
    'tasks.history': (p) => {
      const history = store.catalog.taskHistory(p.dataset, p.taskId);
      if (!history) throw new AppError('NOT_FOUND', `no task ${p.taskId} in dataset "${p.dataset}"`, 'list the tasks with `ilf tasks`');
      return history;
    },
    'tasks.get': (p) => {
      const task = store.catalog.getTask(p.dataset, p.taskId);
      if (!task) throw new AppError('NOT_FOUND', `no task ${p.taskId} in dataset "${p.dataset}"`, 'list the tasks with `ilf tasks`');
      return task;
    },
    'training.start': (p) => training().start(p),
    'training.stop': (p) => training().stop(p.runId),
    'training.resume': (p) => training().resume(p.runId),
    'training.list': () => training().list(),
    'trainingSets.list': () => store.training.trainingSets().map(({ sourceSha256: _sha, ...t }) => t),
    'trainingSets.build': (p) => {
      const { trainingSetId } = buildTrainingSet(store, p.name, p.samplingRunId !== undefined ? { samplingRunId: p.samplingRunId } : {});
      const set = store.training.trainingSets().find((t) => t.id === trainingSetId);
      if (!set) throw new Error(`training set ${trainingSetId} vanished`);
      const { sourceSha256: _sha, ...info } = set;
      return info;
    },
    'trainingSets.rows': (p) => trainingRows(store, p.trainingSetId).map(({ promptFormat: _f, ...r }) => r),
    'training.get': (p) => ({ run: training().get(p.runId), metrics: store.training.metrics(p.runId) }),
    'pipeline.start': (p) => pipeline().start(p.modelId, p.config, p.previousId),
    'pipeline.resume': (p) => pipeline().resume(p.pipelineId),
    'pipeline.cancel': (p) => pipeline().cancel(p.pipelineId),
    'pipeline.list': () => pipeline().list(),
    'pipeline.get': (p) => pipeline().get(p.pipelineId),
    'feedback.add': (p) => {
      const feedbackId = addHumanFeedback(store, p);
      return { feedbackId, version: feedbackVersion(store, feedbackId)?.version ?? '' };
    },
    'feedback.update': (p) => updateHumanFeedback(store, p),
    'refinements.list': (p) => listRefinements(store, p),
    'refinements.review': async (p) => reviewRefinement(store, await sandbox(), p),
    'evaluations.list': () => store.evaluations.list(),
    'exports.write': async (p) => {
      const folder = path.join(ctx.dataDir, 'exports');
      fs.mkdirSync(folder, { recursive: true });
      const file = path.join(folder, path.basename(p.file));
      const rows = p.kind === 'training-set' ? await exportTrainingSet(store, p.id, file, p.format)
        : p.kind === 'samples' ? await exportSamples(store, p.runId, file)
          : p.kind === 'feedback' ? await exportFeedback(store, file, p.runId !== undefined ? { runId: p.runId } : {})
            : await exportEvaluation(store, p.id, file, p.format);
      return { file, rows };
    },
    'evaluations.compare': (p) => compareEvaluations(store, p.before, p.after, p.k),
  };
}
