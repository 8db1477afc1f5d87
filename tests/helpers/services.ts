import type { LlamaRuntime } from '../../main/models/runtime.js';

/** For service tests that never touch a model: asking for llama.cpp is a test bug. */
export const noRuntime = (): LlamaRuntime => {
  throw new Error('this test does not start llama.cpp');
};
