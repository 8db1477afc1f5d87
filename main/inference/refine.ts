import { completionPrompt, type PromptFormat } from '../datasets/prompt.js';
import { AppError } from '../errors.js';
import { hasSerialThreadpool, type LlamaRuntime } from '../models/runtime.js';
import type { RefineExample, RefineInput } from '../store/feedback.js';
import type { Store } from '../store/store.js';
import type { EndpointOptions } from './endpoint.js';
import { sampleSeed } from './generate.js';
import { adapterFits, openGenerator } from './generator.js';
import { extractCode } from './prompt-tokens.js';

/** Where a refinement ends in the completion format: the next section or the next example. */
export const REFINE_STOP = ['\n"""', '\n# Incorrect solution', '\n# Feedback', '\n# Refined solution', '\nif __name__', '\nassert '] as const;

function commentLines(text: string): string {
  return text.trim().split('\n').map((l) => (l.trim() ? `# ${l}` : '#')).join('\n');
}

/** One block of the ILF paper's refine format: the task, the incorrect code, the feedback, then the refined code. */
function refineBlock(example: Omit<RefineExample, 'refined'>, refined: string | null): string {
  const task = example.codePrefix !== null ? `"""\n${example.text.trim()}\n"""\n` : completionPrompt(example);
  return `${task}# Incorrect solution:\n${example.program.trimEnd()}\n# Feedback:\n${commentLines(example.feedback)}\n# Refined solution:\n` +
    (refined === null ? '' : `${refined.trimEnd()}\n\n`);
}

/** The refine prompt: zero-shot, or preceded by accepted refinements of other tasks as examples. */
export function refinePrompt(input: Omit<RefineExample, 'refined'>, examples: readonly RefineExample[], format: PromptFormat): string {
  if (format === 'completion') return examples.map((e) => refineBlock(e, e.refined)).join('') + refineBlock(input, null);
  const shots = examples.map((e) => `${refineBlock(e, null)}\`\`\`python\n${e.refined.trimEnd()}\n\`\`\`\n\n`).join('');
  return `${shots}${refineBlock(input, null)}\nWrite the refined solution: fix the code as the feedback says. Reply with the whole program in one Python code block.`;
}

export interface RefineConfig {
  feedbackId: number;
  /** Refinements per feedback. */
  k: number;
  modelId: number;
  adapterId?: number | null;
  temperature: number;
  topP: number;
  maxTokens: number;
  seed: number;
  promptFormat: PromptFormat;
  /** Accepted refinements to show first; 0 is zero-shot. */
  fewShot?: number;
}

/**
 * Generates k refinements of the program a feedback was given on, stores them (origin model, the
 * refiner, its prompt and seed, the raw completion and the program), and returns their ids.
 * Testing them is the sandbox's job, done by the caller.
 */
export async function generateRefinements(deps: { store: Store; runtime: LlamaRuntime; endpointOptions?: EndpointOptions | undefined }, config: RefineConfig, signal?: AbortSignal): Promise<number[]> {
  const { store, runtime } = deps;
  const input: RefineInput | undefined = store.lineage.refineInput(config.feedbackId);
  if (!input) throw new AppError('NOT_FOUND', `no feedback with id ${config.feedbackId}`);
  const model = store.models.get(config.modelId);
  if (!model) throw new AppError('NOT_FOUND', `no model with id ${config.modelId}`, 'list models with `ilf models list`');
  const adapter = config.adapterId != null ? store.models.adapter(config.adapterId) : undefined;
  if (config.adapterId != null && !adapter) throw new AppError('NOT_FOUND', `no adapter with id ${config.adapterId}`);
  if (adapter && !adapterFits(model, adapter)) {
    throw new AppError('BAD_INPUT', `adapter ${adapter.id} was made for model ${adapter.baseModelId}, not model ${model.id}`, 'use the adapter with its own base model');
  }
  if (config.promptFormat === 'chat' && !model.hasChatTemplate) throw new AppError('BAD_INPUT', `${model.name} has no chat template`, 'use the completion format');
  const examples = store.lineage.acceptedExamples(config.fewShot ?? 0, input.taskId);
  const prompt = refinePrompt(input, examples, config.promptFormat);
  const seeds = Array.from({ length: config.k }, (_, i) => sampleSeed(config.seed, `refine:${config.feedbackId}`, i));

  const generator = await openGenerator({ runtime, endpointOptions: deps.endpointOptions, baseModel: (id) => store.models.get(id) }, model, adapter, hasSerialThreadpool(), signal);
  try {
    const generated = await generator.generate(prompt, config.promptFormat, {
      temperature: config.temperature, topP: config.topP, maxTokens: config.maxTokens, seeds,
      stop: config.promptFormat === 'completion' ? [...REFINE_STOP] : [],
    }, { signal });
    signal?.throwIfAborted();
    return store.transaction(() => {
      const promptId = store.runs.internPrompt(prompt);
      return generated.map((g, i) => store.lineage.addRefinement({
        feedbackId: config.feedbackId, origin: 'model', refinerModelId: model.id, refinerAdapterId: adapter?.id ?? null,
        refinementIndex: i, promptId, completion: g.text, seed: seeds[i] ?? null,
        program: config.promptFormat === 'chat' ? extractCode(g.text) : g.text.trimEnd() + '\n',
        params: {
          temperature: config.temperature, topP: config.topP, maxTokens: config.maxTokens, fewShot: examples.length, promptFormat: config.promptFormat, finishReason: g.finishReason,
          ...(model.endpoint ? { endpoint: { ...generator.provenance, systemFingerprint: g.systemFingerprint ?? null }, reproducible: false } : {}),
        },
      }));
    });
  } finally {
    await generator.dispose();
  }
}
