import path from 'node:path';

/**
 * What both ways of serving the renderer share (Electron's app:// scheme and `ilf serve`): which
 * files may be served, as which type, under which policy.
 */

/**
 * The same policy as renderer/index.html's meta tag, plus what only a header can say
 * (frame-ancestors). No remote code, no eval, no connections out but to the page's own origin (the
 * server mode WebSocket; 'self' covers ws: on the same host and port).
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

/** The type a renderer file is served as; undefined for a kind of file the bundle never has (not served). */
export const rendererContentType = (file: string): string | undefined => MIME_TYPES[path.extname(file).toLowerCase()];

/** Strictly below `root` (path.relative, not a string prefix: /dist/renderer-evil is not inside /dist/renderer). */
export function isInside(root: string, file: string): boolean {
  const inside = path.relative(root, file);
  return inside !== '' && inside !== '..' && !inside.startsWith(`..${path.sep}`) && !path.isAbsolute(inside);
}
