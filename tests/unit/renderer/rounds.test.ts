import { describe, expect, it } from 'vitest';
import { paperDefaults } from '../../../renderer/src/state/rounds.js';

describe('the Sample screen defaults', () => {
  it("are the paper's: 30 samples per task at T = 0.8, failures from train, pass@k on test; even before a dataset is chosen", () => {
    expect(paperDefaults('')).toMatchObject({ dataset: '', n: 30, temperature: 0.8, split: 'train', evalSplit: 'test', feedbackSource: 'human', review: 'human', ks: [1, 10] });
    expect(paperDefaults('mbpp').dataset).toBe('mbpp');
  });
});
