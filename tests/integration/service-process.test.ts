/**
 * The desktop app's service process, started from Node the way Electron's main starts it (same
 * entry, arguments, environment and message protocol; Node's IPC channel stands in for
 * process.parentPort, since the Electron binary cannot run here), and driven through the contract.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { forkService, serviceEntry } from '../helpers/service-process.js';
import { tempDir } from '../helpers/fs.js';
import { availableBackends } from '../helpers/sandbox.js';
import { descendants, stillRunning } from '../helpers/processes.js';

if (!fs.existsSync(serviceEntry)) throw new Error(`${serviceEntry} is missing: run \`npm run build\` first`);
const sandboxes = await availableBackends();

/** The environment of the parent, without the test runner's UV_THREADPOOL_SIZE: the fork itself must set it. */
function parentEnv(): NodeJS.ProcessEnv {
  const { UV_THREADPOOL_SIZE: _pool, ...env } = process.env;
  return env;
}

const exitWithin = async (exited: Promise<number | null>, ms: number): Promise<number | null | 'still running'> =>
  Promise.race([exited, new Promise<'still running'>((resolve) => setTimeout(() => resolve('still running'), ms))]);

describe('the service process, forked as Electron forks it', () => {
  it('starts with a one-thread libuv pool and answers the contract: requests, an import with its progress event, and bad input', async () => {
    const dataDir = tempDir();
    expect(parentEnv().UV_THREADPOOL_SIZE).toBeUndefined();
    const { child, service, call, events, raw, stderr } = forkService({ dataDir }, parentEnv());
    try {
      const ready = await service.ready;
      expect(ready).toMatchObject({ pid: child.pid, serialThreadpool: true, dataDir });
      if (process.platform === 'linux') {
        expect(fs.readFileSync(`/proc/${ready.pid}/environ`, 'utf8').split('\0')).toContain('UV_THREADPOOL_SIZE=1');
      }

      const info = await call('app.info');
      expect(info).toMatchObject({ ok: true, value: { dataDir, databaseFile: path.join(dataDir, 'ilf.sqlite'), schemaVersion: expect.any(Number) } });

      const file = path.join(dataDir, 'few.jsonl');
      fs.writeFileSync(file, [
        { task_id: 'add', text: 'Write add(a, b).', tests: ['assert add(1, 2) == 3'] },
        { task_id: 'neg', text: 'Write neg(x).', tests: ['assert neg(1) == -1'], split: 'test' },
      ].map((r) => JSON.stringify(r)).join('\n') + '\n');
      const imported = await call('datasets.import', { file, format: 'jsonl', name: 'few' });
      expect(imported).toMatchObject({ ok: true, value: { dataset: 'few', added: 2, splits: { train: 1, test: 1 } } });
      expect(events).toContainEqual({ name: 'import.progress', payload: expect.objectContaining({ file, linesRead: 2 }) });
      const tasks = await call('tasks.list', { dataset: 'few' });
      expect(tasks).toMatchObject({ ok: true, value: { total: 2 } });
      expect(tasks.ok && (tasks.value as { tasks: { taskId: string }[] }).tasks.map((t) => t.taskId).sort()).toEqual(['add', 'neg']);

      // Bad input is answered, never thrown across the process boundary.
      const invalid = await call('tasks.get', { dataset: 'few' });
      expect(invalid).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST', message: expect.stringMatching(/invalid payload for tasks.get/) } });
      expect(await call('no.such' as 'app.info')).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST', message: 'unknown request "no.such"' } });
      const before = raw.length;
      service.post({ hello: 'world' });
      await expect.poll(() => raw.length).toBe(before + 1);
      expect(raw.at(-1)).toEqual({ id: null, envelope: { ok: false, error: { code: 'BAD_REQUEST', message: expect.stringMatching(/not a request message/) } } });
      // Still serving after all that.
      expect(await call('datasets.list')).toMatchObject({ ok: true });

      // A clean shutdown: the dispose message, a `disposed` answer, and the process is gone within seconds.
      const started = Date.now();
      await service.dispose(10_000);
      expect(await exitWithin(service.exited, 0)).toBe(0);
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(stderr()).not.toMatch(/still running .* after disposal/);
    } finally {
      child.kill('SIGKILL');
    }
  }, 60_000);

  // Windows has no SIGTERM to catch (Node's kill() is TerminateProcess there); the dispose message above is its way.
  it.skipIf(process.platform === 'win32')(`SIGTERM disposes and exits${sandboxes.length > 0 ? ', also after the sandbox pool was opened' : ' (no sandbox here: without a pool)'}`, async () => {
    const dataDir = tempDir();
    const { child, service, call, stderr } = forkService({ dataDir }, parentEnv());
    try {
      await service.ready;
      let workers: number[] = [];
      if (sandboxes.length > 0) {
        // Reviewing opens the sandbox pool first (real worker processes), then finds no such refinement.
        const review = await call('refinements.review', { refinementId: 1, reviewer: 'ada', decision: 'rejected' });
        expect(review).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
        if (process.platform === 'linux') {
          workers = descendants(child.pid ?? 0);
          expect(workers.length).toBeGreaterThan(0);
        }
      } else {
        expect(await call('app.info')).toMatchObject({ ok: true });
      }
      const started = Date.now();
      child.kill('SIGTERM');
      expect(await exitWithin(service.exited, 10_000)).toBe(0);
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(stderr()).not.toMatch(/still running .* after disposal/);
      await expect.poll(() => stillRunning(workers)).toEqual([]);
      // The store was closed cleanly: a checkpointed WAL leaves no -wal file behind.
      expect(fs.existsSync(path.join(dataDir, 'ilf.sqlite-wal'))).toBe(false);
    } finally {
      child.kill('SIGKILL');
    }
  }, 60_000);

  it('a store that cannot open is reported to the parent as a failed start, and the process exits', async () => {
    const dataDir = path.join(tempDir(), 'a-file');
    fs.writeFileSync(dataDir, 'not a folder');
    const { service } = forkService({ dataDir }, parentEnv());
    await expect(service.ready).rejects.toThrow(/the services could not start/);
    expect(await exitWithin(service.exited, 10_000)).toBe(1);
  }, 30_000);
});
