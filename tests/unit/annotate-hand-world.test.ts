// A hand-written action branched from step N runs in step N's world: its checkpoint
// (files, shell directory, environment) is restored in fresh terminals first, and the
// step records which checkpoint it ran on. Without a usable checkpoint it is refused
// (nothing recorded) or, when asked explicitly, run in the current state and marked
// so. Real bash through node-pty, real shadow-git checkpoints.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventOf, SessionEventType } from '../../shared/events';
import type { HostMessage } from '../../shared/contract/index';
import type { HandActionPlan } from '../../shared/contract/annotate';
import { foldTrajectory } from '../../shared/trajectory';
import { ApolloCore } from '../../electron/core/app';
import type { ResolvedEndpoint } from '../../electron/core/profiles';
import type { SessionLog } from '../../electron/core/store/workspace';
import { createBranch, handActionPlan, runPendingActions, trajectoryOf } from '../../electron/core/annotate/index';
import { startFakeLlm, tool } from '../fixtures/fake-llm-server';
import { useHermeticBash } from '../fixtures/shell-home';

const TUNING = {
  llm: { retry: { baseDelayMs: 5, maxDelayMs: 50, maxRetries: 1, jitter: 0 }, timeoutMs: 10_000, idleTimeoutMs: 5_000 },
  tools: { commandTimeoutMs: 10_000, settleMs: 300 },
};

/** Where the shell is, what it has, and the files next to step 3's shell directory. */
const LOOK = 'pwd; echo "venv=${VIRTUAL_ENV-unset}"; ls -1 ..';

let root: string;
let userHome: string;
let core: ApolloCore;

function events<T extends SessionEventType>(s: SessionLog, type: T): EventOf<T>[] {
  return s.events.filter((e): e is EventOf<T> => e.type === type);
}

async function record(name: string, dir: string, script: Parameters<typeof startFakeLlm>[0]): Promise<{ session: SessionLog; stepIds: string[] }> {
  const server = await startFakeLlm(script);
  try {
    const session = await core.ws.create({ name, cwd: dir });
    const endpoint: ResolvedEndpoint = { profile: 'fake', baseUrl: server.url, model: 'fake-model', apiKey: 'sk-test', toolMode: 'tools' };
    const { done } = core.rollouts.start({ session, task: `Task of ${name}`, endpoint, policy: 'model', maxSteps: 10, cwd: dir, tuning: TUNING });
    expect(await done).toBe('finished');
    return { session, stepIds: events(session, 'step.started').map((e) => e.stepId) };
  } finally {
    await server.close();
  }
}

async function call(cmd: string, args: unknown): Promise<{ ok: boolean; result?: unknown; error?: { code: string; message: string; details?: unknown } }> {
  const replies: HostMessage[] = [];
  const client = core.connect((m) => replies.push(m));
  try {
    await client.receive({ kind: 'req', id: 1, cmd, args });
    return replies.find((m) => m.kind === 'res') as { ok: boolean; result?: unknown; error?: { code: string; message: string } };
  } finally {
    client.close();
  }
}

const output = (observation: string): string => (JSON.parse(observation) as { output: string }).output;
const runCommand = (command: string) => ({ name: 'run_command', arguments: { session_id: 'main', command } });

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'apollo-hand-world-'));
  userHome = await useHermeticBash(root);
  core = await ApolloCore.open({ home: join(root, 'ws'), resourcesDir: resolve('resources'), host: 'web' });
  await core.ws.setSetting('annotator', 'dana');
});

afterAll(async () => {
  await core.close();
  await rm(root, { recursive: true, force: true });
});

describe("hand-written actions run in their step's world", () => {
  let session: SessionLog;
  let cwd: string;
  let stepIds: string[];

  beforeAll(async () => {
    cwd = join(root, 'work');
    await mkdir(cwd);
    ({ session, stepIds } = await record('world', cwd, [
      tool('run_command', { session_id: 'main', command: 'echo one > a.txt' }),
      tool('run_command', { session_id: 'main', command: 'mkdir -p d && cd d && export VIRTUAL_ENV=/v2' }),
      tool('run_command', { session_id: 'main', command: 'echo three > ../b.txt' }),
      tool('run_command', { session_id: 'main', command: 'cd .. && export VIRTUAL_ENV=/v4 && echo four > c.txt' }),
      tool('run_command', { session_id: 'main', command: 'mkdir sub && echo s > sub/s.txt' }),
      tool('finish', { message: 'done' }),
    ]));
    expect(events(session, 'checkpoint.taken').map((c) => c.stepId)).toEqual(stepIds);
  });

  it('branching from step 3 restores its files, directory and environment in fresh terminals, then runs the action', async () => {
    // The live shell is where step 5 left it: in the working directory, VIRTUAL_ENV=/v4, sub/ there.
    expect(existsSync(join(cwd, 'sub'))).toBe(true);
    expect(core.pty.list(session.id).map((t) => t.id)).toEqual(['main']);
    const logBefore = await readFile(join(session.dir, 'events.jsonl'));
    const cp3 = trajectoryOf(session).steps.get(stepIds[2]!)!.checkpoint!;

    const r = await createBranch(core, { sessionId: session.id, fromStepId: stepIds[2]!, action: runCommand(LOOK), tuning: TUNING });
    expect(r.action).toBe('ran');
    const t = foldTrajectory(session.events);
    const step = t.steps.get(r.stepId!)!;
    expect(step).toMatchObject({ parentId: stepIds[2], depth: 4, branchId: r.branchId });
    expect(step.world).toEqual({ kind: 'checkpoint', stepId: stepIds[2], commit: cp3.commit });
    expect(step.response).toMatchObject({ humanAuthored: true, author: 'dana', origin: 'hand' });

    const out = output(step.results[0]!.observation).split('\n');
    expect(out[0]).toBe(join(cwd, 'd'));
    expect(out[1]).toBe('venv=/v2');
    expect(out.slice(2)).toEqual(['a.txt', 'b.txt', 'd']); // no c.txt (step 4), no sub (step 5)
    // Fresh terminals: the old one is closed, the agent's name maps onto a new id.
    const live = core.pty.list(session.id).map((x) => x.id);
    expect(live).toHaveLength(1);
    expect(live[0]).toMatch(/^main-r\d+$/);
    expect(step.results[0]!.terminalId).toBe(live[0]);
    expect(events(session, 'terminal.closed').map((e) => e.terminalId)).toContain('main');
    // The working directory is step 3's, and the new step has its own checkpoint.
    expect(existsSync(join(cwd, 'sub'))).toBe(false);
    expect(existsSync(join(cwd, 'c.txt'))).toBe(false);
    expect(step.checkpoint?.commit).toMatch(/^[0-9a-f]{40}$/);
    expect(step.checkpoint?.shellCwd).toBe(join(cwd, 'd'));
    // Nothing recorded before changed: the log only grew.
    const logAfter = await readFile(join(session.dir, 'events.jsonl'));
    expect(logAfter.subarray(0, logBefore.length).equals(logBefore)).toBe(true);
  });

  it('tells the UI what will happen before it confirms (branch.handActionPlan)', async () => {
    const cp3 = trajectoryOf(session).steps.get(stepIds[2]!)!.checkpoint!;
    const plan = await call('branch.handActionPlan', { sessionId: session.id, fromStepId: stepIds[2] });
    expect(plan).toMatchObject({ ok: true, result: { mode: 'checkpoint', stepId: stepIds[2], stepNumber: 3, commit: cp3.commit } });
    expect((plan.result as HandActionPlan & { waits?: string }).waits).toBeUndefined();

    const start = (await call('branch.handActionPlan', { sessionId: session.id, fromStepId: null })).result as HandActionPlan;
    expect(start).toMatchObject({ mode: 'refuse', cause: 'root' });
    expect(start.mode === 'refuse' && start.reason).toMatch(/no checkpoint of the start/);
    expect(await call('branch.handActionPlan', { sessionId: session.id, fromStepId: 'nope' })).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });

    // A hand-written step that has not run yet has no world to branch from.
    const later = await createBranch(core, { sessionId: session.id, fromStepId: stepIds[0]!, action: { name: 'think', arguments: { thought: 'later' } }, runAction: 'later' });
    expect(later.action).toBe('pending');
    expect(await handActionPlan(core, session.id, later.stepId!)).toMatchObject({ mode: 'refuse', cause: 'not-run' });
    expect(await runPendingActions(core, session.id, TUNING.tools)).toEqual({ ran: [later.stepId], pending: [] });
  });

  it('refuses a branch from the start, recording nothing, unless the current state is accepted', async () => {
    const before = session.events.length;
    const err = (await createBranch(core, { sessionId: session.id, fromStepId: null, action: runCommand('ls') }).catch((e: unknown) => e)) as { code: string; message: string; details: unknown };
    expect(err).toMatchObject({ code: 'NOT_FOUND', details: { cause: 'root' } });
    expect(err.message).toMatch(/no checkpoint of the start.*Nothing was recorded/);
    expect(session.events.length).toBe(before);

    const viaContract = await call('branch.create', { sessionId: session.id, fromStepId: null, action: runCommand('ls') });
    expect(viaContract).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
    expect(session.events.length).toBe(before);

    await writeFile(join(cwd, 'now.txt'), 'current\n');
    const r = await createBranch(core, { sessionId: session.id, fromStepId: null, action: runCommand('ls'), runInCurrentState: true, tuning: TUNING });
    expect(r.action).toBe('ran');
    const step = trajectoryOf(session).steps.get(r.stepId!)!;
    expect(step).toMatchObject({ parentId: null, depth: 1 });
    expect(step.world).toMatchObject({ kind: 'current' });
    expect(step.world?.kind === 'current' && step.world.reason).toMatch(/no checkpoint of the start/);
    expect(output(step.results[0]!.observation)).toContain('now.txt');
  });

  it('offline: recorded now on step 3, run later on step 3 — not in the state the directory has by then', async () => {
    await rename(cwd, `${cwd}.away`);
    let r;
    try {
      const plan = await handActionPlan(core, session.id, stepIds[2]!);
      expect(plan).toMatchObject({ mode: 'checkpoint', stepNumber: 3 });
      expect(plan.mode === 'checkpoint' && plan.waits).toMatch(/not available now/);
      r = await createBranch(core, { sessionId: session.id, fromStepId: stepIds[2]!, action: runCommand(LOOK), tuning: TUNING });
      expect(r.action).toBe('pending');
      expect(await runPendingActions(core, session.id, TUNING.tools)).toEqual({ ran: [], pending: [r.stepId] });
    } finally {
      await rename(`${cwd}.away`, cwd);
    }
    // Meanwhile the directory moved on.
    await mkdir(join(cwd, 'sub'), { recursive: true });
    await writeFile(join(cwd, 'sub', 's.txt'), 'again\n');
    await writeFile(join(cwd, 'late.txt'), 'late\n');
    expect(await runPendingActions(core, session.id, TUNING.tools)).toEqual({ ran: [r.stepId], pending: [] });
    const step = trajectoryOf(session).steps.get(r.stepId!)!;
    expect(step.world).toEqual({ kind: 'checkpoint', stepId: stepIds[2], commit: trajectoryOf(session).steps.get(stepIds[2]!)!.checkpoint!.commit });
    expect(output(step.results[0]!.observation).split('\n')).toEqual([join(cwd, 'd'), 'venv=/v2', 'a.txt', 'b.txt', 'd']);
  });
});

describe('without a usable checkpoint', () => {
  it('checkpoints off (home folder): refused with the reason; with runInCurrentState it runs and is marked current', async () => {
    const { session, stepIds } = await record('home', userHome, [
      tool('run_command', { session_id: 'main', command: 'echo x > first.txt' }),
      tool('run_command', { session_id: 'main', command: 'echo y > later.txt' }),
      tool('finish', { message: 'ok' }),
    ]);
    expect(events(session, 'checkpoint.taken')).toEqual([]);
    const plan = await handActionPlan(core, session.id, stepIds[0]!);
    expect(plan).toMatchObject({ mode: 'refuse', cause: 'checkpoints-off' });

    const logBefore = await readFile(join(session.dir, 'events.jsonl'));
    const before = session.events.length;
    const err = (await createBranch(core, { sessionId: session.id, fromStepId: stepIds[0]!, action: runCommand('ls') }).catch((e: unknown) => e)) as { code: string; message: string };
    expect(err).toMatchObject({ code: 'NOT_FOUND', details: { cause: 'checkpoints-off' } });
    expect(err.message).toMatch(/step 1 .*Checkpoints are off.*home folder.*Nothing was recorded/);
    expect(session.events.length).toBe(before);
    expect((await readFile(join(session.dir, 'events.jsonl'))).equals(logBefore)).toBe(true);

    const res = await call('branch.create', { sessionId: session.id, fromStepId: stepIds[0], action: runCommand('ls'), runInCurrentState: true });
    expect(res.ok).toBe(true);
    const { stepId } = res.result as { stepId: string };
    const end = Date.now() + 15_000;
    // The checkpoint verdict is recorded after the step finishes: wait for both.
    const settled = () => {
      const s = trajectoryOf(session).steps.get(stepId);
      return s?.finishedAt !== undefined && s.checkpointError !== undefined;
    };
    while (!settled() && Date.now() < end) await new Promise((r) => setTimeout(r, 25));
    const step = trajectoryOf(session).steps.get(stepId)!;
    expect(step.finishedAt).toBeDefined();
    expect(step.world).toMatchObject({ kind: 'current' });
    expect(step.world?.kind === 'current' && step.world.reason).toMatch(/Checkpoints are off/);
    expect(step.response).toMatchObject({ humanAuthored: true, origin: 'hand' });
    // The current state: what step 2 wrote is there, in the terminal that was already running.
    expect(output(step.results[0]!.observation)).toContain('later.txt');
    expect(step.results[0]!.terminalId).toBe('main');
    // Its checkpoint is not taken either (a home folder is never snapshotted).
    expect(step.checkpointError).toMatch(/Checkpoints are off/);
  });

  it('a checkpoint store that is damaged or gone: a clear refusal, nothing recorded or changed', async () => {
    const dir = join(root, 'damaged');
    await mkdir(dir);
    const { session, stepIds } = await record('damaged', dir, [
      tool('run_command', { session_id: 'main', command: 'echo x > x.txt' }),
      tool('finish', { message: 'ok' }),
    ]);
    await rm(join(session.dir, 'checkpoints.git', 'objects'), { recursive: true, force: true });
    expect(await handActionPlan(core, session.id, stepIds[0]!)).toMatchObject({ mode: 'refuse', cause: 'store-damaged' });
    await writeFile(join(dir, 'x.txt'), 'mine\n');
    const before = session.events.length;
    const err = (await createBranch(core, { sessionId: session.id, fromStepId: stepIds[0]!, action: runCommand('rm x.txt') }).catch((e: unknown) => e)) as { code: string; message: string };
    expect(err).toMatchObject({ code: 'IO', details: { cause: 'store-damaged' } });
    expect(err.message).toMatch(/checkpoint of step 1 cannot be read/);
    expect(session.events.length).toBe(before);
    expect(await readFile(join(dir, 'x.txt'), 'utf8')).toBe('mine\n');

    await rm(join(session.dir, 'checkpoints.git'), { recursive: true, force: true });
    const gone = await handActionPlan(core, session.id, stepIds[0]!);
    expect(gone).toMatchObject({ mode: 'refuse', cause: 'store-missing' });
    expect(gone.mode === 'refuse' && gone.reason).toMatch(/no checkpoint store/);
    await expect(createBranch(core, { sessionId: session.id, fromStepId: stepIds[0]!, action: runCommand('rm x.txt') })).rejects.toMatchObject({ code: 'NOT_FOUND', details: { cause: 'store-missing' } });
    expect(session.events.length).toBe(before);
    expect(await readFile(join(dir, 'x.txt'), 'utf8')).toBe('mine\n');
  });
});
