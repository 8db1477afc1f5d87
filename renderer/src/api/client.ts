import type {
  BridgeApi,
  Envelope,
  EventName,
  EventPayload,
  RequestInputArgs,
  RequestName,
  RequestResult,
  WireError,
} from '../../../preload/contract.js';

/** A failed request, with the message and hint main wrote for a person. */
export class ApiError extends Error {
  readonly code: string;
  readonly hint: string | undefined;
  readonly details: readonly string[];
  constructor(wire: WireError) {
    super(wire.message);
    this.name = 'ApiError';
    this.code = wire.code;
    this.hint = wire.hint;
    this.details = wire.details ?? [];
  }
}

export interface ApiClient {
  call<K extends RequestName>(name: K, ...input: RequestInputArgs<K>): Promise<RequestResult<K>>;
  on<K extends EventName>(name: K, listener: (payload: EventPayload<K>) => void): () => void;
}

/** The renderer's only way to main, whatever the transport behind the bridge (IPC or WebSocket). */
export function createClient(bridge: BridgeApi): ApiClient {
  return {
    async call(name, ...input) {
      // Indexing a mapped type by a generic key loses the link between name and signature; restore it.
      const request = bridge.requests[name] as unknown as (...args: RequestInputArgs<typeof name>) => Promise<Envelope<RequestResult<typeof name>>>;
      const envelope = await request(...input);
      if (!envelope.ok) throw new ApiError(envelope.error);
      return envelope.value;
    },
    on(name, listener) {
      const subscribe = bridge.events[name];
      return subscribe(listener);
    },
  };
}
