import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../main/errors.js';
import { downloadDestination, downloadFile, partFile, partSourceFile, resolveModelReference, type DownloadProgress } from '../../main/models/download.js';
import { pinnedFile, RECOMMENDED_MODELS } from '../../main/models/recommended.js';
import { tempDir } from '../helpers/fs.js';
import os from 'node:os';
import { specForParams, writeTinyModel } from '../../native-models/gguf/writer.js';
import { downloadModel } from '../../main/models/registry.js';
import { LlamaRuntime } from '../../main/models/runtime.js';
import { Store } from '../../main/store/store.js';

/** A local stand-in for a model hub: serves one file, honours Range, and can cut a transfer short. */
const payload = randomBytes(3 * 1024 * 1024 + 123);
const payloadSha = createHash('sha256').update(payload).digest('hex');
const other = randomBytes(64 * 1024);
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
    const url = req.url ?? '';
    const served = url === '/models/tiny.gguf' ? payload : url === '/models/generated.gguf' || url.startsWith('/any/') ? generated
      : url === '/a/tiny.gguf' ? payload : url === '/b/tiny.gguf' ? other : null;
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
      // The connection breaks a moment after the bytes went out, so the client has read them: bytes still
      // queued in a fetch body when it errors are dropped (WHATWG streams), which a resume cannot count on.
      res.write(body.subarray(0, limit), () => setTimeout(() => res.destroy(), 300));
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

/** Every file under `root`, as paths relative to it. */
function filesUnder(root: string): string[] {
  return fs.readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(root, path.join(e.parentPath, e.name)));
}

describe('downloads stay in the models folder, one file per reference', () => {
  it('a reference that decodes to a path writes only inside the models folder', async () => {
    const root = tempDir();
    const store = Store.open(path.join(root, 'db', 'ilf.sqlite'));
    const runtime = new LlamaRuntime({ threads: 1 });
    const dataDir = path.join(root, 'data', 'nested');
    const modelsDir = path.join(dataDir, 'models');
    try {
      const ref = `${base}/any/..%2F..%2F..%2F.ssh%2Fauthorized_keys`;
      const { model } = await downloadModel(store, runtime, ref, dataDir);
      expect(path.dirname(model.path)).toBe(modelsDir);
      expect(path.basename(model.path)).toMatch(/^authorized_keys-[0-9a-f]{12}\.gguf$/);
      const outside = filesUnder(root).filter((f) => !f.startsWith(`data${path.sep}nested${path.sep}models${path.sep}`) && !f.startsWith(`db${path.sep}`));
      expect(outside).toEqual([]);
      expect(filesUnder(modelsDir)).toEqual([path.basename(model.path)]);
    } finally {
      await runtime.dispose();
      store.close();
    }
    // Whatever a reference holds, its destination is one plain name inside the folder.
    for (const ref of [`${base}/any/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd`, `${base}/any/..%5C..%5Cwin.ini`, `${base}/any/%00%0A%1B.gguf`,
      `${base}/any/${'x'.repeat(500)}.gguf`, `${base}/any/%E0%A4%A`, 'hf:a/b/..%2F..%2Fx.gguf', 'hf:a/b@v1/sub/m.gguf']) {
      const dest = downloadDestination('/models', ref);
      expect(path.dirname(dest), ref).toBe('/models');
      expect(path.basename(dest), ref).toMatch(/^[\w+][\w.+-]{0,79}-[0-9a-f]{12}\.gguf$/);
      expect(path.basename(dest), ref).not.toMatch(/\.\./);
    }
    for (const ref of ['hf:../../x.gguf', 'hf:a/b/../../../etc/x.gguf', 'hf:a/b/sub//x.gguf', 'hf:a/b@../x.gguf']) {
      expect(() => resolveModelReference(ref), ref).toThrow(/not a model reference/);
    }
  }, 60_000);

  it('two references with the same file name get two files, and a .part resumes only for its own reference', async () => {
    const modelsDir = tempDir();
    const [a, b] = [`${base}/a/tiny.gguf`, `${base}/b/tiny.gguf`];
    const [destA, destB] = [downloadDestination(modelsDir, a), downloadDestination(modelsDir, b)];
    expect(destA).not.toBe(destB);
    expect(path.basename(destA)).toMatch(/^tiny-[0-9a-f]{12}\.gguf$/);
    await downloadFile(a, destA, { source: a });
    await downloadFile(b, destB, { source: b });
    expect(fs.readFileSync(destA).equals(payload)).toBe(true);
    expect(fs.readFileSync(destB).equals(other)).toBe(true);

    // A .part whose sidecar names another source (or none) is started over, not resumed.
    const destC = path.join(modelsDir, 'c.gguf');
    for (const recorded of ['https://elsewhere.example/tiny.gguf', null]) {
      fs.writeFileSync(partFile(destC), other.subarray(0, 1000));
      if (recorded === null) fs.rmSync(partSourceFile(destC), { force: true });
      else fs.writeFileSync(partSourceFile(destC), recorded);
      ranges.length = 0;
      expect(await downloadFile(a, destC, { source: a, expectedSha256: payloadSha })).toEqual({ sha256: payloadSha, sizeBytes: payload.length });
      expect(ranges).toEqual([undefined]);
      expect(fs.existsSync(partSourceFile(destC))).toBe(false);
      fs.rmSync(destC);
    }
    // Its own reference's .part does resume.
    cutAfter = 4096;
    await expect(downloadFile(a, destC, { source: a })).rejects.toThrow(/stopped at/);
    expect(fs.readFileSync(partSourceFile(destC), 'utf8')).toBe(a);
    const kept = fs.statSync(partFile(destC)).size;
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThanOrEqual(4096);
    ranges.length = 0;
    await downloadFile(a, destC, { source: a, expectedSha256: payloadSha });
    expect(ranges).toEqual([`bytes=${kept}-`]);
  });

  it('a given sha256 is checked also for a file already there: a mismatch is deleted and refused', async () => {
    const dir = tempDir();
    const store = Store.open(path.join(dir, 'ilf.sqlite'));
    const runtime = new LlamaRuntime({ threads: 1 });
    const ref = `${base}/models/generated.gguf`;
    const dest = downloadDestination(path.join(dir, 'models'), ref);
    const sha = createHash('sha256').update(generated).digest('hex');
    try {
      fs.mkdirSync(path.dirname(dest), { recursive: true });
      fs.writeFileSync(dest, generated);
      const wrong = `${sha.slice(0, 63)}${sha.endsWith('0') ? '1' : '0'}`;
      await expect(downloadModel(store, runtime, ref, dir, { expectedSha256: wrong })).rejects.toThrow(/has sha256 [0-9a-f]{64}, not the expected [0-9a-f]{64}; it was deleted/);
      expect(fs.existsSync(dest)).toBe(false);
      expect(store.models.list()).toEqual([]);
      // The right hash: the download is checked and registered.
      const { model } = await downloadModel(store, runtime, ref, dir, { expectedSha256: sha });
      expect(model).toMatchObject({ sha256: sha, path: dest });
      // A recommended reference carries its pin; a different --sha256 for it is refused before anything is fetched.
      const pinned = RECOMMENDED_MODELS.find((m) => m.sha256 !== null);
      if (!pinned?.sha256) throw new Error('no pinned recommended model');
      expect(pinnedFile(pinned.ref)).toEqual({ sha256: pinned.sha256, sizeBytes: pinned.sizeBytes });
      await expect(downloadModel(store, runtime, pinned.ref, dir, { expectedSha256: '0'.repeat(64) })).rejects.toThrow(/is pinned to sha256/);
      expect(RECOMMENDED_MODELS.every((m) => m.sha256 === null || /^[0-9a-f]{64}$/.test(m.sha256))).toBe(true);
    } finally {
      await runtime.dispose();
      store.close();
    }
  }, 60_000);
});
