/**
 * The desktop app's transport: the renderer's preload and the service process talk over one
 * MessagePort, with the same message shapes as server mode's WebSocket (a request carries an id,
 * its answer the same id and an envelope; events carry their name). Web-safe: the preload, the
 * Electron main, the service process and the tests share it.
 */
import type { Envelope, RequestName } from './contract.js';

/** Renderer → main (ipcRenderer.invoke): asks for a port to the services. Answered with an envelope. */
export const CONNECT_CHANNEL = 'ilf:connect';
/** Main → renderer (WebFrameMain.postMessage): carries that port in `event.ports[0]`. */
export const PORT_CHANNEL = 'ilf:port';

export interface RequestMessage { id: number; name: string; input?: unknown }
export interface ReplyMessage { id: number | null; envelope: Envelope<unknown> }
export interface EventMessage { event: string; payload: unknown }
export type ServiceMessage = ReplyMessage | EventMessage;

const isRecord = (m: unknown): m is Record<string, unknown> => typeof m === 'object' && m !== null && !Array.isArray(m);

/** A request as sent by a client, or null for anything else (answered BAD_REQUEST by the services). */
export function parseRequestMessage(m: unknown): RequestMessage | null {
  if (!isRecord(m) || typeof m.id !== 'number' || !Number.isSafeInteger(m.id) || typeof m.name !== 'string') return null;
  return { id: m.id, name: m.name, input: m.input };
}

export function isEnvelope(e: unknown): e is Envelope<unknown> {
  if (!isRecord(e)) return false;
  if (e.ok === true) return 'value' in e;
  return e.ok === false && isRecord(e.error) && typeof e.error.code === 'string' && typeof e.error.message === 'string';
}

/** What a client receives: an answer or an event; null for anything else. */
export function parseServiceMessage(m: unknown): ServiceMessage | null {
  if (!isRecord(m)) return null;
  if ((typeof m.id === 'number' || m.id === null) && isEnvelope(m.envelope)) return { id: m.id, envelope: m.envelope };
  if (typeof m.event === 'string') return { event: m.event, payload: m.payload };
  return null;
}

export const DISCONNECTED: Envelope<never> = {
  ok: false, error: { code: 'DISCONNECTED', message: 'the connection to ILF Studio\'s services closed', hint: 'restart ILF Studio' },
};

/**
 * The client end of the protocol: numbers requests, matches answers, hands events on. Requests made
 * before the port exists wait for it; if the connection is refused they all get that answer.
 */
export function createPortClient(onEvent: (name: string, payload: unknown) => void): {
  request: (name: RequestName, input: unknown) => Promise<Envelope<unknown>>;
  /** The port is there: requests go out through `post` from now on. */
  open: (post: (message: RequestMessage) => void) => void;
  /** A message that arrived on the port. */
  receive: (message: unknown) => void;
  /** No port will come (or it closed): every waiting and later request gets `answer`. */
  fail: (answer: Envelope<never>) => void;
} {
  let nextId = 1;
  let post: ((message: RequestMessage) => void) | undefined;
  let failed: Envelope<never> | undefined;
  const queued: RequestMessage[] = [];
  const pending = new Map<number, (e: Envelope<unknown>) => void>();
  return {
    request: (name, input) => {
      if (failed) return Promise.resolve(failed);
      const message: RequestMessage = { id: nextId++, name, input };
      return new Promise((resolve) => {
        pending.set(message.id, resolve);
        if (post) post(message);
        else queued.push(message);
      });
    },
    open: (p) => {
      if (failed) return;
      post = p;
      for (const message of queued.splice(0)) p(message);
    },
    receive: (raw) => {
      const message = parseServiceMessage(raw);
      if (!message) return;
      if ('event' in message) onEvent(message.event, message.payload);
      else if (message.id !== null) {
        pending.get(message.id)?.(message.envelope);
        pending.delete(message.id);
      }
    },
    fail: (answer) => {
      failed ??= answer;
      post = undefined;
      queued.length = 0;
      for (const resolve of pending.values()) resolve(failed);
      pending.clear();
    },
  };
}
