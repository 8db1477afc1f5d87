import { AppError } from '../errors.js';
import { generateRefinements, type RefineConfig } from '../inference/refine.js';
import type { LlamaRuntime } from '../models/runtime.js';
import type { SandboxPool } from '../sandbox/pool.js';
import type { ExecutionRequest, ExecutionResult } from '../sandbox/types.js';
import type { Store } from '../store/store.js';
import { tally } from './test-samples.js';

/** The sandbox request that tests `program` against the tests of the task behind a feedback. */
export function requestForFeedback(store: Store, feedbackId: number, program: string): ExecutionRequest {
  const task = store.db
    .prepare<[number], { tests: string; setup_code: string }>(
      'SELECT t.tests, t.setup_code FROM feedback f JOIN samples s ON s.id = f.sample_id JOIN tasks t ON t.id = s.task_id WHERE f.id = ?',
    )
    .get(feedbackId);
  if (!task) throw new AppError('NOT_FOUND', `no feedback with id ${feedbackId}`);
  return { program, tests: JSON.parse(task.tests) as string[], setupCode: task.setup_code };
}

/** Tests every refinement of these feedbacks that has no verdict yet; returns how many passed and failed. */
export async function testRefinements(store: Store, pool: SandboxPool, feedbackIds: readonly number[], signal?: AbortSignal): Promise<{ passed: number; failed: number; sandboxErrors: number }> {
  const untested = feedbackIds.flatMap((f) => store.db
    .prepare<[number], { id: number; feedback_id: number; program: string }>('SELECT id, feedback_id, program FROM refinements WHERE feedback_id = ? AND passed IS NULL ORDER BY id')
    .all(f));
  const counts = { passed: 0, failed: 0, sandboxErrors: 0 };
  const results: { id: number; result: ExecutionResult }[] = [];
  try {
    for await (const { index, result } of pool.runMany(untested.map((r) => requestForFeedback(store, r.feedback_id, r.program)), { signal })) {
      const r = untested[index];
      if (!r) continue;
      results.push({ id: r.id, result });
      tally(counts, result);
    }
  } finally {
    store.transaction(() => results.forEach((r) => store.runs.recordRefinementExecution(r.id, r.result)));
  }
  return counts;
}

export interface RefineStepReport {
  feedbacks: number;
  generated: number;
  passed: number;
  failed: number;
  sandboxErrors: number;
}

/**
 * Step 4 of ILF: k refinements per feedback from the refine model, each tested in the sandbox;
 * the passing ones wait for review. Idempotent: a feedback that already has k model refinements is
 * not refined again, and only untested refinements are run. Generation and testing take turns, so
 * llama.cpp's threads and the sandbox workers never fight over the cores.
 */
export async function refineAndTest(
  deps: { store: Store; runtime: LlamaRuntime; pool: SandboxPool },
  feedbackIds: readonly number[],
  config: Omit<RefineConfig, 'feedbackId'>,
  options: { signal?: AbortSignal; onProgress?: (done: number, total: number) => void } = {},
): Promise<RefineStepReport> {
  const { store } = deps;
  let generated = 0;
  for (const [i, feedbackId] of feedbackIds.entries()) {
    options.signal?.throwIfAborted();
    const have = store.db.prepare<[number], { n: number }>(`SELECT COUNT(*) AS n FROM refinements WHERE feedback_id = ? AND origin = 'model'`).get(feedbackId)?.n ?? 0;
    if (have < config.k) generated += (await generateRefinements({ store, runtime: deps.runtime }, { ...config, feedbackId }, options.signal)).length;
    options.onProgress?.(i + 1, feedbackIds.length);
  }
  const tested = await testRefinements(store, deps.pool, feedbackIds, options.signal);
  return { feedbacks: feedbackIds.length, generated, ...tested };
}
