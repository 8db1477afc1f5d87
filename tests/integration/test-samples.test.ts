import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importTasks } from '../../main/datasets/import.js';
import { testSamplingRun } from '../../main/pipeline/test-samples.js';
import { SandboxPool } from '../../main/sandbox/pool.js';
import { Store } from '../../main/store/store.js';
import { sharedData, tempDir } from '../helpers/fs.js';
import { sample, seedRun, taskRowId } from '../helpers/lineage.js';
import { backendCases } from '../helpers/sandbox.js';

describe.each(await backendCases())('testing a sampling run in the $name sandbox', ({ available, reason, open }) => {
  describe.skipIf(!available)(available ? 'on this machine' : `not here: ${reason ?? ''}`, () => {
  let pool: SandboxPool;
  beforeAll(async () => {
    pool = await SandboxPool.create(await open(), { size: 2, limits: { timeoutMs: 1500 } });
  }, 60_000);
  afterAll(async () => {
    await pool?.dispose();
  });

  it('records an execution per sample, finds the tasks with no passing sample, and does not redo work', async () => {
    const store = Store.open(path.join(tempDir(), 'ilf.sqlite'));
    await importTasks(store, sharedData('mbpp.jsonl'), { format: 'mbpp' });
    const { runId } = seedRun(store, 'mbpp', 'train');
    const gold = (key: string): string => store.catalog.getTask('mbpp', key)?.referenceSolution ?? '';
    store.transaction(() => store.runs.insertSamples(runId, [
      sample(taskRowId(store, 'mbpp', '311'), 0, gold('311')),
      sample(taskRowId(store, 'mbpp', '311'), 1, 'def nope(:\n'),
      sample(taskRowId(store, 'mbpp', '312'), 0, 'def f():\n    return 1\n'),
      sample(taskRowId(store, 'mbpp', '312'), 1, 'while True:\n    pass\n'),
    ]));
    const report = await testSamplingRun(store, pool, runId);
    expect(report).toMatchObject({ tested: 4, passed: 1, failed: 3, sandboxErrors: 0, tasks: 2, tasksWithoutPass: 1 });
    const inbox = store.runs.failures({ runId, limit: 10 });
    expect(inbox.map((f) => [f.taskId, f.sampleIndex, f.errorKind])).toEqual([['312', 1, 'timeout'], ['312', 0, 'runtime_error']]);
    expect(await testSamplingRun(store, pool, runId)).toMatchObject({ tested: 0, tasksWithoutPass: 1 });
    store.close();
  }, 60_000);
});
});
