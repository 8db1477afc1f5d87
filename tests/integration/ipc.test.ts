/**
 * The Electron main's IPC, without Electron: registerIpc against a fake ipcMain that records its
 * handlers, with sender frames shaped as Electron reports them (url, origin, parent, postMessage).
 * The port a trusted frame receives is a real MessageChannel whose other end is served by the same
 * ServiceEndpoints the service process runs, over real handlers on a real SQLite file.
 */
import path from 'node:path';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { registerIpc, type IpcMainLike, type SenderFrame } from '../../main/app/ipc.js';
import { APP_ORIGIN } from '../../main/app/trusted-frame.js';
import { ServiceEndpoints } from '../../main/services/endpoints.js';
import { createHandlers } from '../../main/services/handlers.js';
import { Store } from '../../main/store/store.js';
import { CONNECT_CHANNEL, PORT_CHANNEL, createPortClient } from '../../preload/port-protocol.js';
import { tempDir, writeLines } from '../helpers/fs.js';
import { noRuntime } from '../helpers/services.js';

type Listener = (event: { readonly senderFrame: SenderFrame<MessagePort> | null }) => unknown;

/** Records handle/removeHandler as Electron's ipcMain would, and invokes a channel as a renderer would. */
class FakeIpcMain implements IpcMainLike<MessagePort> {
  readonly handlers = new Map<string, Listener>();
  handle(channel: string, listener: Listener): void {
    if (this.handlers.has(channel)) throw new Error(`Attempted to register a second handler for '${channel}'`); // Electron's own rule
    this.handlers.set(channel, listener);
  }
  removeHandler(channel: string): void {
    this.handlers.delete(channel);
  }
  async invoke(channel: string, senderFrame: SenderFrame<MessagePort> | null): Promise<unknown> {
    const listener = this.handlers.get(channel);
    if (!listener) throw new Error(`No handler registered for '${channel}'`);
    return await listener({ senderFrame });
  }
}

/** A frame as WebFrameMain reports it, recording what main posts to it. */
function frame(url: string, options: { origin?: string; parent?: unknown } = {}): SenderFrame<MessagePort> & { posted: { channel: string; ports: MessagePort[] }[] } {
  const posted: { channel: string; ports: MessagePort[] }[] = [];
  let origin = options.origin;
  if (origin === undefined) {
    try {
      const u = new URL(url);
      origin = u.protocol === 'app:' ? `app://${u.host}` : u.origin;
    } catch {
      origin = 'null';
    }
  }
  return { url, origin, parent: options.parent ?? null, posted, postMessage: (channel, _message, transfer) => { posted.push({ channel, ports: transfer ?? [] }); } };
}

const open: { close: () => void }[] = [];
afterEach(() => {
  for (const o of open.splice(0)) o.close();
});

function setup(): { ipc: FakeIpcMain; opened: () => number; unregister: () => void; dir: string } {
  const dir = tempDir();
  const store = Store.open(path.join(dir, 'ilf.sqlite'));
  const endpoints = new ServiceEndpoints();
  endpoints.serve(createHandlers({ store, dataDir: dir, version: '0.0.0-test', emit: endpoints.emit, runtime: noRuntime }));
  let channels = 0;
  const ipc = new FakeIpcMain();
  // What main.ts does with MessageChannelMain and the service process; here the services run in-process.
  const unregister = registerIpc(ipc, () => {
    channels += 1;
    const { port1, port2 } = new MessageChannel();
    const client = endpoints.attach({ post: (m) => port1.postMessage(m) });
    port1.on('message', (m) => client.receive(m));
    port1.on('close', () => client.detach());
    open.push({ close: () => { port1.close(); port2.close(); } });
    return port2;
  });
  open.push({ close: () => store.close() });
  return { ipc, opened: () => channels, unregister, dir };
}

describe('registerIpc', () => {
  it('registers one channel, the connect request, and removes it again', () => {
    const { ipc, unregister } = setup();
    expect([...ipc.handlers.keys()]).toEqual([CONNECT_CHANNEL]);
    unregister();
    expect(ipc.handlers.size).toBe(0);
  });

  it('refuses untrusted frames FORBIDDEN and gives them no port', async () => {
    const { ipc, opened } = setup();
    const ours = frame('app://ilf/index.html');
    for (const sender of [
      frame('app://ilf/index.html#setup', { parent: ours }), // a subframe of our own page
      frame('file:///opt/ILF%20Studio/resources/app.asar/dist/renderer/index.html#setup'),
      frame('app://evil/index.html'),
      frame('app://ilf@evil/index.html'),
      frame('http://127.0.0.1:7860/?token=x#setup'),
      frame('app://ilf/index.html', { origin: 'null' }),
    ]) {
      expect(await ipc.invoke(CONNECT_CHANNEL, sender), sender.url).toMatchObject({ ok: false, error: { code: 'FORBIDDEN', message: expect.stringContaining('was refused') } });
      expect(sender.posted).toEqual([]);
    }
    expect(await ipc.invoke(CONNECT_CHANNEL, null)).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
    expect(opened()).toBe(0); // no channel was even made
  });

  it('serves a trusted frame whose URL carries a screen in its fragment: requests, bad input and events over its port', async () => {
    const { ipc, opened, dir } = setup();
    const sender = frame('app://ilf/index.html#setup');
    expect(sender.origin).toBe(APP_ORIGIN);
    expect(await ipc.invoke(CONNECT_CHANNEL, sender)).toEqual({ ok: true, value: null });
    expect(opened()).toBe(1);
    expect(sender.posted.map((p) => p.channel)).toEqual([PORT_CHANNEL]);
    const port = sender.posted[0]?.ports[0];
    if (!port) throw new Error('no port was posted to the trusted frame');

    // The preload's side of the protocol.
    const events: { name: string; payload: unknown }[] = [];
    const client = createPortClient((name, payload) => events.push({ name, payload }));
    port.on('message', (m) => client.receive(m));
    client.open((m) => port.postMessage(m));

    expect(await client.request('app.info', undefined)).toMatchObject({ ok: true, value: { dataDir: dir, schemaVersion: expect.any(Number) } });
    expect(await client.request('tasks.get', { dataset: 'x' })).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
    const file = writeLines(dir, 'one.jsonl', [JSON.stringify({ task_id: 1, text: 'Write one().', tests: ['assert one() == 1'] })]);
    expect(await client.request('datasets.import', { file, format: 'jsonl', name: 'one' })).toMatchObject({ ok: true, value: { added: 1 } });
    expect(events).toContainEqual({ name: 'import.progress', payload: expect.objectContaining({ file, linesRead: 1 }) });

    // The same page after moving to another screen asks again (a reload): it is still trusted.
    const moved = frame('app://ilf/index.html#review');
    expect(await ipc.invoke(CONNECT_CHANNEL, moved)).toEqual({ ok: true, value: null });
    expect(opened()).toBe(2);
  });
});
