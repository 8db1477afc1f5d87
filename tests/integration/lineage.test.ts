import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { importTasks } from '../../main/datasets/import.js';
import { Store } from '../../main/store/store.js';
import { sharedData, tempDir } from '../helpers/fs.js';
import { FAILED, PASSED, SANDBOX_ERROR, sample, seedRun, taskRowId } from '../helpers/lineage.js';

async function mbppStore(): Promise<Store> {
  const store = Store.open(path.join(tempDir(), 'ilf.sqlite'));
  await importTasks(store, sharedData('mbpp.jsonl'), { format: 'mbpp' });
  return store;
}

describe('lineage', () => {
  it('traces a training example back to its task, sample, execution, feedback and author', async () => {
    const store = await mbppStore();
    const { runId } = seedRun(store, 'mbpp', 'train');
    const task = taskRowId(store, 'mbpp', '367');
    const exampleId = store.transaction(() => {
      const [sampleId] = store.runs.insertSamples(runId, [sample(task, 0, 'def is_tree_balanced(r):\n    return True')]);
      if (sampleId === undefined) throw new Error('no sample');
      const executionId = store.runs.recordSampleExecution(sampleId, FAILED);
      const feedbackId = store.lineage.addFeedback({
        sampleId, executionId, source: 'human', author: 'ada', text: 'Compare the heights of both subtrees recursively.',
      });
      const refinementId = store.lineage.addRefinement({ feedbackId, origin: 'human', author: 'ada', program: 'def is_tree_balanced(r):\n    return False' });
      const reviewId = store.lineage.addReview({ refinementId, reviewer: 'grace', decision: 'accepted', editedProgram: 'def is_tree_balanced(root):\n    ...' });
      const setId = store.lineage.createTrainingSet('round 1');
      return store.lineage.addTrainingExample(setId, reviewId, 'the prompt');
    });

    const trace = store.lineage.trace(exampleId);
    expect(trace).toMatchObject({
      task: { dataset: 'mbpp', taskId: '367', split: 'train' },
      sample: { sampleIndex: 0, seed: 1234, modelSha256: 'f'.repeat(64), program: expect.stringContaining('return True') },
      execution: { status: 'failed', errorKind: 'assertion_failure' },
      feedback: { source: 'human', author: 'ada', text: expect.stringContaining('subtrees') },
      refinement: { origin: 'human', author: 'ada' },
      review: { reviewer: 'grace', decision: 'accepted', editedProgram: expect.stringContaining('root') },
    });
    // The example trains on the reviewer's edit, not the raw refinement.
    expect(store.db.prepare('SELECT completion FROM training_examples WHERE id = ?').get(exampleId)).toEqual({
      completion: 'def is_tree_balanced(root):\n    ...',
    });
    store.close();
  });

  it('refuses rows that would break the lineage', async () => {
    const store = await mbppStore();
    const { runId } = seedRun(store, 'mbpp', 'train');
    const [sampleId] = store.runs.insertSamples(runId, [sample(taskRowId(store, 'mbpp', '400'), 0)]);
    if (sampleId === undefined) throw new Error('no sample');
    // Model feedback must name its model; shuffled controls must name their source feedback.
    expect(() => store.lineage.addFeedback({ sampleId, executionId: null, source: 'model', author: 'm', text: 'x' })).toThrow(/CHECK/);
    expect(() => store.lineage.addFeedback({ sampleId, executionId: null, source: 'shuffled-control', author: 'm', text: 'x' })).toThrow(/CHECK/);
    const feedbackId = store.lineage.addFeedback({ sampleId, executionId: null, source: 'human', author: 'ada', text: 'x' });
    const refinementId = store.lineage.addRefinement({ feedbackId, origin: 'human', author: 'ada', program: 'pass' });
    const rejected = store.lineage.addReview({ refinementId, reviewer: 'grace', decision: 'rejected' });
    const setId = store.lineage.createTrainingSet('s');
    expect(() => store.lineage.addTrainingExample(setId, rejected, 'p')).toThrow(/rejected, not accepted/);
    // A model refinement without its model is refused.
    expect(() => store.lineage.addRefinement({ feedbackId, origin: 'model', program: 'pass' })).toThrow(/CHECK/);
    store.close();
  });
});

describe('the failures inbox', () => {
  it('lists failing samples of tasks with no passing sample, newest first, paged', async () => {
    const store = await mbppStore();
    const { runId } = seedRun(store, 'mbpp', 'train');
    const [t1, t2, t3] = ['311', '312', '313'].map((k) => taskRowId(store, 'mbpp', k));
    if (t1 === undefined || t2 === undefined || t3 === undefined) throw new Error('tasks');
    store.bulk(() => {
      const ids = store.runs.insertSamples(runId, [sample(t1, 0), sample(t1, 1), sample(t2, 0), sample(t2, 1), sample(t3, 0), sample(t3, 1)]);
      const verdicts = [FAILED, FAILED, FAILED, PASSED, FAILED, SANDBOX_ERROR];
      ids.forEach((id, i) => store.runs.recordSampleExecution(id, verdicts[i] ?? FAILED));
    });

    const page = store.runs.failures({ runId, limit: 10 });
    // 312 has a passing sample: not an ILF candidate. 313's sandbox error is no verdict.
    expect(page.map((f) => [f.taskId, f.sampleIndex])).toEqual([['313', 0], ['311', 1], ['311', 0]]);
    expect(page[0]).toMatchObject({ errorKind: 'assertion_failure', testsPassed: 1, testsTotal: 2, feedbackCount: 0, split: 'train' });

    const first = store.runs.failures({ runId, limit: 2 });
    const rest = store.runs.failures({ runId, limit: 2, beforeSampleId: first.at(-1)?.sampleId });
    expect([...first, ...rest].map((f) => f.sampleId)).toEqual(page.map((f) => f.sampleId));
    expect(store.runs.failures({ runId, limit: 10, split: 'test' })).toEqual([]);
    // The others stay visible on request, flagged.
    const all = store.runs.failures({ runId, limit: 10, includeSolved: true });
    expect(all.map((f) => [f.taskId, f.taskSolved])).toEqual([['313', false], ['312', true], ['311', false], ['311', false]]);

    // A later passing run of 313's other sample removes 313 from the inbox.
    const sample313 = store.db.prepare<[number], { id: number }>('SELECT id FROM samples WHERE task_id = ? AND sample_index = 1').get(t3);
    store.runs.recordSampleExecution(sample313?.id ?? -1, PASSED);
    expect(store.runs.failures({ runId, limit: 10 }).map((f) => f.taskId)).toEqual(['311', '311']);
    store.close();
  });
});
