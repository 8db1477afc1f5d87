import { createStore, type StoreApi } from 'zustand/vanilla';
import type { ComparisonInfo, RequestResult, TaskHistory } from '../../../preload/contract.js';
import type { ApiClient } from '../api/client.js';
import { screenError, type ScreenError } from './screen-error.js';

type EvaluationInfo = RequestResult<'evaluations.list'>[number];

/** The Evaluate screen: two evaluations of the same tasks and their paired comparison per k. */
export interface EvaluateState {
  evaluations: EvaluationInfo[];
  before: number | null;
  after: number | null;
  comparisons: ComparisonInfo[];
  error: ScreenError | null;
  /** The task opened from the per-task table. */
  history: TaskHistory | null;
  openTask(taskId: string): Promise<void>;
  refresh(): Promise<void>;
  choose(patch: { before?: number | null; after?: number | null }): Promise<void>;
}

/**
 * The pair to show first: the newest evaluation with an adapter, against the newest one of the same
 * dataset and split without it (base vs base + adapter).
 */
export function defaultPair(evaluations: readonly EvaluationInfo[]): { before: number | null; after: number | null } {
  const after = [...evaluations].reverse().find((e) => e.adapterId !== null);
  const before = after && [...evaluations].reverse().find((e) => e.adapterId === null && e.dataset === after.dataset && e.split === after.split && e.modelId === after.modelId);
  return { before: before?.id ?? null, after: after?.id ?? null };
}

export const ksOf = (evaluations: readonly EvaluationInfo[], ids: readonly (number | null)[]): number[] => {
  const chosen = evaluations.filter((e) => ids.includes(e.id));
  if (chosen.length < 2) return [];
  return Object.keys(chosen[0]?.passAtK ?? {}).map(Number).filter((k) => chosen.every((e) => e.passAtK[String(k)] !== undefined)).sort((a, b) => a - b);
};

export function createEvaluateStore(api: ApiClient): StoreApi<EvaluateState> {
  return createStore<EvaluateState>()((set, get) => {
    const compare = async (): Promise<void> => {
      const { before, after, evaluations } = get();
      if (before === null || after === null) {
        set({ comparisons: [] });
        return;
      }
      try {
        const comparisons = await Promise.all(ksOf(evaluations, [before, after]).map((k) => api.call('evaluations.compare', { before, after, k })));
        set({ comparisons, error: null });
      } catch (e) {
        set({ comparisons: [], error: screenError(e) });
      }
    };
    return {
      evaluations: [], before: null, after: null, comparisons: [], error: null, history: null,
      async openTask(taskId) {
        const dataset = get().evaluations.find((e) => e.id === get().after)?.dataset;
        if (!dataset) return;
        try {
          set({ history: await api.call('tasks.history', { dataset, taskId }) });
        } catch (e) {
          set({ error: screenError(e) });
        }
      },
      async refresh() {
        const evaluations = await api.call('evaluations.list');
        const pair = get().before === null && get().after === null ? defaultPair(evaluations) : { before: get().before, after: get().after };
        set({ evaluations, ...pair });
        await compare();
      },
      async choose(patch) {
        set(patch);
        await compare();
      },
    };
  });
}
