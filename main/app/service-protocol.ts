/**
 * The service process and whoever starts it (Electron's main through utilityProcess.fork, or Node
 * through child_process.fork in tests): its arguments, its environment, and the control messages
 * beside the contract's requests. No Electron import: the same code runs under both.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SERIAL_THREADPOOL_ENV } from '../models/runtime.js';

/** The entry point, compiled beside this module (dist/main/app/service-process.js). */
export const SERVICE_ENTRY = path.join(path.dirname(fileURLToPath(import.meta.url)), 'service-process.js');

/** Parent → service. `connect` transfers one MessagePort (Electron only); `dispose` asks for a clean exit. */
export type ToService = { control: 'connect' } | { control: 'dispose' };
/** Service → parent. */
export type FromService =
  | { control: 'ready'; pid: number; serialThreadpool: boolean; dataDir: string }
  | { control: 'failed'; message: string }
  | { control: 'disposed' };

export interface ServiceOptions {
  dataDir: string;
  /** better-sqlite3 built for the runtime that runs the service (Electron's ABI in the app); default: node_modules' own. */
  sqliteBinding?: string;
}

export function serviceArgs(options: ServiceOptions): string[] {
  return ['--data-dir', options.dataDir, ...(options.sqliteBinding ? ['--sqlite-binding', options.sqliteBinding] : [])];
}

export function parseServiceArgs(argv: readonly string[]): ServiceOptions {
  const options: Partial<ServiceOptions> = {};
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    if (flag === '--data-dir') options.dataDir = value;
    else if (flag === '--sqlite-binding') options.sqliteBinding = value;
    else throw new Error(`unknown argument ${flag}`);
  }
  if (!options.dataDir) throw new Error('--data-dir is required');
  return { dataDir: options.dataDir, ...(options.sqliteBinding ? { sqliteBinding: options.sqliteBinding } : {}) };
}

/**
 * The service process samples, so libuv's pool must be one thread from its start (see
 * main/models/runtime.ts); everything else is inherited. Strings only, as utilityProcess wants.
 */
export function serviceEnv(base: NodeJS.ProcessEnv): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(base)) if (value !== undefined) env[key] = value;
  return { ...env, ...SERIAL_THREADPOOL_ENV };
}

const isRecord = (m: unknown): m is Record<string, unknown> => typeof m === 'object' && m !== null;

export function parseFromService(m: unknown): FromService | null {
  if (!isRecord(m)) return null;
  if (m.control === 'ready' && typeof m.pid === 'number' && typeof m.serialThreadpool === 'boolean' && typeof m.dataDir === 'string') {
    return { control: 'ready', pid: m.pid, serialThreadpool: m.serialThreadpool, dataDir: m.dataDir };
  }
  if (m.control === 'failed' && typeof m.message === 'string') return { control: 'failed', message: m.message };
  if (m.control === 'disposed') return { control: 'disposed' };
  return null;
}

export function parseToService(m: unknown): ToService | null {
  if (!isRecord(m)) return null;
  if (m.control === 'connect' || m.control === 'dispose') return { control: m.control };
  return null;
}

/** The parent's handle on the child: Electron's UtilityProcess or Node's ChildProcess, adapted. */
export interface ServiceChild<Port> {
  postMessage(message: unknown, transfer?: Port[]): void;
  onMessage(listener: (message: unknown) => void): void;
  onExit(listener: (code: number | null) => void): void;
  /** SIGTERM on POSIX: the service disposes and exits. */
  kill(): void;
}

/**
 * The parent side: waits for `ready`, hands ports over, and shuts the service down — a dispose
 * message first, then SIGTERM if it has not exited in time.
 */
export class ServiceProcess<Port> {
  readonly ready: Promise<Extract<FromService, { control: 'ready' }>>;
  readonly exited: Promise<number | null>;
  /** Messages that are not control messages: answers and events on the parent channel. */
  private readonly listeners = new Set<(message: unknown) => void>();
  private disposing: Promise<void> | undefined;

  constructor(private readonly child: ServiceChild<Port>) {
    this.exited = new Promise((resolve) => child.onExit(resolve));
    this.ready = new Promise((resolve, reject) => {
      child.onMessage((message) => {
        const control = parseFromService(message);
        if (control?.control === 'ready') resolve(control);
        else if (control?.control === 'failed') reject(new Error(control.message));
        else if (control === null) for (const listener of this.listeners) listener(message);
      });
      void this.exited.then((code) => reject(new Error(`the service process exited (code ${code ?? 'none'}) before it was ready`)));
    });
    this.ready.catch(() => undefined); // observed by whoever awaits it; never an unhandled rejection
  }

  /** Answers and events on the parent channel (the Node tests drive the contract over it). */
  onMessage(listener: (message: unknown) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  post(message: unknown): void {
    this.child.postMessage(message);
  }

  /** Gives the service one end of a channel; the other end goes to a trusted renderer. */
  connect(port: Port): void {
    this.child.postMessage({ control: 'connect' } satisfies ToService, [port]);
  }

  /** Resolves once the process has exited: disposed cleanly, or terminated after `graceMs`. */
  dispose(graceMs = 15_000): Promise<void> {
    this.disposing ??= (async () => {
      let timer: NodeJS.Timeout | undefined;
      try {
        this.child.postMessage({ control: 'dispose' } satisfies ToService);
      } catch {
        // the channel is already gone: the exit (or the kill below) settles it
      }
      const late = new Promise<'late'>((resolve) => { timer = setTimeout(() => resolve('late'), graceMs); });
      if (await Promise.race([this.exited.then(() => 'exited' as const), late]) === 'late') this.child.kill();
      clearTimeout(timer);
      await this.exited;
    })();
    return this.disposing;
  }
}
