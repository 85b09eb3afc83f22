import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // End-to-end suites run CPU-bound targets and measure time shares: test files run one at a time so
    // that they do not preempt each other's targets (which skews shares toward preemption points).
    fileParallelism: false,
  },
});
