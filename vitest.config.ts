import { configDefaults, defineConfig } from 'vitest/config';

// These measure the live heap after a full GC against the heap at their start: in a
// shared worker, modules and leftovers of the files before them would count as growth.
const heapMeasured = ['tests/unit/dataset-export-memory.test.ts', 'tests/unit/dataset-merge-memory.test.ts'];

export default defineConfig({
  test: {
    globalSetup: ['tests/global-home.ts'],
    setupFiles: ['tests/setup-home.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // PTY and browser tests are I/O bound; two forks match the two cores here.
    pool: 'forks',
    maxWorkers: 2,
    projects: [
      {
        extends: true,
        // A unit file in a fresh worker spent ~0.3-0.5 s of CPU importing (the core, zod's
        // schemas) before its first test; sharing the worker, each module loads once.
        // Every unit file restores what it changes (environment, timers) and closes
        // what it opens, so none depends on a fresh module graph.
        test: { name: 'unit', include: ['tests/unit/**/*.test.ts'], exclude: [...configDefaults.exclude, ...heapMeasured], isolate: false },
      },
      {
        extends: true,
        // The browser tests share their worker too, and with it one Chromium (harness.ts):
        // a fresh fork per file cost ~2-4 s before its first test (vitest, playwright-core,
        // a Chromium launch). Each file still has its own server, home and browser contexts;
        // leftovers.ts fails a file that leaves a context or a server open.
        test: { name: 'e2e', include: ['tests/e2e/**/*.test.ts'], setupFiles: ['tests/e2e/leftovers.ts'], isolate: false },
      },
      {
        extends: true,
        // The heap measurements keep a worker of their own.
        test: { name: 'heap', include: heapMeasured },
      },
    ],
  },
});
