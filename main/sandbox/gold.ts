import { performance } from 'node:perf_hooks';
import { AppError } from '../errors.js';
import type { Store } from '../store/store.js';
import { SandboxPool } from './pool.js';
import { openBackend, type BackendChoice } from './select.js';
import type { JudgeMode } from '../../preload/contract.js';
import type { ExecutionRequest, SandboxBackendName } from './types.js';

/** A task's known-good program with the tests that judge it. */
export interface GoldTask {
  taskId: string;
  referenceSolution: string | null;
  tests: readonly string[];
  setupCode: string;
}

/** The gold programs as sandbox requests: program, then setup code, then every test. */
export function goldRequests(tasks: readonly GoldTask[]): { taskId: string; request: ExecutionRequest }[] {
  return tasks.map((t) => ({
    taskId: t.taskId,
    request: { program: t.referenceSolution ?? '', tests: t.tests, setupCode: t.setupCode },
  }));
}

export interface GoldReport {
  backend: SandboxBackendName;
  /** Sandbox workers that ran the programs. */
  workers: number;
  total: number;
  passed: number;
  /** Task ids whose gold program did not pass. */
  failed: string[];
  /** Of those, the ones the sandbox itself failed on (not the program's fault). */
  sandboxErrors: string[];
  /** How many results each judge mode gave (see ExecutionResult.judge). */
  judged: Record<JudgeMode, number>;
  /** Task ids whose tests could only be judged in-process (a test hands the program a lambda, …). */
  inProcess: string[];
  seconds: number;
}

/** A dataset's gold tasks; a clear error when it has none here. */
export function requireGoldTasks(store: Store, dataset: string): GoldTask[] {
  const tasks = store.catalog.goldTasks(dataset);
  if (tasks.length === 0) {
    throw new AppError('NOT_FOUND', `dataset "${dataset}" has no tasks here`, 'import it first, e.g. `ilf import mbpp.jsonl --format mbpp`');
  }
  return [...tasks];
}

/**
 * Runs every gold program of a dataset through the sandbox: a check that the sandbox, the task
 * import and the test harness agree (MBPP 974/974, HumanEval 164/164).
 */
export async function execGold(store: Store, dataset: string, backend: BackendChoice | SandboxPool, options: {
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
} = {}): Promise<GoldReport> {
  const gold = goldRequests(requireGoldTasks(store, dataset));
  // A pool handed in (the CLI's, with --workers and image shipping) is the caller's to close.
  const pool = backend instanceof SandboxPool ? backend : await SandboxPool.create(await openBackend(backend));
  try {
    const started = performance.now();
    const failed: string[] = [];
    const sandboxErrors: string[] = [];
    const judged: Record<JudgeMode, number> = { 'separate-process': 0, 'in-process': 0 };
    const inProcess: string[] = [];
    let done = 0;
    for await (const { index, result } of pool.runMany(gold.map((g) => g.request), { signal: options.signal })) {
      done += 1;
      options.onProgress?.(done, gold.length);
      const id = gold[index]?.taskId ?? String(index);
      if (result.status !== 'passed') failed.push(id);
      if (result.status === 'sandbox_error') sandboxErrors.push(id);
      if (result.judge) judged[result.judge] += 1;
      if (result.judge === 'in-process') inProcess.push(id);
    }
    const order = new Map(gold.map((g, i) => [g.taskId, i]));
    const byTask = (a: string, b: string): number => (order.get(a) ?? 0) - (order.get(b) ?? 0);
    failed.sort(byTask);
    inProcess.sort(byTask);
    return {
      backend: pool.backend.name, workers: pool.size, total: gold.length, passed: gold.length - failed.length, failed, sandboxErrors, judged, inProcess,
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    if (!(backend instanceof SandboxPool)) await pool.dispose();
  }
}
