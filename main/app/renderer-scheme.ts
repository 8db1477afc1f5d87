import fs from 'node:fs/promises';
import path from 'node:path';
import { APP_HOST, APP_SCHEME } from './trusted-frame.js';

/**
 * The renderer's files over the app's own scheme (`app://ilf/…`), for Electron's protocol.handle.
 * Pure Node (the fetch API's Request and Response), so it is tested without Electron. Serves only
 * files inside the renderer folder, with their real MIME type (module scripts are refused
 * otherwise) and a strict Content-Security-Policy header.
 */

/**
 * The same policy as renderer/index.html's meta tag, plus what only a header can say
 * (frame-ancestors). No remote code, no eval, no connections out: the renderer reaches the services
 * over a MessagePort, not the network.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'", "script-src 'self'", "style-src 'self' 'unsafe-inline'", "img-src 'self' data:", "font-src 'self'",
  "connect-src 'self'", "worker-src 'self' blob:", "object-src 'none'", "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'",
].join('; ');

const MIME_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.ttf': 'font/ttf',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.wasm': 'application/wasm',
};

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

/** Strictly below `root` (path.relative, not a string prefix: /dist/renderer-evil is not inside /dist/renderer). */
function isInside(root: string, file: string): boolean {
  const inside = path.relative(root, file);
  return inside !== '' && inside !== '..' && !inside.startsWith(`..${path.sep}`) && !path.isAbsolute(inside);
}

export async function serveRendererRequest(rendererDir: string, request: Request): Promise<Response> {
  if (request.method !== 'GET' && request.method !== 'HEAD') return plain(405, 'the renderer is read-only');
  const file = rendererFileFor(rendererDir, request.url);
  if (file === null) return plain(404, 'not found');
  const type = MIME_TYPES[path.extname(file).toLowerCase()];
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
