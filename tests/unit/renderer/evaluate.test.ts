import { describe, expect, it } from 'vitest';
import { defaultPair, ksOf } from '../../../renderer/src/state/evaluate.js';

const evaluation = (id: number, adapterId: number | null, passAtK: Record<string, number>, split = 'test') => ({
  id, modelId: 1, adapterId, samplingRunId: id, dataset: 'mbpp', split, n: 10, temperature: 0.8, seed: 1, passAtK, createdAt: '2026-01-01T00:00:00.000Z',
});

describe('evaluate selectors', () => {
  it('pair the newest adapter evaluation with the newest base evaluation of the same split', () => {
    const list = [evaluation(1, null, { 1: 0.1 }), evaluation(2, 5, { 1: 0.2 }), evaluation(3, null, { 1: 0.1 }), evaluation(4, 6, { 1: 0.3 }), evaluation(5, null, { 1: 0 }, 'train')];
    expect(defaultPair(list)).toEqual({ before: 3, after: 4 });
    expect(defaultPair([evaluation(1, null, {})])).toEqual({ before: null, after: null });
  });
  it('compare only the k both evaluations have', () => {
    const list = [evaluation(1, null, { 1: 0.1, 10: 0.4 }), evaluation(2, 5, { 1: 0.2 })];
    expect(ksOf(list, [1, 2])).toEqual([1]);
    expect(ksOf(list, [1, null])).toEqual([]);
  });
});
