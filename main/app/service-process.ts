/**
 * The service process: owns the store, the llama.cpp runtime, the sandbox pool, training and ILF
 * rounds, and serves the contract over message channels. Electron starts it with
 * utilityProcess.fork (UV_THREADPOOL_SIZE=1, so desktop sampling is as reproducible as the CLI's);
 * tests start the same file with child_process.fork. It never imports Electron: it talks to a
 * "parent channel", which is `process.parentPort` under Electron (its messages carry MessagePorts
 * for renderers) and the IPC channel under Node.
 */
import { databasePath } from '../config/paths.js';
import { appVersion } from '../config/version.js';
import { describeError } from '../errors.js';
import { LlamaRuntime, hasSerialThreadpool } from '../models/runtime.js';
import { ServiceEndpoints, type AttachedEndpoint } from '../services/endpoints.js';
import { createHandlers, type ServiceHandlers } from '../services/handlers.js';
import { Store } from '../store/store.js';
import { parseServiceArgs, parseToService, type FromService } from './service-protocol.js';

/** One MessagePort given to this process (Electron's MessagePortMain, as far as we use it). */
interface PortLike {
  post(message: unknown): void;
  onMessage(listener: (message: unknown) => void): void;
  onClose(listener: () => void): void;
  start(): void;
}

interface ParentChannel {
  post(message: unknown): void;
  onMessage(listener: (message: unknown, ports: PortLike[]) => void): void;
  /** The parent is gone. */
  onDisconnect(listener: () => void): void;
  /** Sends the last message, then lets the process end. */
  release(last: FromService): void;
}

/** Electron's MessagePortMain and process.parentPort, described structurally (no Electron import). */
interface ElectronPortMain {
  postMessage(message: unknown): void;
  on(event: 'message', listener: (e: { data: unknown }) => void): unknown;
  on(event: 'close', listener: () => void): unknown;
  start(): void;
}
interface ElectronParentPort {
  postMessage(message: unknown): void;
  on(event: 'message', listener: (e: { data: unknown; ports: ElectronPortMain[] }) => void): unknown;
}

function parentChannel(): ParentChannel | undefined {
  const electron = (process as { parentPort?: unknown }).parentPort as ElectronParentPort | undefined;
  if (electron) {
    return {
      post: (m) => electron.postMessage(m),
      onMessage: (listener) => electron.on('message', (e) => listener(e.data, e.ports.map((p): PortLike => ({
        post: (m) => p.postMessage(m),
        onMessage: (l) => p.on('message', (ev) => l(ev.data)),
        onClose: (l) => p.on('close', l),
        start: () => p.start(),
      })))),
      onDisconnect: () => undefined, // Electron ends a utility process with its parent
      // parentPort keeps the process alive by design: the last message is queued, then we go.
      release: (last) => {
        electron.postMessage(last);
        setImmediate(() => process.exit(process.exitCode ?? 0));
      },
    };
  }
  const send = process.send?.bind(process);
  if (!send) return undefined;
  return {
    post: (m) => send(m),
    onMessage: (listener) => process.on('message', (m) => listener(m, [])),
    onDisconnect: (listener) => process.once('disconnect', listener),
    // Disconnecting closes the IPC channel, the last thing that keeps a disposed process alive.
    release: (last) => {
      if (process.connected) send(last, () => process.disconnect());
    },
  };
}

function main(): void {
  const channel = parentChannel();
  if (!channel) {
    process.stderr.write('service-process: start it through ILF Studio (utilityProcess.fork, or child_process.fork with an IPC channel)\n');
    process.exitCode = 2;
    return;
  }
  let store: Store;
  let dataDir: string;
  try {
    const options = parseServiceArgs(process.argv.slice(2));
    dataDir = options.dataDir;
    store = Store.open(databasePath(dataDir), options.sqliteBinding ? { nativeBinding: options.sqliteBinding } : {});
  } catch (e) {
    process.exitCode = 1;
    channel.release({ control: 'failed', message: `the services could not start: ${describeError(e)}` });
    return;
  }
  const runtime = new LlamaRuntime();
  const endpoints = new ServiceEndpoints();
  const services: ServiceHandlers = createHandlers({ store, dataDir, version: appVersion(), emit: endpoints.emit, runtime: () => runtime });
  endpoints.serve(services);

  let stopping: Promise<void> | undefined;
  const shutdown = (): Promise<void> => (stopping ??= (async () => {
    try {
      // Rounds, training, downloads and the sandbox pool first (they use the model and the store), then the model, then the store.
      await services[Symbol.asyncDispose]();
      await runtime.dispose();
      store.close();
    } catch (e) {
      process.stderr.write(`service-process: disposing the services failed: ${describeError(e)}\n`);
      process.exitCode = 1;
    }
    // Anything still holding the process now is a leak: say so, and end anyway.
    setTimeout(() => {
      process.stderr.write('service-process: still running 3 s after disposal; exiting\n');
      process.exit(process.exitCode ?? 0);
    }, 3000).unref();
    channel.release({ control: 'disposed' });
  })());

  // The parent channel becomes a client with its first request (tests drive the contract over it); the
  // Electron main never sends one, so it is not sent every event.
  let parent: AttachedEndpoint | undefined;
  channel.onMessage((message, ports) => {
    const control = parseToService(message);
    if (control?.control === 'connect') {
      for (const port of ports) {
        const client = endpoints.attach({ post: (m) => port.post(m) });
        port.onMessage((m) => client.receive(m));
        port.onClose(() => client.detach());
        port.start();
      }
    } else if (control?.control === 'dispose') {
      void shutdown();
    } else {
      parent ??= endpoints.attach({ post: (m) => channel.post(m) });
      parent.receive(message);
    }
  });
  channel.onDisconnect(() => void shutdown());
  process.on('SIGINT', () => void shutdown()); // a terminal's Ctrl-C reaches us beside main's dispose message
  // The parent's kill() after its grace period: a SIGTERM while already stopping means now. The trainer
  // checkpoints when its stdin closes and SQLite's WAL survives this, so nothing written is lost.
  process.on('SIGTERM', () => {
    if (!stopping) {
      void shutdown();
      return;
    }
    process.stderr.write('service-process: stopped before disposal finished\n');
    process.exit(1);
  });
  channel.post({ control: 'ready', pid: process.pid, serialThreadpool: hasSerialThreadpool(), dataDir } satisfies FromService);
}

main();
