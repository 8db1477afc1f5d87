import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { dispatch } from '../../main/services/dispatch.js';
import { createHandlers } from '../../main/services/handlers.js';
import { Store } from '../../main/store/store.js';
import { tempDir } from '../helpers/fs.js';
import { noRuntime } from '../helpers/services.js';

describe('disposing the services', () => {
  it('is idempotent, and afterwards nothing new starts (rounds, training, downloads, the sandbox) while reads still answer', async () => {
    const dir = tempDir();
    const store = Store.open(path.join(dir, 'ilf.sqlite'));
    try {
      const services = createHandlers({ store, dataDir: dir, version: 'test', emit: () => undefined, runtime: noRuntime });
      expect(await dispatch(services, 'pipeline.list', undefined)).toMatchObject({ ok: true, value: [] });
      await services[Symbol.asyncDispose]();
      await services[Symbol.asyncDispose]();
      for (const [name, payload] of [
        ['pipeline.list', undefined],
        ['training.list', undefined],
        ['models.download', { ref: 'hf:o/r/m.gguf' }],
        ['refinements.review', { refinementId: 1, reviewer: 'ada', decision: 'rejected' }],
      ] as const) {
        expect(await dispatch(services, name, payload), name).toMatchObject({ ok: false, error: { code: 'UNAVAILABLE', message: 'ILF Studio is shutting down', hint: 'start it again' } });
      }
      expect(await dispatch(services, 'datasets.list', undefined)).toMatchObject({ ok: true });
    } finally {
      store.close();
    }
  });
});
