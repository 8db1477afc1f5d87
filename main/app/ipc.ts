import type { IpcMain, WebContents, WebFrameMain } from 'electron';
import { REQUEST_NAMES, eventChannel, requestChannel } from '../../preload/contract.js';
import { dispatch, type Emit, type Handlers } from '../services/dispatch.js';

/**
 * Wires every request of the contract to ipcMain. Each call is checked for its sender (only our
 * own page, in the top frame) before dispatch validates the payload.
 */
export function registerIpc(ipcMain: IpcMain, handlers: Handlers, isTrustedFrame: (frame: WebFrameMain | null) => boolean): () => void {
  for (const name of REQUEST_NAMES) {
    ipcMain.handle(requestChannel(name), (event, payload: unknown) => {
      if (!isTrustedFrame(event.senderFrame)) {
        return { ok: false, error: { code: 'FORBIDDEN', message: `request ${name} from an untrusted frame was refused` } };
      }
      return dispatch(handlers, name, payload);
    });
  }
  return () => {
    for (const name of REQUEST_NAMES) ipcMain.removeHandler(requestChannel(name));
  };
}

/** Pushes contract events to one window's renderer, dropping them once it is gone. */
export function emitterFor(getContents: () => WebContents | undefined): Emit {
  return (name, payload) => {
    const contents = getContents();
    if (contents && !contents.isDestroyed()) contents.send(eventChannel(name), payload);
  };
}
