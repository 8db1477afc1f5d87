import { EVENT_NAMES, REQUEST_NAMES, type BridgeApi, type EventName } from '../../preload/contract.js';
import { dispatch, type Emit, type Handlers } from './dispatch.js';

/**
 * The bridge without a process boundary: same dispatch, same validation, same envelopes as IPC.
 * Server mode and tests put the renderer's client on top of it.
 */
export function createLocalBridge(createHandlersWithEmit: (emit: Emit) => Handlers): BridgeApi {
  const listeners = new Map<EventName, Set<(payload: unknown) => void>>();
  const emit: Emit = (name, payload) => {
    for (const listener of listeners.get(name) ?? []) listener(payload);
  };
  const handlers = createHandlersWithEmit(emit);
  const requests = Object.fromEntries(REQUEST_NAMES.map((name) => [name, (input?: unknown) => dispatch(handlers, name, input)]));
  const events = Object.fromEntries(
    EVENT_NAMES.map((name) => [
      name,
      (listener: (payload: unknown) => void) => {
        const set = listeners.get(name) ?? new Set();
        listeners.set(name, set);
        set.add(listener);
        return () => {
          set.delete(listener);
        };
      },
    ]),
  );
  // Built from the contract's own name lists, so the keys are exactly BridgeApi's.
  return { requests, events } as unknown as BridgeApi;
}
