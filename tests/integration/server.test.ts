import path from 'node:path';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { frameText, startServer } from '../../main/server/server.js';
import { createHandlers } from '../../main/services/handlers.js';
import { Store } from '../../main/store/store.js';
import { repoRoot, tempDir } from '../helpers/fs.js';
import { noRuntime } from '../helpers/services.js';

const rendererDir = path.join(repoRoot, 'dist', 'renderer');

function call(url: string, name: string, input?: unknown): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
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
  it('shared beyond loopback, it makes up a token and refuses the API without it', async () => {
    const dir = tempDir();
    const store = Store.open(path.join(dir, 'ilf.sqlite'));
    const server = await startServer({
      host: '0.0.0.0', port: 0, rendererDir,
      handlersFor: (emit) => createHandlers({ store, dataDir: dir, version: '0.0.0-test', emit, runtime: noRuntime }),
    });
    try {
      expect(server.token).toMatch(/^[\w-]{20,}$/);
      const port = new URL(server.url).port;
      await expect(call(`ws://127.0.0.1:${port}/api`, 'datasets.list')).rejects.toThrow(/401/);
      await expect(call(`ws://127.0.0.1:${port}/api?token=wrong`, 'datasets.list')).rejects.toThrow(/401/);
      expect(await call(`ws://127.0.0.1:${port}/api?token=${server.token}`, 'datasets.list')).toEqual({ id: 1, envelope: { ok: true, value: [] } });
      expect(await call(`ws://127.0.0.1:${port}/api?token=${server.token}`, 'fs.readFile')).toMatchObject({ envelope: { ok: false, error: { code: 'BAD_REQUEST' } } });
      // Static files come from the renderer bundle only.
      expect((await fetch(`http://127.0.0.1:${port}/`)).status).toBe(200);
      expect((await fetch(`http://127.0.0.1:${port}/..%2fpackage.json`)).status).toBe(404);
      expect((await fetch(`http://127.0.0.1:${port}/index.html`, { method: 'POST' })).status).toBe(404);
    } finally {
      await server.close();
      store.close();
    }
  });

  it('on loopback it needs no token, and says when the renderer is not built', async () => {
    const dir = tempDir();
    const store = Store.open(path.join(dir, 'ilf.sqlite'));
    const handlersFor = (emit: Parameters<typeof createHandlers>[0]['emit']) => createHandlers({ store, dataDir: dir, version: '0.0.0-test', emit, runtime: noRuntime });
    const server = await startServer({ port: 0, rendererDir, handlersFor });
    expect(server.token).toBeNull();
    expect(await call(`ws://127.0.0.1:${new URL(server.url).port}/api`, 'app.info')).toMatchObject({ envelope: { ok: true, value: { version: '0.0.0-test' } } });
    await server.close();
    await expect(startServer({ port: 0, rendererDir: dir, handlersFor })).rejects.toThrow(/renderer is not built/);
    store.close();
  });
});
