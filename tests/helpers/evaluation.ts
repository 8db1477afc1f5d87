import type { Database } from 'better-sqlite3';
import { expect } from 'vitest';

/** pass@k of one task from its counts, written out here (1 − C(n−c, k)/C(n, k)) rather than taken from the app. */
function passAtK(n: number, c: number, k: number): number {
  if (n - c < k) return 1;
  let fail = 1;
  for (let i = 0; i < k; i += 1) fail *= (n - c - i) / (n - i);
  return 1 - fail;
}

/** Per-task pass@k differences (after − before) of two stored evaluations, from their per-task counts in SQLite. */
export function differencesFromCounts(db: Database, beforeId: number, afterId: number, k: number): number[] {
  const rows = db.prepare<[number, number], { bn: number; bc: number; an: number; ac: number }>(
    `SELECT b.n AS bn, b.correct AS bc, a.n AS an, a.correct AS ac FROM evaluation_tasks b
     JOIN evaluation_tasks a ON a.task_id = b.task_id AND a.evaluation_id = ? WHERE b.evaluation_id = ? ORDER BY b.task_id`).all(afterId, beforeId);
  return rows.map((r) => passAtK(r.an, r.ac, k) - passAtK(r.bn, r.bc, k));
}

/**
 * A comparison as the app reports it agrees with the stored counts: its mean difference is the mean of
 * the per-task differences, and its interval holds the mean and lies within the smallest and largest
 * per-task difference (a bootstrap mean can be nothing else).
 */
export function expectComparisonFromCounts(db: Database, beforeId: number, afterId: number,
  comparison: { k: number; difference: { mean: number; low: number; high: number } }): number[] {
  const diffs = differencesFromCounts(db, beforeId, afterId, comparison.k);
  expect(diffs.length).toBeGreaterThan(0);
  const mean = diffs.reduce((s, d) => s + d, 0) / diffs.length;
  const { difference } = comparison;
  expect(difference.mean).toBeCloseTo(mean, 12);
  expect(difference.low).toBeLessThanOrEqual(difference.mean);
  expect(difference.mean).toBeLessThanOrEqual(difference.high);
  expect(difference.low).toBeGreaterThanOrEqual(Math.min(...diffs) - 1e-12);
  expect(difference.high).toBeLessThanOrEqual(Math.max(...diffs) + 1e-12);
  return diffs;
}
