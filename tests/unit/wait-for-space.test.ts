// The headless rollout's wait for free space (electron/cli/branch.ts): it resumes once
// space was freed since the pause, and gives up when the time is up or it is aborted.
// The disk is the store's simulated one (a byte budget in a file), so the test decides
// what is free.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { FREED_BYTES, waitForSpace } from '../../electron/cli/branch';
import { DISK_FAULT_ENV } from '../../electron/core/store/disk';

let dir: string;
let budget: string;
let before: string | undefined;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'apollo-wait-space-'));
  budget = join(dir, 'free');
  await writeFile(budget, '0');
  before = process.env[DISK_FAULT_ENV];
  process.env[DISK_FAULT_ENV] = budget;
});
afterEach(async () => {
  if (before === undefined) delete process.env[DISK_FAULT_ENV];
  else process.env[DISK_FAULT_ENV] = before;
  await rm(dir, { recursive: true, force: true });
});

it('resumes once enough space was freed since the pause, not for a few bytes', async () => {
  // Less than counts as freed: the wait reads it (once, before it looks at the time) and gives up.
  await writeFile(budget, String(FREED_BYTES - 1));
  expect(await waitForSpace(dir, 0, 1, new AbortController().signal)).toBe(false);
  await writeFile(budget, '0');
  const waiting = waitForSpace(dir, 0, 60_000, new AbortController().signal);
  await writeFile(budget, String(FREED_BYTES));
  expect(await waiting).toBe(true);
});

it('gives up when the time is up, and at once when aborted', async () => {
  expect(await waitForSpace(dir, 0, 1, new AbortController().signal)).toBe(false);
  const ac = new AbortController();
  const waiting = waitForSpace(dir, 0, 60_000, ac.signal);
  ac.abort();
  expect(await waiting).toBe(false);
});
