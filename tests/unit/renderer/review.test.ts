import { describe, expect, it } from 'vitest';
import { reviewKey, selectCurrent } from '../../../renderer/src/state/review.js';

const key = (k: string, mods: Partial<{ ctrlKey: boolean; metaKey: boolean; altKey: boolean; inTextField: boolean }> = {}) =>
  reviewKey({ key: k, ctrlKey: false, metaKey: false, altKey: false, inTextField: false, ...mods });

describe('review keys', () => {
  it('a, r, e, j, k act on the screen; inside the edit they type', () => {
    expect(['a', 'r', 'e', 'j', 'k', 'x'].map((k) => key(k))).toEqual(['accept', 'reject', 'edit', 'next', 'previous', null]);
    expect(['a', 'r', 'e', 'j', 'k'].map((k) => key(k, { inTextField: true }))).toEqual([null, null, null, null, null]);
  });

  it('Ctrl/Cmd+Enter accepts (the edit) and Escape leaves the edit, from anywhere', () => {
    expect(key('Enter', { ctrlKey: true, inTextField: true })).toBe('accept');
    expect(key('Enter', { metaKey: true })).toBe('accept');
    expect(key('Escape', { inTextField: true })).toBe('cancel');
    expect(key('a', { ctrlKey: true })).toBeNull();
  });

  it('the open refinement is the one at the index, none past the end', () => {
    const items = [{ refinementId: 7 }, { refinementId: 9 }] as never[];
    expect(selectCurrent({ items, index: 1 })).toEqual({ refinementId: 9 });
    expect(selectCurrent({ items, index: 2 })).toBeUndefined();
  });
});
