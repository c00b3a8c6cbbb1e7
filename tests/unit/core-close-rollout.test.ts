// Closing the core (apollo serve on SIGTERM, the app quitting) while a rollout's command
// does not end: the quit must not wait for run_command's 5-minute timeout.
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { ApolloCore } from '../../electron/core/app';
import { connectClient } from '../fixtures/core-client';
import { startFakeLlm, tool, type FakeLlm } from '../fixtures/fake-llm-server';

let dir: string;
let llm: FakeLlm | null = null;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'apollo-close-rollout-'));
});
afterEach(async () => {
  await llm?.close();
  llm = null;
  await rm(dir, { recursive: true, force: true });
});

it('ends a command that does not end, records the rollout stopped, and frees the workspace', async () => {
  const home = join(dir, 'home');
  const fifo = join(dir, 'never-written');
  execFileSync('mkfifo', [fifo]);
  const core = await ApolloCore.open({ home, resourcesDir: resolve('resources'), host: 'web', samples: false });
  const call = connectClient(core);
  llm = await startFakeLlm([tool('run_command', { session_id: 'main', command: `read -r _ < ${fifo}; echo never-here` }), tool('finish', { message: 'no' })]);
  await call('profiles.save', { name: 'fake', baseUrl: llm.url, model: 'fake-model' });
  const s = await call('sessions.create', { name: 'r', cwd: dir, terminals: [] });
  await call('rollout.start', { sessionId: s.id, task: 'wait on the pipe', profile: 'fake', maxSteps: 5 });
  const log = join(home, 'sessions', s.id, 'events.jsonl');
  // The command is typed into the shell (its echo is recorded) and blocks on the FIFO nobody writes.
  const typed = async () => (await readFile(join(home, 'sessions', s.id, 'terminals', 'main.out'), 'utf8').catch(() => '')).includes('never-written');
  for (let i = 0; i < 600 && !(await typed()); i++) await new Promise((r) => setTimeout(r, 50));
  expect(await typed()).toBe(true);

  const started = Date.now();
  await core.close();
  // Well inside run_command's 5-minute timeout (the grace is 2 s; a loaded machine adds to it).
  expect(Date.now() - started).toBeLessThan(60_000);
  const text = await readFile(log, 'utf8');
  expect(text).toContain('"state":"stopped"');
  // The step's observation says the shell went away, not that the command completed.
  const result = text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string; observation?: string; isError?: boolean }).find((e) => e.type === 'action.result')!;
  expect(JSON.parse(result.observation!)).toMatchObject({ success: false, shell_exited: true, message: expect.stringMatching(/did not report its end: the shell of session main exited/) });
  expect(result.isError).toBe(true);
  expect(llm.requests.length).toBe(1);
  // The workspace's lock is free: another core opens it.
  const again = await ApolloCore.open({ home, resourcesDir: resolve('resources'), host: 'web', samples: false });
  await again.close();
}, 120_000);
