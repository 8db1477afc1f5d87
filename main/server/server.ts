import { randomBytes, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { parseRequestMessage, type RequestMessage } from '../../preload/port-protocol.js';
import { AppError } from '../errors.js';
import { CONTENT_SECURITY_POLICY, isInside, rendererContentType } from '../files/renderer-files.js';
import { dispatch, type Emit, type Handlers } from '../services/dispatch.js';

/**
 * Server mode: the same renderer and the same services as the desktop app, over HTTP (the bundle,
 * which holds no data) and a WebSocket at /api (requests and events). Only the server's own page
 * can drive the API: the upgrade needs the access token (on every bind, loopback included), an
 * Origin that is the server's own (or none: not a browser), and a Host that is a name the server
 * answers to (DNS rebinding). Every socket has an error handler and every resource a bound.
 */
export interface ServeOptions {
  host?: string;
  port?: number;
  /** At least 128 bits (22 base64url or 32 hex characters); generated when absent. */
  token?: string;
  rendererDir: string;
  handlersFor: (emit: Emit) => Handlers;
  /** Tests shorten the heartbeat or lower the caps; the defaults are SERVER_LIMITS. */
  limits?: Partial<ServerLimits>;
}

export interface ServerLimits {
  /** Open TCP connections (page loads and WebSockets); the next one is answered 503. */
  maxConnections: number;
  /** Largest WebSocket frame a client may send. */
  maxPayloadBytes: number;
  /** A client whose unread answers exceed this is dropped instead of buffered. */
  maxBufferedBytes: number;
  /** Requests of one WebSocket still being handled; more are answered BUSY at once. */
  maxInFlightPerSocket: number;
  /** Ping period; a peer that has not answered the previous ping is dropped. */
  heartbeatMs: number;
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  maxHeaderBytes: number;
}

export const SERVER_LIMITS: Readonly<ServerLimits> = {
  maxConnections: 64,
  maxPayloadBytes: 1 << 20,
  maxBufferedBytes: 8 << 20,
  maxInFlightPerSocket: 16,
  heartbeatMs: 30_000,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  maxHeaderBytes: 16 * 1024,
};

export interface RunningServer {
  /** The address to open, token included (on a LAN bind: the first of `urls`). */
  url: string;
  /** Every address the server is reachable at, token included. */
  urls: string[];
  token: string;
  close(): Promise<void>;
}



/** A WebSocket frame's payload as text, whatever shape ws delivered it in. */
export function frameText(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}

/** A client's frame as a request (the same shape the desktop's MessagePort carries), or null for anything else. */
function requestIn(data: RawData): RequestMessage | null {
  try {
    return parseRequestMessage(JSON.parse(frameText(data)));
  } catch {
    return null; // not JSON
  }
}

export const isLoopback = (host: string): boolean => host === '127.0.0.1' || host === '::1' || host === 'localhost';

const MIN_TOKEN_BITS = 128;

/**
 * Refuses a token that is empty, not URL-safe, or shorter than 128 bits: a hex token carries 4 bits
 * a character, a base64url one 6.
 */
export function checkToken(token: string): void {
  const hint = 'leave --token out to get a generated one, or give at least 32 hex or 22 base64url characters (A-Z a-z 0-9 _ -)';
  if (token.length === 0) throw new AppError('BAD_INPUT', 'the access token is empty', hint);
  if (!/^[\w-]+$/.test(token)) throw new AppError('BAD_INPUT', 'the access token may hold only A-Z a-z 0-9 _ and - (it travels in the address)', hint);
  const bits = token.length * (/^[0-9a-f]+$/i.test(token) ? 4 : 6);
  if (bits < MIN_TOKEN_BITS) throw new AppError('BAD_INPUT', `the access token is too short: ${token.length} characters carry at most ${bits} bits, fewer than ${MIN_TOKEN_BITS}`, hint);
}

function sameSecret(given: string | null, expected: string): boolean {
  const a = Buffer.from(given ?? '');
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** `host` as it appears in a URL or a Host header: IPv6 in brackets. */
const urlHost = (host: string): string => (host.includes(':') ? `[${host}]` : host);

/** The machine's interface addresses a wildcard bind is reachable at, external first; no link-local IPv6 (it needs a zone). */
function interfaceAddresses(bind: '0.0.0.0' | '::'): string[] {
  const all = Object.values(os.networkInterfaces()).flat().filter((a) => a !== undefined)
    .filter((a) => (bind === '0.0.0.0' ? a.family === 'IPv4' : true) && !(a.family === 'IPv6' && a.address.toLowerCase().startsWith('fe80:')));
  return [...all.filter((a) => !a.internal), ...all.filter((a) => a.internal)].map((a) => a.address);
}

/** Host names (lowercase, IPv6 bracketed) the server answers to: loopback, the bound address, and on a wildcard bind every interface address. */
function servedHostNames(bind: string): Set<string> {
  const names = new Set(['localhost', '127.0.0.1', '[::1]']);
  if (bind === '0.0.0.0' || bind === '::') {
    for (const address of interfaceAddresses(bind)) names.add(urlHost(address).toLowerCase());
    names.add(os.hostname().toLowerCase());
  } else {
    names.add(urlHost(bind).toLowerCase());
  }
  return names;
}

/** The addresses to print: on a wildcard bind the machine's reachable ones, not 0.0.0.0. */
const printableHosts = (bind: string): string[] => (bind === '0.0.0.0' || bind === '::' ? interfaceAddresses(bind) : [bind]);

/** Ends a raw socket with a bare HTTP status, for answers given outside a request handler. */
function refuse(socket: Duplex, status: number, reason: string): void {
  if (socket.destroyed) return;
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nconnection: close\r\ncontent-type: text/plain\r\ncontent-length: ${reason.length}\r\n\r\n${reason}`);
  // A peer that never reads the answer must not hold the socket open.
  setTimeout(() => socket.destroy(), 2000).unref();
}

/** True for a regular file; false for anything else, including names the file system refuses (ENOTDIR, ENAMETOOLONG). */
function isPlainFile(file: string): boolean {
  try {
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** The request's path, or null when the request line is not a URL (`//[`, bad percent-encoding, …). */
function requestPath(req: http.IncomingMessage): { pathname: string; params: URLSearchParams } | null {
  try {
    const url = new URL(req.url ?? '/', 'http://server.invalid');
    return { pathname: decodeURIComponent(url.pathname), params: url.searchParams };
  } catch {
    return null;
  }
}

export async function startServer(options: ServeOptions): Promise<RunningServer> {
  const limits: ServerLimits = { ...SERVER_LIMITS, ...options.limits };
  const host = options.host ?? '127.0.0.1';
  if (options.token !== undefined) checkToken(options.token);
  const token = options.token ?? randomBytes(24).toString('base64url');
  const rendererDir = path.resolve(options.rendererDir);
  if (!fs.existsSync(path.join(rendererDir, 'index.html'))) {
    throw new AppError('NOT_FOUND', `the renderer is not built (${rendererDir}/index.html is missing)`, 'run `npm run build` first');
  }

  const sockets = new Set<WebSocket>();
  /** Sends unless the peer has stopped reading: a slow reader is dropped, never buffered without end. */
  const send = (ws: WebSocket, data: string): void => {
    if (ws.readyState !== ws.OPEN) return;
    if (ws.bufferedAmount > limits.maxBufferedBytes) {
      ws.terminate();
      return;
    }
    ws.send(data);
  };
  const emit: Emit = (name, payload) => {
    const data = JSON.stringify({ event: name, payload });
    for (const socket of sockets) send(socket, data);
  };
  const handlers = options.handlersFor(emit);

  const serveFile = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const target = requestPath(req);
    if (target === null) {
      res.writeHead(400, { 'content-type': 'text/plain' }).end('bad request');
      return;
    }
    const rel = target.pathname.replace(/^\/+/, '') || 'index.html';
    const file = path.resolve(rendererDir, rel);
    const type = rendererContentType(file);
    if ((req.method !== 'GET' && req.method !== 'HEAD') || type === undefined || !isInside(rendererDir, file) || !isPlainFile(file)) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    res.writeHead(200, {
      'content-type': type,
      'content-security-policy': CONTENT_SECURITY_POLICY,
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'cache-control': 'no-cache',
    });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    const stream = fs.createReadStream(file);
    stream.on('error', () => res.destroy());
    stream.pipe(res);
  };

  // Connections beyond the cap are answered 503 (not silently dropped) and closed.
  let open = 0;
  const overCap = new WeakSet<Duplex>();
  const server = http.createServer({ maxHeaderSize: limits.maxHeaderBytes, connectionsCheckingInterval: Math.min(5000, limits.headersTimeoutMs) }, (req, res) => {
    res.on('error', () => res.destroy());
    req.on('error', () => res.destroy());
    if (overCap.has(req.socket)) {
      res.writeHead(503, { 'content-type': 'text/plain', connection: 'close' }).end('too many connections');
      return;
    }
    try {
      serveFile(req, res);
    } catch {
      // The one guard around a request: whatever it was, the server answers and keeps serving.
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('internal error');
    }
  });
  server.headersTimeout = limits.headersTimeoutMs;
  server.requestTimeout = limits.requestTimeoutMs;
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? [431, 'Request Header Fields Too Large'] as const
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? [408, 'Request Timeout'] as const : [400, 'Bad Request'] as const;
    refuse(socket, status[0], status[1]);
  });

  server.on('connection', (socket: Socket) => {
    socket.on('error', () => socket.destroy());
    if (open >= limits.maxConnections) {
      overCap.add(socket);
      socket.setTimeout(2000, () => socket.destroy());
      return;
    }
    open += 1;
    socket.once('close', () => { open -= 1; });
  });

  const wss = new WebSocketServer({ noServer: true, maxPayload: limits.maxPayloadBytes, perMessageDeflate: false });
  wss.on('error', () => undefined);
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    try {
      if (overCap.has(socket)) return refuse(socket, 503, 'Service Unavailable');
      const target = requestPath(req);
      if (target === null) return refuse(socket, 400, 'Bad Request');
      if (target.pathname !== '/api') return refuse(socket, 404, 'Not Found');
      // DNS rebinding: a foreign name resolving to this machine carries that name in Host.
      const served = servedHostNames(host);
      const port = (server.address() as AddressInfo).port;
      const hostHeader = (req.headers.host ?? '').toLowerCase();
      const [, hostName, hostPort] = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(hostHeader) ?? [];
      if (!hostName || !served.has(hostName) || Number(hostPort ?? 80) !== port) return refuse(socket, 403, 'Forbidden');
      // A browser always sends Origin; a page of another origin must not drive the API.
      const origin = req.headers.origin;
      if (origin !== undefined) {
        let allowed = false;
        try {
          const o = new URL(origin);
          allowed = o.protocol === 'http:' && served.has(o.hostname.toLowerCase()) && Number(o.port || 80) === port;
        } catch {
          allowed = false;
        }
        if (!allowed) return refuse(socket, 403, 'Forbidden');
      }
      if (!sameSecret(target.params.get('token'), token)) return refuse(socket, 401, 'Unauthorized');
      wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws));
    } catch {
      refuse(socket, 400, 'Bad Request');
    }
  });

  wss.on('connection', (ws: WebSocket) => {
    sockets.add(ws);
    let alive = true;
    let inFlight = 0;
    ws.on('pong', () => { alive = true; });
    const heartbeat = setInterval(() => {
      if (!alive) {
        ws.terminate();
        return;
      }
      alive = false;
      ws.ping();
    }, limits.heartbeatMs);
    heartbeat.unref();
    ws.on('close', () => {
      clearInterval(heartbeat);
      sockets.delete(ws);
    });
    // ws reports protocol errors (a frame over maxPayload, bad UTF-8 in a close frame) here, then closes.
    ws.on('error', () => ws.terminate());
    ws.on('message', (data) => {
      const message = requestIn(data);
      if (message === null) {
        send(ws, JSON.stringify({ id: null, envelope: { ok: false, error: { code: 'BAD_REQUEST', message: 'not a request message' } } }));
        return;
      }
      if (inFlight >= limits.maxInFlightPerSocket) {
        send(ws, JSON.stringify({ id: message.id, envelope: { ok: false, error: {
          code: 'BUSY', message: `more than ${limits.maxInFlightPerSocket} requests at once on one connection`, hint: 'wait for answers before sending more',
        } } }));
        return;
      }
      inFlight += 1;
      void dispatch(handlers, message.name, message.input).then((envelope) => {
        inFlight -= 1;
        send(ws, JSON.stringify({ id: message.id, envelope }));
      });
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => reject(e.code === 'EADDRINUSE'
      ? new AppError('BAD_INPUT', `port ${options.port ?? 7860} on ${host} is in use`, 'choose another with --port')
      : e));
    server.listen(options.port ?? 7860, host, () => resolve());
  });
  server.on('error', () => undefined); // after listening, a failed accept must not end the process
  const { port } = server.address() as AddressInfo;
  const urls = printableHosts(host).map((h) => `http://${urlHost(h)}:${port}/?token=${token}`);
  return {
    url: urls[0] ?? `http://${urlHost(host)}:${port}/?token=${token}`,
    urls,
    token,
    close: async () => {
      for (const socket of sockets) socket.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
