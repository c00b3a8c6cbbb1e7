// The checkpoint budget and file size limit as workspace settings, on a real rollout:
// the settings reach the session's checkpoint store (also one already open), a step
// over budget is recorded as not checkpointed at once and the rollout goes on, and
// what a checkpoint leaves out is listed in its event. CLI flags parse sizes.
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSessionEvent, type EventOf, type SessionEventType } from '../../shared/events';
import type { HostMessage } from '../../shared/contract/index';
import { foldTrajectory } from '../../shared/trajectory';
import { parseByteSize, resolveCheckpointLimits } from '../../shared/checkpoint-limits';
import { ApolloCore } from '../../electron/core/app';
import type { ResolvedEndpoint } from '../../electron/core/profiles';
import type { SessionLog } from '../../electron/core/store/workspace';
import { checkpointLimitsFrom } from '../../electron/cli/checkpoint-flags';
import { startFakeLlm, tool, type FakeLlm } from '../fixtures/fake-llm-server';
import { useHermeticBash } from '../fixtures/shell-home';

const TUNING = {
  llm: { retry: { baseDelayMs: 5, maxDelayMs: 50, maxRetries: 1, jitter: 0 }, timeoutMs: 10_000, idleTimeoutMs: 5_000 },
  tools: { commandTimeoutMs: 10_000, settleMs: 100 },
};
const MiB = 1024 * 1024;

let root: string;
let core: ApolloCore;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'apollo-ckpt-settings-'));
  await useHermeticBash(root);
  core = await ApolloCore.open({ home: join(root, 'ws'), resourcesDir: resolve('resources'), host: 'web' });
});

afterAll(async () => {
  await core.close();
  await rm(root, { recursive: true, force: true });
});

const endpoint = (s: FakeLlm): ResolvedEndpoint => ({ profile: 'fake', baseUrl: s.url, model: 'fake-model', apiKey: 'sk-test', toolMode: 'tools' });

function events<T extends SessionEventType>(s: SessionLog, type: T): EventOf<T>[] {
  return s.events.filter((e): e is EventOf<T> => e.type === type);
}

/** Send a command through the contract as a client would. */
async function call(cmd: string, args: unknown): Promise<{ ok: boolean; result?: unknown; error?: { code: string; message: string } }> {
  const replies: HostMessage[] = [];
  const client = core.connect((m) => replies.push(m));
  try {
    await client.receive({ kind: 'req', id: 1, cmd, args });
    return replies.find((m) => m.kind === 'res') as { ok: boolean; result?: unknown; error?: { code: string; message: string } };
  } finally {
    client.close();
  }
}

async function run(session: SessionLog, cwd: string, script: Parameters<typeof startFakeLlm>[0], parentStepId?: string): Promise<void> {
  const server = await startFakeLlm(script);
  try {
    const { done } = core.rollouts.start({
      session, task: 'Write some files.', endpoint: endpoint(server), policy: 'model', maxSteps: 10, cwd, tuning: TUNING,
      ...(parentStepId ? { parentStepId } : {}),
    });
    expect(await done).toBe('finished');
  } finally {
    await server.close();
  }
}

describe('checkpoint settings on a rollout', () => {
  it('are settings of the workspace, validated', async () => {
    expect(await call('settings.get', {})).toMatchObject({ ok: true, result: { checkpointBudgetBytes: 2 * 1024 * MiB, checkpointMaxFileBytes: 10 * MiB } });
    expect(await call('settings.set', { checkpointBudgetBytes: 1000 })).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
    expect(await call('settings.set', {})).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
    const r = await call('settings.set', { checkpointBudgetBytes: MiB });
    expect(r).toMatchObject({ ok: true, result: { checkpointBudgetBytes: MiB, checkpointMaxFileBytes: 10 * MiB } });
    expect(core.ws.getSetting('checkpointBudgetBytes')).toBe(MiB);
    expect((await call('settings.get', {})).result).toMatchObject({ checkpointBudgetBytes: MiB });
  });

  it('records a step over budget as not checkpointed without holding the rollout, and lists skipped files', async () => {
    const cwd = join(root, 'project');
    await mkdir(cwd);
    const session = await core.ws.create({ name: 'budget', cwd });
    // Budget 1 MiB (set above): a new 1.5 MiB file cannot be checkpointed; once it is small again it can.
    await run(session, cwd, [
      tool('create_file', { filename: 'notes.txt', content: 'notes\n' }),
      tool('run_command', { session_id: 'main', command: 'head -c 1572864 /dev/zero > data.txt' }),
      tool('create_file', { filename: 'data.txt', content: 'small now\n' }),
      tool('finish', { message: 'done' }),
    ]);
    const steps = events(session, 'step.started').map((e) => e.stepId);
    expect(steps).toHaveLength(4);
    const failed = events(session, 'checkpoint.failed');
    expect(failed.map((f) => f.stepId)).toEqual([steps[1]]);
    expect(failed[0]!.error).toMatch(/^not checkpointed: over budget \(.+ of 1\.0 MiB used; this step would add about 1\.5 MiB\)\. Raise the checkpoint budget \(setting checkpointBudgetBytes/);
    // Recorded right after the step, not after minutes of gc.
    const finished = session.events.find((e) => e.type === 'step.finished' && e.stepId === steps[1])!;
    const failedAt = session.events.find((e) => e.type === 'checkpoint.failed')!;
    expect(failedAt.ts - finished.ts).toBeLessThan(3000);
    expect(events(session, 'checkpoint.taken').map((c) => c.stepId)).toEqual([steps[0], steps[2], steps[3]]);
    expect(foldTrajectory(session.events).steps.get(steps[1]!)!.checkpointError).toMatch(/over budget/);

    // A lower file size limit reaches the store already open for this session.
    expect((await call('settings.set', { checkpointMaxFileBytes: 4096 })).ok).toBe(true);
    await run(
      session,
      cwd,
      [tool('create_file', { filename: 'report.txt', content: 'r'.repeat(5000) }), tool('finish', { message: 'done' })],
      steps[3],
    );
    const last = events(session, 'checkpoint.taken').at(-1)!;
    expect(last.skipped).toEqual([{ path: 'report.txt', bytes: 5000, reason: 'too-big' }]);
    expect(last.skippedCount).toBe(1);
    const t = foldTrajectory(session.events);
    expect(t.steps.get(last.stepId)!.checkpoint!.skipped).toEqual(last.skipped);
    // The file listing reports the budget in force.
    const files = await call('checkpoint.files', { sessionId: session.id, stepId: last.stepId });
    expect(files).toMatchObject({ ok: true, result: { usage: { budgetBytes: MiB } } });
    expect((files.result as { files: Array<{ path: string }> }).files.map((f) => f.path)).toEqual(['data.txt', 'notes.txt']);
  });

  it('reads checkpoint events of older logs (no skipped list) and rejects a malformed list', () => {
    const base = { seq: 1, ts: 1, stepId: 's1' };
    expect(parseSessionEvent({ ...base, type: 'checkpoint.taken', commit: 'c', cwd: '/w' })).not.toBeNull();
    expect(parseSessionEvent({ ...base, type: 'checkpoint.failed', error: 'e' })).not.toBeNull();
    const skipped = [{ path: 'big.bin', bytes: 5, reason: 'too-big' }, { path: 'node_modules/', reason: 'excluded' }];
    expect(parseSessionEvent({ ...base, type: 'checkpoint.taken', commit: 'c', cwd: '/w', skipped, skippedCount: 9 })).not.toBeNull();
    expect(parseSessionEvent({ ...base, type: 'checkpoint.failed', error: 'e', skipped, skippedCount: 2 })).not.toBeNull();
    expect(parseSessionEvent({ ...base, type: 'checkpoint.taken', commit: 'c', cwd: '/w', skipped: [{ path: 'x', reason: 'lost' }] })).toBeNull();
    // The fold keeps the list with the checkpoint; an older event has none.
    const t = foldTrajectory([
      { seq: 1, ts: 1, type: 'rollout.started', rolloutId: 'r', branchId: 'main', task: 't', endpoint: null, policy: 'model', maxSteps: 1, parentStepId: null },
      { seq: 2, ts: 2, type: 'step.started', stepId: 's1', parentId: null, branchId: 'main', depth: 1, rolloutId: 'r' },
      { seq: 3, ts: 3, type: 'checkpoint.taken', stepId: 's1', commit: 'c', cwd: '/w', skipped: [{ path: 'big.bin', bytes: 5, reason: 'too-big' }], skippedCount: 3 },
    ]);
    expect(t.steps.get('s1')!.checkpoint).toMatchObject({ commit: 'c', skipped: [{ path: 'big.bin', bytes: 5, reason: 'too-big' }], skippedCount: 3 });
  });

  it('lets CLI flags override the settings for one run', () => {
    expect(parseByteSize('2G')).toBe(2 * 1024 * MiB);
    expect(parseByteSize('500M')).toBe(500 * MiB);
    expect(parseByteSize('1.5 GiB')).toBe(1.5 * 1024 * MiB);
    expect(parseByteSize('750kb')).toBe(750 * 1024);
    expect(parseByteSize('1048576')).toBe(MiB);
    expect(parseByteSize('2 gigs')).toBeNull();
    expect(checkpointLimitsFrom({ 'checkpoint-budget': '5G', 'checkpoint-max-file': '50M' })).toEqual({ budgetBytes: 5 * 1024 * MiB, maxFileBytes: 50 * MiB });
    expect(checkpointLimitsFrom({ 'checkpoint-budget': 'lots' })).toMatch(/^--checkpoint-budget takes a size such as 2G/);
    expect(checkpointLimitsFrom({ 'checkpoint-max-file': '10' })).toMatch(/^--checkpoint-max-file: The checkpoint file size limit must be between/);
    const stored: Record<string, unknown> = { checkpointBudgetBytes: MiB, checkpointMaxFileBytes: 'garbage' };
    expect(resolveCheckpointLimits((k) => stored[k], { maxFileBytes: 2048 })).toEqual({ budgetBytes: MiB, maxFileBytes: 2048 });
    expect(resolveCheckpointLimits((k) => stored[k])).toEqual({ budgetBytes: MiB, maxFileBytes: 10 * MiB });
  });
});
