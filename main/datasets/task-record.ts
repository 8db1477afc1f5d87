import type { z } from 'zod';

/** A task as every importer produces it and the store keeps it, whatever the source format. */
export interface TaskRecord {
  /** The dataset's own id for the task, as text: '11', 'HumanEval/0'. */
  taskKey: string;
  split: string;
  /** The natural-language description. */
  text: string;
  /** Code that a completion continues (HumanEval's signature and docstring); null for MBPP. */
  codePrefix: string | null;
  entryPoint: string | null;
  /** The test shown to the model in the prompt (MBPP: the first one). */
  exampleTest: string | null;
  /** Statements run after the program and setupCode; all must pass. */
  tests: string[];
  /** Runs after the program and before the tests (MBPP's test_setup_code, HumanEval's check()). */
  setupCode: string;
  challengeTests: string[];
  referenceSolution: string | null;
}

/** Turns zod's issues into one readable reason: "task_id: expected number, received string". */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const where = issue.path.length > 0 ? issue.path.join('.') : 'line';
      return `${where}: ${issue.message}`;
    })
    .join('; ');
}
