import fs from 'node:fs';
import os from 'node:os';
import { getLlama, LlamaLogLevel, type Llama, type LlamaGpuType } from 'node-llama-cpp';
import { AppError } from '../errors.js';

export type ComputeBackend = 'auto' | 'cuda' | 'vulkan' | 'metal' | 'cpu';

export interface RuntimeOptions {
  backend?: ComputeBackend;
  /** Threads for CPU math; default: the machine's physical cores (see physicalCores). */
  threads?: number;
}

/**
 * Physical cores, not logical ones: llama.cpp's CPU math gains nothing from SMT siblings, and
 * node-llama-cpp's own default of 4 threads on a 2-core machine made generation 10–100× slower.
 * Linux tells physical cores apart in /proc/cpuinfo; elsewhere the logical count is the best we have.
 */
export function physicalCores(): number {
  const logical = os.availableParallelism(); // honours affinity and cgroup limits
  if (process.platform === 'linux') {
    try {
      const cores = new Set<string>();
      let physical = '0';
      for (const line of fs.readFileSync('/proc/cpuinfo', 'utf8').split('\n')) {
        const [key, value] = line.split(':').map((s) => s.trim());
        if (key === 'physical id' && value !== undefined) physical = value;
        if (key === 'core id' && value !== undefined) cores.add(`${physical}:${value}`);
      }
      if (cores.size > 0) return Math.max(1, Math.min(cores.size, logical));
    } catch {
      // fall through to the logical count
    }
  }
  return Math.max(1, logical);
}

/**
 * node-llama-cpp samples the next token of every parallel sequence as its own job on libuv's
 * thread pool, and llama.cpp's logits getter reorders its output buffer lazily, so concurrent
 * samplers race: the same seed then gives different samples now and then. With a one-thread pool
 * sampling is serial and reproducible. libuv reads this variable once, when its pool starts, so a
 * process that samples must be started with it (the CLI re-executes itself; tests set it in
 * vitest.config.ts).
 */
export const SERIAL_THREADPOOL_ENV = { UV_THREADPOOL_SIZE: '1' } as const;
const serialAtStart = process.env.UV_THREADPOOL_SIZE === '1';
export const hasSerialThreadpool = (): boolean => serialAtStart;

const toGpuOption = (b: ComputeBackend): 'auto' | LlamaGpuType => (b === 'cpu' ? false : b);

/**
 * The one llama.cpp runtime of the process: loaded on first use with the chosen backend, never
 * compiled or downloaded at run time (prebuilt binaries only), threads = physical cores.
 */
export class LlamaRuntime implements AsyncDisposable {
  private llama: Promise<Llama> | undefined;
  readonly threads: number;
  /** Threads were chosen by the caller: keep them even when other processes share the cores. */
  readonly threadsFixed: boolean;
  readonly backend: ComputeBackend;

  constructor(options: RuntimeOptions = {}) {
    this.backend = options.backend ?? (process.env.ILF_COMPUTE_BACKEND as ComputeBackend | undefined) ?? 'auto';
    this.threads = options.threads ?? physicalCores();
    this.threadsFixed = options.threads !== undefined;
  }

  get(): Promise<Llama> {
    this.llama ??= getLlama({
      gpu: toGpuOption(this.backend),
      build: 'never',
      maxThreads: this.threads,
      logLevel: LlamaLogLevel.error,
      progressLogs: false,
      skipDownload: true,
    }).catch((e: unknown) => {
      this.llama = undefined;
      throw new AppError('BAD_INPUT', `llama.cpp could not start with the ${this.backend} backend: ${(e as Error).message}`,
        this.backend === 'auto' || this.backend === 'cpu' ? 'reinstall with `npm ci`' : 'choose another backend (--backend cpu works everywhere)');
    });
    return this.llama;
  }

  async dispose(): Promise<void> {
    const llama = await this.llama?.catch(() => undefined);
    this.llama = undefined;
    await llama?.dispose();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }
}
