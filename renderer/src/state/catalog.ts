import { createStore, type StoreApi } from 'zustand/vanilla';
import type { DatasetSummary, TaskSummary } from '../../../preload/contract.js';
import type { ApiClient } from '../api/client.js';
import { ApiError } from '../api/client.js';

/** The Tasks screen's slice: a mirror of what main holds, refreshed on demand. */
export interface CatalogState {
  datasets: DatasetSummary[];
  tasks: TaskSummary[];
  total: number;
  filter: { dataset?: string; split?: string; search?: string };
  loading: boolean;
  error: { message: string; hint?: string } | null;
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
        const error = e instanceof ApiError ? { message: e.message, ...(e.hint ? { hint: e.hint } : {}) } : { message: String(e) };
        set({ loading: false, error });
      }
    };
    return {
      datasets: [],
      tasks: [],
      total: 0,
      filter: {},
      loading: false,
      error: null,
      refresh: load,
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
