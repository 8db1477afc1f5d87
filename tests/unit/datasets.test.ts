import { describe, expect, it } from 'vitest';
import { parseTaskLine } from '../../main/datasets/formats.js';
import { buildPrompt, chatPrompt, completionPrompt } from '../../main/datasets/prompt.js';
import { mbppSplit } from '../../main/datasets/splits.js';

describe('MBPP splits of the ILF paper', () => {
  it('puts each boundary task in the right split', () => {
    const cases: [number, string][] = [[1, 'prompt'], [10, 'prompt'], [11, 'test'], [110, 'test'], [111, 'refine'], [310, 'refine'], [311, 'train'], [974, 'train']];
    for (const [id, split] of cases) expect(mbppSplit(id)).toBe(split);
  });
});

describe('format parsers', () => {
  it('maps an MBPP row, keeping setup code for after the program', () => {
    const r = parseTaskLine('mbpp', {
      task_id: 927, text: 'Write a function to calculate the height of the given binary tree.', code: 'class Node: ...',
      test_list: ['assert (max_height(root)) == 3', 'assert (max_height(root1)) == 5'], test_setup_code: 'root = Node(1)', challenge_test_list: [],
    });
    expect(r).toEqual({ ok: true, task: expect.objectContaining({ taskKey: '927', split: 'train', setupCode: 'root = Node(1)', exampleTest: 'assert (max_height(root)) == 3' }) });
  });

  it('explains every wrong field at once', () => {
    const r = parseTaskLine('mbpp', { task_id: 1.5, text: '', code: 3, test_list: ['ok', 7] });
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.reason).toMatch(/task_id: /);
      expect(r.reason).toMatch(/text: must not be empty/);
      expect(r.reason).toMatch(/code: /);
      expect(r.reason).toMatch(/test_list\.1: /);
    }
  });

  it('checks HumanEval rows for an entry point and a check function', () => {
    const row = { task_id: 'HumanEval/0', prompt: 'def f(x):\n    """"""\n', entry_point: 'f', canonical_solution: '    return x\n', test: 'def check(candidate):\n    assert candidate(1) == 1\n' };
    expect(parseTaskLine('humaneval', row)).toMatchObject({ ok: true, task: { tests: ['check(f)'], split: 'test' } });
    expect(parseTaskLine('humaneval', { ...row, entry_point: 'f; import os' })).toMatchObject({ ok: false, reason: expect.stringMatching(/entry_point: must be a Python identifier/) });
    expect(parseTaskLine('humaneval', { ...row, test: 'assert True' })).toMatchObject({ ok: false, reason: expect.stringMatching(/test: must define check/) });
  });
});

describe('prompts', () => {
  const task = { text: 'Write a function to add two numbers.', exampleTest: 'assert add(1, 2) == 3', codePrefix: null };

  it('completion prompt: description and the example test in a docstring', () => {
    expect(completionPrompt(task)).toBe('"""\nWrite a function to add two numbers.\nassert add(1, 2) == 3\n"""\n');
  });

  it('continues a code prefix as it is', () => {
    const prefix = 'def add(a, b):\n    """Add."""\n';
    expect(completionPrompt({ ...task, codePrefix: prefix })).toBe(prefix);
  });

  it('chat prompt asks for one code block and shows the test', () => {
    const p = chatPrompt(task);
    expect(p).toContain('assert add(1, 2) == 3');
    expect(p).toMatch(/code block/);
    expect(buildPrompt(task, 'chat')).toBe(p);
    expect(buildPrompt(task, 'completion')).toBe(completionPrompt(task));
  });
});
