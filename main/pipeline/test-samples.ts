import { performance } from 'node:perf_hooks';
import { AppError } from '../errors.js';
import type { SandboxPool } from '../sandbox/pool.js';
import type { ExecutionRequest, ExecutionResult } from '../sandbox/types.js';
import type { Store } from '../store/store.js';

export interface TestRunReport {
  runId: number;
  tested: number;
  passed: number;
  failed: number;
  /**
   * Not the programs' fault: the pool already retried each on a fresh worker and found a canary
   * program failing too (a program that breaks the sandbox is judged `broke_sandbox` instead). These
   * samples stay untested and a later pass retries them.
   */
  sandboxErrors: number;
  tasks: number;
  /** Tasks with no passing sample: the ones ILF asks a person about. */
  tasksWithoutPass: number;
  seconds: number;
}

/** Adds one result to pass / fail / sandbox-error counts (a sandbox error is no verdict). */
export function tally(counts: { passed: number; failed: number; sandboxErrors: number }, result: ExecutionResult): void {
  if (result.status === 'passed') counts.passed += 1;
  else if (result.status === 'failed') counts.failed += 1;
  else counts.sandboxErrors += 1;
}

/** How many results are written per transaction. */
const WRITE_BATCH = 200;

/**
 * Runs every sample of a sampling run that has no verdict yet through the sandbox and records the
 * executions. Resumable: a cancelled or crashed pass leaves the finished batches recorded, and the
 * next pass picks up the rest (sandbox errors included).
 */
export async function testSamplingRun(store: Store, pool: SandboxPool, runId: number, options: {
  signal?: AbortSignal; onProgress?: (done: number, total: number) => void;
} = {}): Promise<TestRunReport> {
  if (!store.runs.samplingRun(runId)) throw new AppError('NOT_FOUND', `no sampling run ${runId}`, 'the run id is printed by `ilf sample`');
  const untested = store.db
    .prepare<[number], { id: number; program: string; tests: string; setup_code: string }>(
      `SELECT s.id, s.program, t.tests, t.setup_code FROM samples s JOIN tasks t ON t.id = s.task_id
       WHERE s.run_id = ? AND s.passed IS NULL ORDER BY s.id`,
    )
    .all(runId);
  const requests: ExecutionRequest[] = untested.map((s) => ({ program: s.program, tests: JSON.parse(s.tests) as string[], setupCode: s.setup_code }));
  const started = performance.now();
  const counts = { passed: 0, failed: 0, sandboxErrors: 0 };
  let pending: { sampleId: number; result: ExecutionResult }[] = [];
  const flush = (): void => {
    const batch = pending;
    pending = [];
    store.bulk(() => batch.forEach((r) => store.runs.recordSampleExecution(r.sampleId, r.result)));
  };
  let done = 0;
  try {
    for await (const { index, result } of pool.runMany(requests, { signal: options.signal })) {
      const sample = untested[index];
      if (!sample) continue;
      pending.push({ sampleId: sample.id, result });
      tally(counts, result);
      done += 1;
      options.onProgress?.(done, requests.length);
      if (pending.length >= WRITE_BATCH) flush();
    }
  } finally {
    flush(); // what finished is kept, even when cancelled
  }
  const tasks = store.db
    .prepare<[number], { tasks: number; without: number }>(
      `SELECT COUNT(*) AS tasks, SUM(CASE WHEN ok = 0 THEN 1 ELSE 0 END) AS without
       FROM (SELECT task_id, MAX(COALESCE(passed, 0)) AS ok FROM samples WHERE run_id = ? GROUP BY task_id)`,
    )
    .get(runId);
  return {
    runId, tested: done, ...counts, tasks: tasks?.tasks ?? 0, tasksWithoutPass: tasks?.without ?? 0,
    seconds: (performance.now() - started) / 1000,
  };
}
