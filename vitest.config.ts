import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // End-to-end suites start real interpreters and attach with ptrace: keep them from starving each other on 2 cores.
    maxWorkers: 2,
    fileParallelism: true,
  },
});
