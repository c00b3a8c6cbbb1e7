import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { configDefaults, defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

// Files that need a fresh module graph of their own. The heap measurements compare the
// live heap after a full GC with the heap at their start: in a shared worker, modules and
// leftovers of the files before them would count as growth. A file that mocks a module
// (vi.mock) sees its mock only in modules it loads first: in a shared worker the core was
// already loaded with the real one.
const ownGraph = ['tests/unit/dataset-export-memory.test.ts', 'tests/unit/dataset-merge-memory.test.ts', 'tests/unit/dataset-cast-cache.test.ts'];

/** Seconds per file (its path from the repository root) as a run took them; `scripts/test-durations.mjs` writes it. */
const recorded = JSON.parse(readFileSync(new URL('tests/durations.json', import.meta.url), 'utf8')) as Record<string, number>;

/**
 * The order the files start in: the projects one after the other (as vitest's own
 * sequencer does, so a shared worker goes on with the next file of its project), in each
 * the longest first, so the run does not end with one worker on a long file while the
 * other idles. A file's length is vitest's cached duration (the last run here), else the
 * recorded one: a clean clone has no cache, and vitest would go by file size (the test
 * hygiene file is small and runs vitest twice). Files in neither start first.
 */
class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const seconds = (spec: TestSpecification): number => {
      const path = relative(this.ctx.config.root, spec.moduleId);
      const cached = this.ctx.cache.getFileTestResults(`${spec.project.name}:${path}`);
      return cached ? cached.duration / 1000 : (recorded[path] ?? Number.MAX_VALUE);
    };
    return [...files].sort((a, b) => a.project.name.localeCompare(b.project.name) || seconds(b) - seconds(a));
  }
}

export default defineConfig({
  test: {
    globalSetup: ['tests/global-home.ts'],
    setupFiles: ['tests/setup-home.ts'],
    sequence: { sequencer: LongestFirst },
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // PTY and browser tests are I/O bound: with two forks on this 2-core machine the CPU
    // was ~60% busy over a run (vitest 257 s on a clean clone), with three 205 s. The
    // projects inherit this, so vitest's own --maxWorkers does not reach them:
    // APOLLO_TEST_WORKERS sets it.
    pool: 'forks',
    maxWorkers: Number(process.env.APOLLO_TEST_WORKERS ?? 3),
    projects: [
      {
        extends: true,
        // A unit file in a fresh worker spent ~0.3-0.5 s of CPU importing (the core, zod's
        // schemas) before its first test; sharing the worker, each module loads once.
        // Every unit file restores what it changes (environment, timers) and closes
        // what it opens, so none depends on a fresh module graph.
        test: { name: 'unit', include: ['tests/unit/**/*.test.ts'], exclude: [...configDefaults.exclude, ...ownGraph], isolate: false },
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
        // A fresh worker each (vitest's default isolation).
        test: { name: 'isolated', include: ownGraph },
      },
    ],
  },
});
