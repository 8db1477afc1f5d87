import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/unit/**/*.test.{ts,tsx}', 'tests/integration/**/*.test.ts', 'tests/e2e/**/*.test.ts'],
    reporters: ['default', './tests/helpers/summary-reporter.ts'],
    testTimeout: 30_000,
    // Integration tests spawn real processes and write real SQLite files; two cores here.
    pool: 'forks',
    maxWorkers: 2,
  },
});
