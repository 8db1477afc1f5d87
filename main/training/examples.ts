import fs from 'node:fs';
import path from 'node:path';
import type { LlamaModel } from 'node-llama-cpp';
import { z } from 'zod';
import { BadLines, readJsonl } from '../datasets/jsonl.js';
import type { PromptFormat } from '../datasets/prompt.js';
import { AppError } from '../errors.js';
import { promptTokens } from '../inference/prompt-tokens.js';
import type { Store } from '../store/store.js';
import { trainingRows } from './dataset.js';

/** One example before tokenization: the prompt as sampling renders it, and the target after it. */
export interface TextExample {
  prompt: string;
  completion: string;
  format: PromptFormat;
  /** Where the row comes from, to name it in a report: `example <id>` of a training set, or `line <n>` of a file. */
  ref: string;
}

/** What the native trainer reads: exact token ids, so the prompt is tokenized as sampling does it. */
export interface TokenizedExample {
  prompt_tokens: number[];
  completion_tokens: number[];
}

const PromptCompletionRow = z.object({ prompt: z.string(), completion: z.string().min(1, 'completion is empty') });
const Message = z.object({ role: z.enum(['system', 'user', 'assistant']), content: z.string() });
const MessagesRow = z.object({ messages: z.array(Message).min(2) });

function parseRow(value: unknown, ref: string): { ok: true; example: TextExample } | { ok: false; reason: string } {
  const pc = PromptCompletionRow.safeParse(value);
  if (pc.success) return { ok: true, example: { ...pc.data, format: 'completion', ref } };
  const chat = MessagesRow.safeParse(value);
  if (chat.success) {
    const { messages } = chat.data;
    const last = messages[messages.length - 1];
    const user = messages.filter((m) => m.role === 'user');
    if (last?.role !== 'assistant' || last.content.length === 0) return { ok: false, reason: 'the last message must be a non-empty assistant reply' };
    if (user.length !== 1) return { ok: false, reason: 'messages must hold exactly one user turn (the task prompt)' };
    return { ok: true, example: { prompt: user[0]?.content ?? '', completion: last.content, format: 'chat', ref } };
  }
  return { ok: false, reason: 'expected {"prompt", "completion"} strings or {"messages": [user, assistant]}' };
}

/**
 * Reads a training JSONL file, in either of the forms `ilf export` writes: `{prompt, completion}`
 * (completion prompts) or chat `{messages}`. Every line is checked; any bad line fails the whole
 * file with all problems listed.
 */
export async function readTrainingFile(file: string): Promise<{ examples: TextExample[]; sha256: string }> {
  const absolute = path.resolve(file);
  const bad = new BadLines();
  const examples: TextExample[] = [];
  const lines = readJsonl(absolute, { onBadLine: bad.add });
  let next = await lines.next();
  while (!next.done) {
    const parsed = parseRow(next.value.value, `line ${next.value.lineNo}`);
    if (parsed.ok) examples.push(parsed.example);
    else bad.add(next.value.lineNo, parsed.reason);
    next = await lines.next();
  }
  bad.throwIfAny(file, 'nothing was trained', 'fix the listed lines (the training formats are in the README)');
  if (examples.length === 0) throw new AppError('EMPTY_FILE', `${file} has no training rows`, 'give a JSONL file with one example per line');
  return { examples, sha256: next.value.sha256 };
}

/** The examples of a training set: its reviewed rows, or the rows of the file it was made from. */
export async function trainingSetExamples(store: Store, trainingSetId: number): Promise<TextExample[]> {
  const set = store.training.trainingSet(trainingSetId);
  if (!set) throw new AppError('NOT_FOUND', `no training set with id ${trainingSetId}`, 'build one from accepted refinements first');
  if (set.sourcePath !== null) {
    if (!fs.existsSync(set.sourcePath)) {
      throw new AppError('NOT_FOUND', `training set ${trainingSetId} was made from ${set.sourcePath}, which no longer exists`, 'train from the file again with --data');
    }
    return (await readTrainingFile(set.sourcePath)).examples;
  }
  return trainingRows(store, trainingSetId).map((r) => ({ prompt: r.prompt, completion: r.completion, format: r.promptFormat, ref: `example ${r.exampleId}` }));
}

/** Prompt tokens exactly as sampling makes them; the target ends with the token that ends a reply. */
export function tokenizeExample(model: LlamaModel, example: TextExample): TokenizedExample {
  const end = example.format === 'chat' ? (model.tokens.eot ?? model.tokens.eos) : model.tokens.eos;
  const completion = model.tokenize(example.completion);
  return {
    prompt_tokens: promptTokens(model, example.prompt, example.format).map(Number),
    completion_tokens: [...completion, ...(end === null ? [] : [end])].map(Number),
  };
}

/** Rows longer than the context are left out of training; the report names them, so none goes silently. */
export interface TooLongRows {
  count: number;
  /** Each row's `ref`, with its length in tokens. */
  rows: { ref: string; tokens: number }[];
  /** Most tokens a row may have: the configured context, or the model's own if that is smaller. */
  limit: number;
}

export function tooLongRows(examples: readonly TextExample[], tokenized: readonly TokenizedExample[], limit: number): TooLongRows {
  const rows: TooLongRows['rows'] = [];
  tokenized.forEach((t, i) => {
    const tokens = t.prompt_tokens.length + t.completion_tokens.length;
    if (tokens > limit) rows.push({ ref: examples[i]?.ref ?? `row ${i + 1}`, tokens });
  });
  return { count: rows.length, rows, limit };
}
