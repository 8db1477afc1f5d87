import { buildBridge } from '../../../preload/bridge-shape.js';
import type { BridgeApi, Envelope } from '../../../preload/contract.js';

/**
 * The bridge in a browser (server mode): the same named requests and subscriptions as the
 * preload's, carried over one WebSocket to the server's /api.
 */
export function createWsBridge(url: string): BridgeApi {
  const socket = new WebSocket(url);
  const opened = new Promise<void>((resolve, reject) => {
    socket.addEventListener('open', () => resolve(), { once: true });
    socket.addEventListener('error', () => reject(new Error(`cannot connect to ${url}`)), { once: true });
  });
  let nextId = 1;
  const pending = new Map<number, (e: Envelope<unknown>) => void>();
  socket.addEventListener('message', (event: MessageEvent<string>) => {
    const message = JSON.parse(event.data) as { id?: number | null; envelope?: Envelope<unknown>; event?: string; payload?: unknown };
    if (typeof message.id === 'number' && message.envelope) {
      pending.get(message.id)?.(message.envelope);
      pending.delete(message.id);
    } else if (typeof message.event === 'string') {
      deliver(message.event, message.payload);
    }
  });
  socket.addEventListener('close', () => {
    for (const resolve of pending.values()) resolve({ ok: false, error: { code: 'DISCONNECTED', message: 'the connection to ILF Studio closed', hint: 'reload the page' } });
    pending.clear();
  });
  const { api, deliver } = buildBridge(async (name, input) => {
    try {
      await opened;
    } catch (e) {
      return { ok: false, error: { code: 'DISCONNECTED', message: (e as Error).message, hint: 'check that `ilf serve` is running and the address (and token) are right' } };
    }
    if (socket.readyState !== WebSocket.OPEN) {
      return { ok: false, error: { code: 'DISCONNECTED', message: 'the connection to ILF Studio closed', hint: 'reload the page' } };
    }
    const id = nextId++;
    return new Promise<Envelope<unknown>>((resolve) => {
      pending.set(id, resolve);
      socket.send(JSON.stringify({ id, name, input }));
    });
  });
  return api;
}

const TOKEN_KEY = 'ilf.token';

/**
 * The page's access token: taken from the address it was opened with, kept for this tab in
 * sessionStorage (so a reload still connects), and removed from the address bar so it does not
 * linger in the history or get copied along with a screen's address.
 */
export function takeAccessToken(location: Location, history: History, storage: Storage): string | null {
  const url = new URL(location.href);
  const given = url.searchParams.get('token');
  if (given === null) return storage.getItem(TOKEN_KEY);
  storage.setItem(TOKEN_KEY, given);
  url.searchParams.delete('token');
  history.replaceState(history.state, '', `${url.pathname}${url.search}${url.hash}`);
  return given;
}

/** The API address of the server that served this page, with the page's access token. */
export function serverApiUrl(location: Location): string {
  const token = takeAccessToken(location, window.history, window.sessionStorage);
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/api${token ? `?token=${encodeURIComponent(token)}` : ''}`;
}
