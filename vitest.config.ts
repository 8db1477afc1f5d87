import { defineConfig } from 'vitest/config';

// Test workers are forked from this process and inherit its environment. node-llama-cpp samples
// the tokens of parallel sequences concurrently on libuv's thread pool, and reading a context's
// logits from several threads at once is not safe in llama.cpp: one thread per pool makes sampling
// reproducible (see main/models/runtime.ts). It must be set before a process starts.
process.env.UV_THREADPOOL_SIZE ??= '1';

export default defineConfig({
  test: {
    include: ['tests/unit/**/*.test.{ts,tsx}', 'tests/integration/**/*.test.ts', 'tests/e2e/**/*.test.ts'],
    reporters: ['default', './tests/helpers/summary-reporter.ts'],
    testTimeout: 30_000,
    // Polls wait on real processes and a real browser on a loaded 2-core machine: give them time.
    expect: { poll: { timeout: 10_000, interval: 50 } },
    // Integration tests spawn real processes and write real SQLite files; two cores here.
    pool: 'forks',
    maxWorkers: 2,
  },
});
