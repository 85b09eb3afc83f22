import { defineConfig } from 'vitest/config';

// Two projects. `npm test` runs both: unit first, in parallel, then e2e, one file at a time.
//   npx vitest run --project unit    # seconds; needs no build
//   npx vitest run --project e2e
// A test file is e2e when it starts a process of any kind (a Lua target, luaprof from dist/, gdb, a
// compiler, readelf, go, Chromium) or needs dist/: its name starts with `e2e-`. Everything else is a
// unit test, and test/helpers/no-processes.ts makes a unit test that starts a process fail.
export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 120_000,
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: ['test/**/e2e-*.test.ts'],
          setupFiles: ['test/helpers/no-processes.ts'],
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          name: 'e2e',
          include: ['test/**/e2e-*.test.ts'],
          // Builds dist/ once: end-to-end tests run the real `luaprof` binary.
          globalSetup: ['test/global-setup.ts'],
          // End-to-end suites run CPU-bound targets and measure time shares: test files run one at a
          // time, after the unit tests (a later group), so that nothing preempts their targets (which
          // skews shares toward preemption points).
          fileParallelism: false,
          // Timing checks against real processes on a 2-vCPU VM fail now and then (a burst of load skews a
          // share or a sample count); one retry each, as the share tests always had.
          retry: 1,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
