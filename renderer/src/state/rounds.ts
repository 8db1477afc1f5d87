import { createStore, type StoreApi } from 'zustand/vanilla';
import { IlfRunConfig, type DatasetSummary, type ModelInfo, type PipelineInfo } from '../../../preload/contract.js';
import { ApiError, type ApiClient } from '../api/client.js';
import { attemptWith, type ScreenError } from './screen-error.js';

/** The Sample screen: start an ILF round (sampling first), follow it, cancel or resume it. */
export interface RoundsState {
  models: ModelInfo[];
  datasets: DatasetSummary[];
  rounds: PipelineInfo[];
  modelId: number | null;
  config: IlfRunConfig;
  /** The latest progress line per round. */
  progress: Record<number, { step: string; text: string }>;
  error: ScreenError | null;
  refresh(): Promise<void>;
  setModel(id: number | null): void;
  setConfig(patch: Partial<IlfRunConfig>): void;
  start(): Promise<void>;
  cancel(id: number): Promise<void>;
  resume(id: number): Promise<void>;
  follow(): () => void;
}

/** The paper's settings where it has them (30 samples at T = 0.8, MBPP train for failures, test held out). */
export const paperDefaults = (dataset: string): IlfRunConfig => ({ ...IlfRunConfig.parse({ dataset: 'any' }), dataset });

export function createRoundsStore(api: ApiClient): StoreApi<RoundsState> {
  return createStore<RoundsState>()((set, get) => {
    const attempt = attemptWith(set);
    const reload = async (): Promise<void> => set({ rounds: [...(await api.call('pipeline.list'))].reverse() });
    return {
      models: [], datasets: [], rounds: [], modelId: null, config: paperDefaults(''), progress: {}, error: null,
      refresh: () => attempt(async () => {
        const [{ models }, datasets] = await Promise.all([api.call('models.list'), api.call('datasets.list')]);
        const dataset = get().config.dataset || datasets[0]?.name || '';
        set({ models, datasets, modelId: get().modelId ?? models[0]?.id ?? null, config: { ...get().config, dataset } });
        await reload();
      }),
      setModel(id) {
        set({ modelId: id });
      },
      setConfig(patch) {
        set({ config: { ...get().config, ...patch } });
      },
      start: () => attempt(async () => {
        const { modelId, config } = get();
        if (modelId === null) throw new ApiError({ code: 'BAD_INPUT', message: 'add a model first (Setup)' });
        await api.call('pipeline.start', { modelId, config });
        await reload();
      }),
      cancel: (id) => attempt(async () => {
        await api.call('pipeline.cancel', { pipelineId: id });
        await reload();
      }),
      resume: (id) => attempt(async () => {
        await api.call('pipeline.resume', { pipelineId: id });
        await reload();
      }),
      follow() {
        return api.on('pipeline.progress', (p) => {
          set({ progress: { ...get().progress, [p.pipelineId]: { step: p.step, text: p.text } } });
          void reload();
        });
      },
    };
  });
}
