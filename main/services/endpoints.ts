import { parseRequestMessage, type ServiceMessage } from '../../preload/port-protocol.js';
import { dispatch, type Emit, type Handlers } from './dispatch.js';

/** Something that carries service messages to one client: a renderer's MessagePort, a parent's IPC channel. */
export interface MessageEndpoint {
  post(message: ServiceMessage): void;
}

export interface AttachedEndpoint {
  /** A message from this client: a request is dispatched and answered on the same endpoint. */
  receive(message: unknown): void;
  /** The client is gone: no more answers or events go to it. */
  detach(): void;
}

/**
 * Serves the contract over message endpoints: every request goes through the same dispatch as IPC,
 * server mode and the CLI (name, payload and result checked), and every event goes to every
 * attached client. Used by the service process for its parent channel and the renderers' ports.
 */
export class ServiceEndpoints {
  private readonly endpoints = new Set<MessageEndpoint>();
  private handlers: Handlers | undefined;

  /** Pushes an event to every client (what the handlers are given as their `emit`). */
  readonly emit: Emit = (name, payload) => {
    for (const endpoint of this.endpoints) endpoint.post({ event: name, payload });
  };

  /** The handlers are made after this object exists, because they are given its `emit`. */
  serve(handlers: Handlers): void {
    this.handlers = handlers;
  }

  attach(endpoint: MessageEndpoint): AttachedEndpoint {
    this.endpoints.add(endpoint);
    return {
      receive: (raw) => {
        const message = parseRequestMessage(raw);
        if (!message) {
          endpoint.post({ id: null, envelope: { ok: false, error: { code: 'BAD_REQUEST', message: 'not a request message: expected {id, name, input}' } } });
          return;
        }
        const handlers = this.handlers;
        const answer = handlers
          ? dispatch(handlers, message.name, message.input)
          : Promise.resolve({ ok: false as const, error: { code: 'UNAVAILABLE', message: 'the services are still starting', hint: 'try again in a moment' } });
        void answer.then((envelope) => {
          if (this.endpoints.has(endpoint)) endpoint.post({ id: message.id, envelope });
        });
      },
      detach: () => {
        this.endpoints.delete(endpoint);
      },
    };
  }
}
