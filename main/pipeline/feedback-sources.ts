import type { ExecutionResult } from '../../preload/contract.js';
import { seededRandom } from '../random.js';

/**
 * Automatic feedback sources, besides a person: written from the execution (LeTI-style) and the
 * paper's control of feedback that belongs to another task.
 */

const KIND_TEXT: Record<string, string> = {
  syntax_error: 'The code does not parse',
  runtime_error: 'The code raises an error',
  assertion_failure: 'The code returns wrong results',
  timeout: 'The code runs too long (an endless loop, or far too slow)',
  memory_limit: 'The code uses too much memory',
  output_limit: 'The code prints far too much',
};

/** The last line of a traceback (the exception) and the deepest line of the program that raised it. */
function tracebackSummary(traceback: string): string | undefined {
  const lines = traceback.trim().split('\n');
  const frames = lines.filter((l) => /^\s*File "<program>", line \d+/.test(l));
  const last = frames.at(-1);
  const where = last ? /line (\d+)(?:, in (\S+))?/.exec(last) : null;
  const exception = lines.at(-1)?.trim();
  if (!exception) return undefined;
  return where ? `${exception} (line ${where[1]}${where[2] && where[2] !== '<module>' ? `, in ${where[2]}` : ''})` : exception;
}

/**
 * Feedback written from a failed execution: what kind of failure, then each failing test with what
 * the program returned against what was expected, and the error where there was one.
 */
export function executionFeedback(result: ExecutionResult, tests: readonly string[]): string {
  if (result.status === 'passed') return 'All tests pass.';
  if (result.status === 'sandbox_error') throw new Error('a sandbox error says nothing about the program: run it again instead');
  const parts = [`${KIND_TEXT[result.errorKind ?? ''] ?? 'The code fails its tests'}.`];
  for (const t of result.testResults) {
    const test = tests[t.index]?.trim() ?? `test ${t.index + 1}`;
    if (t.outcome === 'assertion_failed' && t.actual != null && t.expected != null) {
      parts.push(`\`${test}\` fails: it returned ${t.actual}, expected ${t.expected}.`);
    } else if (t.outcome === 'assertion_failed') {
      parts.push(`\`${test}\` fails.`);
    } else if (t.outcome === 'error') {
      parts.push(`\`${test}\` raises ${t.message ?? 'an error'}.`);
    } else if (t.outcome === 'timeout') {
      parts.push(`\`${test}\` does not finish in time.`);
    }
  }
  const raised = result.traceback ? tracebackSummary(result.traceback) : undefined;
  if (raised && (result.errorKind === 'runtime_error' || result.errorKind === 'syntax_error')) parts.push(`Error: ${raised}.`);
  if (result.errorKind !== 'assertion_failure' && result.exceptionMessage && !raised) parts.push(result.exceptionMessage);
  return parts.join('\n');
}

/**
 * The shuffled-feedback control: gives each item the feedback of an item of another task (a
 * seeded derangement by task), so refinements that still improve show they ignore the feedback.
 * Returns, for each input position, the index of the feedback it receives.
 */
export function shuffledFeedbackIndices(taskIds: readonly string[], seed: number): number[] {
  const n = taskIds.length;
  if (new Set(taskIds).size < 2) throw new Error('the shuffled control needs feedback on at least two different tasks');
  const next = seededRandom(seed);
  for (let attempt = 0; attempt < 1000; attempt += 1) {
    const order = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i -= 1) {
      const j = Math.floor(next() * (i + 1));
      [order[i], order[j]] = [order[j] ?? j, order[i] ?? i];
    }
    if (order.every((from, to) => taskIds[from] !== taskIds[to])) return order;
  }
  // Heavily skewed inputs (one task holding most items) can defeat random tries: pair greedily.
  const result: number[] = [];
  const used = new Set<number>();
  for (let to = 0; to < n; to += 1) {
    const from = taskIds.findIndex((t, i) => !used.has(i) && t !== taskIds[to]);
    if (from < 0) throw new Error('no derangement by task exists for this feedback (one task has more than half of it)');
    used.add(from);
    result.push(from);
  }
  return result;
}
