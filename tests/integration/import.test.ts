import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { importTasks } from '../../main/datasets/import.js';
import { Store } from '../../main/store/store.js';
import { dumpDatabase } from '../helpers/db.js';
import { sharedData, tempDir, writeLines } from '../helpers/fs.js';
import { expectAppError } from '../helpers/errors.js';

function openTemp(): { store: Store; dir: string } {
  const dir = tempDir();
  return { store: Store.open(path.join(dir, 'ilf.sqlite')), dir };
}


const mbppLine = (id: number, extra: Record<string, unknown> = {}): string =>
  JSON.stringify({
    task_id: id,
    text: `Write a function that adds ${id}.`,
    code: `def add_${id}(x):\n    return x + ${id}`,
    test_list: [`assert add_${id}(1) == ${id + 1}`, `assert add_${id}(0) == ${id}`],
    test_setup_code: '',
    challenge_test_list: [],
    ...extra,
  });

describe('importing MBPP and HumanEval from ../shared', () => {
  it('gives 974 MBPP tasks with the ILF paper splits, and a second import changes nothing', async () => {
    const { store } = openTemp();
    const report = await importTasks(store, sharedData('mbpp.jsonl'), { format: 'mbpp' });
    expect(report).toMatchObject({ dataset: 'mbpp', added: 974, updated: 0, unchanged: 0, linesRead: 974 });
    expect(report.splits).toEqual({ prompt: 10, test: 100, refine: 200, train: 664 });

    const before = dumpDatabase(store.db);
    const again = await importTasks(store, sharedData('mbpp.jsonl'), { format: 'mbpp' });
    expect(again).toMatchObject({ added: 0, updated: 0, unchanged: 974 });
    expect(dumpDatabase(store.db)).toEqual(before);
    store.close();
  });

  it('keeps the paper prompt (description + first test) apart from the tests that decide pass/fail', async () => {
    const { store } = openTemp();
    await importTasks(store, sharedData('mbpp.jsonl'), { format: 'mbpp' });
    const task = store.catalog.getTask('mbpp', '11');
    expect(task?.split).toBe('test');
    expect(task?.tests).toHaveLength(3);
    expect(task?.exampleTest).toBe(task?.tests[0]);
    expect(task?.prompt).toContain(task?.text ?? '<missing>');
    expect(task?.prompt).toContain(task?.tests[0] ?? '<missing>');
    expect(task?.prompt).not.toContain(task?.tests[1] ?? '<missing>');
    // 367 and 927 define their fixtures in setup code that uses the program's classes.
    expect(store.catalog.getTask('mbpp', '367')?.setupCode).toMatch(/root = Node\(1\)/);
    expect(store.catalog.getTask('mbpp', '927')?.setupCode).toMatch(/Node\(/);
    expect(store.catalog.listTasks({ dataset: 'mbpp', split: 'refine', offset: 0, limit: 1 }).tasks[0]?.taskId).toBe('111');
    store.close();
  });

  it('gives 164 HumanEval tasks whose check() runs as setup code after the program', async () => {
    const { store } = openTemp();
    const report = await importTasks(store, sharedData('humaneval.jsonl'), { format: 'humaneval' });
    expect(report).toMatchObject({ dataset: 'humaneval', added: 164 });
    expect(report.splits).toEqual({ test: 164 });
    const task = store.catalog.getTask('humaneval', 'HumanEval/0');
    expect(task?.tests).toEqual(['check(has_close_elements)']);
    expect(task?.setupCode).toMatch(/def check\(candidate\)/);
    expect(task?.prompt).toBe(task?.codePrefix);
    expect(task?.referenceSolution?.startsWith(task.codePrefix ?? '<none>')).toBe(true);
    store.close();
  });
});

describe('bad input is refused with a clear error and leaves the database as it was', () => {
  async function withBaseline(run: (store: Store, dir: string) => Promise<void>): Promise<void> {
    const { store, dir } = openTemp();
    await importTasks(store, writeLines(dir, 'base.jsonl', [mbppLine(11), mbppLine(12)]), { format: 'mbpp', name: 'base' });
    const before = dumpDatabase(store.db);
    await run(store, dir);
    expect(dumpDatabase(store.db)).toEqual(before);
    store.close();
  }

  it('a broken line in the middle: every bad line reported with its number, nothing imported', async () => {
    await withBaseline(async (store, dir) => {
      const lines = [mbppLine(11), mbppLine(12), '{"task_id": 13, "text": "oops"', mbppLine(14), mbppLine(15, { task_id: 'fifteen' })];
      const file = writeLines(dir, 'broken.jsonl', lines);
      const err = await expectAppError(importTasks(store, file, { format: 'mbpp' }), 'INVALID_LINES', /2 malformed lines \(first: line 3: not valid JSON/);
      expect(err.message).toMatch(/nothing was imported/);
      expect(err.details).toEqual([expect.stringMatching(/^line 3: not valid JSON/), expect.stringMatching(/^line 5: task_id: .*number/)]);
      expect(store.catalog.dataset('mbpp')).toBeUndefined();
    });
  });

  it('wrong field types name the field', async () => {
    await withBaseline(async (store, dir) => {
      const file = writeLines(dir, 'types.jsonl', [
        mbppLine(20, { test_list: 'assert f() == 1' }),
        mbppLine(21, { text: 42 }),
        mbppLine(22, { test_list: [] }),
      ]);
      const err = await expectAppError(importTasks(store, file, { format: 'mbpp' }), 'INVALID_LINES', /3 malformed lines/);
      expect(err.details?.[0]).toMatch(/^line 1: test_list: .*array/);
      expect(err.details?.[1]).toMatch(/^line 2: text: .*string/);
      expect(err.details?.[2]).toMatch(/^line 3: test_list: needs at least one test/);
    });
  });

  it('a binary file is not JSONL', async () => {
    await withBaseline(async (store, dir) => {
      const file = path.join(dir, 'model.gguf');
      fs.writeFileSync(file, Buffer.from([0x47, 0x47, 0x55, 0x46, 3, 0, 0, 0, 0, 0, 0xff, 0xfe]));
      await expectAppError(importTasks(store, file, { format: 'mbpp' }), 'NOT_JSONL', /binary file, not JSONL/);
    });
  });

  it('text that is not JSONL at all gets one error, not one per line', async () => {
    await withBaseline(async (store, dir) => {
      const csv = writeLines(dir, 'tasks.csv', ['task_id,text', '1,add numbers', '2,sub numbers']);
      const err = await expectAppError(importTasks(store, csv, { format: 'jsonl' }), 'NOT_JSONL', /line 1 is not JSON/);
      expect(err.details).toBeUndefined();
      const array = writeLines(dir, 'tasks.json', ['[', mbppLine(11) + ',', mbppLine(12), ']']);
      const arrayErr = await expectAppError(importTasks(store, array, { format: 'mbpp' }), 'NOT_JSONL', /not a JSONL file/);
      expect(arrayErr.hint).toMatch(/JSON array/);
    });
  });

  it('an empty file, a missing file, a duplicate task id and a format clash', async () => {
    await withBaseline(async (store, dir) => {
      const empty = path.join(dir, 'empty.jsonl');
      fs.writeFileSync(empty, '');
      await expectAppError(importTasks(store, empty, { format: 'mbpp' }), 'EMPTY_FILE', /has no tasks/);
      fs.writeFileSync(empty, '\n\n  \n');
      await expectAppError(importTasks(store, empty, { format: 'mbpp' }), 'EMPTY_FILE', /has no tasks/);
      await expectAppError(importTasks(store, path.join(dir, 'nope.jsonl'), { format: 'mbpp' }), 'NOT_FOUND', /does not exist/);
      const dup = writeLines(dir, 'dup.jsonl', [mbppLine(30), mbppLine(31), mbppLine(30)]);
      const err = await expectAppError(importTasks(store, dup, { format: 'mbpp' }), 'INVALID_LINES', /1 malformed line /);
      expect(err.details?.[0]).toBe('line 3: its task_id already appears on line 1');
      const ok = writeLines(dir, 'ok.jsonl', [mbppLine(40)]);
      await expectAppError(importTasks(store, ok, { format: 'humaneval', name: 'base' }), 'BAD_INPUT', /already exists with format mbpp/);
    });
  });

  it('cancelling an import writes nothing', async () => {
    await withBaseline(async (store) => {
      const controller = new AbortController();
      controller.abort();
      const e: unknown = await importTasks(store, sharedData('mbpp.jsonl'), { format: 'mbpp', signal: controller.signal }).catch((x: unknown) => x);
      expect((e as Error).name).toBe('AbortError');
    });
  });
});

describe('re-importing a changed file', () => {
  it('rewrites only the changed task, in place, and reports what is no longer in the file', async () => {
    const { store, dir } = openTemp();
    const v1 = writeLines(dir, 'mine.jsonl', [mbppLine(11), mbppLine(12), mbppLine(13)]);
    await importTasks(store, v1, { format: 'mbpp', name: 'mine' });
    const id12 = store.db.prepare<[], { id: number }>("SELECT id FROM tasks WHERE task_key = '12'").get()?.id;
    const v2 = writeLines(dir, 'mine.jsonl', [mbppLine(11), mbppLine(12, { text: 'A better description.' })]);
    const report = await importTasks(store, v2, { format: 'mbpp', name: 'mine' });
    expect(report).toMatchObject({ added: 0, updated: 1, unchanged: 1, notInFile: 1 });
    expect(store.catalog.getTask('mine', '12')?.text).toBe('A better description.');
    expect(store.db.prepare<[], { id: number }>("SELECT id FROM tasks WHERE task_key = '12'").get()?.id).toBe(id12);
    expect(store.catalog.listTasks({ search: 'better description', offset: 0, limit: 10 }).tasks.map((t) => t.taskId)).toEqual(['12']);
    store.close();
  });
});

describe('the generic JSONL task format', () => {
  it('takes string or numeric ids, an optional split with a default, and an explicit example test', async () => {
    const { store, dir } = openTemp();
    const file = writeLines(dir, 'course.jsonl', [
      JSON.stringify({ task_id: 'week1/sum', text: 'Sum a list.', tests: ['assert total([1, 2]) == 3', 'assert total([]) == 0'] }),
      JSON.stringify({ task_id: 7, text: 'Reverse a string.', tests: ['assert rev("ab") == "ba"'], split: 'test', example_test: null }),
    ]);
    const report = await importTasks(store, file, { format: 'jsonl', defaultSplit: 'refine' });
    expect(report).toMatchObject({ dataset: 'course', added: 2, splits: { refine: 1, test: 1 } });
    const sum = store.catalog.getTask('course', 'week1/sum');
    expect(sum?.exampleTest).toBe('assert total([1, 2]) == 3');
    expect(store.catalog.getTask('course', '7')?.exampleTest).toBeNull();
    expect(store.catalog.getTask('course', '7')?.prompt).not.toContain('assert');

    const bad = writeLines(dir, 'bad.jsonl', [JSON.stringify({ task_id: 1, text: 'x', tests: ['assert 1'], split: 'Not A Split' })]);
    const err = await expectAppError(importTasks(store, bad, { format: 'jsonl' }), 'INVALID_LINES', /split: a split is lower-case/);
    expect(err.details).toHaveLength(1);
    await expectAppError(importTasks(store, bad, { format: 'mbpp', defaultSplit: 'x' }), 'BAD_INPUT', /jsonl only/);
    store.close();
  });
});
