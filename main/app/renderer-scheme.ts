import fs from 'node:fs/promises';
import path from 'node:path';
import { CONTENT_SECURITY_POLICY, isInside, rendererContentType } from '../files/renderer-files.js';
import { APP_HOST, APP_SCHEME } from './trusted-frame.js';

/**
 * The renderer's files over the app's own scheme (`app://ilf/…`), for Electron's protocol.handle.
 * Pure Node (the fetch API's Request and Response), so it is tested without Electron. Serves only
 * files inside the renderer folder, with their real MIME type (module scripts are refused
 * otherwise) and a strict Content-Security-Policy header.
 */

const plain = (status: number, text: string): Response =>
  new Response(text, { status, headers: { 'content-type': 'text/plain; charset=utf-8', 'content-security-policy': CONTENT_SECURITY_POLICY, 'x-content-type-options': 'nosniff' } });

/** The file a URL names inside `root`, or null when it names nothing there (another host, traversal, bad escapes). */
export function rendererFileFor(root: string, requestUrl: string): string | null {
  let url: URL;
  try {
    url = new URL(requestUrl);
  } catch {
    return null;
  }
  if (url.protocol !== `${APP_SCHEME}:` || url.hostname !== APP_HOST || url.port !== '' || url.username !== '' || url.password !== '') return null;
  let relative: string;
  try {
    relative = decodeURIComponent(url.pathname);
  } catch {
    return null; // a malformed escape such as %E0%A4%A
  }
  // Decoded separators or NULs were not written by our bundle; Windows reads a backslash as a separator.
  if (relative.includes('\0') || relative.includes('\\')) return null;
  relative = relative.replace(/^\/+/, '') || 'index.html';
  const base = path.resolve(root);
  const file = path.resolve(base, relative);
  return isInside(base, file) ? file : null;
}

export async function serveRendererRequest(rendererDir: string, request: Request): Promise<Response> {
  if (request.method !== 'GET' && request.method !== 'HEAD') return plain(405, 'the renderer is read-only');
  const file = rendererFileFor(rendererDir, request.url);
  if (file === null) return plain(404, 'not found');
  const type = rendererContentType(file);
  if (type === undefined) return plain(404, 'not found');
  let body: Buffer;
  try {
    // A symlink inside the folder must not lead out of it.
    const [real, realRoot] = await Promise.all([fs.realpath(file), fs.realpath(rendererDir)]);
    if (!isInside(realRoot, real)) return plain(404, 'not found');
    body = await fs.readFile(real);
  } catch {
    return plain(404, 'not found'); // missing, a folder, unreadable
  }
  return new Response(request.method === 'HEAD' ? null : new Uint8Array(body), {
    status: 200,
    headers: {
      'content-type': type,
      'content-length': String(body.length),
      'content-security-policy': CONTENT_SECURITY_POLICY,
      'x-content-type-options': 'nosniff',
      'cache-control': 'no-cache',
    },
  });
}
