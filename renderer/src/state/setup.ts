import { createStore, type StoreApi } from 'zustand/vanilla';
import type { EventPayload, HardwareReport, ModelInfo, RequestInput, RequestResult } from '../../../preload/contract.js';
import type { ApiClient } from '../api/client.js';
import { attemptWith, type ScreenError } from './screen-error.js';

type Download = EventPayload<'download.progress'>;

/** The Setup screen: what the machine runs on, the models, and downloads in flight. */
export interface SetupState {
  hardware: HardwareReport | null;
  models: ModelInfo[];
  recommended: RequestResult<'models.recommended'>;
  downloads: Record<number, Download>;
  error: ScreenError | null;
  refresh(): Promise<void>;
  detectHardware(): Promise<void>;
  addFile(file: string): Promise<void>;
  addEndpoint(input: RequestInput<'models.addEndpoint'>): Promise<void>;
  download(ref: string): Promise<void>;
  cancel(downloadId: number): Promise<void>;
  follow(): () => void;
}

/** How far a download is, for its bar: 0–1, or null when the size is unknown. */
export const downloadFraction = (d: Pick<Download, 'bytes' | 'totalBytes' | 'state'>): number | null =>
  d.state === 'done' ? 1 : d.totalBytes ? Math.min(1, d.bytes / d.totalBytes) : null;

export function createSetupStore(api: ApiClient): StoreApi<SetupState> {
  return createStore<SetupState>()((set, get) => {
    const attempt = attemptWith(set);
    const reloadModels = async (): Promise<void> => set({ models: (await api.call('models.list')).models });
    return {
      hardware: null, models: [], recommended: [], downloads: {}, error: null,
      refresh: () => attempt(async () => {
        const [recommended] = await Promise.all([api.call('models.recommended'), reloadModels()]);
        set({ recommended });
      }),
      detectHardware: () => attempt(async () => set({ hardware: await api.call('hardware.detect') })),
      addFile: (file) => attempt(async () => {
        await api.call('models.add', { file });
        await reloadModels();
      }),
      addEndpoint: (input) => attempt(async () => {
        await api.call('models.addEndpoint', input);
        await reloadModels();
      }),
      download: (ref) => attempt(async () => {
        const { downloadId } = await api.call('models.download', { ref });
        set({ downloads: { ...get().downloads, [downloadId]: { downloadId, ref, state: 'downloading', bytes: 0, totalBytes: null, bytesPerSecond: 0, etaSeconds: null, modelId: null, error: null } } });
      }),
      cancel: (downloadId) => attempt(async () => {
        await api.call('models.downloadCancel', { downloadId });
      }),
      follow() {
        return api.on('download.progress', (d) => {
          set({ downloads: { ...get().downloads, [d.downloadId]: d } });
          if (d.state === 'done') void reloadModels();
        });
      },
    };
  });
}
