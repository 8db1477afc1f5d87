import { buildBridge } from '../../preload/bridge-shape.js';
import type { BridgeApi } from '../../preload/contract.js';
import { dispatch, type Emit, type Handlers } from './dispatch.js';

/**
 * The bridge without a process boundary: same dispatch, same validation, same envelopes as IPC.
 * Tests put the renderer's client on top of it.
 */
export function createLocalBridge(createHandlersWithEmit: (emit: Emit) => Handlers): BridgeApi {
  // Requests only arrive after this function returns, so `handlers` is set by then.
  const { api, deliver } = buildBridge((name, input) => dispatch(handlers, name, input));
  const handlers = createHandlersWithEmit((name, payload) => deliver(name, payload));
  return api;
}
