import { describe, expect, it } from 'vitest';
import type { ExecutionResult } from '../../preload/contract.js';
import { executionFeedback, shuffledFeedbackIndices } from '../../main/pipeline/feedback-sources.js';

const base: ExecutionResult = { status: 'failed', errorKind: 'assertion_failure', testResults: [], stdout: '', stderr: '', outputTruncated: false, durationMs: 1, backend: 'bwrap' };

describe('execution feedback', () => {
  it('names each failing test with returned and expected values', () => {
    const text = executionFeedback({
      ...base,
      testResults: [
        { index: 0, outcome: 'passed' },
        { index: 1, outcome: 'assertion_failed', actual: '7', expected: '8' },
        { index: 2, outcome: 'error', message: 'TypeError: unsupported operand' },
      ],
    }, ['assert f(1) == 2', 'assert f(3) == 8', 'assert f("x") == 0']);
    expect(text).toBe('The code returns wrong results.\n`assert f(3) == 8` fails: it returned 7, expected 8.\n`assert f("x") == 0` raises TypeError: unsupported operand.');
  });

  it('summarizes a runtime error with the line of the program that raised it', () => {
    const text = executionFeedback({
      ...base, errorKind: 'runtime_error',
      testResults: [{ index: 0, outcome: 'error', message: 'IndexError: list index out of range' }],
      traceback: 'Traceback (most recent call last):\n  File "<test 0>", line 1, in <module>\n  File "<program>", line 3, in f\nIndexError: list index out of range\n',
    }, ['assert f([]) == 0']);
    expect(text).toMatch(/^The code raises an error\.\n/);
    expect(text).toMatch(/Error: IndexError: list index out of range \(line 3, in f\)\.$/);
  });

  it('refuses to write feedback from a sandbox error', () => {
    expect(() => executionFeedback({ ...base, status: 'sandbox_error', errorKind: 'sandbox_error' }, [])).toThrow(/run it again/);
    expect(executionFeedback({ ...base, errorKind: 'timeout', testResults: [{ index: 0, outcome: 'timeout' }] }, ['assert g()'])).toMatch(/runs too long[\s\S]*`assert g\(\)` does not finish in time/);
  });
});

describe('shuffled-feedback control', () => {
  it('gives every item feedback from another task, reproducibly', () => {
    const tasks = ['a', 'a', 'b', 'c', 'c', 'd', 'e'];
    const order = shuffledFeedbackIndices(tasks, 3);
    expect([...order].sort()).toEqual(tasks.map((_, i) => i));
    order.forEach((from, to) => expect(tasks[from]).not.toBe(tasks[to]));
    expect(shuffledFeedbackIndices(tasks, 3)).toEqual(order);
  });

  it('says when no such shuffle exists', () => {
    expect(() => shuffledFeedbackIndices(['a', 'a'], 1)).toThrow(/at least two different tasks/);
    expect(() => shuffledFeedbackIndices(['a', 'a', 'a', 'b'], 1)).toThrow(/no derangement/);
  });
});
