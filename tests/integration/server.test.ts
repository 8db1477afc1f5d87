import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { frameText, startServer } from '../../main/server/server.js';
import { createHandlers } from '../../main/services/handlers.js';
import { Store } from '../../main/store/store.js';
import { repoRoot, tempDir } from '../helpers/fs.js';
import { noRuntime } from '../helpers/services.js';

const rendererDir = path.join(repoRoot, 'dist', 'renderer');

function call(url: string, name: string, input?: unknown, headers: Record<string, string> = {}): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.on('error', reject);
    ws.on('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.on('open', () => ws.send(JSON.stringify({ id: 1, name, input })));
    ws.on('message', (data) => {
      resolve(JSON.parse(frameText(data)));
      ws.close();
    });
  });
}

describe('server mode', () => {
  it('shared beyond loopback, it makes up a token, prints the machine\'s addresses (not 0.0.0.0) and refuses the API without the token', async () => {
    const dir = tempDir();
    const store = Store.open(path.join(dir, 'ilf.sqlite'));
    const server = await startServer({
      host: '0.0.0.0', port: 0, rendererDir,
      handlersFor: (emit) => createHandlers({ store, dataDir: dir, version: '0.0.0-test', emit, runtime: noRuntime }),
    });
    try {
      expect(server.token).toMatch(/^[\w-]{32}$/);
      const port = new URL(server.url).port;
      const ipv4 = Object.values(os.networkInterfaces()).flat().filter((a) => a?.family === 'IPv4').map((a) => a?.address);
      expect(server.urls.map((u) => new URL(u).hostname).sort()).toEqual([...ipv4].sort());
      expect(server.urls.every((u) => u.endsWith(`:${port}/?token=${server.token}`))).toBe(true);
      expect(server.url).not.toMatch(/0\.0\.0\.0/);
      await expect(call(`ws://127.0.0.1:${port}/api`, 'datasets.list')).rejects.toThrow(/401/);
      await expect(call(`ws://127.0.0.1:${port}/api?token=wrong`, 'datasets.list')).rejects.toThrow(/401/);
      expect(await call(`ws://127.0.0.1:${port}/api?token=${server.token}`, 'datasets.list')).toEqual({ id: 1, envelope: { ok: true, value: [] } });
      expect(await call(`ws://127.0.0.1:${port}/api?token=${server.token}`, 'fs.readFile')).toMatchObject({ envelope: { ok: false, error: { code: 'BAD_REQUEST' } } });
      // Every interface address it prints is also a Host it answers to.
      for (const u of server.urls) {
        const host = new URL(u).host;
        expect(await call(`ws://127.0.0.1:${port}/api?token=${server.token}`, 'app.info', undefined, { host, origin: `http://${host}` }), host).toMatchObject({ envelope: { ok: true } });
      }
      // Static files come from the renderer bundle only.
      expect((await fetch(`http://127.0.0.1:${port}/`)).status).toBe(200);
      expect((await fetch(`http://127.0.0.1:${port}/..%2fpackage.json`)).status).toBe(404);
      expect((await fetch(`http://127.0.0.1:${port}/index.html`, { method: 'POST' })).status).toBe(404);
    } finally {
      await server.close();
      store.close();
    }
  });

  it('on loopback it needs a token too, refuses short ones, and says when the renderer is not built', async () => {
    const dir = tempDir();
    const store = Store.open(path.join(dir, 'ilf.sqlite'));
    const handlersFor = (emit: Parameters<typeof createHandlers>[0]['emit']) => createHandlers({ store, dataDir: dir, version: '0.0.0-test', emit, runtime: noRuntime });
    const server = await startServer({ port: 0, rendererDir, handlersFor });
    const port = new URL(server.url).port;
    expect(server.url).toBe(`http://127.0.0.1:${port}/?token=${server.token}`);
    await expect(call(`ws://127.0.0.1:${port}/api`, 'app.info')).rejects.toThrow(/401/);
    expect(await call(`ws://127.0.0.1:${port}/api?token=${server.token}`, 'app.info')).toMatchObject({ envelope: { ok: true, value: { version: '0.0.0-test' } } });
    await server.close();
    for (const token of ['', 'short', 'g'.repeat(21), 'f'.repeat(31), `${'g'.repeat(30)}/?`]) {
      await expect(startServer({ port: 0, rendererDir, handlersFor, token }), JSON.stringify(token)).rejects.toThrow(/access token/);
    }
    await startServer({ port: 0, rendererDir, handlersFor, token: 'g'.repeat(22) }).then((s) => s.close());
    await startServer({ port: 0, rendererDir, handlersFor, token: 'f'.repeat(32) }).then((s) => s.close());
    await expect(startServer({ port: 0, rendererDir: dir, handlersFor })).rejects.toThrow(/renderer is not built/);
    store.close();
  });

  it('drops a peer that stops answering pings, keeps one that answers', async () => {
    const dir = tempDir();
    const store = Store.open(path.join(dir, 'ilf.sqlite'));
    const server = await startServer({
      port: 0, rendererDir, limits: { heartbeatMs: 150 },
      handlersFor: (emit) => createHandlers({ store, dataDir: dir, version: '0.0.0-test', emit, runtime: noRuntime }),
    });
    const api = `ws://127.0.0.1:${new URL(server.url).port}/api?token=${server.token}`;
    try {
      const open = (autoPong: boolean): Promise<WebSocket> => new Promise((resolve, reject) => {
        const ws = new WebSocket(api, { autoPong });
        ws.once('open', () => resolve(ws));
        ws.once('error', reject);
      });
      const [dead, alive] = await Promise.all([open(false), open(true)]);
      const closedAt = new Promise<number>((resolve) => dead.once('close', () => resolve(Date.now())));
      const started = Date.now();
      expect(await closedAt - started).toBeLessThan(5000);
      await new Promise((r) => setTimeout(r, 500)); // several more heartbeats
      expect(alive.readyState).toBe(WebSocket.OPEN);
      alive.close();
    } finally {
      await server.close();
      store.close();
    }
  });

  it('answers BUSY beyond the in-flight cap of one connection, each answer to its own id', async () => {
    const dir = tempDir();
    const store = Store.open(path.join(dir, 'ilf.sqlite'));
    const server = await startServer({
      port: 0, rendererDir, limits: { maxInFlightPerSocket: 2 },
      handlersFor: (emit) => {
        const handlers = createHandlers({ store, dataDir: dir, version: '0.0.0-test', emit, runtime: noRuntime });
        // A slow request, so that the first two are still in flight when the rest arrive.
        return { ...handlers, 'datasets.list': async () => { await new Promise((r) => setTimeout(r, 300)); return []; } };
      },
    });
    try {
      const ws = new WebSocket(`ws://127.0.0.1:${new URL(server.url).port}/api?token=${server.token}`);
      await new Promise((resolve) => ws.once('open', resolve));
      const answers = new Map<number, string>();
      ws.on('message', (data) => {
        const m = JSON.parse(frameText(data)) as { id: number; envelope: { ok: boolean; error?: { code: string } } };
        answers.set(m.id, m.envelope.ok ? 'ok' : m.envelope.error?.code ?? '?');
      });
      for (let id = 1; id <= 5; id += 1) ws.send(JSON.stringify({ id, name: 'datasets.list' }));
      await expect.poll(() => answers.size).toBe(5);
      expect([...answers.entries()].sort(([a], [b]) => a - b)).toEqual([[1, 'ok'], [2, 'ok'], [3, 'BUSY'], [4, 'BUSY'], [5, 'BUSY']]);
      ws.close();
    } finally {
      await server.close();
      store.close();
    }
  });
});
