import { createStore, type StoreApi } from 'zustand/vanilla';
import type { DatasetFormat, DatasetSummary, ImportReport, TaskSummary } from '../../../preload/contract.js';
import type { ApiClient } from '../api/client.js';
import { ApiError } from '../api/client.js';
import { screenError, type ScreenError } from './screen-error.js';

/** The Tasks screen's slice: a mirror of what main holds, refreshed on demand. */
export interface CatalogState {
  datasets: DatasetSummary[];
  tasks: TaskSummary[];
  total: number;
  filter: { dataset?: string; split?: string; search?: string };
  loading: boolean;
  error: ScreenError | null;
  /** The import in flight or just done: lines read so far, then the report or the per-line errors. */
  importing: { linesRead: number; report: ImportReport | null; error: { message: string; hint?: string; details: readonly string[] } | null } | null;
  importFile(file: string, format: DatasetFormat, name?: string): Promise<void>;
  refresh(): Promise<void>;
  setFilter(filter: CatalogState['filter']): Promise<void>;
}

export const PAGE_SIZE = 200;

export function createCatalogStore(api: ApiClient): StoreApi<CatalogState> {
  return createStore<CatalogState>()((set, get) => {
    const load = async (): Promise<void> => {
      set({ loading: true, error: null });
      try {
        const { filter } = get();
        const [datasets, page] = await Promise.all([
          api.call('datasets.list'),
          api.call('tasks.list', { ...filter, offset: 0, limit: PAGE_SIZE }),
        ]);
        set({ datasets, tasks: page.tasks, total: page.total, loading: false });
      } catch (e) {
        set({ loading: false, error: screenError(e) });
      }
    };
    return {
      datasets: [],
      tasks: [],
      total: 0,
      filter: {},
      loading: false,
      error: null,
      importing: null,
      refresh: load,
      async importFile(file, format, name) {
        set({ importing: { linesRead: 0, report: null, error: null } });
        const off = api.on('import.progress', (p) => {
          const current = get().importing;
          if (current && p.file === file) set({ importing: { ...current, linesRead: p.linesRead } });
        });
        try {
          const report = await api.call('datasets.import', { file, format, ...(name ? { name } : {}) });
          set({ importing: { linesRead: report.linesRead, report, error: null } });
          await load();
        } catch (e) {
          const error = { ...screenError(e), details: e instanceof ApiError ? e.details : [] };
          set({ importing: { linesRead: get().importing?.linesRead ?? 0, report: null, error } });
        } finally {
          off();
        }
      },
      async setFilter(filter) {
        set({ filter });
        await load();
      },
    };
  });
}

/** Selectors: derived values the screens read, computed in one place. */
export const selectSplitNames = (s: CatalogState): string[] => {
  const names = new Set<string>();
  for (const d of s.datasets) {
    if (s.filter.dataset === undefined || d.name === s.filter.dataset) Object.keys(d.splits).forEach((n) => names.add(n));
  }
  return [...names];
};
export const selectTotalTasks = (s: CatalogState): number => s.datasets.reduce((n, d) => n + d.taskCount, 0);
export const selectIsEmpty = (s: CatalogState): boolean => !s.loading && s.error === null && s.datasets.length === 0;
