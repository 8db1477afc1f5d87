import { describe, expect, it } from 'vitest';
import { chartPoints, FORM_DEFAULTS } from '../../../renderer/src/state/finetune.js';

describe('the loss chart', () => {
  const metrics = [
    { phase: 'train' as const, step: 1, loss: 4 },
    { phase: 'train' as const, step: 2, loss: 2 },
    { phase: 'validation' as const, step: 2, loss: 3 },
    { phase: 'train' as const, step: 4, loss: 1 },
  ];
  it('maps steps to x over the whole run and loss to y with 0 at the bottom', () => {
    expect(chartPoints(metrics, 'train', 100, 40, 4)).toBe('25.0,0.0 50.0,20.0 100.0,30.0');
    expect(chartPoints(metrics, 'validation', 100, 40, 4)).toBe('50.0,10.0');
  });
  it('leaves room for the steps still to come, and draws nothing without points', () => {
    expect(chartPoints(metrics, 'train', 100, 40, 8)).toBe('12.5,0.0 25.0,20.0 50.0,30.0');
    expect(chartPoints([], 'train', 100, 40, null)).toBe('');
  });
  it("shows the trainer's own defaults", () => {
    expect(FORM_DEFAULTS).toEqual({ rank: 8, alpha: 16, learningRate: 2e-4, epochs: 3, contextSize: 1024, validationFraction: 0.1 });
  });
});
