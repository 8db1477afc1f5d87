import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { REQUEST_NAMES, type Envelope } from '../../preload/contract.js';
import { importTasks } from '../../main/datasets/import.js';
import { frameText, startServer, type RunningServer } from '../../main/server/server.js';
import { createHandlers } from '../../main/services/handlers.js';
import { Store } from '../../main/store/store.js';
import { repoRoot, sharedData, tempDir } from '../helpers/fs.js';
import { FAILED, sample, seedRun, taskRowId } from '../helpers/lineage.js';
import { noRuntime } from '../helpers/services.js';

const rendererDir = path.join(repoRoot, 'dist', 'renderer');

/** One WebSocket client of server mode, as a browser tab is: requests by id, answers matched by id. */
class Client {
  private next = 1;
  private readonly waiting = new Map<number, (e: Envelope<unknown>) => void>();
  /** Answers to no request id (to frames that were not requests), in arrival order, not yet taken by raw(). */
  readonly unmatched: unknown[] = [];
  private onUnmatched: (() => void) | undefined;
  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const m = JSON.parse(frameText(data)) as { id: number | null; envelope?: Envelope<unknown> };
      const resolve = m.id === null ? undefined : this.waiting.get(m.id);
      if (resolve && m.envelope) {
        this.waiting.delete(m.id ?? 0);
        resolve(m.envelope);
      } else if (m.envelope) {
        this.unmatched.push(m.envelope);
        this.onUnmatched?.();
      }
    });
  }

  static open(url: string): Promise<Client> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      ws.once('open', () => resolve(new Client(ws)));
      ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
      ws.once('error', reject);
    });
  }

  call(name: string, input?: unknown): Promise<Envelope<unknown>> {
    const id = this.next++;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.ws.send(JSON.stringify({ id, name, input }));
    });
  }

  /**
   * A raw frame, and the answer to it: the one answer to no request id that arrives after it. Nothing
   * may be waiting when it is sent (an earlier frame answered twice would show here), and a frame that
   * gets no answer fails instead of passing on an earlier frame's.
   */
  raw(frame: string | Buffer): Promise<unknown> {
    if (this.unmatched.length > 0) throw new Error(`answers nobody asked for: ${JSON.stringify(this.unmatched)}`);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer to the frame ${JSON.stringify(frame.toString())}`)), 5000);
      this.onUnmatched = () => {
        clearTimeout(timer);
        this.onUnmatched = undefined;
        resolve(this.unmatched.shift());
      };
      this.ws.send(frame);
    });
  }

  close(): void {
    this.ws.close();
  }
}

const TOKEN = randomBytes(24).toString('base64url');

/**
 * Tries one named request over a fresh connection the way a browser tab would: if the upgrade is
 * refused, its HTTP status; if it is not, the request is sent and its answer returned.
 */
function attemptRequest(target: string, name: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(target);
    ws.once('unexpected-response', (_req, res) => {
      resolve(`HTTP ${res.statusCode}`);
      ws.terminate();
    });
    ws.once('open', () => ws.send(JSON.stringify({ id: 1, name })));
    ws.on('message', (data) => {
      resolve((JSON.parse(frameText(data)) as { envelope?: unknown }).envelope);
      ws.close();
    });
    ws.once('error', reject);
  });
}

let dir: string;
let store: Store;
let server: RunningServer;
let url: string;
let failingSample: number;

beforeAll(async () => {
  dir = tempDir();
  store = Store.open(path.join(dir, 'ilf.sqlite'));
  await importTasks(store, sharedData('mbpp.jsonl'), { format: 'mbpp' });
  const { runId } = seedRun(store, 'mbpp', 'train');
  const [id] = store.runs.insertSamples(runId, [sample(taskRowId(store, 'mbpp', '311'), 0)]);
  store.runs.recordSampleExecution(id ?? 0, FAILED);
  failingSample = id ?? 0;
  server = await startServer({
    host: '0.0.0.0', port: 0, rendererDir, token: TOKEN,
    handlersFor: (emit) => createHandlers({ store, dataDir: dir, version: '0.0.0-test', emit, runtime: noRuntime, fileRoot: dir }),
  });
  url = `ws://127.0.0.1:${new URL(server.url).port}/api`;
});

afterAll(async () => {
  await server.close();
  store.close();
});

describe('server mode API', () => {
  it('without the token, a LAN server refuses every request', async () => {
    for (const name of REQUEST_NAMES) {
      for (const attempt of [url, `${url}?token=wrong-${name}`, `${url}?token=${TOKEN.slice(1)}`, `${url}?token=${TOKEN}x`]) {
        expect(await attemptRequest(attempt, name), `${name} at ${attempt}`).toBe('HTTP 401');
      }
    }
    // The same helper does get an answer with the token: a refusal above is the server's, not the helper's.
    expect(await attemptRequest(`${url}?token=${TOKEN}`, 'app.info')).toMatchObject({ ok: true });
  });

  it('answers malformed payloads to every entry point with a validation error, never a crash', async () => {
    const client = await Client.open(`${url}?token=${TOKEN}`);
    const neverValid: unknown[] = [42, 'x', [], null, true, [{ modelId: 1 }]];
    const confused: unknown = JSON.parse(`{"modelId": "one", "runId": -1, "trainingSetId": 1.5, "pipelineId": {}, "sampleId": [], "refinementId": "x",
      "dataset": 7, "file": 3, "config": "rank=0", "author": 12, "text": null, "limit": 1e9,
      "__proto__": {"polluted": true}, "constructor": {"prototype": {"polluted": true}}}`);
    for (const name of REQUEST_NAMES) {
      for (const payload of neverValid) {
        const answer = await client.call(name, payload);
        expect(answer, `${name} ${JSON.stringify(payload)}`).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST', message: expect.stringContaining(name) } });
      }
      const answer = await client.call(name, confused);
      // Every request has a field the confused object gets wrong: each refuses it up front, none fails inside.
      expect(answer, `${name} with confused fields`).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST', message: expect.stringContaining(`invalid payload for ${name}`) } });
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    // Frames that are not requests at all.
    for (const frame of ['not json', '{"name": 5}', '{"id": "x", "name": "app.info"}', '{"id": 1.5, "name": "app.info"}', '[]', Buffer.from([0xff, 0x00, 0x13])]) {
      expect(await client.raw(frame), frame.toString()).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST', message: 'not a request message' } });
    }
    // Still serving, and no frame was answered twice.
    expect(await client.call('app.info')).toMatchObject({ ok: true, value: { version: '0.0.0-test' } });
    expect(client.unmatched).toEqual([]);
    client.close();
  });

  it('shared on the network, it reads no file outside the data folder and fetches no URL but the hub', async () => {
    const client = await Client.open(`${url}?token=${TOKEN}`);
    for (const file of ['/etc/passwd', '../../etc/passwd', path.join(dir, '..', 'elsewhere.jsonl')]) {
      expect(await client.call('datasets.import', { file, format: 'jsonl' })).toMatchObject({ ok: false, error: { code: 'BAD_INPUT', message: expect.stringMatching(/outside the data folder/) } });
      expect(await client.call('models.add', { file })).toMatchObject({ ok: false, error: { message: expect.stringMatching(/outside the data folder/) } });
    }
    for (const ref of ['http://169.254.169.254/latest/meta-data', 'https://intranet.local/model.gguf', 'file:///etc/passwd']) {
      expect(await client.call('models.download', { ref })).toMatchObject({ ok: false, error: { code: 'BAD_INPUT', message: expect.stringMatching(/downloads only hf:/) } });
    }
    client.close();
  });

  it('two annotators at once: every write is kept with its author; a stale edit is a conflict, not a silent overwrite', async () => {
    // Each in two tabs, each tab with 10 writes in flight (within the server's cap per connection).
    const [ada, lin, ada2, lin2] = await Promise.all(Array.from({ length: 4 }, () => Client.open(`${url}?token=${TOKEN}`)));
    if (!ada || !lin || !ada2 || !lin2) throw new Error('clients');
    const writes = await Promise.all(Array.from({ length: 20 }, (_, i) => [
      (i % 2 ? ada2 : ada).call('feedback.add', { sampleId: failingSample, author: 'ada', text: `ada's note ${i}` }),
      (i % 2 ? lin2 : lin).call('feedback.add', { sampleId: failingSample, author: 'lin', text: `lin's note ${i}` }),
    ]).flat());
    expect(writes.every((w) => w.ok)).toBe(true);
    const stored = store.db.prepare<[number], { author: string; n: number }>('SELECT author, COUNT(*) AS n FROM feedback WHERE sample_id = ? GROUP BY author ORDER BY author').all(failingSample);
    expect(stored).toEqual([{ author: 'ada', n: 20 }, { author: 'lin', n: 20 }]);

    const first = writes[0];
    const { feedbackId, version } = (first?.ok ? first.value : {}) as { feedbackId: number; version: string };
    // The same annotator in two tabs, both editing from the version they loaded: one wins, the other is told.
    const [a, b] = await Promise.all([
      ada.call('feedback.update', { feedbackId, author: 'ada', text: 'tab one', version }),
      ada.call('feedback.update', { feedbackId, author: 'ada', text: 'tab two', version }),
    ]);
    const outcomes = [a, b].map((r) => (r?.ok ? 'saved' : r?.error.code));
    expect(outcomes.sort()).toEqual(['CONFLICT', 'saved']);
    const saved = [a, b].find((r) => r?.ok);
    const text = store.db.prepare<[number], { text: string }>('SELECT text FROM feedback WHERE id = ?').get(feedbackId)?.text;
    expect(text).toBe(saved === a ? 'tab one' : 'tab two');
    // Someone else's feedback is not yours to edit.
    const current = ((saved?.ok ? saved.value : { version: '' }) as { version: string }).version;
    expect(await lin.call('feedback.update', { feedbackId, author: 'lin', text: 'mine now', version: current }))
      .toMatchObject({ ok: false, error: { code: 'BAD_INPUT', message: `feedback ${feedbackId} was written by ada` } });
    expect(store.db.prepare<[number], { text: string }>('SELECT text FROM feedback WHERE id = ?').get(feedbackId)?.text).toBe(text);
    for (const c of [ada, lin, ada2, lin2]) c.close();
  });
});
