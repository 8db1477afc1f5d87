/**
 * The built preload (dist/preload/index.cjs) end to end without Electron: it runs against a stand-in
 * for the `electron` module (contextBridge, ipcRenderer — what only the Electron binary provides),
 * asks the real registerIpc (behind a recording fake ipcMain) for its port, and talks over a real
 * MessageChannel to the same ServiceEndpoints the service process runs, on a real SQLite file.
 */
import fs from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { registerIpc, type SenderFrame } from '../../main/app/ipc.js';
import { ServiceEndpoints } from '../../main/services/endpoints.js';
import { createHandlers } from '../../main/services/handlers.js';
import { Store } from '../../main/store/store.js';
import { EVENT_NAMES, REQUEST_NAMES } from '../../preload/contract.js';
import { repoRoot, tempDir, writeLines } from '../helpers/fs.js';
import { noRuntime } from '../helpers/services.js';

const preloadBundle = path.join(repoRoot, 'dist', 'preload', 'index.cjs');
if (!fs.existsSync(preloadBundle)) throw new Error(`${preloadBundle} is missing: run \`npm run build\` first`);

type Envelope = { ok: boolean; value?: unknown; error?: { code: string; message: string } };
type Exposed = {
  requests: Record<string, (input?: unknown) => Promise<Envelope>>;
  events: Record<string, (listener: (payload: unknown) => void) => () => void>;
};

const cleanup: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanup.splice(0)) c();
});

/** Loads the preload as Electron would for a page at `url`, and returns what it exposed as window.ilf. */
function loadPreload(url: string): { ilf: Exposed; dir: string } {
  const dir = tempDir();
  const store = Store.open(path.join(dir, 'ilf.sqlite'));
  const endpoints = new ServiceEndpoints();
  endpoints.serve(createHandlers({ store, dataDir: dir, version: '0.0.0-test', emit: endpoints.emit, runtime: noRuntime }));
  cleanup.push(() => store.close());

  const handlers = new Map<string, (event: { senderFrame: SenderFrame<MessagePort> | null }) => unknown>();
  const rendererListeners = new Map<string, (event: { ports: MessagePort[] }) => void>();
  registerIpc<MessagePort>({ handle: (channel, l) => handlers.set(channel, l), removeHandler: (channel) => handlers.delete(channel) }, () => {
    const { port1, port2 } = new MessageChannel();
    const client = endpoints.attach({ post: (m) => port1.postMessage(m) });
    port1.on('message', (m) => client.receive(m));
    cleanup.push(() => { port1.close(); port2.close(); });
    return port2;
  });
  const frame: SenderFrame<MessagePort> = {
    url, origin: url.startsWith('app://ilf/') ? 'app://ilf' : 'null', parent: null,
    // WebFrameMain.postMessage → the preload's ipcRenderer listener, with the ports on the event.
    postMessage: (channel, _message, transfer) => setImmediate(() => rendererListeners.get(channel)?.({ ports: transfer ?? [] })),
  };
  const exposed = new Map<string, unknown>();
  const electron = {
    contextBridge: { exposeInMainWorld: (key: string, api: unknown) => exposed.set(key, api) },
    ipcRenderer: {
      once: (channel: string, listener: (event: { ports: MessagePort[] }) => void) => rendererListeners.set(channel, listener),
      invoke: async (channel: string) => {
        const handler = handlers.get(channel);
        if (!handler) throw new Error(`No handler registered for '${channel}'`);
        return await handler({ senderFrame: frame });
      },
    },
  };
  const module = { exports: {} };
  const run = vm.runInThisContext(`(function (require, module, exports) {${fs.readFileSync(preloadBundle, 'utf8')}\n})`) as
    (require: (id: string) => unknown, module: { exports: object }, exports: object) => void;
  run((id) => {
    if (id === 'electron') return electron;
    throw new Error(`the preload required ${id}: a sandboxed preload has only electron`);
  }, module, module.exports);
  return { ilf: exposed.get('ilf') as Exposed, dir };
}

describe('the preload', () => {
  it('exposes exactly the contract\'s requests and events, frozen, and nothing else', () => {
    const { ilf } = loadPreload('app://ilf/index.html');
    expect(Object.keys(ilf)).toEqual(['requests', 'events']);
    expect(Object.keys(ilf.requests).sort()).toEqual([...REQUEST_NAMES].sort());
    expect(Object.keys(ilf.events).sort()).toEqual([...EVENT_NAMES].sort());
    expect(Object.isFrozen(ilf) && Object.isFrozen(ilf.requests) && Object.isFrozen(ilf.events)).toBe(true);
  });

  it('on the app\'s page (#setup in its URL): a request made before the port arrives is answered, events reach subscribers until they unsubscribe', async () => {
    const { ilf, dir } = loadPreload('app://ilf/index.html#setup');
    const early = ilf.requests['app.info']?.(); // the port is not there yet: it waits
    const progress: unknown[] = [];
    const unsubscribe = ilf.events['import.progress']?.((p) => progress.push(p));
    expect(await early).toMatchObject({ ok: true, value: { dataDir: dir } });

    const file = writeLines(dir, 'one.jsonl', [JSON.stringify({ task_id: 1, text: 'Write one().', tests: ['assert one() == 1'] })]);
    expect(await ilf.requests['datasets.import']?.({ file, format: 'jsonl', name: 'one' })).toMatchObject({ ok: true, value: { added: 1 } });
    expect(progress).toContainEqual(expect.objectContaining({ file, linesRead: 1 }));
    unsubscribe?.();
    const seen = progress.length;
    expect(await ilf.requests['datasets.import']?.({ file, format: 'jsonl', name: 'one' })).toMatchObject({ ok: true, value: { unchanged: 1 } });
    expect(progress).toHaveLength(seen);
    expect(await ilf.requests['tasks.get']?.({ dataset: 'one' })).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
  });

  it('on any other page every request is answered FORBIDDEN, and no port is given', async () => {
    const { ilf } = loadPreload('file:///opt/ILF%20Studio/resources/app.asar/dist/renderer/index.html#setup');
    expect(await ilf.requests['app.info']?.()).toMatchObject({ ok: false, error: { code: 'FORBIDDEN', message: expect.stringMatching(/was refused/) } });
    expect(await ilf.requests['datasets.list']?.()).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
  });
});
