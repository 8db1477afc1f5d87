/**
 * `ilf serve` stops when asked: a real server process that has done real work through its API — a
 * model loaded, the sandbox pool opened, a round sampled, tested, refined, reviewed by a person and
 * fine-tuning — exits on SIGTERM within a bound, leaves no process behind, and records the round as
 * stopped (resumable). It also samples with a one-thread libuv pool, as `ilf sample` does.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { specForParams, writeTinyModel } from '../../native-models/gguf/writer.js';
import type { Envelope } from '../../preload/contract.js';
import { createPortClient } from '../../preload/port-protocol.js';
import { Store } from '../../main/store/store.js';
import { repoRoot, sharedData, tempDir } from '../helpers/fs.js';
import { availableBackends } from '../helpers/sandbox.js';
import { descendants, stillRunning } from '../helpers/processes.js';

const bin = path.join(repoRoot, 'dist', 'main', 'cli', 'bin.js');
const TASKS = [847]; // one task the tiny model fails: enough for every step, and quick
const backends = await availableBackends();

/** Starts `ilf serve` on a free port and returns the address it printed (token included, if any). */
async function serve(dataDir: string): Promise<{ child: ChildProcess; url: URL; output: () => string }> {
  // Without UV_THREADPOOL_SIZE (vitest sets it for its workers): `ilf serve` must set it itself.
  const { UV_THREADPOOL_SIZE: _pool, ...env } = process.env;
  const child = spawn(process.execPath, [bin, '--data-dir', dataDir, 'serve', '--port', '0'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr?.on('data', (d: Buffer) => { out += d.toString(); });
  const url = await new Promise<URL>((resolve, reject) => {
    const poll = setInterval(() => {
      const m = /is at (http:\/\/\S+)/.exec(out);
      if (m?.[1]) { clearInterval(poll); resolve(new URL(m[1])); }
    }, 20);
    child.once('exit', (code) => { clearInterval(poll); reject(new Error(`ilf serve exited (${code}) before listening:\n${out}`)); });
  });
  return { child, url, output: () => out };
}

/** A browser tab's WebSocket client of /api, sending the page's own Origin. */
async function connect(page: URL): Promise<{ call: (name: string, input?: unknown) => Promise<unknown>; close: () => void }> {
  const api = new URL('/api', page);
  api.protocol = 'ws:';
  const token = page.searchParams.get('token');
  if (token) api.searchParams.set('token', token);
  const ws = new WebSocket(api, { origin: page.origin });
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  const client = createPortClient(() => undefined);
  client.open((m) => ws.send(JSON.stringify(m)));
  ws.on('message', (data: Buffer) => client.receive(JSON.parse(data.toString('utf8'))));
  return {
    call: async (name, input) => {
      const e: Envelope<unknown> = await client.request(name as 'app.info', input);
      if (!e.ok) throw new Error(`${name}: ${e.error.message}`);
      return e.value;
    },
    close: () => ws.close(),
  };
}

describe.skipIf(backends.length === 0 || process.platform !== 'linux')('ilf serve shuts down', () => {
  it('after loading a model, opening the sandbox pool, a reviewed round and while fine-tuning: SIGTERM ends it within 30 s, nothing left running', async () => {
    const dir = tempDir();
    const dataDir = path.join(dir, 'data');
    const rows = fs.readFileSync(sharedData('mbpp.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { task_id: number; code: string })
      .filter((r) => TASKS.includes(r.task_id));
    const tasksFile = path.join(dir, 'mbpp-few.jsonl');
    fs.writeFileSync(tasksFile, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
    const gold847 = rows.find((r) => r.task_id === 847)?.code.replace(/\r\n/g, '\n') ?? '';
    const modelFile = path.join(dir, 'tiny.gguf');
    await writeTinyModel(modelFile, specForParams('500K', { seed: 1 }));

    const { child, url, output } = await serve(dataDir);
    let workers: number[] = [];
    try {
      const server = descendants(child.pid ?? 0);
      // The re-executed server process (the one that samples) runs with a one-thread libuv pool.
      expect(server.some((pid) => fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes('UV_THREADPOOL_SIZE=1'))).toBe(true);

      const api = await connect(url);
      await api.call('datasets.import', { file: tasksFile, format: 'mbpp', name: 'mbpp-few' });
      const { model } = await api.call('models.add', { file: modelFile }) as { model: { id: number } };
      const round = await api.call('pipeline.start', { modelId: model.id, config: {
        dataset: 'mbpp-few', split: 'train', evalSplit: 'train', n: 2, maxTokens: 24, k: 1, feedbackSource: 'execution', review: 'auto', seed: 11,
        training: { epochs: 2000, learningRate: 3e-4, contextSize: 256, validationFraction: 0, threads: 1, checkpointEvery: 10 },
        evalN: 1, evalTemperature: 0, ks: [1],
      } }) as { id: number };
      const status = async (): Promise<{ step: string; status: string }> => (await api.call('pipeline.get', { pipelineId: round.id }) as { pipeline: { step: string; status: string } }).pipeline;
      await expect.poll(status, { timeout: 90_000, interval: 200 }).toMatchObject({ step: 'review', status: 'waiting' });

      // A person accepts task 847's refinement with the right program (re-tested in the sandbox first).
      const refinements = await api.call('refinements.list', { failing: true }) as { refinementId: number; taskId: string }[];
      const on847 = refinements.find((r) => r.taskId === '847');
      expect(on847).toBeDefined();
      await api.call('refinements.review', { refinementId: on847?.refinementId, reviewer: 'ada', decision: 'accepted', editedProgram: gold847 });
      await api.call('pipeline.resume', { pipelineId: round.id });
      const training = async (): Promise<{ status: string; step: number } | undefined> => (await api.call('training.list') as { status: string; step: number }[])[0];
      await expect.poll(training, { timeout: 60_000, interval: 100 }).toMatchObject({ status: 'running', step: expect.any(Number) });
      await expect.poll(async () => (await training())?.step ?? 0, { timeout: 60_000, interval: 100 }).toBeGreaterThan(0);
      workers = descendants(child.pid ?? 0);
      expect(workers.length).toBeGreaterThan(server.length); // sandbox workers and the trainer
      api.close();

      const started = Date.now();
      child.kill('SIGTERM');
      const code = await Promise.race([
        new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c))),
        new Promise<'still running'>((resolve) => setTimeout(() => resolve('still running'), 30_000)),
      ]);
      expect(code, output()).toBe(0);
      expect(Date.now() - started).toBeLessThan(30_000);
      await expect.poll(() => stillRunning(workers)).toEqual([]);
    } finally {
      child.kill('SIGKILL');
      for (const pid of workers) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    }

    // Stopped, not abandoned: the round and its training say so, and the samples were drawn reproducibly.
    const store = Store.open(path.join(dataDir, 'ilf.sqlite'));
    try {
      expect(store.pipeline.get(1)).toMatchObject({ status: 'cancelled' });
      expect(store.training.get(1)).toMatchObject({ status: 'cancelled' });
      const params = store.db.prepare<[], { params: string }>('SELECT params FROM sampling_runs ORDER BY id LIMIT 1').get();
      expect(JSON.parse(params?.params ?? '{}')).toMatchObject({ reproducible: true });
    } finally {
      store.close();
    }
  }, 240_000);
  it('Ctrl-C (SIGINT, also sent twice as a terminal does to both processes) ends a server holding a model and the sandbox pool', async () => {
    const dir = tempDir();
    const modelFile = path.join(dir, 'tiny.gguf');
    await writeTinyModel(modelFile, specForParams('500K', { seed: 1 }));
    const { child, url, output } = await serve(path.join(dir, 'data'));
    let workers: number[] = [];
    try {
      const api = await connect(url);
      await api.call('models.add', { file: modelFile });
      // Opens the sandbox pool, then finds no such refinement.
      await expect(api.call('refinements.review', { refinementId: 1, reviewer: 'ada', decision: 'rejected' })).rejects.toThrow(/no refinement|not found/i);
      workers = descendants(child.pid ?? 0);
      api.close();
      const started = Date.now();
      child.kill('SIGINT');
      child.kill('SIGINT');
      const code = await Promise.race([
        new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c))),
        new Promise<'still running'>((resolve) => setTimeout(() => resolve('still running'), 30_000)),
      ]);
      expect(code, output()).toBe(0);
      expect(Date.now() - started).toBeLessThan(30_000);
      await expect.poll(() => stillRunning(workers)).toEqual([]);
    } finally {
      child.kill('SIGKILL');
      for (const pid of workers) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    }
  }, 120_000);
});
