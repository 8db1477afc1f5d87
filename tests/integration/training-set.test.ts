import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { importTasks } from '../../main/datasets/import.js';
import { completionPrompt } from '../../main/datasets/prompt.js';
import { Store } from '../../main/store/store.js';
import { buildTrainingSet, exportTrainingSet, trainingTarget } from '../../main/training/dataset.js';
import { expectAppError } from '../helpers/errors.js';
import { sharedData, tempDir } from '../helpers/fs.js';
import { FAILED, sample, seedRun, taskRowId } from '../helpers/lineage.js';

async function storeWithReviews(): Promise<{ store: Store; dir: string }> {
  const dir = tempDir();
  const store = Store.open(path.join(dir, 'ilf.sqlite'));
  await importTasks(store, sharedData('mbpp.jsonl'), { format: 'mbpp' });
  await importTasks(store, sharedData('humaneval.jsonl'), { format: 'humaneval' });
  const mbpp = seedRun(store, 'mbpp', 'train');
  const he = seedRun(store, 'humaneval', 'test');
  const review = (runId: number, dataset: string, task: string, program: string, decision: 'accepted' | 'rejected', edited?: string): void => {
    const [sampleId] = store.runs.insertSamples(runId, [sample(taskRowId(store, dataset, task), 0)]);
    const executionId = store.runs.recordSampleExecution(sampleId ?? 0, FAILED);
    const feedbackId = store.lineage.addFeedback({ sampleId: sampleId ?? 0, executionId, source: 'human', author: 'ada', text: 'fix it' });
    const refinementId = store.lineage.addRefinement({ feedbackId, origin: 'human', author: 'ada', program });
    store.lineage.addReview({ refinementId, reviewer: 'grace', decision, editedProgram: edited ?? null });
  };
  review(mbpp.runId, 'mbpp', '311', 'def f():\n    return 1\n', 'accepted');
  review(mbpp.runId, 'mbpp', '312', 'def g():\n    return 2\n', 'rejected');
  review(mbpp.runId, 'mbpp', '313', 'def h():\n    return 0\n', 'accepted', 'def h():\n    return 3\n');
  const prefix = store.catalog.getTask('humaneval', 'HumanEval/0')?.codePrefix ?? '';
  review(he.runId, 'humaneval', 'HumanEval/0', `${prefix}    return False\n`, 'accepted');
  return { store, dir };
}

describe('training set builder', () => {
  it('turns accepted refinements into prompt → program rows with lineage, once', async () => {
    const { store, dir } = await storeWithReviews();
    const built = buildTrainingSet(store, 'round 1');
    expect(built.rows).toBe(3);
    await expectAppError(Promise.resolve().then(() => buildTrainingSet(store, 'again')), 'BAD_INPUT', /no accepted refinements/);

    const file = path.join(dir, 'train.jsonl');
    expect(await exportTrainingSet(store, built.trainingSetId, file, 'prompt-completion')).toBe(3);
    const rows = fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { prompt: string; completion: string; lineage: Record<string, unknown> });
    const task311 = store.catalog.getTask('mbpp', '311');
    expect(rows[0]).toMatchObject({
      prompt: completionPrompt({ text: task311?.text ?? '', exampleTest: task311?.exampleTest ?? null, codePrefix: null }),
      completion: 'def f():\n    return 1\n',
      lineage: { dataset: 'mbpp', taskId: '311', feedbackAuthor: 'ada' },
    });
    expect(rows[1]?.completion).toBe('def h():\n    return 3\n'); // the reviewer's edit
    // HumanEval: the prompt is the code prefix, the target what follows it.
    expect(rows[2]?.prompt).toBe(store.catalog.getTask('humaneval', 'HumanEval/0')?.codePrefix);
    expect(rows[2]?.completion).toBe('    return False\n');

    const chat = path.join(dir, 'chat.jsonl');
    await exportTrainingSet(store, built.trainingSetId, chat, 'messages');
    const first = JSON.parse(fs.readFileSync(chat, 'utf8').split('\n')[0] ?? '') as { messages: { role: string; content: string }[] };
    expect(first.messages.map((m) => m.role)).toEqual(['user', 'assistant']);
    expect(first.messages[1]?.content).toBe('def f():\n    return 1\n');
    store.close();
  });

  it('takes the part after a code prefix only when the program starts with it', () => {
    expect(trainingTarget('def f():\n    return 1\n', 'completion', 'def f():\n')).toBe('    return 1\n');
    expect(trainingTarget('x = 1\n', 'completion', 'def f():\n')).toBe('x = 1\n');
    expect(trainingTarget('def f():\n    return 1\n', 'chat', 'def f():\n')).toBe('```python\ndef f():\n    return 1\n```');
  });
});
