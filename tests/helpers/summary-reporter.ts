import type { Reporter, SerializedError, TestCase, TestModule, TestRunEndReason, TestSuite } from 'vitest/node';

export interface Summary { passed: number; failed: number; skipped: number }

/** Whether this suite or one around it (up to its file) failed: a hook threw or the file did not load. */
function inFailedSuite(suite: TestSuite | TestModule): boolean {
  for (let s: TestSuite | TestModule = suite; ; s = s.parent) {
    if (s.state() === 'failed') return true;
    if (s.type === 'module') return false;
  }
}

/**
 * Counts a run so that nothing failing can hide: a test that failed; a test that was meant to run
 * but did not because a hook around it threw (vitest reports it as skipped); a file or suite with
 * errors of its own and no failing test to show for them (it did not load, or an afterAll threw);
 * and each unhandled error. Only tests skipped on purpose (skip, skipIf, todo, a filter) count as skipped.
 */
export function summarize(testModules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<SerializedError>): Summary {
  let passed = 0;
  let skipped = 0;
  const failedTests = new Set<TestCase>();
  let failedSuites = 0;
  for (const module of testModules) {
    for (const test of module.children.allTests()) {
      const state = test.result().state;
      if (state === 'passed') passed += 1;
      else if (state === 'failed') failedTests.add(test);
      else if (test.options.mode === 'run' && inFailedSuite(test.parent)) failedTests.add(test); // did not run: its set-up failed
      else skipped += 1;
    }
    const before = failedSuites;
    for (const suite of [module, ...module.children.allSuites()]) {
      const shown = [...suite.children.allTests()].some((t) => failedTests.has(t));
      if (!shown && suite.errors().length > 0) failedSuites += 1;
    }
    // A failed file with nothing yet to show for it (vitest failed it for a reason not attached to a suite).
    const shownInModule = [...module.children.allTests()].some((t) => failedTests.has(t));
    if (module.state() === 'failed' && failedSuites === before && !shownInModule) failedSuites += 1;
  }
  return { passed, failed: failedTests.size + failedSuites + unhandledErrors.length, skipped };
}

export function summaryLine({ passed, failed, skipped }: Summary): string {
  return `${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`;
}

/**
 * Ends the run with one plain line, "N passed, N failed[, N skipped]", that CI and people can read
 * without knowing vitest's own summary format. It agrees with vitest's exit status: "0 failed" exactly
 * when the run passed.
 */
export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<SerializedError>, reason: TestRunEndReason): void {
    const summary = summarize(testModules, unhandledErrors);
    // Anything else vitest fails a run for (an interrupted run, an error outside any file) still shows as a failure.
    if (reason !== 'passed' && summary.failed === 0) summary.failed = 1;
    process.stdout.write(`\n${summaryLine(summary)}\n`);
  }
}
