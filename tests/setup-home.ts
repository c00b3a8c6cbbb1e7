// Every test runs with an empty home folder: shells started by the tests read no
// user start-up files (a developer's .bashrc, pyenv or conda hooks can stall a
// login shell for a minute), and nothing a test does can touch the real home.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

if (!process.env.APOLLO_TEST_HOME) {
  process.env.APOLLO_TEST_HOME = mkdtempSync(join(tmpdir(), 'apollo-test-home-'));
  process.env.HOME = process.env.APOLLO_TEST_HOME;
}
