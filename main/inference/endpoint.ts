import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { PromptFormat } from '../datasets/prompt.js';
import { AppError } from '../errors.js';
import type { EndpointSpec, ModelRow } from '../store/models.js';
import type { Store } from '../store/store.js';
import { firstStop, type Generated, type GenerateParams } from './generate.js';

/**
 * A client for an OpenAI-compatible server (llama-server, vLLM, Ollama, LM Studio): completions
 * for the completion format, chat completions for chat. Whatever the server answers is untrusted:
 * shapes are checked, sizes capped, and its error text is quoted, never interpreted.
 */

export interface EndpointOptions {
  /** Per request, from sending to the whole answer. */
  timeoutMs?: number;
  /** Retries after a 429, a 502/503/504 (or other 5xx but 500/501), a timeout or a failed connection. */
  retries?: number;
  /** First backoff; doubles each retry (with jitter), capped at 30 s. */
  backoffMs?: number;
}

export interface EndpointGenerated extends Generated {
  systemFingerprint: string | null;
}

export interface LoraAdapterInfo {
  id: number;
  path: string;
  scale: number;
}

const MAX_RESPONSE_BYTES = 32 * 1024 * 1024;

/**
 * The base URL as stored: http(s) only, no credentials (a key in the URL would be stored and
 * shown; it belongs in an environment variable), no query or fragment, without a trailing `/v1`.
 */
export function normalizeEndpointUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw new AppError('BAD_INPUT', `"${raw}" is not a URL`, 'give the server\'s base URL, e.g. http://127.0.0.1:8080');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new AppError('BAD_INPUT', `${url.protocol} URLs are not supported`, 'give an http:// or https:// base URL');
  }
  if (url.username || url.password) {
    throw new AppError('BAD_INPUT', 'the URL carries credentials, which would be stored', 'put the API key in an environment variable and name it with --api-key-env VAR');
  }
  if (url.search || url.hash) throw new AppError('BAD_INPUT', 'the URL has a query or fragment', 'give only the base URL, e.g. http://127.0.0.1:8080');
  const pathname = url.pathname.replace(/\/+$/, '').replace(/\/v1$/, '');
  return `${url.origin}${pathname}`;
}

/** A counting semaphore: at most `limit` requests of one endpoint in flight. */
class Slots {
  private free: number;
  private readonly waiting: (() => void)[] = [];

  constructor(limit: number) {
    this.free = limit;
  }

  async run<T>(job: () => Promise<T>): Promise<T> {
    if (this.free > 0) this.free -= 1;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await job();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.free += 1;
    }
  }
}

class RetryableError extends Error {
  constructor(message: string, readonly retryAfterMs: number | null = null) {
    super(message);
  }
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const quote = (text: string): string => JSON.stringify(text.length > 300 ? `${text.slice(0, 300)}…` : text);

function serverMessage(body: string): string {
  try {
    const parsed: unknown = JSON.parse(body);
    if (isRecord(parsed)) {
      const error = parsed.error;
      if (isRecord(error) && typeof error.message === 'string') return quote(error.message);
      if (typeof error === 'string') return quote(error);
      if (typeof parsed.message === 'string') return quote(parsed.message);
    }
  } catch {
    // not JSON: quoted as it is
  }
  return quote(body);
}

export class EndpointClient {
  private readonly slots: Slots;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly backoffMs: number;
  private readonly apiKey: string | undefined;

  constructor(readonly spec: EndpointSpec, options: EndpointOptions = {}) {
    this.slots = new Slots(Math.max(1, spec.maxConcurrency));
    this.timeoutMs = options.timeoutMs ?? 300_000;
    this.retries = options.retries ?? 5;
    this.backoffMs = options.backoffMs ?? 500;
    if (spec.apiKeyEnv) {
      this.apiKey = process.env[spec.apiKeyEnv];
      if (!this.apiKey) {
        throw new AppError('BAD_INPUT', `the endpoint's API key variable ${spec.apiKeyEnv} is not set`, `set ${spec.apiKeyEnv} in the environment the app runs in`);
      }
    }
  }

  private headers(json: boolean): Record<string, string> {
    return { ...(json ? { 'content-type': 'application/json' } : {}), ...(this.apiKey ? { authorization: `Bearer ${this.apiKey}` } : {}) };
  }

  /** One HTTP exchange; throws RetryableError for what a retry may fix. */
  private async once(method: 'GET' | 'POST', route: string, body: unknown, signal: AbortSignal | undefined): Promise<{ status: number; text: string }> {
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
    let res: Response;
    try {
      res = await fetch(`${this.spec.url}${route}`, {
        method, headers: this.headers(body !== undefined), signal: combined,
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
    } catch (e) {
      signal?.throwIfAborted();
      if (timeout.aborted) throw new RetryableError(`no answer within ${Math.round(this.timeoutMs / 1000)} s`);
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      throw new RetryableError(`cannot connect (${cause?.code ?? cause?.message ?? (e as Error).message})`);
    }
    const declared = Number(res.headers.get('content-length') ?? '0');
    if (declared > MAX_RESPONSE_BYTES) {
      await res.body?.cancel();
      throw new AppError('BAD_INPUT', `${this.spec.url}${route} answered with ${declared} bytes, more than the ${MAX_RESPONSE_BYTES} allowed`);
    }
    let text: string;
    try {
      text = await res.text();
    } catch (e) {
      signal?.throwIfAborted();
      throw new RetryableError(`the answer broke off (${(e as Error).message})`);
    }
    if (text.length > MAX_RESPONSE_BYTES) throw new AppError('BAD_INPUT', `${this.spec.url}${route} answered with more than ${MAX_RESPONSE_BYTES} bytes`);
    if (res.status === 500 || res.status === 501) {
      // The server took the request and failed on it: the same request fails the same way (llama-server answers 500
      // when the model's output is not valid UTF-8 or not the chat format it parses), so it is not retried.
      const message = serverMessage(text);
      throw new AppError('BAD_INPUT', `${this.spec.url}${route} failed: HTTP ${res.status}: ${message}`,
        /does not match the expected/.test(message)
          ? 'the server could not parse what the model wrote (llama-server parses every answer with the model\'s chat format): try another seed or temperature, or check the server\'s --chat-template / --reasoning-format settings'
          : 'see the server\'s log for the cause; retrying the same request would fail the same way');
    }
    if (res.status === 429 || res.status >= 500) {
      const after = Number(res.headers.get('retry-after'));
      throw new RetryableError(`HTTP ${res.status}: ${serverMessage(text)}`, Number.isFinite(after) && after > 0 ? after * 1000 : null);
    }
    return { status: res.status, text };
  }

  /** With retries and exponential backoff; the caller's signal cancels the request and the waits. */
  async request(method: 'GET' | 'POST', route: string, body?: unknown, signal?: AbortSignal): Promise<{ status: number; text: string }> {
    for (let attempt = 0; ; attempt += 1) {
      try {
        return await this.once(method, route, body, signal);
      } catch (e) {
        if (!(e instanceof RetryableError)) throw e;
        if (attempt >= this.retries) {
          throw new AppError('UNAVAILABLE', `${this.spec.url}${route} failed ${attempt + 1} times; last: ${e.message}`,
            'check that the server is running and reachable, then resume the run (--resume)');
        }
        const backoff = Math.min(30_000, e.retryAfterMs ?? this.backoffMs * 2 ** attempt * (0.75 + Math.random() / 2));
        await sleep(backoff, undefined, signal ? { signal } : {});
      }
    }
  }

  private async postJson(route: string, body: unknown, signal: AbortSignal | undefined): Promise<Record<string, unknown>> {
    const { status, text } = await this.request('POST', route, body, signal);
    if (status === 401 || status === 403) {
      throw new AppError('BAD_INPUT', `${this.spec.url} refused the request (HTTP ${status}): ${serverMessage(text)}`,
        this.spec.apiKeyEnv ? `check the key in ${this.spec.apiKeyEnv}` : 'the server wants an API key: add the endpoint again with --api-key-env VAR');
    }
    if (status < 200 || status >= 300) {
      throw new AppError('BAD_INPUT', `${this.spec.url}${route} answered HTTP ${status}: ${serverMessage(text)}`, 'check the model name and the sampling settings the server accepts');
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new AppError('BAD_INPUT', `${this.spec.url}${route} answered with something other than JSON`, 'is this an OpenAI-compatible server?');
    }
    if (!isRecord(parsed)) throw new AppError('BAD_INPUT', `${this.spec.url}${route} answered with JSON that is not an object`);
    return parsed;
  }

  /** The model ids the server lists at /v1/models. */
  async models(signal?: AbortSignal): Promise<string[]> {
    const { status, text } = await this.request('GET', '/v1/models', undefined, signal);
    if (status === 401 || status === 403) {
      throw new AppError('BAD_INPUT', `${this.spec.url} refused to list its models (HTTP ${status})`, this.spec.apiKeyEnv ? `check the key in ${this.spec.apiKeyEnv}` : 'give the key\'s variable with --api-key-env VAR');
    }
    let parsed: unknown;
    try {
      parsed = status === 200 ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    const data = isRecord(parsed) ? parsed.data : undefined;
    if (!Array.isArray(data)) throw new AppError('BAD_INPUT', `${this.spec.url}/v1/models did not list models (HTTP ${status})`, 'is this an OpenAI-compatible server? give its base URL');
    return data.flatMap((m) => (isRecord(m) && typeof m.id === 'string' ? [m.id] : []));
  }

  /** llama-server's loaded LoRA adapters; null when the server has no such endpoint (vLLM, Ollama, …). */
  async loraAdapters(signal?: AbortSignal): Promise<LoraAdapterInfo[] | null> {
    const { status, text } = await this.request('GET', '/lora-adapters', undefined, signal);
    if (status !== 200) return null;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return null;
    }
    if (!Array.isArray(parsed)) return null;
    return parsed.flatMap((a) => (isRecord(a) && typeof a.id === 'number' && typeof a.path === 'string'
      ? [{ id: a.id, path: a.path, scale: typeof a.scale === 'number' ? a.scale : 0 }] : []));
  }

  /**
   * `seeds.length` samples of one prompt. With `nPerRequest`, one request asks for n choices (the
   * server's children share the request's seed: the first one); otherwise one request per sample,
   * each with its own seed, at most maxConcurrency at a time. `lora` (llama-server) is sent as is.
   */
  async generate(prompt: string, format: PromptFormat, params: GenerateParams,
    options: { signal?: AbortSignal | undefined; lora?: readonly { id: number; scale: number }[] | undefined } = {}): Promise<EndpointGenerated[]> {
    const n = params.seeds.length;
    if (n === 0) return [];
    const body = (seed: number, count: number): Record<string, unknown> => ({
      model: this.spec.servedModel,
      ...(format === 'completion' ? { prompt } : { messages: [{ role: 'user', content: prompt }] }),
      max_tokens: params.maxTokens, temperature: params.temperature, top_p: params.topP, seed,
      ...(params.stop.length > 0 ? { stop: params.stop.slice(0, 4) } : {}),
      ...(count > 1 ? { n: count } : {}),
      ...(options.lora ? { lora: options.lora } : {}),
      stream: false,
    });
    const route = format === 'completion' ? '/v1/completions' : '/v1/chat/completions';
    // The first failure stops the requests still out (and their retries): their answers would be dropped anyway.
    const stopRest = new AbortController();
    const signal = options.signal ? AbortSignal.any([options.signal, stopRest.signal]) : stopRest.signal;
    const call = (seed: number, count: number): Promise<EndpointGenerated[]> =>
      this.slots.run(async () => {
        signal.throwIfAborted();
        return this.parse(await this.postJson(route, body(seed, count), signal), format, params, count);
      });
    const all = async (seeds: readonly number[]): Promise<EndpointGenerated[]> => {
      try {
        return (await Promise.all(seeds.map((s) => call(s, 1)))).flat();
      } catch (e) {
        stopRest.abort();
        throw e;
      }
    };
    if (this.spec.nPerRequest && n > 1) {
      const out = await call(params.seeds[0] ?? 0, n);
      if (out.length >= n) return out.slice(0, n);
      // Fewer choices than asked: the server does not honour n; the rest one by one.
      return [...out, ...(await all(params.seeds.slice(out.length)))];
    }
    return all(params.seeds);
  }

  private parse(res: Record<string, unknown>, format: PromptFormat, params: GenerateParams, asked: number): EndpointGenerated[] {
    const choices = res.choices;
    if (!Array.isArray(choices) || choices.length === 0) throw new AppError('BAD_INPUT', `${this.spec.url} answered without choices`, 'is this an OpenAI-compatible server?');
    const usage = isRecord(res.usage) && typeof res.usage.completion_tokens === 'number' ? res.usage.completion_tokens : null;
    const fingerprint = typeof res.system_fingerprint === 'string' ? res.system_fingerprint.slice(0, 200) : null;
    const ordered = (choices as unknown[]).slice().sort((a, b) => (isRecord(a) && isRecord(b) && typeof a.index === 'number' && typeof b.index === 'number' ? a.index - b.index : 0));
    return ordered.slice(0, asked).map((c) => {
      if (!isRecord(c)) throw new AppError('BAD_INPUT', `${this.spec.url} answered with a malformed choice`);
      const raw = format === 'completion' ? c.text : isRecord(c.message) ? c.message.content : undefined;
      if (typeof raw !== 'string') throw new AppError('BAD_INPUT', `${this.spec.url} answered a choice without ${format === 'completion' ? 'text' : 'message content'}`);
      // Servers take at most 4 stop sequences (OpenAI's limit); the rest are cut here.
      const cut = firstStop(raw, params.stop);
      const text = cut >= 0 ? raw.slice(0, cut) : raw;
      const finish = c.finish_reason === 'length' && cut < 0 ? 'length' : 'stop';
      // usage counts all choices of the request together.
      const tokens = usage === null ? 0 : Math.round(usage / Math.min(asked, choices.length));
      return { text, tokens, finishReason: finish, systemFingerprint: fingerprint };
    });
  }
}

export interface AddEndpointOptions {
  servedModel: string;
  apiKeyEnv?: string | undefined;
  maxConcurrency?: number | undefined;
  nPerRequest?: boolean | undefined;
  /** The registered GGUF the server runs, so that model's adapters can be applied on it. */
  servesModelId?: number | undefined;
  name?: string | undefined;
  signal?: AbortSignal | undefined;
}

/**
 * Registers an OpenAI-compatible endpoint as a model. The server must answer /v1/models and list
 * the model named (so a typo fails now, not mid-run); the key is read from its variable for that
 * check and never stored. Adding the same URL and model again updates its settings.
 */
export async function addEndpoint(store: Store, rawUrl: string, options: AddEndpointOptions): Promise<{ model: ModelRow; created: boolean }> {
  const url = normalizeEndpointUrl(rawUrl);
  const servedModel = options.servedModel.trim();
  if (!servedModel) throw new AppError('BAD_INPUT', 'the endpoint needs the name of the model it serves', 'give --model NAME (as /v1/models lists it)');
  if (options.apiKeyEnv !== undefined && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(options.apiKeyEnv)) {
    throw new AppError('BAD_INPUT', `"${options.apiKeyEnv}" is not an environment variable name`, 'give the variable\'s name (e.g. OPENAI_API_KEY), not the key itself');
  }
  const maxConcurrency = options.maxConcurrency ?? 4;
  if (!Number.isInteger(maxConcurrency) || maxConcurrency < 1 || maxConcurrency > 1024) {
    throw new AppError('BAD_INPUT', `max concurrency must be an integer from 1 to 1024, got ${maxConcurrency}`);
  }
  const served = options.servesModelId === undefined ? undefined : store.models.get(options.servesModelId);
  if (options.servesModelId !== undefined && (!served || served.endpoint)) {
    throw new AppError('NOT_FOUND', `no local model with id ${options.servesModelId}`, 'give the id of the GGUF the server runs (`ilf models list`)');
  }
  const spec: EndpointSpec = {
    url, servedModel, apiKeyEnv: options.apiKeyEnv ?? null, maxConcurrency, nPerRequest: options.nPerRequest ?? false, servesModelId: served?.id ?? null,
  };
  const client = new EndpointClient(spec, { retries: 1, timeoutMs: 15_000 });
  let ids: string[];
  try {
    ids = await client.models(options.signal);
  } catch (e) {
    if (e instanceof AppError && e.code === 'UNAVAILABLE') {
      throw new AppError('BAD_INPUT', `cannot reach ${url}: ${e.message}`, 'start the server first (see the README, "Endpoints"), then add it');
    }
    throw e;
  }
  if (!ids.includes(servedModel)) {
    throw new AppError('BAD_INPUT', `${url} does not serve "${servedModel}"`, ids.length > 0 ? `it serves: ${ids.slice(0, 20).join(', ')}` : 'it lists no models');
  }
  const identity = createHash('sha256').update(`endpoint\n${url}\n${servedModel}`).digest('hex');
  const { id, created } = store.models.add({
    name: options.name ?? `${servedModel} @ ${url}`, path: url, sha256: identity, architecture: 'endpoint', quantization: 'n/a', sizeBytes: 0,
    parameterCount: null, contextLength: null,
    // Chat completions apply the server's own template; whether the model was tuned for chat is the person's call.
    hasChatTemplate: true, source: url, endpoint: spec,
  });
  const model = store.models.get(id);
  if (!model) throw new Error(`model ${id} vanished`);
  return { model, created };
}
