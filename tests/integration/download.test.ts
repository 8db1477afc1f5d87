import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../main/errors.js';
import { downloadDestination, downloadFile, partFile, resolveModelReference, type DownloadProgress } from '../../main/models/download.js';
import { tempDir } from '../helpers/fs.js';
import os from 'node:os';
import { specForParams, writeTinyModel } from '../../native-models/gguf/writer.js';
import { downloadModel } from '../../main/models/registry.js';
import { LlamaRuntime } from '../../main/models/runtime.js';
import { Store } from '../../main/store/store.js';

/** A local stand-in for a model hub: serves one file, honours Range, and can cut a transfer short. */
const payload = randomBytes(3 * 1024 * 1024 + 123);
const payloadSha = createHash('sha256').update(payload).digest('hex');
let cutAfter: number | null = null;
let slow = false;
const ranges: (string | undefined)[] = [];
let generated: Buffer = Buffer.alloc(0);
let server: http.Server;
let base = '';

beforeAll(async () => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ilf-gen-')), 'generated.gguf');
  await writeTinyModel(file, specForParams('1M', { seed: 4 }));
  generated = fs.readFileSync(file);
  fs.rmSync(path.dirname(file), { recursive: true, force: true });
  server = http.createServer((req, res) => {
    const served = req.url === '/models/tiny.gguf' ? payload : req.url === '/models/generated.gguf' ? generated : null;
    if (!served) {
      res.writeHead(404).end('not found');
      return;
    }
    ranges.push(req.headers.range);
    const start = Number(/^bytes=(\d+)-$/.exec(req.headers.range ?? '')?.[1] ?? 0);
    const body = served.subarray(start);
    res.writeHead(start > 0 ? 206 : 200, {
      'content-length': String(body.length),
      ...(start > 0 ? { 'content-range': `bytes ${start}-${served.length - 1}/${served.length}` } : {}),
    });
    if (cutAfter !== null) {
      const limit = cutAfter;
      cutAfter = null;
      res.write(body.subarray(0, limit), () => res.destroy());
      return;
    }
    if (slow) {
      let offset = 0;
      const timer = setInterval(() => {
        if (offset >= body.length || res.destroyed) {
          clearInterval(timer);
          res.end();
          return;
        }
        res.write(body.subarray(offset, offset + 64 * 1024));
        offset += 64 * 1024;
      }, 20);
      return;
    }
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(() => {
  server.close();
});

describe('model download', () => {
  it('an interrupted transfer leaves only a .part; the next call resumes with a Range request', async () => {
    const dest = path.join(tempDir(), 'tiny.gguf');
    cutAfter = 1024 * 1024;
    ranges.length = 0;
    const first: unknown = await downloadFile(`${base}/models/tiny.gguf`, dest).catch((e: unknown) => e);
    expect(first).toBeInstanceOf(AppError);
    expect((first as AppError).hint).toMatch(/resumes/);
    expect(fs.existsSync(dest)).toBe(false);
    const partial = fs.statSync(partFile(dest)).size;
    expect(partial).toBeGreaterThan(0);
    expect(partial).toBeLessThan(payload.length);

    const progress: DownloadProgress[] = [];
    const done = await downloadFile(`${base}/models/tiny.gguf`, dest, { onProgress: (p) => progress.push(p), expectedSha256: payloadSha });
    expect(done).toEqual({ sha256: payloadSha, sizeBytes: payload.length });
    expect(ranges).toEqual([undefined, `bytes=${partial}-`]);
    expect(progress.at(-1)).toMatchObject({ bytes: payload.length, totalBytes: payload.length, resumedFrom: partial });
    expect(fs.existsSync(partFile(dest))).toBe(false);
    expect(fs.readFileSync(dest).equals(payload)).toBe(true);
  });

  it('a wrong hash is refused and nothing usable is left', async () => {
    const dest = path.join(tempDir(), 'tiny.gguf');
    const e: unknown = await downloadFile(`${base}/models/tiny.gguf`, dest, { expectedSha256: '0'.repeat(64) }).catch((x: unknown) => x);
    expect((e as AppError).message).toMatch(/sha256 is [0-9a-f]{64}, not the expected 0{64}/);
    expect(fs.existsSync(dest)).toBe(false);
    expect(fs.existsSync(partFile(dest))).toBe(false);
  });

  it('cancel stops the transfer and keeps the .part for later', async () => {
    const dest = path.join(tempDir(), 'tiny.gguf');
    slow = true;
    const controller = new AbortController();
    const p = downloadFile(`${base}/models/tiny.gguf`, dest, {
      signal: controller.signal,
      onProgress: (pr) => { if (pr.bytes > 256 * 1024) controller.abort(); },
    });
    await expect(p).rejects.toMatchObject({ name: 'AbortError' });
    slow = false;
    expect(fs.existsSync(dest)).toBe(false);
    expect(fs.statSync(partFile(dest)).size).toBeGreaterThan(0);
    const done = await downloadFile(`${base}/models/tiny.gguf`, dest, { expectedSha256: payloadSha });
    expect(done.sha256).toBe(payloadSha);
  });

  it('a missing file and a wrong size say so', async () => {
    const dir = tempDir();
    await expect(downloadFile(`${base}/models/none.gguf`, path.join(dir, 'x.gguf'))).rejects.toThrow(/HTTP 404/);
    await expect(downloadFile(`${base}/models/tiny.gguf`, path.join(dir, 'y.gguf'), { expectedSize: 10 })).rejects.toThrow(/offers \d+ bytes, but 10 were expected/);
  });

  it('resolves hf: references and URLs', () => {
    expect(resolveModelReference('hf:Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF/qwen2.5-coder-0.5b-instruct-q8_0.gguf')).toEqual({
      url: 'https://huggingface.co/Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF/resolve/main/qwen2.5-coder-0.5b-instruct-q8_0.gguf',
      fileName: 'qwen2.5-coder-0.5b-instruct-q8_0.gguf',
    });
    expect(resolveModelReference('hf:a/b@v1.0/sub/m.gguf').url).toBe('https://huggingface.co/a/b/resolve/v1.0/sub/m.gguf');
    expect(resolveModelReference('https://example.org/x/m%20q.gguf').fileName).toBe('m q.gguf');
    expect(() => resolveModelReference('Qwen/whatever')).toThrow(/not a model reference/);
  });
});

describe('downloading a model into the registry', () => {
  it('an interrupted download of a generated GGUF resumes, then the model is checked and registered', async () => {
    const dir = tempDir();
    const store = Store.open(path.join(dir, 'ilf.sqlite'));
    const runtime = new LlamaRuntime({ threads: 1 });
    try {
      cutAfter = Math.floor(generated.length / 3);
      await expect(downloadModel(store, runtime, `${base}/models/generated.gguf`, dir)).rejects.toThrow(/stopped at/);
      expect(store.models.list()).toEqual([]);
      const sha = createHash('sha256').update(generated).digest('hex');
      const { model, created } = await downloadModel(store, runtime, `${base}/models/generated.gguf`, dir, { expectedSha256: sha });
      expect(created).toBe(true);
      expect(model).toMatchObject({ sha256: sha, architecture: 'llama', sizeBytes: generated.length, path: downloadDestination(path.join(dir, 'models'), `${base}/models/generated.gguf`) });
      expect(path.basename(model.path)).toMatch(/^generated-[0-9a-f]{12}\.gguf$/);
      const resumedAt = Number(/^bytes=(\d+)-$/.exec(ranges.at(-1) ?? '')?.[1]);
      expect(resumedAt).toBeGreaterThan(0);
      expect(resumedAt).toBeLessThan(generated.length);
    } finally {
      await runtime.dispose();
      store.close();
    }
  }, 60_000);

  it('a download that is not a GGUF is deleted and not registered', async () => {
    const dir = tempDir();
    const store = Store.open(path.join(dir, 'ilf.sqlite'));
    const runtime = new LlamaRuntime({ threads: 1 });
    try {
      await expect(downloadModel(store, runtime, `${base}/models/tiny.gguf`, dir)).rejects.toThrow(/not a GGUF/);
      expect(fs.readdirSync(path.join(dir, 'models'))).toEqual([]);
      expect(store.models.list()).toEqual([]);
    } finally {
      await runtime.dispose();
      store.close();
    }
  });
});
