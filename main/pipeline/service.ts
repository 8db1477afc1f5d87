import type { ComparisonInfo, IlfRunConfig, PipelineInfo } from '../../preload/contract.js';
import { AppError } from '../errors.js';
import type { LlamaRuntime } from '../models/runtime.js';
import type { SandboxPool } from '../sandbox/pool.js';
import type { Store } from '../store/store.js';
import type { TrainingJobs } from '../training/jobs.js';
import { isProcessAlive } from '../process-alive.js';
import { latestEvery } from '../services/throttle.js';
import { createLoop, loopComparisons, parseLoopConfig, runLoop, type LoopProgress } from './loop.js';

/**
 * ILF rounds for the app and server mode: started and resumed in the background (one at a time:
 * sampling and training share one device), cancelled through their signal, reported as progress.
 */
export class PipelineService implements AsyncDisposable {
  private active: { id: number; abort: AbortController; done: Promise<void> } | undefined;

  constructor(private readonly deps: {
    store: Store; runtime: () => LlamaRuntime; pool: () => Promise<SandboxPool>; training: () => TrainingJobs;
    onProgress?: (p: LoopProgress) => void;
  }) {
    deps.store.pipeline.interruptOrphans(isProcessAlive);
  }

  start(modelId: number, config: IlfRunConfig, previousId?: number): PipelineInfo {
    this.refuseWhileBusy();
    return this.launch(createLoop(this.deps.store, modelId, parseLoopConfig(config), previousId));
  }

  resume(id: number): PipelineInfo {
    const p = this.get(id).pipeline;
    if (this.active?.id === id) return p;
    this.refuseWhileBusy();
    if (p.status === 'completed') throw new AppError('BAD_INPUT', `ILF run ${id} has finished`, 'start the next round from it');
    return this.launch(id);
  }

  cancel(id: number): PipelineInfo {
    if (this.active?.id === id) this.active.abort.abort();
    return this.get(id).pipeline;
  }

  /** Resolves when the round is not running here (for tests and shutdown). */
  async settled(id: number): Promise<PipelineInfo> {
    if (this.active?.id === id) await this.active.done;
    return this.get(id).pipeline;
  }

  /** Shutting down: cancels the running round (it stays resumable) and waits until it has stopped. */
  async dispose(): Promise<void> {
    const active = this.active;
    if (!active) return;
    active.abort.abort();
    await active.done;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }

  list(): PipelineInfo[] {
    return this.deps.store.pipeline.list();
  }

  get(id: number): { pipeline: PipelineInfo; comparisons: ComparisonInfo[] } {
    const pipeline = this.deps.store.pipeline.get(id);
    if (!pipeline) throw new AppError('NOT_FOUND', `no ILF run ${id}`);
    return { pipeline, comparisons: loopComparisons(this.deps.store, pipeline, parseLoopConfig(pipeline.config).ks) };
  }

  private refuseWhileBusy(): void {
    if (this.active) throw new AppError('BAD_INPUT', `ILF run ${this.active.id} is running; one round runs at a time`, 'wait for it or cancel it');
  }

  private launch(id: number): PipelineInfo {
    const abort = new AbortController();
    // Testing reports every program: the renderer gets the latest line a few times a second.
    const progress = latestEvery<LoopProgress>(250, (p) => this.deps.onProgress?.(p));
    const done = runLoop({ store: this.deps.store, runtime: this.deps.runtime(), pool: this.deps.pool, training: this.deps.training() }, id, {
      signal: abort.signal, onProgress: progress.push,
    }).then(() => undefined, () => undefined) // the failure is recorded on the round itself
      .finally(() => {
        if (this.active?.id === id) this.active = undefined;
        const p = this.deps.store.pipeline.get(id);
        if (p) progress.flush({ pipelineId: id, step: p.step, text: p.message ?? p.status });
      });
    this.active = { id, abort, done };
    return this.get(id).pipeline;
  }
}
