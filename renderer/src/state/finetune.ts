import { createStore, type StoreApi } from 'zustand/vanilla';
import { TrainingConfig, type ModelInfo, type RequestResult, type TrainingProgress, type TrainingRunInfo, type TrainingSetInfo } from '../../../preload/contract.js';
import { ApiError, type ApiClient } from '../api/client.js';
import { attemptWith, type ScreenError } from './screen-error.js';

type MetricPoint = { phase: 'train' | 'validation'; step: number; loss: number };

/** The Fine-tune screen: what to train on, with which settings, and the run being watched. */
export interface FinetuneState {
  sets: TrainingSetInfo[];
  models: ModelInfo[];
  runs: TrainingRunInfo[];
  setId: number | null;
  modelId: number | null;
  config: Partial<TrainingConfig>;
  run: TrainingRunInfo | null;
  metrics: MetricPoint[];
  /** The latest progress of the watched run (useful and computed tokens/s). */
  progress: TrainingProgress | null;
  /** The chosen set's rows, each with where it came from. */
  rows: RequestResult<'trainingSets.rows'>;
  error: ScreenError | null;
  refresh(): Promise<void>;
  choose(patch: { setId?: number | null; modelId?: number | null }): void;
  setConfig(patch: Partial<TrainingConfig>): void;
  buildSet(name: string): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
  resume(): Promise<void>;
  watch(runId: number): Promise<void>;
  /** Subscribes to training progress; returns the unsubscribe. */
  follow(): () => void;
}

const defaults = TrainingConfig.parse({});
/** Defaults shown in the form: the contract's own, so what you see is what runs. */
export const FORM_DEFAULTS: Pick<TrainingConfig, 'rank' | 'alpha' | 'learningRate' | 'epochs' | 'contextSize' | 'validationFraction'> = {
  rank: defaults.rank, alpha: defaults.alpha, learningRate: defaults.learningRate, epochs: defaults.epochs,
  contextSize: defaults.contextSize, validationFraction: defaults.validationFraction,
};

/** The loss series as polyline points in a width × height box (step on x, loss on y, 0 at the bottom). */
export function chartPoints(metrics: readonly MetricPoint[], phase: MetricPoint['phase'], width: number, height: number, totalSteps: number | null): string {
  const series = metrics.filter((m) => m.phase === phase);
  const all = metrics.map((m) => m.loss);
  if (series.length === 0) return '';
  const maxLoss = Math.max(...all, 1e-9);
  const maxStep = Math.max(totalSteps ?? 0, ...metrics.map((m) => m.step), 1);
  return series.map((m) => `${((m.step / maxStep) * width).toFixed(1)},${(height - (m.loss / maxLoss) * height).toFixed(1)}`).join(' ');
}

export function createFinetuneStore(api: ApiClient): StoreApi<FinetuneState> {
  return createStore<FinetuneState>()((set, get) => {
    const attempt = attemptWith(set);
    return {
      sets: [], models: [], runs: [], setId: null, modelId: null, config: { ...FORM_DEFAULTS }, run: null, metrics: [], progress: null, rows: [], error: null,
      refresh: () => attempt(async () => {
        const [sets, { models }, runs] = await Promise.all([api.call('trainingSets.list'), api.call('models.list'), api.call('training.list')]);
        const trainable = models.filter((m) => m.trainable);
        set({ sets, models: trainable, runs, setId: get().setId ?? sets.find((s) => s.examples > 0 || s.sourcePath)?.id ?? null, modelId: get().modelId ?? trainable[0]?.id ?? null });
        const latest = runs[0];
        if (!get().run && latest) await get().watch(latest.id);
        const setId = get().setId;
        set({ rows: setId === null ? [] : await api.call('trainingSets.rows', { trainingSetId: setId }) });
      }),
      choose(patch) {
        set(patch);
        const setId = patch.setId;
        if (setId !== undefined) {
          void attempt(async () => set({ rows: setId === null ? [] : await api.call('trainingSets.rows', { trainingSetId: setId }) }));
        }
      },
      setConfig(patch) {
        set({ config: { ...get().config, ...patch } });
      },
      buildSet: (name) => attempt(async () => {
        const built = await api.call('trainingSets.build', { name });
        set({ sets: [built, ...get().sets], setId: built.id, rows: await api.call('trainingSets.rows', { trainingSetId: built.id }) });
      }),
      start: () => attempt(async () => {
        const { setId, modelId, config } = get();
        if (setId === null || modelId === null) throw new ApiError({ code: 'BAD_INPUT', message: 'choose a training set and a model first' });
        const run = await api.call('training.start', { modelId, trainingSetId: setId, config });
        set({ run, metrics: [], progress: null });
      }),
      stop: () => attempt(async () => {
        const run = get().run;
        if (run) set({ run: await api.call('training.stop', { runId: run.id }) });
      }),
      resume: () => attempt(async () => {
        const run = get().run;
        if (run) set({ run: await api.call('training.resume', { runId: run.id }) });
      }),
      watch: (runId) => attempt(async () => {
        const { run, metrics } = await api.call('training.get', { runId });
        set({ run, metrics });
      }),
      follow() {
        return api.on('training.progress', (p) => {
          if (get().run?.id === p.runId || get().run === null) {
            set({ progress: p });
            void get().watch(p.runId);
          }
        });
      },
    };
  });
}
