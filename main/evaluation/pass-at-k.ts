import { seededRandom } from '../random.js';
/**
 * pass@k with the unbiased estimator of Chen et al. 2021 ("Evaluating Large Language Models Trained
 * on Code"): from n samples of which c pass, the chance that at least one of k drawn without
 * replacement passes, 1 − C(n−c, k) / C(n, k), computed as a product so it never overflows.
 */
export function passAtK(n: number, c: number, k: number): number {
  if (!Number.isInteger(n) || !Number.isInteger(c) || !Number.isInteger(k)) throw new Error('n, c and k must be integers');
  if (n < 1 || k < 1) throw new Error(`n and k must be at least 1 (n=${n}, k=${k})`);
  if (k > n) throw new Error(`pass@${k} needs at least ${k} samples per task; got n=${n}`);
  if (c < 0 || c > n) throw new Error(`c must be between 0 and n=${n}; got ${c}`);
  if (n - c < k) return 1;
  let allFail = 1;
  for (let i = n - c + 1; i <= n; i += 1) allFail *= 1 - k / i;
  return 1 - allFail;
}

/** The mean of per-task pass@k over tasks, each given as (n, c). */
export function meanPassAtK(tasks: readonly { n: number; c: number }[], k: number): number {
  if (tasks.length === 0) throw new Error('no tasks to average');
  return tasks.reduce((sum, t) => sum + passAtK(t.n, t.c, k), 0) / tasks.length;
}

export interface PairedDifference {
  /** Mean over tasks of (after − before). */
  mean: number;
  /** Percentile bootstrap interval of the mean difference. */
  low: number;
  high: number;
  confidence: number;
  resamples: number;
}

/**
 * The difference between two evaluations of the same tasks (e.g. base vs base+adapter), with a
 * paired bootstrap over tasks: resampling tasks keeps each task's two scores together, so the
 * interval reflects only how much the improvement varies between tasks.
 */
export function pairedBootstrap(before: readonly number[], after: readonly number[], options: { resamples?: number; confidence?: number; seed?: number } = {}): PairedDifference {
  if (before.length !== after.length) throw new Error(`paired scores need the same tasks: ${before.length} vs ${after.length}`);
  if (before.length === 0) throw new Error('no tasks to compare');
  const resamples = options.resamples ?? 10_000;
  const confidence = options.confidence ?? 0.95;
  const diffs = after.map((a, i) => a - (before[i] ?? 0));
  const n = diffs.length;
  const next = seededRandom(options.seed ?? 1);
  const means = new Float64Array(resamples);
  for (let r = 0; r < resamples; r += 1) {
    let sum = 0;
    for (let j = 0; j < n; j += 1) sum += diffs[Math.floor(next() * n)] ?? 0;
    means[r] = sum / n;
  }
  means.sort();
  const tail = (1 - confidence) / 2;
  const at = (q: number): number => means[Math.min(resamples - 1, Math.max(0, Math.floor(q * resamples)))] ?? 0;
  return { mean: diffs.reduce((s, d) => s + d, 0) / n, low: at(tail), high: at(1 - tail), confidence, resamples };
}
