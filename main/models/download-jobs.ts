import type { EventPayload } from '../../preload/contract.js';
import { describeError } from '../errors.js';
import { latestEvery } from '../services/throttle.js';
import type { Store } from '../store/store.js';
import { downloadModel } from './registry.js';
import type { LlamaRuntime } from './runtime.js';

export type DownloadProgressEvent = EventPayload<'download.progress'>;

/**
 * Model downloads for the app: each runs in the background under an id it can be cancelled by,
 * and reports throttled progress, then its end (done with the registered model, failed, cancelled).
 */
export class DownloadJobs {
  private readonly running = new Map<number, AbortController>();
  private nextId = 1;

  constructor(private readonly deps: { store: Store; runtime: () => LlamaRuntime; dataDir: string; onProgress: (p: DownloadProgressEvent) => void }) {}

  start(ref: string, sha256?: string): number {
    const downloadId = this.nextId++;
    const abort = new AbortController();
    this.running.set(downloadId, abort);
    const progress = latestEvery<DownloadProgressEvent>(250, this.deps.onProgress);
    let last: DownloadProgressEvent = {
      downloadId, ref, state: 'downloading', bytes: 0, totalBytes: null, bytesPerSecond: 0, etaSeconds: null, modelId: null, error: null,
    };
    void downloadModel(this.deps.store, this.deps.runtime(), ref, this.deps.dataDir, {
      signal: abort.signal, ...(sha256 ? { expectedSha256: sha256 } : {}),
      onProgress: (p) => {
        last = { ...last, bytes: p.bytes, totalBytes: p.totalBytes, bytesPerSecond: p.bytesPerSecond, etaSeconds: p.etaSeconds };
        progress.push(last);
      },
    }).then(
      ({ model }) => progress.flush({ ...last, state: 'done', modelId: model.id }),
      (e: unknown) => progress.flush({ ...last, state: abort.signal.aborted ? 'cancelled' : 'failed', error: abort.signal.aborted ? null : describeError(e) }),
    ).finally(() => this.running.delete(downloadId));
    return downloadId;
  }

  /** True when the download was still running (it ends as cancelled). */
  cancel(downloadId: number): boolean {
    const abort = this.running.get(downloadId);
    abort?.abort();
    return abort !== undefined;
  }
}
