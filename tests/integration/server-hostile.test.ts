import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { importTasks } from '../../main/datasets/import.js';
import { frameText, SERVER_LIMITS } from '../../main/server/server.js';
import { Store } from '../../main/store/store.js';
import { repoRoot, sharedData } from '../helpers/fs.js';

/**
 * Hostile requests against a real `ilf serve` on 127.0.0.1: the built CLI in its own process, probed
 * with raw TCP (malformed requests, hand-made WebSocket frames) and with the ws client.
 */
const bin = path.join(repoRoot, 'dist', 'main', 'cli', 'bin.js');

interface Serving { proc: ChildProcess; url: URL; port: number; token: string; stdout: string }

/** Starts `ilf serve` and waits for the address it prints. */
function serve(dataDir: string, args: string[] = []): Promise<Serving> {
  const proc = spawn(process.execPath, [bin, '--data-dir', dataDir, 'serve', '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  return new Promise((resolve, reject) => {
    proc.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      const printed = /ILF Studio is at (\S+)/.exec(stdout)?.[1];
      if (printed && stdout.includes('Ctrl-C')) {
        const url = new URL(printed);
        resolve({ proc, url, port: Number(url.port), token: url.searchParams.get('token') ?? '', stdout });
      }
    });
    proc.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    proc.once('exit', (code) => reject(new Error(`ilf serve exited with ${code}: ${stderr}`)));
  });
}

/** `ilf serve` that must refuse to start: its exit code and stderr. */
function serveRefused(dataDir: string, args: string[]): Promise<{ code: number | null; stderr: string }> {
  const proc = spawn(process.execPath, [bin, '--data-dir', dataDir, 'serve', '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
  return new Promise((resolve) => proc.once('exit', (code) => {
    clearTimeout(timer);
    resolve({ code, stderr });
  }));
}

async function stop(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null) return;
  const exited = new Promise((resolve) => proc.once('exit', resolve));
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

/** Sends raw bytes and returns the status line of the answer (or 'closed' when the server hangs up without one). */
function rawStatus(port: number, request: string | Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let got = '';
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`no answer to ${JSON.stringify(request.toString().slice(0, 60))}`)); }, 10_000);
    const done = (): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(got.split('\r\n')[0] || 'closed');
    };
    socket.on('data', (d: Buffer) => {
      got += d.toString('latin1');
      if (got.includes('\r\n')) done();
    });
    socket.on('error', done);
    socket.on('close', done);
    socket.write(request);
  });
}

/** A client-to-server WebSocket text frame (masked, as the protocol requires of clients). */
function clientFrame(text: string): Buffer {
  const payload = Buffer.from(text);
  const mask = randomBytes(4);
  const n = payload.length;
  const header = n < 126 ? Buffer.from([0x81, 0x80 | n])
    : n < 65536 ? Buffer.from([0x81, 0x80 | 126, n >> 8, n & 0xff])
      : Buffer.concat([Buffer.from([0x81, 0x80 | 127]), (() => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(n)); return b; })()]);
  return Buffer.concat([header, mask, payload.map((b, i) => b ^ (mask[i % 4] ?? 0))]);
}

/** A WebSocket spoken by hand over TCP, so that a test controls exactly what is written at once and whether anything is read. */
class RawWs {
  readonly texts: string[] = [];
  private buffer = Buffer.alloc(0);
  closed = false;
  private constructor(readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => this.take(d));
    socket.on('close', () => { this.closed = true; });
    socket.on('error', () => { this.closed = true; });
  }

  static open(port: number, token: string): Promise<RawWs> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1');
      let head = Buffer.alloc(0);
      const onData = (d: Buffer): void => {
        head = Buffer.concat([head, d]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        socket.off('data', onData);
        if (!head.subarray(0, 12).toString().includes('101')) {
          socket.destroy();
          reject(new Error(head.subarray(0, end).toString()));
          return;
        }
        const ws = new RawWs(socket);
        ws.take(head.subarray(end + 4));
        resolve(ws);
      };
      socket.on('data', onData);
      socket.on('error', reject);
      socket.write(`GET /api?token=${token} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    });
  }

  /** Server frames are unmasked: text frames are kept, the rest (ping, close) only consumed. */
  private take(d: Buffer): void {
    this.buffer = Buffer.concat([this.buffer, d]);
    for (;;) {
      if (this.buffer.length < 2) return;
      const opcode = (this.buffer[0] ?? 0) & 0x0f;
      let length = (this.buffer[1] ?? 0) & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (this.buffer.length < 4) return;
        length = this.buffer.readUInt16BE(2);
        offset = 4;
      } else if (length === 127) {
        if (this.buffer.length < 10) return;
        length = Number(this.buffer.readBigUInt64BE(2));
        offset = 10;
      }
      if (this.buffer.length < offset + length) return;
      if (opcode === 1) this.texts.push(this.buffer.subarray(offset, offset + length).toString('utf8'));
      this.buffer = this.buffer.subarray(offset + length);
    }
  }

  /** Several requests in one write. */
  send(messages: readonly unknown[]): void {
    this.socket.write(Buffer.concat(messages.map((m) => clientFrame(JSON.stringify(m)))));
  }
}

/** Opens a ws client; resolves 'open' or the HTTP status that refused the upgrade. */
function upgrade(url: string, headers: Record<string, string> = {}): Promise<{ status: number | 'open'; ws?: WebSocket }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.once('open', () => resolve({ status: 'open', ws }));
    ws.once('unexpected-response', (_req, res) => {
      resolve({ status: res.statusCode ?? 0 });
      ws.terminate();
    });
    ws.once('error', reject);
  });
}

/** One request over a fresh connection, the answer matched to its id. */
async function call(s: Serving, name: string, input?: unknown): Promise<{ ok: boolean; value?: unknown; error?: { code: string } }> {
  const { ws } = await upgrade(`ws://127.0.0.1:${s.port}/api?token=${s.token}`);
  if (!ws) throw new Error('refused');
  return new Promise((resolve) => {
    ws.on('message', (data) => {
      const m = JSON.parse(frameText(data)) as { id?: number; envelope?: { ok: boolean; value?: unknown; error?: { code: string } } };
      if (m.id === 7 && m.envelope) {
        const { envelope } = m;
        ws.once('close', () => resolve(envelope)); // its connection is gone before the next test counts them
        ws.close();
      }
    });
    ws.send(JSON.stringify({ id: 7, name, input }));
  });
}

let dir: string;
let s: Serving;

beforeAll(async () => {
  if (!fs.existsSync(bin)) throw new Error(`${bin} is missing: run \`npm run build\` (npm test does it first)`);
  dir = fs.mkdtempSync(path.join(fs.realpathSync(process.env.TMPDIR ?? '/tmp'), 'ilf-hostile-'));
  const store = Store.open(path.join(dir, 'ilf.sqlite'));
  await importTasks(store, sharedData('mbpp.jsonl'), { format: 'mbpp' });
  store.close();
  s = await serve(dir);
}, 60_000);

afterAll(async () => {
  await stop(s.proc);
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('ilf serve on 127.0.0.1 under hostile requests', () => {
  it('prints an address with a token of at least 128 bits, and refuses empty or short tokens at start', async () => {
    expect(s.url.hostname).toBe('127.0.0.1');
    expect(s.token).toMatch(/^[\w-]{22,}$/);
    for (const [token, reason] of [['', /token is empty/], ['abc123', /too short: 6 characters/], ['0123456789abcdef0123456789abcde', /too short/], ['has space and more than enough characters', /only A-Z/]] as const) {
      const refused = await serveRefused(dir, ['--token', token]);
      expect(refused.code, token).not.toBe(0);
      expect(refused.stderr, token).toMatch(reason);
    }
    const own = await serve(dir, ['--token', '0123456789abcdef0123456789abcdef']);
    expect(own.token).toBe('0123456789abcdef0123456789abcdef');
    await stop(own.proc);
  }, 60_000);

  it('without the token the API answers 401, on loopback too', async () => {
    const api = `ws://127.0.0.1:${s.port}/api`;
    expect((await upgrade(api)).status).toBe(401);
    expect((await upgrade(`${api}?token=`)).status).toBe(401);
    expect((await upgrade(`${api}?token=${s.token.slice(0, -1)}x`)).status).toBe(401);
    expect((await upgrade(`${api}?token=${s.token}${s.token}`)).status).toBe(401);
    expect(await call(s, 'app.info')).toMatchObject({ ok: true });
  });

  it('malformed request lines and headers get a 4xx, and the server keeps serving', async () => {
    const probes: [string | Buffer, RegExp][] = [
      ['GET /% HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n', /^HTTP\/1\.1 400/],
      ['GET //[ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n', /^HTTP\/1\.1 400/],
      ['GET /%E0%A4%A HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n', /^HTTP\/1\.1 400/],
      ['GET /%C0%AF..%C0%AFpackage.json HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n', /^HTTP\/1\.1 4\d\d/],
      ['GET /..%2f..%2fpackage.json HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n', /^HTTP\/1\.1 404/],
      ['GET /index.html/x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n', /^HTTP\/1\.1 404/],
      [`GET /${'a'.repeat(5000)} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`, /^HTTP\/1\.1 404/],
      ['GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nthis is not a header\r\n\r\n', /^HTTP\/1\.1 400/],
      ['GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ' + 'a'.repeat(64 * 1024) + '\r\n\r\n', /^HTTP\/1\.1 431/],
      ['HELLO\r\n\r\n', /^HTTP\/1\.1 400/],
      [Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]), /^HTTP\/1\.1 400/], // a TLS hello
      ['GET //[ HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n', /^HTTP\/1\.1 400/],
      ['GET /api?token=%zz HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n', /^HTTP\/1\.1 40[013]/],
      [`GET /api?token=${s.token} HTTP/1.1\r\nHost: 127.0.0.1:${s.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n`, /^HTTP\/1\.1 400/],
    ];
    for (const [request, status] of probes) {
      expect(await rawStatus(s.port, request), request.toString().slice(0, 40)).toMatch(status);
    }
    expect(s.proc.exitCode).toBeNull();
    // Raw, not fetch: fetch would keep an idle connection open and take a slot of the next test.
    expect(await rawStatus(s.port, 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')).toBe('HTTP/1.1 200 OK');
    expect(await call(s, 'app.info')).toMatchObject({ ok: true });
  });

  it('refuses upgrades from another origin or for another host name (DNS rebinding); its own origin is accepted', async () => {
    const api = `ws://127.0.0.1:${s.port}/api?token=${s.token}`;
    const own = `http://127.0.0.1:${s.port}`;
    const foreign: Record<string, string>[] = [
      { origin: 'http://evil.example' },
      { origin: 'null' },
      { origin: `http://127.0.0.1:${s.port + 1}` },
      { origin: `https://127.0.0.1:${s.port}` },
      { origin: `http://127.0.0.1.evil.example:${s.port}` },
      { host: `evil.example:${s.port}`, origin: `http://evil.example:${s.port}` }, // a rebinding page: its name now points here
      { host: `evil.example:${s.port}` },
      { host: `127.0.0.1:${s.port + 1}`, origin: own },
    ];
    for (const headers of foreign) {
      expect((await upgrade(api, headers)).status, JSON.stringify(headers)).toBe(403);
    }
    const ownOrigins: Record<string, string>[] = [{ origin: own }, { origin: `http://localhost:${s.port}`, host: `localhost:${s.port}` }, {}];
    for (const headers of ownOrigins) {
      const { status, ws } = await upgrade(api, headers);
      expect(status, JSON.stringify(headers)).toBe('open');
      ws?.close();
    }
  });

  it(`holds ${SERVER_LIMITS.maxConnections} idle connections, answers the next 503, and takes one again when a slot frees`, async () => {
    await new Promise((r) => setTimeout(r, 300)); // connections of the tests before have closed
    const api = `ws://127.0.0.1:${s.port}/api?token=${s.token}`;
    const held: WebSocket[] = [];
    try {
      for (let i = 0; i < SERVER_LIMITS.maxConnections; i += 1) {
        const { status, ws } = await upgrade(api);
        expect(status, `connection ${i + 1}`).toBe('open');
        if (ws) held.push(ws);
      }
      await new Promise((r) => setTimeout(r, 500));
      expect(held.every((ws) => ws.readyState === WebSocket.OPEN)).toBe(true);
      expect((await upgrade(api)).status).toBe(503);
      expect(await rawStatus(s.port, 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')).toMatch(/^HTTP\/1\.1 503/);
      held.pop()?.close();
      await expect.poll(async () => (await upgrade(api).then(({ status, ws }) => { ws?.close(); return status; }))).toBe('open');
    } finally {
      await Promise.all(held.map((ws) => new Promise((resolve) => {
        ws.once('close', resolve);
        ws.close();
      })));
    }
    await new Promise((r) => setTimeout(r, 200)); // the server sees the last closes
    expect(await call(s, 'app.info')).toMatchObject({ ok: true });
  }, 60_000);

  it('drops a client that stops reading, while another is served', async () => {
    const slow = await RawWs.open(s.port, s.token);
    slow.socket.pause(); // reads nothing from now on
    let sent = 0;
    let writeFailed = false;
    slow.socket.on('error', () => { writeFailed = true; });
    const other = await RawWs.open(s.port, s.token);
    const started = Date.now();
    // Each answer is every MBPP task (a few hundred KB): far more than the server may buffer for one peer.
    while (!writeFailed && !slow.socket.destroyed && sent < 3000 && Date.now() - started < 40_000) {
      slow.send(Array.from({ length: 4 }, () => ({ id: ++sent, name: 'tasks.list', input: { dataset: 'mbpp', limit: 1000 } })));
      await new Promise((r) => setTimeout(r, 5));
      if (sent % 200 === 0) {
        // Meanwhile the other client is answered promptly.
        const before = other.texts.length;
        other.send([{ id: sent, name: 'app.info' }]);
        await expect.poll(() => other.texts.length, { timeout: 5000 }).toBeGreaterThan(before);
      }
    }
    expect(writeFailed || slow.socket.destroyed, `still connected after ${sent} unread requests`).toBe(true);
    other.send([{ id: 1, name: 'app.info' }]);
    await expect.poll(() => other.texts.some((t) => t.includes('"id":1,'))).toBe(true);
    expect(other.closed).toBe(false);
    other.socket.destroy();
    slow.socket.destroy();
  }, 60_000);

  it(`answers BUSY beyond ${SERVER_LIMITS.maxInFlightPerSocket} requests in flight on one connection, and refuses an oversized frame`, async () => {
    const ws = await RawWs.open(s.port, s.token);
    const n = SERVER_LIMITS.maxInFlightPerSocket + 24;
    ws.send(Array.from({ length: n }, (_, i) => ({ id: i + 1, name: 'datasets.import', input: { file: sharedData('mbpp.jsonl'), format: 'mbpp' } })));
    await expect.poll(() => ws.texts.filter((t) => t.startsWith('{"id"')).length, { timeout: 30_000 }).toBe(n);
    const answers = ws.texts.map((t) => JSON.parse(t) as { id: number; envelope?: { ok: boolean; error?: { code: string } } }).filter((m) => m.envelope);
    expect(new Set(answers.map((a) => a.id)).size).toBe(n);
    expect(answers.filter((a) => a.envelope?.error?.code === 'BUSY')).toHaveLength(n - SERVER_LIMITS.maxInFlightPerSocket);
    expect(answers.filter((a) => a.envelope?.ok)).toHaveLength(SERVER_LIMITS.maxInFlightPerSocket);
    ws.socket.destroy();

    const big = await upgrade(`ws://127.0.0.1:${s.port}/api?token=${s.token}`);
    const closed = new Promise<number>((resolve) => big.ws?.once('close', (code) => resolve(code)));
    big.ws?.on('error', () => undefined);
    big.ws?.send(JSON.stringify({ id: 1, name: 'app.info', input: 'x'.repeat(SERVER_LIMITS.maxPayloadBytes + 1) }));
    expect(await closed).toBe(1009);
    expect(await call(s, 'app.info')).toMatchObject({ ok: true });
  }, 60_000);

  it('an import (or model add) of a file that is not JSONL returns no byte of it', async () => {
    const secret = `SECRET-${randomBytes(12).toString('hex')}`;
    const files = {
      'notes.txt': `${secret} is the first line\nand ${secret} again\n`,
      'config.json': `[{"password": "${secret}"}]\n`,
      'half.jsonl': `{"task_id": 1, "text": "t", "code": "c", "test_list": ["assert True"]}\n${secret}\n{"task_id": "${secret}"}\n{"task_id": 1, "text": "${secret}", "code": "c", "test_list": []}\n`,
      'id_rsa': `-----BEGIN OPENSSH PRIVATE KEY-----\n${secret}\n-----END OPENSSH PRIVATE KEY-----\n`,
      'page.gguf': `<html>${secret}</html>`,
    };
    const { ws } = await upgrade(`ws://127.0.0.1:${s.port}/api?token=${s.token}`);
    if (!ws) throw new Error('refused');
    const frames: string[] = [];
    const waiting = new Map<number, (m: unknown) => void>();
    ws.on('message', (data) => {
      const text = frameText(data);
      frames.push(text);
      const m = JSON.parse(text) as { id?: number };
      if (typeof m.id === 'number') waiting.get(m.id)?.(m);
    });
    let id = 0;
    const ask = (name: string, input: unknown): Promise<unknown> => new Promise((resolve) => {
      id += 1;
      waiting.set(id, resolve);
      ws.send(JSON.stringify({ id, name, input }));
    });
    for (const [name, content] of Object.entries(files)) {
      const file = path.join(dir, name);
      fs.writeFileSync(file, content);
      for (const format of ['jsonl', 'mbpp', 'humaneval']) {
        expect(await ask('datasets.import', { file, format, name: 'leak' }), `${name} ${format}`).toMatchObject({ envelope: { ok: false } });
      }
      expect(await ask('models.add', { file }), name).toMatchObject({ envelope: { ok: false, error: { code: 'BAD_INPUT' } } });
    }
    ws.close();
    expect(frames.length).toBeGreaterThanOrEqual(Object.keys(files).length * 4);
    // Line numbers and reasons stay: the half-JSONL file names its bad lines.
    expect(frames.join('\n')).toMatch(/line 2: not valid JSON/);
    // Not even a few bytes: V8's own JSON error quotes ten characters of the line, which this catches.
    const pieces = ['SECRET', ...Array.from({ length: secret.length - 12 }, (_, i) => secret.slice(7 + i, 13 + i))];
    for (const frame of frames) {
      for (const piece of pieces) expect(frame).not.toContain(piece);
    }
  });
});
