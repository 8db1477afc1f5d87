import type { ExecutionRequest } from './types.js';

/** A task's known-good program with the tests that judge it. */
export interface GoldTask {
  taskId: string;
  referenceSolution: string | null;
  tests: readonly string[];
  setupCode: string;
}

/** The gold programs as sandbox requests: program, then setup code, then every test. */
export function goldRequests(tasks: readonly GoldTask[]): { taskId: string; request: ExecutionRequest }[] {
  return tasks.map((t) => ({
    taskId: t.taskId,
    request: { program: t.referenceSolution ?? '', tests: t.tests, setupCode: t.setupCode },
  }));
}
