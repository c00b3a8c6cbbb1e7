// Every test runs with an empty home folder: shells started by the tests read no
// user start-up files (a developer's .bashrc, pyenv or conda hooks can stall a
// login shell for a minute), and nothing a test does can touch the real home.
// The folder is made once per run by tests/global-home.ts (vitest's globalSetup);
// a run without it (a config that has only this file) makes one and removes it on exit.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

if (!process.env.APOLLO_TEST_HOME) {
  const home = mkdtempSync(join(tmpdir(), 'apollo-test-home-'));
  process.env.APOLLO_TEST_HOME = home;
  process.once('exit', () => rmSync(home, { recursive: true, force: true }));
}
process.env.HOME = process.env.APOLLO_TEST_HOME;
