import type { z } from 'zod';
import {
  requests,
  type Envelope,
  type EventName,
  type EventPayload,
  type RequestName,
  type RequestPayload,
  type RequestResult,
  type WireError,
} from '../../preload/contract.js';
import { AppError } from '../errors.js';
import { describeIssues } from '../datasets/task-record.js';

/** One function per request of the contract; main implements exactly these. */
export type Handlers = { [K in RequestName]: (payload: RequestPayload<K>) => Promise<RequestResult<K>> | RequestResult<K> };

/** How main pushes an event to whoever listens (a window, a WebSocket, a test). */
export type Emit = <K extends EventName>(name: K, payload: EventPayload<K>) => void;

export function toWireError(e: unknown): WireError {
  if (e instanceof AppError) {
    return { code: e.code, message: e.message, ...(e.hint ? { hint: e.hint } : {}), ...(e.details ? { details: [...e.details] } : {}) };
  }
  if (e instanceof Error && e.name === 'AbortError') return { code: 'CANCELLED', message: 'cancelled' };
  return { code: 'INTERNAL', message: e instanceof Error ? e.message : String(e), hint: 'this is a bug in ILF Studio; please report it with the log' };
}

function isRequestName(name: string): name is RequestName {
  return Object.hasOwn(requests, name);
}

/**
 * The single entry point for every transport (IPC, HTTP, tests): checks the request name and
 * payload against the contract, runs the handler, checks what it returns, and answers with an
 * envelope. Nothing unvalidated reaches a handler; no exception crosses the boundary.
 */
export async function dispatch(handlers: Handlers, name: string, payload: unknown): Promise<Envelope<unknown>> {
  if (!isRequestName(name)) return { ok: false, error: { code: 'BAD_REQUEST', message: `unknown request "${name}"` } };
  const spec = requests[name];
  const input = (spec.input as z.ZodType).safeParse(payload);
  if (!input.success) {
    return { ok: false, error: { code: 'BAD_REQUEST', message: `invalid payload for ${name}: ${describeIssues(input.error)}` } };
  }
  try {
    const handler = handlers[name] as (p: unknown) => unknown;
    const result = await handler(input.data);
    const output = (spec.output as z.ZodType).safeParse(result);
    if (!output.success) {
      return { ok: false, error: toWireError(new Error(`${name} returned a value outside the contract: ${describeIssues(output.error)}`)) };
    }
    return { ok: true, value: output.data };
  } catch (e) {
    return { ok: false, error: toWireError(e) };
  }
}
