import type { Handlers, Emit } from './dispatch.js';
import { AppError } from '../errors.js';
import { importTasks } from '../datasets/import.js';
import type { Store } from '../store/store.js';

export interface ServiceContext {
  store: Store;
  dataDir: string;
  version: string;
  emit: Emit;
}

/** The app's services, one per request of the contract; the same for Electron, server mode and tests. */
export function createHandlers(ctx: ServiceContext): Handlers {
  const { store } = ctx;
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
    'tasks.get': (p) => {
      const task = store.catalog.getTask(p.dataset, p.taskId);
      if (!task) throw new AppError('NOT_FOUND', `no task ${p.taskId} in dataset "${p.dataset}"`, 'list the tasks with `ilf tasks`');
      return task;
    },
  };
}
