// One empty home folder for the whole test run (see setup-home.ts for why), made
// before the workers start (they inherit the environment) and removed after the
// run: one folder per run, none left behind.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export default function setup(): () => void {
  if (process.env.APOLLO_TEST_HOME) return () => {};
  const home = mkdtempSync(join(tmpdir(), 'apollo-test-home-'));
  process.env.APOLLO_TEST_HOME = home;
  process.env.HOME = home;
  return () => rmSync(home, { recursive: true, force: true });
}
