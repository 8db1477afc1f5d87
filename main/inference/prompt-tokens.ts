import { resolveChatWrapper, type LlamaModel, type Token } from 'node-llama-cpp';
import type { PromptFormat } from '../datasets/prompt.js';

/**
 * Tokens for a prompt. Completion prompts are the text as it is (with BOS when the model wants
 * one); chat prompts go through the model's own chat template (its Jinja template when the GGUF
 * has one) as one user turn, ending where the assistant's reply begins.
 */
export function promptTokens(model: LlamaModel, text: string, format: PromptFormat): Token[] {
  if (format === 'completion') {
    const tokens = model.tokenize(text);
    const bos = model.tokens.bos;
    return model.tokens.shouldPrependBosToken && bos !== null ? [bos, ...tokens] : tokens;
  }
  const wrapper = resolveChatWrapper(model);
  const { contextText } = wrapper.generateContextState({
    chatHistory: [
      { type: 'user', text },
      { type: 'model', response: [] },
    ],
  });
  return contextText.tokenize(model.tokenizer);
}

/**
 * The program in a reply: the first fenced code block (```python preferred), else the whole
 * reply. Completion samples are programs already.
 */
export function extractCode(reply: string): string {
  const blocks = [...reply.matchAll(/```([\w+-]*)[^\n]*\n([\s\S]*?)(?:```|$)/g)];
  const python = blocks.find((b) => /^(python|py|python3)$/i.test(b[1] ?? ''));
  const chosen = python ?? blocks[0];
  return (chosen?.[2] ?? reply).replace(/\s+$/, '') + '\n';
}

/** What gets tested: a completion continues its prompt's code prefix (HumanEval); otherwise it is the program. */
export function programFor(format: PromptFormat, codePrefix: string | null, generated: string): string {
  if (format === 'chat') return extractCode(generated);
  return codePrefix !== null ? codePrefix + generated : generated;
}
