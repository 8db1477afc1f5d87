import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createClient, ApiError } from '../../renderer/src/api/client.js';
import { createCatalogStore, selectIsEmpty, selectSplitNames, selectTotalTasks } from '../../renderer/src/state/catalog.js';
import { createInboxStore, SAVE_DELAY_MS } from '../../renderer/src/state/inbox.js';
import { importTasks } from '../../main/datasets/import.js';
import { updateHumanFeedback } from '../../main/pipeline/feedback-step.js';
import { FAILED, sample, seedRun, taskRowId } from '../helpers/lineage.js';
import { createHandlers } from '../../main/services/handlers.js';
import { createLocalBridge } from '../../main/services/local-bridge.js';
import { Store } from '../../main/store/store.js';
import { noRuntime } from '../helpers/services.js';
import { sharedData, tempDir } from '../helpers/fs.js';

function setup() {
  const dir = tempDir();
  const store = Store.open(path.join(dir, 'ilf.sqlite'));
  const bridge = createLocalBridge((emit) => createHandlers({ store, dataDir: dir, version: '0.0.0-test', emit, runtime: noRuntime }));
  return { store, api: createClient(bridge) };
}

describe("the renderer's catalog state over the real services", () => {
  it('starts empty, then mirrors an import, with filters and selectors', async () => {
    const { store, api } = setup();
    const catalog = createCatalogStore(api);
    await catalog.getState().refresh();
    expect(selectIsEmpty(catalog.getState())).toBe(true);

    const progress: number[] = [];
    const off = api.on('import.progress', (p) => progress.push(p.bytesRead));
    await api.call('datasets.import', { file: sharedData('mbpp.jsonl'), format: 'mbpp' });
    off();
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.at(-1)).toBeGreaterThan(100_000);

    await catalog.getState().refresh();
    expect(selectIsEmpty(catalog.getState())).toBe(false);
    expect(selectTotalTasks(catalog.getState())).toBe(974);
    expect(catalog.getState().tasks).toHaveLength(200); // one page

    await catalog.getState().setFilter({ dataset: 'mbpp', split: 'test' });
    expect(catalog.getState()).toMatchObject({ total: 100, loading: false, error: null });
    expect(catalog.getState().tasks.every((t) => t.split === 'test')).toBe(true);
    expect(selectSplitNames(catalog.getState())).toEqual(['prompt', 'test', 'refine', 'train']);

    await catalog.getState().setFilter({ search: 'palindrome' });
    expect(catalog.getState().tasks.length).toBeGreaterThan(0);
    expect(catalog.getState().tasks.every((t) => /palindrom/i.test(t.text))).toBe(true);
    store.close();
  });

  it('shows errors with the hint main wrote', async () => {
    const { store, api } = setup();
    const e: unknown = await api.call('datasets.import', { file: '/no/such.jsonl', format: 'mbpp' }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ApiError);
    expect((e as ApiError).hint).toMatch(/check the path/);
    const catalog = createCatalogStore(api);
    await catalog.getState().setFilter({ split: 'NOT VALID' });
    expect(catalog.getState().error?.message).toMatch(/invalid payload for tasks.list: split/);
    store.close();
  });
});

describe("the renderer's inbox and annotate state over the real services", () => {
  async function seeded() {
    const { store, api } = setup();
    await importTasks(store, sharedData('mbpp.jsonl'), { format: 'mbpp' });
    const { runId } = seedRun(store, 'mbpp', 'train');
    const ids = store.runs.insertSamples(runId, ['311', '312', '313'].map((k) => sample(taskRowId(store, 'mbpp', k), 0)));
    ids.forEach((id) => store.runs.recordSampleExecution(id, FAILED));
    const names: string[] = [];
    const inbox = createInboxStore(api, { load: () => '', store: (n) => names.push(n) });
    await inbox.getState().refresh();
    return { store, inbox, ids, names };
  }
  const settle = (ms = SAVE_DELAY_MS + 100): Promise<void> => new Promise((r) => setTimeout(r, ms));

  it('saves as you type (one feedback, then edits of it), only with a name, and moves on after saving', async () => {
    const { store, inbox, ids, names } = await seeded();
    const s = inbox.getState;
    expect(s().items.map((i) => i.sampleId)).toEqual([...ids].reverse());
    await s().open(ids[2] ?? 0);
    expect(s().current).toMatchObject({ taskId: '313', failingLine: null, execution: { errorKind: 'assertion_failure' } });

    s().setDraft('The sum is off by one.');
    await s().saveNow();
    expect(s()).toMatchObject({ saveState: 'error', saveMessage: expect.stringMatching(/give your name first/) });
    s().setAuthor('  ada ');
    expect(names).toEqual(['ada']);

    s().setDraft('The sum is off by one.');
    expect(s().saveState).toBe('pending');
    await settle();
    expect(s().saveState).toBe('saved');
    s().setDraft('The sum is off by one: start the range at 0.');
    await settle();
    const rows = store.db.prepare<[number], { author: string; text: string; edited: string | null }>('SELECT author, text, edited_at AS edited FROM feedback WHERE sample_id = ?').all(ids[2] ?? 0);
    expect(rows).toEqual([{ author: 'ada', text: 'The sum is off by one: start the range at 0.', edited: expect.any(String) }]);
    expect(s().items.find((i) => i.sampleId === ids[2])?.feedbackCount).toBe(1);

    // Typing then moving on saves first; reopening shows the annotator their own feedback.
    expect(await s().step(1)).toBe(true);
    s().setDraft('Wrong base case.');
    expect(await s().step(1)).toBe(true);
    expect(store.db.prepare<[number], { text: string }>('SELECT text FROM feedback WHERE sample_id = ?').get(ids[1] ?? 0)?.text).toBe('Wrong base case.');
    expect(await s().step(1)).toBe(false); // the last one
    await s().open(ids[1] ?? 0);
    expect(s()).toMatchObject({ draft: 'Wrong base case.', saveState: 'saved' });
    store.close();
  });

  it('an edit made elsewhere in the meantime is a conflict, not overwritten', async () => {
    const { store, inbox, ids } = await seeded();
    const s = inbox.getState;
    s().setAuthor('ada');
    await s().open(ids[0] ?? 0);
    s().setDraft('first words');
    await s().saveNow();
    const saved = s().saved;
    // The same annotator in another tab.
    updateHumanFeedback(store, { feedbackId: saved?.feedbackId ?? 0, author: 'ada', text: 'from the other tab', version: saved?.version ?? '' });
    s().setDraft('first words, then more');
    await s().saveNow();
    expect(s()).toMatchObject({ saveState: 'conflict', saveMessage: expect.stringMatching(/changed since you loaded it/) });
    expect(store.db.prepare<[number], { text: string }>('SELECT text FROM feedback WHERE id = ?').get(saved?.feedbackId ?? 0)?.text).toBe('from the other tab');
    await s().open(ids[0] ?? 0); // reload
    expect(s()).toMatchObject({ draft: 'from the other tab', saveState: 'saved' });
    store.close();
  });
});
