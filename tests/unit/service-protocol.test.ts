import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { ServiceProcess, parseFromService, parseServiceArgs, serviceArgs, serviceEnv, type ServiceChild } from '../../main/app/service-protocol.js';

/** A child that records what the parent posts, exits only when the test says so, and on kill (SIGTERM). */
class ScriptedChild implements ServiceChild<string> {
  readonly posted: { message: unknown; transfer: string[] | undefined }[] = [];
  readonly events = new EventEmitter();
  kills = 0;
  postMessage(message: unknown, transfer?: string[]): void { this.posted.push({ message, transfer }); }
  onMessage(listener: (message: unknown) => void): void { this.events.on('message', listener); }
  onExit(listener: (code: number | null) => void): void { this.events.on('exit', listener); }
  kill(): void {
    this.kills += 1;
    this.events.emit('exit', 143);
  }
  say(message: unknown): void { this.events.emit('message', message); }
}

describe('the service process protocol', () => {
  it('always starts the service with a one-thread libuv pool, whatever the parent has', () => {
    expect(serviceEnv({ UV_THREADPOOL_SIZE: '4', HOME: '/home/ada', EMPTY: undefined })).toEqual({ UV_THREADPOOL_SIZE: '1', HOME: '/home/ada' });
    expect(serviceEnv({})).toEqual({ UV_THREADPOOL_SIZE: '1' });
  });

  it('passes its options as arguments and refuses what it does not know', () => {
    const options = { dataDir: '/data/ILF Studio', sqliteBinding: '/app/resources/native/better_sqlite3.node' };
    expect(parseServiceArgs(serviceArgs(options))).toEqual(options);
    expect(parseServiceArgs(serviceArgs({ dataDir: '/d' }))).toEqual({ dataDir: '/d' });
    expect(() => parseServiceArgs([])).toThrow(/--data-dir is required/);
    expect(() => parseServiceArgs(['--data-dir'])).toThrow(/needs a value/);
    expect(() => parseServiceArgs(['--data-dir', '/d', '--eval', 'x'])).toThrow(/unknown argument --eval/);
  });

  it('reads only well-formed control messages', () => {
    expect(parseFromService({ control: 'ready', pid: 7, serialThreadpool: true, dataDir: '/d' })).toEqual({ control: 'ready', pid: 7, serialThreadpool: true, dataDir: '/d' });
    expect(parseFromService({ control: 'ready', pid: '7' })).toBeNull();
    expect(parseFromService({ id: 1, envelope: { ok: true, value: 1 } })).toBeNull();
    expect(parseFromService(null)).toBeNull();
  });

  it('is ready on `ready`, fails on `failed` or an early exit, and hands other messages on', async () => {
    const child = new ScriptedChild();
    const service = new ServiceProcess(child);
    const seen: unknown[] = [];
    service.onMessage((m) => seen.push(m));
    child.say({ event: 'import.progress', payload: {} });
    child.say({ control: 'ready', pid: 3, serialThreadpool: true, dataDir: '/d' });
    await expect(service.ready).resolves.toMatchObject({ pid: 3 });
    expect(seen).toEqual([{ event: 'import.progress', payload: {} }]);
    service.connect('port-1');
    expect(child.posted).toEqual([{ message: { control: 'connect' }, transfer: ['port-1'] }]);

    const failing = new ScriptedChild();
    const failed = new ServiceProcess(failing);
    failing.say({ control: 'failed', message: 'the services could not start: disk full' });
    await expect(failed.ready).rejects.toThrow('disk full');

    const dying = new ScriptedChild();
    const died = new ServiceProcess(dying);
    dying.events.emit('exit', 1);
    await expect(died.ready).rejects.toThrow(/exited \(code 1\) before it was ready/);
  });

  it('dispose asks first, and terminates a service that has not exited within the grace period', async () => {
    const polite = new ScriptedChild();
    const quick = new ServiceProcess(polite);
    const done = quick.dispose(5_000);
    expect(polite.posted.at(-1)).toEqual({ message: { control: 'dispose' }, transfer: undefined });
    polite.events.emit('exit', 0);
    await done;
    expect(polite.kills).toBe(0);

    const stuck = new ScriptedChild();
    const slow = new ServiceProcess(stuck);
    const started = Date.now();
    await slow.dispose(50);
    expect(stuck.kills).toBe(1);
    expect(Date.now() - started).toBeGreaterThanOrEqual(45);
    expect(await slow.exited).toBe(143);
    // Disposing again waits for the same end and sends nothing new.
    await slow.dispose(50);
    expect(stuck.kills).toBe(1);
  });
});
