import { randomUUID } from 'node:crypto';
import os from 'node:os';
import { z } from 'zod';
import { ExecutionResult } from '../../preload/contract.js';
import { AppError } from '../errors.js';
import { runnerSource } from './runner-source.js';
import {
  DEFAULT_LIMITS,
  type ExecutionRequest,
  type RunOptions,
  type SandboxBackend,
  type SandboxLimits,
  type WorkerHandle,
} from './types.js';

/** Extra time the host waits past a job's own timeout before declaring the worker hung. */
const WATCHDOG_GRACE_MS = 5000;
const READY_TIMEOUT_MS = 20_000;

const RunnerReply = ExecutionResult.omit({ backend: true }).extend({ id: z.number().int() });
const Ready = z.object({ ready: z.literal(true), python: z.string() });

export function sandboxError(backend: string, message: string, tests = 0): ExecutionResult {
  return {
    status: 'sandbox_error', errorKind: 'sandbox_error',
    testResults: Array.from({ length: tests }, (_, index) => ({ index, outcome: 'not_run' as const })),
    exceptionMessage: message, stdout: '', stderr: '', outputTruncated: false, durationMs: 0, backend,
  };
}

/** The honest program that tells a broken sandbox from a program that breaks it. */
const CANARY: ExecutionRequest = { program: 'def canary(x):\n    return x + 1\n', tests: ['assert canary(1) == 2'] };

function abortError(): Error {
  return new DOMException('cancelled', 'AbortError');
}

interface Pending {
  id: number;
  tests: number;
  resolve: (r: ExecutionResult) => void;
}

/** One runner process: one job at a time, with a watchdog. Dead after its process ends. */
class Worker {
  private pending: Pending | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private nextId = 1;
  dead = false;
  /** Jobs it has run: a worker with none is as fresh as a new one. */
  runs = 0;
  readonly ready: Promise<void>;

  constructor(private readonly handle: WorkerHandle, private readonly backend: string) {
    let onReady: () => void = () => undefined;
    let onFail: (e: Error) => void = () => undefined;
    this.ready = new Promise<void>((resolve, reject) => {
      onReady = resolve;
      onFail = reject;
    });
    const timer = setTimeout(() => onFail(new Error(`the sandbox did not start within ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS);
    void (async () => {
      let isReady = false;
      try {
        for await (const line of handle.lines) {
          if (!isReady) {
            const ready = Ready.safeParse(safeJson(line));
            if (!ready.success) throw new Error(`the sandbox said something unexpected: ${line.slice(0, 200)}`);
            isReady = true;
            clearTimeout(timer);
            onReady();
            continue;
          }
          this.settle(line);
        }
        throw new Error('the sandbox process ended');
      } catch (e) {
        clearTimeout(timer);
        this.dead = true;
        const why = `${(e as Error).message}${handle.diagnostics() ? `: ${handle.diagnostics()}` : ''}`;
        if (!isReady) onFail(new Error(why));
        this.finish(sandboxError(backend, why, this.pending?.tests ?? 0));
      }
    })();
  }

  private settle(line: string): void {
    const parsed = RunnerReply.safeParse(safeJson(line));
    if (!this.pending) return;
    if (!parsed.success || parsed.data.id !== this.pending.id) {
      this.finish(sandboxError(this.backend, `the sandbox answered out of protocol: ${line.slice(0, 200)}`, this.pending.tests));
      return;
    }
    const { id: _ignored, ...result } = parsed.data;
    this.finish({ ...result, backend: this.backend });
  }

  private finish(result: ExecutionResult): void {
    clearTimeout(this.watchdog);
    const pending = this.pending;
    this.pending = undefined;
    pending?.resolve(result);
  }

  run(request: ExecutionRequest, limits: SandboxLimits, signal: AbortSignal | undefined): Promise<ExecutionResult> {
    if (this.dead) return Promise.resolve(sandboxError(this.backend, 'the sandbox worker is gone', request.tests.length));
    this.runs += 1;
    return new Promise<ExecutionResult>((resolve) => {
      const id = this.nextId++;
      const onAbort = (): void => this.handle.send('{"cancel": true}');
      signal?.addEventListener('abort', onAbort, { once: true });
      this.pending = {
        id,
        tests: request.tests.length,
        resolve: (r) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(r);
        },
      };
      this.watchdog = setTimeout(() => {
        this.dead = true;
        this.finish(sandboxError(this.backend, `the sandbox stopped answering (no result ${WATCHDOG_GRACE_MS} ms after the ${limits.timeoutMs} ms timeout)`, request.tests.length));
        void this.handle.kill();
      }, limits.timeoutMs + WATCHDOG_GRACE_MS);
      this.handle.send(JSON.stringify({
        id, program: request.program, tests: request.tests, setup: request.setupCode ?? '',
        limits: { ...limits, processes: this.handle.processBase === null ? null : limits.processes + this.handle.processBase },
      }));
    });
  }

  kill(): Promise<void> {
    this.dead = true;
    return this.handle.kill();
  }
}

function safeJson(line: string): unknown {
  try {
    return JSON.parse(line);
  } catch {
    return undefined;
  }
}

export interface PoolOptions {
  /** Workers; default: what the backend suggests (a Docker daemon's CPUs), else defaultPoolSize(). */
  size?: number;
  limits?: Partial<SandboxLimits>;
}

/**
 * One worker per core. Twice the cores was tried to fill the gaps while a worker waits on its own
 * hand-offs: on a quiet 2-core machine it was no faster (974 MBPP gold: 37/s with 4 workers, 39/s with
 * 2, same run), and it halves a CPU-bound program's share of a core against its wall-clock timeout.
 */
export function defaultPoolSize(cores = os.availableParallelism()): number {
  return Math.max(1, cores);
}

/**
 * Warm sandbox workers fed one program at a time each: results come back as they finish, a hung
 * program holds only its own worker (until its timeout), a dead worker is replaced, and nothing
 * runs outside the sandbox.
 */
export class SandboxPool implements AsyncDisposable {
  private readonly workers: (Worker | undefined)[];
  private readonly idle: number[] = [];
  private readonly queue: { request: ExecutionRequest; signal: AbortSignal | undefined; resolve: (r: ExecutionResult) => void; reject: (e: Error) => void }[] = [];
  private disposed = false;
  readonly limits: SandboxLimits;
  /** On every worker's command line: `ilf-sandbox-<id>-<worker>`. */
  readonly tag = `ilf-sandbox-${randomUUID().slice(0, 8)}`;

  private constructor(readonly backend: SandboxBackend, readonly size: number, limits: SandboxLimits) {
    this.workers = Array.from({ length: size }, () => undefined);
    this.limits = limits;
  }

  static async create(backend: SandboxBackend, options: PoolOptions = {}): Promise<SandboxPool> {
    const size = Math.max(1, options.size ?? backend.suggestedWorkers ?? defaultPoolSize());
    const pool = new SandboxPool(backend, size, { ...DEFAULT_LIMITS, ...options.limits });
    try {
      await Promise.all(pool.workers.map((_, i) => pool.spawn(i)));
    } catch (e) {
      await pool.dispose();
      throw new AppError('SANDBOX_UNAVAILABLE', `the ${backend.name} sandbox could not start: ${(e as Error).message}`,
        backend.name === 'docker' ? 'check that dockerd is running and the sandbox image exists (see README, "Sandboxes")'
          : 'check that bubblewrap is installed and user namespaces are allowed (see README, "Sandboxes")');
    }
    pool.idle.push(...pool.workers.map((_, i) => i));
    return pool;
  }

  private async spawn(index: number): Promise<Worker> {
    const handle = await this.backend.startWorker(index, runnerSource(), this.limits, `${this.tag}-${index}`);
    const worker = new Worker(handle, this.backend.name);
    this.workers[index] = worker;
    try {
      await worker.ready;
    } catch (e) {
      await worker.kill();
      throw e;
    }
    return worker;
  }

  /** Runs one program against its tests. Resolves with a sandbox_error result (never rejects) when the infrastructure fails. */
  run(request: ExecutionRequest, options: RunOptions = {}): Promise<ExecutionResult> {
    if (this.disposed) return Promise.reject(new Error('the sandbox pool was disposed'));
    if (options.signal?.aborted) return Promise.reject(abortError());
    return new Promise((resolve, reject) => {
      this.queue.push({ request, signal: options.signal, resolve, reject });
      this.pump();
    });
  }

  /** Runs many programs; yields each result as soon as it is ready, with its index in `requests`. */
  async *runMany(requests: readonly ExecutionRequest[], options: RunOptions = {}): AsyncGenerator<{ index: number; result: ExecutionResult }> {
    const ready: { index: number; result: ExecutionResult }[] = [];
    let wake: (() => void) | undefined;
    let failure: Error | undefined;
    requests.forEach((request, index) => {
      this.run(request, options).then(
        (result) => ready.push({ index, result }),
        (e: unknown) => { failure ??= e as Error; },
      ).finally(() => wake?.());
    });
    for (let delivered = 0; delivered < requests.length;) {
      if (failure) throw failure;
      const next = ready.shift();
      if (next) {
        delivered += 1;
        yield next;
        continue;
      }
      await new Promise<void>((resolve) => { wake = resolve; });
    }
  }

  private pump(): void {
    while (this.idle.length > 0 && this.queue.length > 0) {
      const job = this.queue.shift();
      const index = this.idle.shift();
      if (!job || index === undefined) return;
      if (job.signal?.aborted) {
        job.reject(abortError());
        this.idle.unshift(index);
        continue;
      }
      void this.execute(index, job);
    }
  }

  /** One attempt on worker `index`; a dead worker is restarted first, and again after. */
  private async attempt(index: number, request: ExecutionRequest, signal: AbortSignal | undefined): Promise<ExecutionResult> {
    const limits = { ...this.limits, ...request.limits };
    try {
      let worker = this.workers[index];
      if (!worker || worker.dead) worker = await this.spawn(index);
      const result = await worker.run(request, limits, signal);
      if (worker.dead && !this.disposed) await this.spawn(index).catch(() => undefined);
      return result;
    } catch (e) {
      return sandboxError(this.backend.name, `the sandbox worker could not be restarted: ${(e as Error).message}`, request.tests.length);
    }
  }

  /** Replaces worker `index` with a fresh one, whatever state the last program left it in. */
  private async fresh(index: number): Promise<void> {
    const worker = this.workers[index];
    if (!worker || worker.runs === 0) return; // restarted after the failure already: untouched since
    await worker.kill();
    this.workers[index] = undefined;
  }

  /**
   * A sandbox error is retried once on a fresh worker. If the program makes it fail again, a
   * canary (a trivial honest program) runs on another fresh worker: if the canary passes, the
   * sandbox works and the program broke it on purpose or not — a `broke_sandbox` failure, a
   * verdict; if the canary fails too, the infrastructure is at fault and it stays a sandbox_error.
   * Either way one sample costs at most three attempts: nothing waits on it forever.
   */
  private async judge(index: number, job: (typeof this.queue)[number]): Promise<ExecutionResult> {
    const first = await this.attempt(index, job.request, job.signal);
    if (first.status !== 'sandbox_error' || job.signal?.aborted || this.disposed) return first;
    await this.fresh(index);
    const second = await this.attempt(index, job.request, job.signal);
    if (second.status !== 'sandbox_error' || job.signal?.aborted || this.disposed) return second;
    await this.fresh(index);
    const canary = await this.attempt(index, CANARY, undefined);
    if (canary.status !== 'passed') return second;
    return {
      ...second,
      status: 'failed',
      errorKind: 'broke_sandbox',
      exceptionMessage: `the program made the sandbox fail twice, on fresh workers (${first.exceptionMessage ?? 'no message'}; then ` +
        `${second.exceptionMessage ?? 'no message'}), while a canary program passed right after: judged as the program's failure`,
    };
  }

  private async execute(index: number, job: (typeof this.queue)[number]): Promise<void> {
    const result = await this.judge(index, job);
    if (job.signal?.aborted && result.status === 'sandbox_error') job.reject(abortError());
    else job.resolve(result);
    if (!this.disposed) {
      this.idle.push(index);
      this.pump();
    }
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    for (const job of this.queue.splice(0)) job.reject(new Error('the sandbox pool was disposed'));
    await Promise.all(this.workers.filter((w) => w !== undefined).map((w) => w.kill()));
    await this.backend.dispose();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }
}
