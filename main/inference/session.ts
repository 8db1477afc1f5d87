import type { LlamaModel } from 'node-llama-cpp';
import { AppError } from '../errors.js';
import type { LlamaRuntime } from '../models/runtime.js';

/**
 * A loaded model, owned by whoever opened it. Contexts are made per prompt by generateSamples;
 * an adapter is checked here once, by making a small context with it.
 */
export class ModelSession implements AsyncDisposable {
  private disposed = false;

  private constructor(readonly model: LlamaModel, readonly threads: number, readonly adapterPath: string | null) {}

  static async open(runtime: LlamaRuntime, spec: { modelPath: string; adapterPath?: string | null }, signal?: AbortSignal): Promise<ModelSession> {
    const llama = await runtime.get();
    let model: LlamaModel;
    try {
      model = await llama.loadModel({ modelPath: spec.modelPath, loadSignal: signal });
    } catch (e) {
      throw new AppError('BAD_INPUT', `llama.cpp could not load ${spec.modelPath}: ${(e as Error).message}`,
        'check that the file is a complete GGUF model of an architecture llama.cpp supports');
    }
    if (spec.adapterPath) {
      try {
        const probe = await model.createContext({ contextSize: 64, threads: runtime.threads, lora: { adapters: [{ filePath: spec.adapterPath, scale: 1 }] } });
        await probe.dispose();
      } catch (e) {
        await model.dispose();
        throw new AppError('BAD_INPUT', `the adapter ${spec.adapterPath} could not be applied to ${spec.modelPath}: ${(e as Error).message}`,
          'an adapter works only with the base model it was trained on');
      }
    }
    return new ModelSession(model, runtime.threads, spec.adapterPath ?? null);
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.model.dispose();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }
}
