/**
 * The preload: runs sandboxed with contextIsolation, and exposes on `window.ilf` exactly the
 * contract's named requests and event subscriptions. No channel is forwarded that the contract
 * does not name, and nothing of Node or Electron leaks through.
 */
import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron';
import {
  EVENT_NAMES,
  REQUEST_NAMES,
  eventChannel,
  requestChannel,
  type BridgeApi,
  type EventName,
} from './contract.js';

function buildApi(): BridgeApi {
  const requests = Object.fromEntries(
    REQUEST_NAMES.map((name) => [name, (input?: unknown) => ipcRenderer.invoke(requestChannel(name), input)]),
  );
  const events = Object.fromEntries(
    EVENT_NAMES.map((name: EventName) => [
      name,
      (listener: (payload: unknown) => void) => {
        // Wrap so the renderer never sees the IpcRendererEvent (it carries a sender object).
        const wrapped = (_event: IpcRendererEvent, payload: unknown): void => listener(payload);
        ipcRenderer.on(eventChannel(name), wrapped);
        return () => {
          ipcRenderer.removeListener(eventChannel(name), wrapped);
        };
      },
    ]),
  );
  // The maps are built from the contract's own key lists, so they have exactly BridgeApi's keys.
  return Object.freeze({ requests: Object.freeze(requests), events: Object.freeze(events) }) as unknown as BridgeApi;
}

contextBridge.exposeInMainWorld('ilf', buildApi());
