import { describe, expect, it } from 'vitest';
import { meanPassAtK, pairedBootstrap, passAtK } from '../../main/evaluation/pass-at-k.js';

describe('pass@k, unbiased estimator', () => {
  it('matches hand-computed values', () => {
    // 1 − C(8,1)/C(10,1) = 1 − 8/10
    expect(passAtK(10, 2, 1)).toBeCloseTo(0.2, 12);
    // 1 − C(7,2)/C(10,2) = 1 − 21/45
    expect(passAtK(10, 3, 2)).toBeCloseTo(24 / 45, 12);
    // 1 − C(27,10)/C(30,10) = 1 − (20·19·18)/(30·29·28)
    expect(passAtK(30, 3, 10)).toBeCloseTo(1 - (20 * 19 * 18) / (30 * 29 * 28), 12);
    // pass@1 is the plain fraction passing
    expect(passAtK(30, 7, 1)).toBeCloseTo(7 / 30, 12);
  });

  it('edge cases: c = 0, n = k, n − c < k', () => {
    expect(passAtK(10, 0, 5)).toBe(0);
    expect(passAtK(5, 0, 5)).toBe(0);
    expect(passAtK(5, 1, 5)).toBe(1);
    expect(passAtK(10, 8, 3)).toBe(1);
    expect(passAtK(1, 1, 1)).toBe(1);
    expect(() => passAtK(5, 1, 10)).toThrow(/needs at least 10 samples/);
    expect(() => passAtK(5, 6, 1)).toThrow(/between 0 and n/);
  });

  it('averages over tasks', () => {
    expect(meanPassAtK([{ n: 10, c: 2 }, { n: 10, c: 0 }], 1)).toBeCloseTo(0.1, 12);
  });
});

describe('paired bootstrap', () => {
  it('a constant improvement has a zero-width interval', () => {
    const r = pairedBootstrap([0.1, 0.2, 0.3], [0.3, 0.4, 0.5], { resamples: 2000 });
    expect(r.mean).toBeCloseTo(0.2, 12);
    expect(r.low).toBeCloseTo(0.2, 12);
    expect(r.high).toBeCloseTo(0.2, 12);
  });

  it('two tasks with differences 0 and 1: resampled means 0, ½, 1 with chances ¼, ½, ¼', () => {
    const r = pairedBootstrap([0, 0], [0, 1], { resamples: 20_000, seed: 7 });
    expect(r.mean).toBe(0.5);
    expect(r.low).toBe(0);
    expect(r.high).toBe(1);
    // The central 50% of resamples is exactly ½: the 30th and 70th percentiles fall there.
    const mid = pairedBootstrap([0, 0], [0, 1], { resamples: 20_000, seed: 7, confidence: 0.4 });
    expect(mid.low).toBe(0.5);
    expect(mid.high).toBe(0.5);
  });

  it('is reproducible by seed and refuses unpaired input', () => {
    const a = [0.1, 0.5, 0.2, 0.9, 0.3];
    const b = [0.2, 0.4, 0.6, 0.9, 0.8];
    expect(pairedBootstrap(a, b, { seed: 3 })).toEqual(pairedBootstrap(a, b, { seed: 3 }));
    expect(() => pairedBootstrap([1], [1, 2])).toThrow(/same tasks/);
  });
});
