import { describe, expect, it } from 'vitest';
import type { FailureItem } from '../../../preload/contract.js';
import { KEY_HELP, keyAction, selectCounts, selectPosition, selectVisible } from '../../../renderer/src/state/inbox.js';

const item = (sampleId: number, errorKind: FailureItem['errorKind'], feedbackCount: number): FailureItem => ({
  sampleId, runId: 1, dataset: 'mbpp', taskId: String(300 + sampleId), split: 'train', sampleIndex: 0, errorKind, testsPassed: 0, testsTotal: 3,
  feedbackCount, taskSolved: false, createdAt: '2026-01-01T00:00:00.000Z',
});
const items = [item(5, 'assertion_failure', 0), item(4, 'runtime_error', 2), item(3, 'assertion_failure', 1), item(2, 'timeout', 0)];
const key = (k: string, mods: Partial<{ ctrlKey: boolean; metaKey: boolean; altKey: boolean; inTextField: boolean }> = {}) =>
  keyAction({ key: k, ctrlKey: false, metaKey: false, altKey: false, inTextField: false, ...mods });

describe('inbox selectors', () => {
  it('filter by error kind and by whether a failure has feedback', () => {
    expect(selectVisible({ items, filter: {} }).map((i) => i.sampleId)).toEqual([5, 4, 3, 2]);
    expect(selectVisible({ items, filter: { errorKind: 'assertion_failure' } }).map((i) => i.sampleId)).toEqual([5, 3]);
    expect(selectVisible({ items, filter: { hasFeedback: false } }).map((i) => i.sampleId)).toEqual([5, 2]);
    expect(selectVisible({ items, filter: { hasFeedback: true, errorKind: 'assertion_failure' } }).map((i) => i.sampleId)).toEqual([3]);
    expect(selectVisible({ items, filter: { task: '304' } }).map((i) => i.sampleId)).toEqual([4]);
    expect(selectVisible({ items, filter: { task: '30' } }).map((i) => i.sampleId)).toEqual([5, 4, 3, 2]);
  });

  it('count per kind and with feedback, over everything loaded', () => {
    expect(selectCounts({ items })).toEqual({ total: 4, withFeedback: 2, byKind: { assertion_failure: 2, runtime_error: 1, timeout: 1 } });
  });

  it('say where the open failure is among the visible ones', () => {
    const current = { sampleId: 3 } as never;
    expect(selectPosition({ items, filter: {}, current })).toEqual({ index: 2, of: 4 });
    expect(selectPosition({ items, filter: { hasFeedback: false }, current })).toEqual({ index: -1, of: 2 });
    expect(selectPosition({ items, filter: {}, current: null })).toEqual({ index: -1, of: 4 });
  });
});

describe('annotation keys', () => {
  it('letters navigate outside the editor, and type inside it', () => {
    expect(['j', 'k', 's', 'e', 'Enter', '?'].map((k) => key(k))).toEqual(['next', 'previous', 'skip', 'edit', 'edit', 'help']);
    expect(['j', 'k', 's', 'e', 'Enter', '?'].map((k) => key(k, { inTextField: true }))).toEqual([null, null, null, null, null, null]);
  });

  it('Ctrl/Cmd+Enter, Alt+arrows and Escape work everywhere', () => {
    for (const inTextField of [false, true]) {
      expect(key('Enter', { ctrlKey: true, inTextField })).toBe('submit');
      expect(key('Enter', { metaKey: true, inTextField })).toBe('submit');
      expect(key('ArrowDown', { altKey: true, inTextField })).toBe('next');
      expect(key('ArrowUp', { altKey: true, inTextField })).toBe('previous');
      expect(key('Escape', { inTextField })).toBe('close');
    }
    expect(key('j', { ctrlKey: true })).toBeNull(); // the browser's own shortcuts stay theirs
    expect(key('x')).toBeNull();
  });

  it('the help overlay lists every key the handler knows', () => {
    const listed = KEY_HELP.map(([k]) => k).join(' ');
    for (const k of ['j', 'k', 'e', 'Enter', 'Ctrl+Enter', 's', 'Esc', '?', 'Alt+↓', 'Alt+↑']) expect(listed).toContain(k);
  });
});
