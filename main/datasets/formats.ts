import { z } from 'zod';
import type { DatasetFormat } from '../../preload/contract.js';
import { SplitName } from '../../preload/contract.js';
import { describeIssues, type TaskRecord } from './task-record.js';
import { DEFAULT_CUSTOM_SPLIT, HUMANEVAL_SPLIT, mbppSplit } from './splits.js';

/** Result of reading one line: a task, or why the line cannot be one. */
export type ParsedLine = { ok: true; task: TaskRecord } | { ok: false; reason: string };

export interface FormatOptions {
  /** Split for custom rows that name none. */
  defaultSplit?: string;
}

const nonEmpty = z.string().refine((s) => s.trim().length > 0, 'must not be empty');

// MBPP's original release (google-research/mbpp/mbpp.jsonl).
const MbppRow = z.object({
  task_id: z.number().int().positive(),
  text: nonEmpty,
  code: z.string(),
  test_list: z.array(nonEmpty).min(1, 'needs at least one test'),
  test_setup_code: z.string().default(''),
  challenge_test_list: z.array(z.string()).default([]),
});

// HumanEval (openai/human-eval, data/HumanEval.jsonl).
const HumanEvalRow = z.object({
  task_id: nonEmpty,
  prompt: nonEmpty,
  entry_point: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a Python identifier'),
  canonical_solution: z.string(),
  test: z.string().refine((s) => /\bdef check\s*\(/.test(s), 'must define check(candidate)'),
});

// Our own format, documented in the README.
const CustomRow = z.object({
  task_id: z.union([nonEmpty, z.number().int()]),
  text: nonEmpty,
  tests: z.array(nonEmpty).min(1, 'needs at least one test'),
  setup_code: z.string().default(''),
  example_test: z.string().nullable().optional(),
  split: SplitName.optional(),
  entry_point: z.string().nullable().default(null),
  code_prefix: z.string().nullable().default(null),
  reference_solution: z.string().nullable().default(null),
  challenge_tests: z.array(z.string()).default([]),
});

function parseWith<S extends z.ZodType>(schema: S, value: unknown, build: (row: z.output<S>) => TaskRecord): ParsedLine {
  const parsed = schema.safeParse(value);
  if (!parsed.success) return { ok: false, reason: describeIssues(parsed.error) };
  return { ok: true, task: build(parsed.data) };
}

export function parseTaskLine(format: DatasetFormat, value: unknown, options: FormatOptions = {}): ParsedLine {
  switch (format) {
    case 'mbpp':
      return parseWith(MbppRow, value, (r) => ({
        taskKey: String(r.task_id),
        split: mbppSplit(r.task_id),
        text: r.text,
        codePrefix: null,
        entryPoint: null,
        exampleTest: r.test_list[0] ?? null,
        tests: r.test_list,
        setupCode: r.test_setup_code,
        challengeTests: r.challenge_test_list,
        referenceSolution: r.code,
      }));
    case 'humaneval':
      return parseWith(HumanEvalRow, value, (r) => ({
        taskKey: r.task_id,
        split: HUMANEVAL_SPLIT,
        text: r.prompt,
        codePrefix: r.prompt,
        entryPoint: r.entry_point,
        exampleTest: null, // the docstring's examples are the shown tests
        tests: [`check(${r.entry_point})`],
        setupCode: r.test,
        challengeTests: [],
        referenceSolution: r.prompt + r.canonical_solution,
      }));
    case 'jsonl':
      return parseWith(CustomRow, value, (r) => ({
        taskKey: String(r.task_id),
        split: r.split ?? options.defaultSplit ?? DEFAULT_CUSTOM_SPLIT,
        text: r.text,
        codePrefix: r.code_prefix,
        entryPoint: r.entry_point,
        exampleTest: r.example_test === undefined ? (r.tests[0] ?? null) : r.example_test,
        tests: r.tests,
        setupCode: r.setup_code,
        challengeTests: r.challenge_tests,
        referenceSolution: r.reference_solution,
      }));
  }
}
