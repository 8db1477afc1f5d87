import type { Envelope } from '../../preload/contract.js';
import { CONNECT_CHANNEL, PORT_CHANNEL } from '../../preload/port-protocol.js';
import { isTrustedFrame, type FrameLike } from './trusted-frame.js';

/** The frame that sent a message, as far as we use it: Electron's WebFrameMain fits. */
export interface SenderFrame<Port> extends FrameLike {
  postMessage(channel: string, message: unknown, transfer?: Port[]): void;
}

/** The part of Electron's ipcMain we use; a test gives a recording fake. */
export interface IpcMainLike<Port> {
  handle(channel: string, listener: (event: { readonly senderFrame: SenderFrame<Port> | null }) => unknown): void;
  removeHandler(channel: string): void;
}

/**
 * The only IPC the Electron main answers: a renderer asks for a port to the services. A trusted
 * frame (the top frame of our own origin, see trusted-frame.ts) gets one end of a fresh channel
 * whose other end `openPort` has handed to the service process; every request then goes over that
 * port through the services' dispatch. Anything else is refused FORBIDDEN and gets no port.
 */
export function registerIpc<Port>(ipcMain: IpcMainLike<Port>, openPort: () => Port, trusted: (frame: FrameLike | null) => boolean = isTrustedFrame): () => void {
  ipcMain.handle(CONNECT_CHANNEL, (event): Envelope<null> => {
    const frame = event.senderFrame;
    if (frame === null || !trusted(frame)) {
      return { ok: false, error: { code: 'FORBIDDEN', message: `a page at ${frame ? JSON.stringify(frame.url) : 'a closed frame'} asked for ILF Studio's services and was refused`, hint: 'only the app\'s own window may use them' } };
    }
    frame.postMessage(PORT_CHANNEL, null, [openPort()]);
    return { ok: true, value: null };
  });
  return () => ipcMain.removeHandler(CONNECT_CHANNEL);
}
