import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    globalSetup: ['tests/global-home.ts'],
    setupFiles: ['tests/setup-home.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // PTY and browser tests are I/O bound; two forks match the two cores here.
    pool: 'forks',
    maxWorkers: 2,
  },
});
