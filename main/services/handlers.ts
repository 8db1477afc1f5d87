import type { Handlers, Emit } from './dispatch.js';
import { AppError } from '../errors.js';
import { importTasks } from '../datasets/import.js';
import type { Store } from '../store/store.js';
import type { ModelInfo } from '../../preload/contract.js';
import { detectHardware } from '../models/hardware.js';
import { isTrainable } from '../models/quantization.js';
import { RECOMMENDED_MODELS } from '../models/recommended.js';
import { addLocalModel } from '../models/registry.js';
import type { LlamaRuntime } from '../models/runtime.js';
import type { ModelRow } from '../store/models.js';
import { TrainingJobs } from '../training/jobs.js';

export interface ServiceContext {
  store: Store;
  dataDir: string;
  version: string;
  emit: Emit;
  /** The llama.cpp runtime, started on first use (hardware detection, model checks). */
  runtime: () => LlamaRuntime;
}

const modelInfo = (m: ModelRow): ModelInfo => ({ ...m, trainable: isTrainable(m.quantization) });

/** The app's services, one per request of the contract; the same for Electron, server mode and tests. */
export function createHandlers(ctx: ServiceContext): Handlers {
  const { store } = ctx;
  // One job runner per service layer (one per app, server or CLI): one training run at a time.
  let jobs: TrainingJobs | undefined;
  const training = (): TrainingJobs =>
    (jobs ??= new TrainingJobs({
      store, dataDir: ctx.dataDir, runtime: ctx.runtime, onProgress: (p) => ctx.emit('training.progress', p),
      // Training takes the memory (VRAM or RAM) the loaded inference models hold: free them first.
      releaseInference: () => ctx.runtime().dispose(),
    }));
  return {
    'app.info': () => ({
      version: ctx.version,
      dataDir: ctx.dataDir,
      databaseFile: store.file,
      schemaVersion: store.schemaVersion,
    }),
    'datasets.list': () => store.catalog.listDatasets(),
    'datasets.import': (p) =>
      importTasks(store, p.file, {
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
      const { model, created } = await addLocalModel(store, ctx.runtime(), p.file, p.name ? { name: p.name } : {});
      return { model: modelInfo(model), created };
    },
    'models.recommended': () => [...RECOMMENDED_MODELS],
    'hardware.detect': () => detectHardware(ctx.runtime()),
    'failures.list': (p) => store.runs.failures(p),
    'tasks.get': (p) => {
      const task = store.catalog.getTask(p.dataset, p.taskId);
      if (!task) throw new AppError('NOT_FOUND', `no task ${p.taskId} in dataset "${p.dataset}"`, 'list the tasks with `ilf tasks`');
      return task;
    },
    'training.start': (p) => training().start(p),
    'training.stop': (p) => training().stop(p.runId),
    'training.resume': (p) => training().resume(p.runId),
    'training.list': () => training().list(),
    'training.get': (p) => ({ run: training().get(p.runId), metrics: store.training.metrics(p.runId) }),
  };
}
