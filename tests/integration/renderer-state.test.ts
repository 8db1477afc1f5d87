import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createClient, ApiError } from '../../renderer/src/api/client.js';
import { createCatalogStore, selectIsEmpty, selectSplitNames, selectTotalTasks } from '../../renderer/src/state/catalog.js';
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
