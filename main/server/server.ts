import { randomBytes, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { z } from 'zod';
import { AppError } from '../errors.js';
import { dispatch, type Emit, type Handlers } from '../services/dispatch.js';

/**
 * Server mode: the same renderer and the same services as the desktop app, over HTTP (the bundle)
 * and a WebSocket at /api (requests and events). Bound to 127.0.0.1 by default; any other address
 * requires an access token, generated when none is given.
 */
export interface ServeOptions {
  host?: string;
  port?: number;
  token?: string;
  rendererDir: string;
  handlersFor: (emit: Emit) => Handlers;
}

export interface RunningServer {
  url: string;
  token: string | null;
  close(): Promise<void>;
}

const ClientMessage = z.object({ id: z.number().int(), name: z.string(), input: z.unknown().optional() });

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml',
  '.ttf': 'font/ttf', '.woff2': 'font/woff2', '.json': 'application/json',
};

/** A WebSocket frame's payload as text, whatever shape ws delivered it in. */
export function frameText(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}

export const isLoopback = (host: string): boolean => host === '127.0.0.1' || host === '::1' || host === 'localhost';

function sameSecret(given: string | null, expected: string): boolean {
  const a = Buffer.from(given ?? '');
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

export async function startServer(options: ServeOptions): Promise<RunningServer> {
  const host = options.host ?? '127.0.0.1';
  const token = options.token ?? (isLoopback(host) ? null : randomBytes(18).toString('base64url'));
  const rendererDir = path.resolve(options.rendererDir);
  if (!fs.existsSync(path.join(rendererDir, 'index.html'))) {
    throw new AppError('NOT_FOUND', `the renderer is not built (${rendererDir}/index.html is missing)`, 'run `npm run build` first');
  }

  const sockets = new Set<WebSocket>();
  const emit: Emit = (name, payload) => {
    const data = JSON.stringify({ event: name, payload });
    for (const socket of sockets) socket.send(data);
  };
  const handlers = options.handlersFor(emit);

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://local');
    const rel = decodeURIComponent(url.pathname).replace(/^\/+/, '') || 'index.html';
    const file = path.resolve(rendererDir, rel);
    if ((req.method !== 'GET' && req.method !== 'HEAD') || !file.startsWith(rendererDir + path.sep) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    res.writeHead(200, {
      'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream',
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'cache-control': 'no-cache',
    });
    if (req.method === 'HEAD') res.end();
    else fs.createReadStream(file).pipe(res);
  });

  const wss = new WebSocketServer({ noServer: true, maxPayload: 16 << 20 });
  server.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url ?? '/', 'http://local');
    if (url.pathname !== '/api' || (token !== null && !sameSecret(url.searchParams.get('token'), token))) {
      socket.end('HTTP/1.1 401 Unauthorized\r\nconnection: close\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws));
  });
  wss.on('connection', (ws: WebSocket) => {
    sockets.add(ws);
    ws.on('close', () => sockets.delete(ws));
    ws.on('message', (data) => {
      let message: z.infer<typeof ClientMessage>;
      try {
        message = ClientMessage.parse(JSON.parse(frameText(data)));
      } catch {
        ws.send(JSON.stringify({ id: null, envelope: { ok: false, error: { code: 'BAD_REQUEST', message: 'not a request message' } } }));
        return;
      }
      void dispatch(handlers, message.name, message.input).then((envelope) => {
        if (ws.readyState === ws.OPEN) ws.send(JSON.stringify({ id: message.id, envelope }));
      });
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => reject(e.code === 'EADDRINUSE'
      ? new AppError('BAD_INPUT', `port ${options.port ?? 7860} on ${host} is in use`, 'choose another with --port')
      : e));
    server.listen(options.port ?? 7860, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const shown = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shown}:${port}/${token ? `?token=${token}` : ''}`,
    token,
    close: async () => {
      for (const socket of sockets) socket.terminate();
      wss.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
