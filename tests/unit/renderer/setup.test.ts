import { describe, expect, it } from 'vitest';
import { downloadFraction } from '../../../renderer/src/state/setup.js';

describe('download progress', () => {
  it('is the share of bytes when the size is known, full when done, unknown otherwise', () => {
    expect(downloadFraction({ bytes: 25, totalBytes: 100, state: 'downloading' })).toBe(0.25);
    expect(downloadFraction({ bytes: 130, totalBytes: 100, state: 'downloading' })).toBe(1);
    expect(downloadFraction({ bytes: 5, totalBytes: null, state: 'downloading' })).toBeNull();
    expect(downloadFraction({ bytes: 5, totalBytes: null, state: 'done' })).toBe(1);
  });
});
