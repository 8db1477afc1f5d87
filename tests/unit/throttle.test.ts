import { afterEach, describe, expect, it, vi } from 'vitest';
import { latestEvery } from '../../main/services/throttle.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('latestEvery', () => {
  it('sends at most one value per interval, always the latest, and flushes the final state at once', () => {
    vi.useFakeTimers();
    const sent: number[] = [];
    const t = latestEvery<number>(250, (v) => sent.push(v));
    for (let i = 1; i <= 100; i += 1) {
      t.push(i);
      vi.advanceTimersByTime(10); // 100 updates in one second
    }
    expect(sent.length).toBeLessThanOrEqual(5);
    expect(sent.length).toBeGreaterThanOrEqual(3);
    expect(sent).toEqual([...sent].sort((a, b) => a - b));
    t.flush(1000);
    expect(sent.at(-1)).toBe(1000);
    vi.advanceTimersByTime(1000);
    expect(sent.filter((v) => v === 1000)).toHaveLength(1); // nothing pending re-sent
  });
});
