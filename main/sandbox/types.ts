import type { ExecutionResult, SandboxBackendName } from '../../preload/contract.js';

/** Limits for one program; the defaults suit MBPP/HumanEval-sized tasks. */
export interface SandboxLimits {
  /** Wall-clock time for the program, its setup code and all its tests. */
  timeoutMs: number;
  /** Address space of the program's process. */
  memoryMb: number;
  /** CPU seconds (a backstop for the wall-clock timeout). */
  cpuSeconds: number;
  /** Any file the program writes, stdout and stderr included, stops growing here: an output-limit failure. */
  outputBytes: number;
  /** How much of stdout/stderr is kept in the result. */
  captureBytes: number;
  /** Processes the program may have at once (a fork bomb stops here). */
  processes: number;
}

export const DEFAULT_LIMITS: SandboxLimits = {
  timeoutMs: 10_000,
  memoryMb: 512,
  cpuSeconds: 11,
  outputBytes: 1 << 20,
  captureBytes: 16 << 10,
  processes: 64,
};

/** Sizes of the sandbox's writable tmpfs mounts, on both backends. */
export const SCRATCH_BYTES = { work: 128 << 20, tmp: 16 << 20, shm: 16 << 20 } as const;
/** The dirs the runner empties before every program (ILF_SCRATCH): only the sandbox's own tmpfs mounts. */
export const SCRATCH_DIRS = '/work:/tmp:/dev/shm';

/** One program and the tests that judge it. */
export interface ExecutionRequest {
  program: string;
  /** Statements run in order after the program and the setup code; each gets an outcome. */
  tests: readonly string[];
  /** Runs after the program, before the tests (MBPP's test_setup_code, HumanEval's check()). */
  setupCode?: string;
  limits?: Partial<SandboxLimits>;
}

export interface RunOptions {
  signal?: AbortSignal | undefined;
}

/** One running process of a backend that takes jobs as JSON lines and answers with JSON lines. */
export interface WorkerHandle {
  /** Lines from the runner, in order. */
  readonly lines: AsyncIterable<string>;
  send(line: string): void;
  /** Hard stop; idempotent. */
  kill(): Promise<void>;
  /** What the process wrote to stderr lately, for error messages. */
  diagnostics(): string;
  /**
   * RLIMIT_NPROC counts every process of the worker's host uid, so the per-program process limit is
   * added to what that uid already runs. null: the backend caps processes another way (a pids cgroup).
   */
  readonly processBase: number | null;
}

/** A way to start sandboxed runner processes. */
export interface SandboxBackend {
  readonly name: SandboxBackendName;
  /** Workers that suit where programs run (a remote Docker daemon's CPUs); undefined: this machine's cores. */
  readonly suggestedWorkers?: number | undefined;
  /**
   * Starts worker number `index` (0-based) running `runnerSource`. `tag` goes on the runner's
   * command line, so every process of the worker can be found from the host.
   */
  startWorker(index: number, runnerSource: string, limits: SandboxLimits, tag: string): Promise<WorkerHandle>;
  /** Releases what the backend holds (containers, temp files). */
  dispose(): Promise<void>;
}

export type { ExecutionResult, SandboxBackendName };
