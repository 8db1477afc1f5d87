import path from 'node:path';
import type { PromptFormat } from '../datasets/prompt.js';
import { AppError } from '../errors.js';
import type { LlamaRuntime } from '../models/runtime.js';
import type { AdapterRow, EndpointSpec, ModelRow } from '../store/models.js';
import { EndpointClient, type EndpointOptions } from './endpoint.js';
import { generateSamples, type Generated, type GenerateParams } from './generate.js';
import { promptTokens } from './prompt-tokens.js';
import { ModelSession } from './session.js';

/**
 * What sampling, refinement, model feedback and evaluation draw text from: a local GGUF through
 * node-llama-cpp, or an OpenAI-compatible endpoint. Callers hand over the prompt text; each side
 * applies the format its own way (local: the model's template and tokenizer; endpoint: the
 * server's completions or chat completions).
 */
export interface TextGenerator {
  /** Recorded with a run: where the text came from. */
  readonly provenance: Record<string, unknown>;
  /** Whether the same seed gives the same text again (a local model with a serial sampler). */
  readonly bitReproducible: boolean;
  /** Prompt length in tokens, when this side can count them (a local model); the context is sized from it. */
  countTokens(prompt: string, format: PromptFormat): number | null;
  generate(prompt: string, format: PromptFormat, params: GenerateParams,
    options?: { signal?: AbortSignal | undefined; onToken?: () => void; contextSize?: number; threads?: number }): Promise<(Generated & { systemFingerprint?: string | null })[]>;
  dispose(): Promise<void>;
}

class LocalGenerator implements TextGenerator {
  readonly provenance: Record<string, unknown>;

  constructor(private readonly session: ModelSession, readonly bitReproducible: boolean, model: ModelRow) {
    this.provenance = { kind: 'gguf', modelSha256: model.sha256, threads: session.threads };
  }

  countTokens(prompt: string, format: PromptFormat): number {
    return promptTokens(this.session.model, prompt, format).length;
  }

  generate(prompt: string, format: PromptFormat, params: GenerateParams,
    options: { signal?: AbortSignal | undefined; onToken?: () => void; contextSize?: number; threads?: number } = {}): Promise<Generated[]> {
    const tokens = promptTokens(this.session.model, prompt, format);
    const contextSize = Math.max(options.contextSize ?? 0, tokens.length + params.maxTokens + 8);
    return generateSamples(this.session.model, { contextSize, threads: options.threads ?? this.session.threads, adapterPath: this.session.adapterPath }, tokens, params,
      { signal: options.signal, ...(options.onToken ? { onToken: options.onToken } : {}) });
  }

  dispose(): Promise<void> {
    return this.session.dispose();
  }
}

class EndpointGenerator implements TextGenerator {
  readonly bitReproducible = false; // the server's batching, build and hardware are not ours to pin
  readonly provenance: Record<string, unknown>;

  constructor(private readonly client: EndpointClient, private readonly lora: readonly { id: number; scale: number }[] | undefined, adapter: AdapterRow | undefined) {
    this.provenance = {
      kind: 'endpoint', baseUrl: client.spec.url, servedModel: client.spec.servedModel,
      ...(adapter ? { serverLora: lora } : {}),
    };
  }

  countTokens(): null {
    return null;
  }

  async generate(prompt: string, format: PromptFormat, params: GenerateParams,
    options: { signal?: AbortSignal | undefined; onToken?: () => void } = {}): Promise<(Generated & { systemFingerprint: string | null })[]> {
    const out = await this.client.generate(prompt, format, params, { signal: options.signal, lora: this.lora });
    if (options.onToken) for (const g of out) for (let i = 0; i < g.tokens; i += 1) options.onToken();
    return out;
  }

  async dispose(): Promise<void> {
    // nothing held: requests end with their promises
  }
}

/** An endpoint's generator with no adapter and no LoRA list (for a server that has none loaded). */
export function endpointGenerator(spec: EndpointSpec, options?: EndpointOptions): TextGenerator {
  return new EndpointGenerator(new EndpointClient(spec, options), undefined, undefined);
}

/** How to restart llama-server so it can apply `adapter` (it loads adapters only at start). */
function restartHint(model: ModelRow, adapter: AdapterRow, base: ModelRow | undefined): string {
  const port = new URL(model.endpoint?.url ?? 'http://127.0.0.1:8080').port || '8080';
  return `restart it with the adapter loaded: llama-server -m ${base?.path ?? 'BASE.gguf'} --lora ${adapter.path} --lora-init-without-apply --port ${port}` +
    (model.endpoint ? ` --alias ${model.endpoint.servedModel}` : '');
}

/**
 * The generator for a registered model, with an adapter when given. On an endpoint an adapter is
 * applied per request through llama-server's LoRA list (GET /lora-adapters gives the ids of the
 * adapters it was started with); a server that cannot, or has not loaded this one, gets an error
 * that says what to restart it with. Without an adapter, a llama-server that has adapters loaded is
 * asked for none (its global scales would otherwise apply).
 */
export async function openGenerator(
  deps: { runtime?: LlamaRuntime | undefined; endpointOptions?: EndpointOptions | undefined; baseModel?: (id: number) => ModelRow | undefined },
  model: ModelRow, adapter: AdapterRow | undefined, bitReproducibleLocally: boolean, signal?: AbortSignal,
): Promise<TextGenerator> {
  if (model.endpoint) {
    const client = new EndpointClient(model.endpoint, deps.endpointOptions);
    const loaded = await client.loraAdapters(signal);
    let lora: { id: number; scale: number }[] | undefined;
    if (adapter) {
      const base = deps.baseModel?.(adapter.baseModelId);
      if (loaded === null) {
        throw new AppError('BAD_INPUT', `${model.endpoint.url} cannot apply GGUF LoRA adapters (it has no /lora-adapters endpoint)`,
          `serve the base model with llama.cpp's server and the adapter: ${restartHint(model, adapter, base)}`);
      }
      const byPath = loaded.find((a) => path.resolve(a.path) === adapter.path) ?? loaded.find((a) => path.basename(a.path) === path.basename(adapter.path));
      if (!byPath) {
        throw new AppError('BAD_INPUT', `${model.endpoint.url} has not loaded the adapter ${adapter.name} (${adapter.path})`, restartHint(model, adapter, base));
      }
      lora = loaded.map((a) => ({ id: a.id, scale: a.id === byPath.id ? 1 : 0 }));
    } else if (loaded !== null && loaded.length > 0) {
      lora = loaded.map((a) => ({ id: a.id, scale: 0 }));
    }
    return new EndpointGenerator(client, lora, adapter);
  }
  if (!deps.runtime) throw new AppError('BAD_INPUT', `${model.name} is a local model and needs llama.cpp`, 'run it where the llama.cpp runtime is available');
  const session = await ModelSession.open(deps.runtime, { modelPath: model.path, adapterPath: adapter?.path ?? null }, signal);
  return new LocalGenerator(session, bitReproducibleLocally, model);
}

/** An adapter fits a model when it was made for it, or for the GGUF an endpoint serves. */
export function adapterFits(model: ModelRow, adapter: AdapterRow): boolean {
  return adapter.baseModelId === model.id || (model.endpoint?.servesModelId ?? null) === adapter.baseModelId;
}
