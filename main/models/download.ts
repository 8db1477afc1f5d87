import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { AppError } from '../errors.js';

export interface DownloadProgress {
  bytes: number;
  /** From Content-Length / Content-Range; null when the server does not say. */
  totalBytes: number | null;
  bytesPerSecond: number;
  /** Seconds left at the current rate; null when unknown. */
  etaSeconds: number | null;
  resumedFrom: number;
}

export interface DownloadOptions {
  signal?: AbortSignal | undefined;
  onProgress?: ((p: DownloadProgress) => void) | undefined;
  expectedSha256?: string | undefined;
  expectedSize?: number | undefined;
  /** For gated repositories; sent only to the reference's own host. */
  token?: string | undefined;
  /** What the download is of (the reference); a `.part` left by another source is not resumed. Default: the URL. */
  source?: string | undefined;
  fetchImpl?: typeof fetch;
}

/** The `.part` file of a download; it is renamed into place only after the size and hash check. */
export const partFile = (dest: string): string => `${dest}.part`;

/** Next to a `.part`: the reference it is a part of, so that only the same reference resumes it. */
export const partSourceFile = (dest: string): string => `${dest}.part.source`;

/** What follows a file name in a destination: a hash of the whole reference, so two references never share a file. */
const REF_HASH_CHARS = 12;
const MAX_BASE_NAME = 80;

/**
 * A file name safe to join to a folder, from one a server or a person chose: decoded already; every
 * path separator, `..`, control and unusual character gone; length-limited; never empty.
 */
export function safeBaseName(name: string): string {
  const last = name.split(/[/\\]/).pop() ?? '';
  const cleaned = last
    .replace(/\.gguf$/i, '')
    .replace(/[^\w.+-]+/g, '_') // control characters, spaces, quotes, ':' of drive letters, …
    .replace(/\.{2,}/g, '.')
    .replace(/^[._-]+|[._-]+$/g, '')
    .slice(0, MAX_BASE_NAME);
  return cleaned || 'model';
}

/**
 * Where a reference downloads to inside `modelsDir`: its sanitised file name plus a short hash of the
 * whole reference (`qwen2.5-coder-0.5b-instruct-q8_0-3f9a1c0b2d4e.gguf`). Two references with the same
 * file name get two files, and nothing a reference says can point outside the folder.
 */
export function downloadDestination(modelsDir: string, ref: string): string {
  const { fileName } = resolveModelReference(ref);
  const hash = createHash('sha256').update(ref.trim()).digest('hex').slice(0, REF_HASH_CHARS);
  const folder = path.resolve(modelsDir);
  const dest = path.join(folder, `${safeBaseName(fileName)}-${hash}.gguf`);
  if (path.dirname(dest) !== folder) throw new Error(`download destination ${dest} escaped ${folder}`); // cannot happen: safeBaseName has no separator
  return dest;
}

function decodedOrRaw(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

const dotsOnly = (part: string): boolean => /^\.+$/.test(part);

/**
 * Where hf: references resolve: huggingface.co, or HF_ENDPOINT as in Hugging Face's own tools (a
 * mirror; the tests point it at a local server). HF_TOKEN is sent to this host only.
 */
export function hfEndpoint(): URL {
  return new URL(process.env.HF_ENDPOINT || 'https://huggingface.co');
}

/**
 * Turns what a person types into a URL: `hf:owner/repo/file.gguf`, `hf:owner/repo:file.gguf`,
 * `hf:owner/repo@revision/file.gguf`, or an http(s) URL as it is. `fileName` is a display name;
 * downloadDestination makes it safe.
 */
export function resolveModelReference(ref: string): { url: string; fileName: string } {
  if (/^https?:\/\//i.test(ref)) {
    const url = new URL(ref);
    const fileName = decodedOrRaw(url.pathname.split('/').pop() ?? '') || 'model.gguf';
    return { url: url.href, fileName };
  }
  const hf = /^hf:([\w.-]+)\/([\w.-]+)(?:@([\w./-]+?))?(?:[/:](.+\.gguf))$/i.exec(ref.trim());
  if (hf) {
    const [, owner, repo, revision, file] = hf;
    const parts = file?.split('/') ?? [];
    if (owner && repo && file && ![owner, repo, ...parts, ...(revision?.split('/') ?? [])].some(dotsOnly) && !parts.includes('')) {
      const encodedFile = parts.map(encodeURIComponent).join('/');
      return {
        url: `${hfEndpoint().href.replace(/\/$/, '')}/${owner}/${repo}/resolve/${encodeURIComponent(revision ?? 'main')}/${encodedFile}`,
        fileName: path.posix.basename(file),
      };
    }
  }
  throw new AppError('BAD_INPUT', `"${ref}" is not a model reference`,
    'use hf:OWNER/REPO/FILE.gguf (optionally hf:OWNER/REPO@REVISION/FILE.gguf) or an https:// URL of a .gguf file');
}

async function sha256Of(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(fs.createReadStream(file), hash);
  return hash.digest('hex');
}

/**
 * Downloads to `dest` through `dest.part`, resuming a previous partial download with an HTTP
 * Range request. The finished file is checked (size, and sha256 when known) before it is renamed
 * into place, so a failed or partial download never looks usable. Cancel keeps the .part for resume.
 */
export async function downloadFile(url: string, dest: string, options: DownloadOptions = {}): Promise<{ sha256: string; sizeBytes: number }> {
  const doFetch = options.fetchImpl ?? fetch;
  const part = partFile(dest);
  const sidecar = partSourceFile(dest);
  const source = options.source ?? url;
  await fs.promises.mkdir(path.dirname(dest), { recursive: true });
  let have = await fs.promises.stat(part).then((s) => s.size, () => 0);
  // Resume only a .part of this very source: bytes of another file would be checked only at the end.
  if (have > 0 && await fs.promises.readFile(sidecar, 'utf8').catch(() => null) !== source) {
    await fs.promises.rm(part, { force: true });
    have = 0;
  }
  if (have === 0) await fs.promises.writeFile(sidecar, source);

  const headers: Record<string, string> = { 'user-agent': 'ilf-studio' };
  if (have > 0) headers.range = `bytes=${have}-`;
  if (options.token && new URL(url).host === hfEndpoint().host) headers.authorization = `Bearer ${options.token}`;
  let response: Response;
  try {
    response = await doFetch(url, { headers, signal: options.signal ?? null, redirect: 'follow' });
  } catch (e) {
    if ((e as Error).name === 'AbortError') throw e;
    throw new AppError('NOT_FOUND', `cannot reach ${new URL(url).host}: ${(e as Error).message}`,
      'check the network, or copy the .gguf file here and add it with `ilf models add PATH`');
  }
  if (response.status === 416 && have > 0) {
    // The .part already holds everything (or is bigger than the file): start over cleanly.
    await response.body?.cancel();
    await fs.promises.rm(part, { force: true });
    return downloadFile(url, dest, options);
  }
  if (!response.ok || !response.body) {
    await response.body?.cancel();
    const hint = response.status === 401 || response.status === 403
      ? 'the repository may be gated: accept its licence on the website and set HF_TOKEN'
      : 'check the reference';
    throw new AppError('NOT_FOUND', `download of ${url} failed: HTTP ${response.status} ${response.statusText}`, hint);
  }
  const resumed = response.status === 206;
  if (!resumed && have > 0) have = 0; // the server ignored the Range: begin again
  const length = Number(response.headers.get('content-length') ?? NaN);
  const rangeTotal = /\/(\d+)$/.exec(response.headers.get('content-range') ?? '')?.[1];
  const totalBytes = rangeTotal ? Number(rangeTotal) : Number.isFinite(length) ? have + length : options.expectedSize ?? null;
  if (options.expectedSize !== undefined && totalBytes !== null && totalBytes !== options.expectedSize) {
    await response.body.cancel();
    throw new AppError('BAD_INPUT', `the server offers ${totalBytes} bytes, but ${options.expectedSize} were expected`, 'the file may have changed upstream; check the reference');
  }

  const started = Date.now();
  let bytes = have;
  let lastReport = 0;
  const report = (force: boolean): void => {
    if (!options.onProgress || (!force && Date.now() - lastReport < 200)) return;
    lastReport = Date.now();
    const elapsed = (Date.now() - started) / 1000;
    const rate = elapsed > 0 ? (bytes - have) / elapsed : 0;
    options.onProgress({
      bytes, totalBytes, bytesPerSecond: rate, resumedFrom: have,
      etaSeconds: totalBytes !== null && rate > 0 ? (totalBytes - bytes) / rate : null,
    });
  };
  // Every byte received is on disk before an error is reported (pipeline() would drop the writes
  // still queued when the connection breaks), so the next call resumes from all of them. The web
  // stream is read directly: a Node Readable made from it (Readable.fromWeb) that errors before its
  // first read, while the file is being opened, emits 'error' with no listener, an uncaught exception.
  let out: fs.promises.FileHandle;
  try {
    out = await fs.promises.open(part, resumed ? 'a' : 'w');
  } catch (e) {
    await response.body.cancel().catch(() => undefined);
    throw e;
  }
  try {
    for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
      await out.write(chunk);
      bytes += chunk.length;
      report(false);
    }
  } catch (e) {
    if ((e as Error).name === 'AbortError') throw e;
    throw new AppError('NOT_FOUND', `the download stopped at ${bytes} bytes: ${(e as Error).message}`, 'run the same download again: it resumes where it stopped');
  } finally {
    await out.close();
  }
  report(true);

  const sizeBytes = (await fs.promises.stat(part)).size;
  if (totalBytes !== null && sizeBytes !== totalBytes) {
    throw new AppError('NOT_FOUND', `the download ended early: ${sizeBytes} of ${totalBytes} bytes`, 'run the same download again: it resumes where it stopped');
  }
  const sha256 = await sha256Of(part);
  if (options.expectedSha256 && sha256 !== options.expectedSha256.toLowerCase()) {
    await Promise.all([fs.promises.rm(part, { force: true }), fs.promises.rm(sidecar, { force: true })]);
    throw new AppError('BAD_INPUT', `the downloaded file's sha256 is ${sha256}, not the expected ${options.expectedSha256}`,
      'the file was deleted; check the reference and the expected hash (the file may have changed upstream)');
  }
  await fs.promises.rename(part, dest);
  await fs.promises.rm(sidecar, { force: true });
  return { sha256, sizeBytes };
}
