/**
 * Builds a BridgeApi from a request function, for transports other than the Electron preload
 * (the WebSocket bridge in browsers, the in-process bridge in tests). Web-safe.
 */
import { EVENT_NAMES, REQUEST_NAMES, type BridgeApi, type Envelope, type RequestName } from './contract.js';

export function buildBridge(request: (name: RequestName, input: unknown) => Promise<Envelope<unknown>>): {
  api: BridgeApi;
  /** Delivers an event to the subscribers of `name`. */
  deliver: (name: string, payload: unknown) => void;
} {
  const listeners = new Map<string, Set<(payload: unknown) => void>>();
  const requests = Object.fromEntries(REQUEST_NAMES.map((name) => [name, (input?: unknown) => request(name, input)]));
  const events = Object.fromEntries(EVENT_NAMES.map((name) => [name, (listener: (payload: unknown) => void) => {
    const set = listeners.get(name) ?? new Set();
    listeners.set(name, set);
    set.add(listener);
    return () => {
      set.delete(listener);
    };
  }]));
  return {
    // Built from the contract's own name lists, so the keys are exactly BridgeApi's.
    api: { requests, events } as unknown as BridgeApi,
    deliver: (name, payload) => {
      for (const listener of listeners.get(name) ?? []) listener(payload);
    },
  };
}
