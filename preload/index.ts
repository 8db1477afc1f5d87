/**
 * The preload: runs sandboxed with contextIsolation, and exposes on `window.ilf` exactly the
 * contract's named requests and event subscriptions (each returning its unsubscribe). Behind them
 * is one MessagePort to the service process, which main hands over only to the app's own top frame;
 * nothing of Node, Electron or the port leaks through.
 */
import { contextBridge, ipcRenderer } from 'electron';
import { buildBridge } from './bridge-shape.js';
import { CONNECT_CHANNEL, DISCONNECTED, PORT_CHANNEL, createPortClient, isEnvelope } from './port-protocol.js';

/**
 * The port as Chromium gives it to a preload: a DOM MessagePort, plus Electron's `close` event.
 * (This file is type-checked with Node's types, whose MessagePort is worker_threads'.)
 */
interface DomPort {
  postMessage(message: unknown): void;
  start(): void;
  addEventListener(type: 'message', listener: (event: { data: unknown }) => void): void;
  addEventListener(type: 'close', listener: () => void): void;
}

const client = createPortClient((name, payload) => bridge.deliver(name, payload));
const bridge = buildBridge((name, input) => client.request(name, input));

ipcRenderer.once(PORT_CHANNEL, (event) => {
  const port = event.ports[0] as unknown as DomPort | undefined;
  if (!port) {
    client.fail(DISCONNECTED);
    return;
  }
  port.addEventListener('message', (e) => client.receive(e.data));
  port.addEventListener('close', () => client.fail(DISCONNECTED));
  port.start();
  client.open((message) => port.postMessage(message));
});
// Requests made before the port arrives wait for it; a refusal (an untrusted frame) answers them all.
ipcRenderer.invoke(CONNECT_CHANNEL).then(
  (answer: unknown) => {
    if (isEnvelope(answer) && !answer.ok) client.fail(answer);
  },
  () => client.fail(DISCONNECTED),
);

contextBridge.exposeInMainWorld('ilf', Object.freeze({ requests: Object.freeze({ ...bridge.api.requests }), events: Object.freeze({ ...bridge.api.events }) }));
