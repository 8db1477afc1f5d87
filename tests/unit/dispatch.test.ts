import { describe, expect, it } from 'vitest';
import { REQUEST_NAMES, requestChannel, eventChannel, EVENT_NAMES } from '../../preload/contract.js';
import { AppError } from '../../main/errors.js';
import { dispatch, type Handlers } from '../../main/services/dispatch.js';

const info = { version: '1.0.0', dataDir: '/d', databaseFile: '/d/ilf.sqlite', schemaVersion: 2 };

function handlers(overrides: Partial<Handlers> = {}): Handlers {
  return {
    'app.info': () => info,
    'datasets.list': () => [],
    'datasets.import': () => { throw new AppError('NOT_FOUND', '/x.jsonl does not exist', 'check the path'); },
    'tasks.list': (p) => ({ total: p.limit, tasks: [] }),
    'tasks.get': () => { throw new Error('boom'); },
    'tasks.history': () => { throw new AppError('NOT_FOUND', 'no task 1'); },
    'models.list': () => ({ models: [], adapters: [] }),
    'models.add': () => { throw new AppError('BAD_INPUT', 'not a GGUF file', 'give a .gguf'); },
    'models.addEndpoint': () => { throw new AppError('BAD_INPUT', 'cannot reach http://127.0.0.1:1'); },
    'models.recommended': () => [],
    'models.download': () => ({ downloadId: 1 }),
    'models.downloadCancel': () => ({ cancelled: false }),
    'hardware.detect': () => { throw new Error('no llama.cpp in unit tests'); },
    'failures.list': () => [],
    'failures.get': () => { throw new AppError('NOT_FOUND', 'no tested sample 1'); },
    'training.start': () => { throw new AppError('BAD_INPUT', 'training set 1 is empty'); },
    'training.stop': () => { throw new AppError('NOT_FOUND', 'no training run 1'); },
    'training.resume': () => { throw new AppError('NOT_FOUND', 'no training run 1'); },
    'training.list': () => [],
    'trainingSets.list': () => [],
    'trainingSets.build': () => { throw new AppError('BAD_INPUT', 'there are no accepted refinements'); },
    'trainingSets.rows': () => [],
    'training.get': () => { throw new AppError('NOT_FOUND', 'no training run 1'); },
    'pipeline.start': () => { throw new AppError('NOT_FOUND', 'no model with id 1'); },
    'pipeline.resume': () => { throw new AppError('NOT_FOUND', 'no ILF run 1'); },
    'pipeline.cancel': () => { throw new AppError('NOT_FOUND', 'no ILF run 1'); },
    'pipeline.list': () => [],
    'pipeline.get': () => { throw new AppError('NOT_FOUND', 'no ILF run 1'); },
    'feedback.add': () => ({ feedbackId: 1, version: '2026-01-01T00:00:00.000Z' }),
    'feedback.update': () => { throw new AppError('CONFLICT', 'feedback 1 changed since you loaded it'); },
    'refinements.list': () => [],
    'refinements.review': () => { throw new AppError('NOT_FOUND', 'no refinement 1'); },
    'evaluations.list': () => [],
    'exports.write': () => { throw new AppError('NOT_FOUND', 'no evaluation 1'); },
    'evaluations.compare': () => { throw new AppError('NOT_FOUND', 'no evaluation 1'); },
    ...overrides,
  };
}

describe('dispatch: the one gate between a transport and the services', () => {
  it('answers a valid request with its value', async () => {
    expect(await dispatch(handlers(), 'app.info', undefined)).toEqual({ ok: true, value: info });
  });

  it('fills contract defaults before the handler sees the payload', async () => {
    expect(await dispatch(handlers(), 'tasks.list', {})).toEqual({ ok: true, value: { total: 100, tasks: [] } });
  });

  it('refuses unknown requests, including names inherited from Object.prototype', async () => {
    for (const name of ['fs.readFile', 'constructor', '__proto__', 'toString']) {
      const r = await dispatch(handlers(), name, undefined);
      expect(r).toEqual({ ok: false, error: { code: 'BAD_REQUEST', message: `unknown request "${name}"` } });
    }
  });

  it('refuses payloads outside the schema, naming the field', async () => {
    const r = await dispatch(handlers(), 'datasets.import', { file: '/x', format: 'csv' });
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error.code).toBe('BAD_REQUEST');
      expect(r.error.message).toMatch(/^invalid payload for datasets.import: format: /);
    }
    const limit = await dispatch(handlers(), 'tasks.list', { limit: 1_000_000 });
    expect(limit.ok).toBe(false);
    const extra = await dispatch(handlers(), 'app.info', { sneaky: true });
    expect(extra.ok).toBe(false);
  });

  it('turns an AppError into a wire error with its hint, and anything else into INTERNAL', async () => {
    expect(await dispatch(handlers(), 'datasets.import', { file: '/x.jsonl', format: 'mbpp' })).toEqual({
      ok: false, error: { code: 'NOT_FOUND', message: '/x.jsonl does not exist', hint: 'check the path' },
    });
    const r = await dispatch(handlers(), 'tasks.get', { dataset: 'mbpp', taskId: '1' });
    expect(r).toMatchObject({ ok: false, error: { code: 'INTERNAL', message: 'boom' } });
  });

  it('checks what a handler returns against the contract', async () => {
    const bad = handlers({ 'app.info': () => ({ ...info, schemaVersion: 'two' as unknown as number }) });
    const r = await dispatch(bad, 'app.info', undefined);
    expect(r).toMatchObject({ ok: false, error: { code: 'INTERNAL', message: expect.stringMatching(/outside the contract: schemaVersion/) } });
  });

  it('names every channel in one place, all distinct', () => {
    const channels = [...REQUEST_NAMES.map(requestChannel), ...EVENT_NAMES.map(eventChannel)];
    expect(new Set(channels).size).toBe(channels.length);
    expect(channels.every((c) => c.startsWith('ilf:'))).toBe(true);
  });
});
