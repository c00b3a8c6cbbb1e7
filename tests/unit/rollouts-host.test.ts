// Rollouts through the contract: guidance kept for a branch is delivered when a
// rollout continues that branch; sessions in a home folder run without checkpoints.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ApolloCore } from '../../electron/core/app';
import { checkpointsOff } from '../../electron/core/rollouts';
import { connectClient, type Call } from '../fixtures/core-client';
import { startFakeLlm, tool, type FakeLlm } from '../fixtures/fake-llm-server';

let dir: string;
let core: ApolloCore;
let llm: FakeLlm;
let call: Call;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'apollo-rh-'));
  core = await ApolloCore.open({ home: join(dir, 'home'), resourcesDir: resolve('resources'), host: 'web' });
  call = connectClient(core);
});
afterEach(async () => {
  await core.close();
  await llm?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('rollouts through the contract', () => {
  it('delivers guidance kept for a branch when a rollout continues that branch', async () => {
    llm = await startFakeLlm([tool('think', { thought: 'a' }), tool('finish', { message: 'done' }), tool('finish', { message: 'again' })]);
    await call('profiles.save', { name: 'fake', baseUrl: llm.url, model: 'fake-model' });
    const s = await call('sessions.create', { name: 'g', cwd: dir, terminals: [] });
    const first = await call('rollout.start', { sessionId: s.id, task: 'do it', profile: 'fake' });
    expect(first.branchId).toBe('main');
    await waitFor(() => core.rollouts.get(s.id)?.state === 'finished');
    // No rollout is active now: the guidance waits, recorded, for the branch.
    await call('rollout.guidance', { sessionId: s.id, text: 'check the logs first', branchId: 'main' });
    await call('rollout.start', { sessionId: s.id, task: 'do it', profile: 'fake', branchId: 'main', maxSteps: 3 });
    await waitFor(() => core.rollouts.get(s.id)?.state === 'finished');
    const last = llm.requests.at(-1)!.body.messages as Array<{ role: string; content: string }>;
    expect(last.some((m) => m.role === 'user' && m.content.includes('<real_user>check the logs first</real_user>'))).toBe(true);
  });

  it('turns checkpoints off for a home folder, saying why once', () => {
    expect(checkpointsOff(homedir())).toMatch(/Checkpoints are off/);
    expect(checkpointsOff('/')).toMatch(/root/);
    expect(checkpointsOff(dir)).toBeNull();
  });
});

async function waitFor(cond: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('deleting a session with a rollout', () => {
  it('stops the rollout first and forgets it', async () => {
    llm = await startFakeLlm(() => tool('sleep', { sleep_time: 5 }));
    await call('profiles.save', { name: 'fake', baseUrl: llm.url, model: 'fake-model' });
    const s = await call('sessions.create', { name: 'd', cwd: dir, terminals: [] });
    await call('rollout.start', { sessionId: s.id, task: 'wait', profile: 'fake' });
    await llm.waitForRequests(1);
    await call('sessions.delete', { sessionId: s.id });
    expect(core.rollouts.get(s.id)).toBeUndefined();
    expect(core.ws.list().some((e) => e.id === s.id)).toBe(false);
  });
});
