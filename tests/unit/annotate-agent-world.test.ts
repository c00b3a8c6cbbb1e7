// An agent continuing a branch straight from a mid-path step acts in the session's
// current files and shells, not the step's (only a rewind or a hand-written action
// restores a checkpoint). Its first step records that, so nothing downstream reads its
// actions as run against the step's files; from the step the world is in, nothing is
// recorded. Real bash through node-pty, the real openai client against a scripted endpoint.
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestOnce } from '../fixtures/core-client';
import { foldTrajectory } from '../../shared/trajectory';
import { ApolloCore } from '../../electron/core/app';
import type { ResolvedEndpoint } from '../../electron/core/profiles';
import type { SessionLog } from '../../electron/core/store/workspace';
import { createBranch, rewind } from '../../electron/core/annotate/index';
import { exportBundle } from '../../electron/core/dataset/index';
import { startFakeLlm, tool, type FakeLlm } from '../fixtures/fake-llm-server';
import { useHermeticBash } from '../fixtures/shell-home';

const TUNING = {
  llm: { retry: { baseDelayMs: 5, maxDelayMs: 50, maxRetries: 1, jitter: 0 }, timeoutMs: 10_000, idleTimeoutMs: 5_000 },
  tools: { commandTimeoutMs: 10_000, settleMs: 300 },
};

let root: string;
let core: ApolloCore;
let server: FakeLlm;
let endpoint: ResolvedEndpoint;

const call = (cmd: string, args: unknown) => requestOnce(core, cmd, args);

const ls = (n: number) => tool('run_command', { session_id: 'main', command: `ls -1 | tr '\\n' ' '; echo; echo s${n} > f${n}.txt` });

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'apollo-agent-world-'));
  await useHermeticBash(root);
  core = await ApolloCore.open({ home: join(root, 'ws'), resourcesDir: resolve('resources'), host: 'web' });
  server = await startFakeLlm([]);
  endpoint = { profile: 'fake', baseUrl: server.url, model: 'fake-model', apiKey: 'sk-test', toolMode: 'tools' };
});

afterAll(async () => {
  await server?.close();
  await core.close();
  await rm(root, { recursive: true, force: true });
});

describe('an agent branch records the world it continues in', () => {
  let session: SessionLog;
  let steps: string[];

  beforeAll(async () => {
    const cwd = join(root, 'work');
    await mkdir(cwd);
    server.push(ls(1), ls(2), ls(3), tool('finish', { message: 'done' }));
    session = await core.ws.create({ name: 'world', cwd });
    const { done } = core.rollouts.start({ session, task: 'make files', endpoint, policy: 'model', maxSteps: 10, cwd, tuning: TUNING });
    expect(await done).toBe('finished');
    steps = foldTrajectory(session.events).order;
    expect(steps).toHaveLength(4);
  });

  it('from a mid-path step: the first step says it ran in the files after the latest step, and did', async () => {
    const world = (await call('branch.agentWorld', { sessionId: session.id, fromStepId: steps[0] })).result as { kind: string; reason: string };
    expect(world.kind).toBe('current');
    expect(world.reason).toContain('Branched from step 1');
    expect(world.reason).toContain('after step 4');

    server.push(tool('run_command', { session_id: 'main', command: 'ls -1 | tr "\\n" " "' }), tool('finish', { message: 'seen' }));
    const r = await createBranch(core, { sessionId: session.id, fromStepId: steps[0]!, endpoint, tuning: TUNING });
    expect(await r.done).toBe('finished');
    expect(r.agentWorld).toEqual(world);
    const t = foldTrajectory(session.events);
    const [first, second] = t.order.filter((id) => t.steps.get(id)!.branchId === r.branchId).map((id) => t.steps.get(id)!);
    expect(first!.parentId).toBe(steps[0]);
    expect(first!.world).toEqual(world);
    // It did act on the later steps' files: f2 and f3 are there although step 1 never made them.
    expect(JSON.parse(first!.results[0]!.observation).output).toContain('f3.txt');
    // Only the first step: the next acts in the world its parent left.
    expect(second!.world).toBeUndefined();

    // The export says so, and trajectory.jsonl carries it on that step alone.
    const out = join(root, 'bundle');
    const b = await exportBundle({ home: join(root, 'ws'), sessions: [{ sessionId: session.id, events: session.events, sessionDir: session.dir }], outDir: out, formats: ['openai', 'trajectory'], secrets: [], appVersion: 'test', castWorker: false });
    expect(b.manifest.warnings.filter((w) => w.includes('ran in the current state'))).toEqual([expect.stringContaining(`${session.id}/${first!.id}`)]);
    const recs = (await readFile(join(out, 'trajectory.jsonl'), 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as { kind: string; stepId?: string; world?: unknown });
    expect(recs.filter((x) => x.world !== undefined).map((x) => [x.stepId, x.world])).toEqual([[first!.id, world]]);
  });

  it("from the step the world is in, or after a rewind to a step, nothing is recorded", async () => {
    const t0 = foldTrajectory(session.events);
    const latest = t0.order.map((id) => t0.steps.get(id)!).filter((s) => s.results.length).at(-1)!;
    expect((await call('branch.agentWorld', { sessionId: session.id, fromStepId: latest.id })).result).toBeNull();

    const rw = await rewind(core, { sessionId: session.id, toStepId: steps[1]! });
    expect(rw.branchId).toBeTruthy();
    expect((await call('branch.agentWorld', { sessionId: session.id, fromStepId: steps[1] })).result).toBeNull();
    // From the start, after steps have run, the world is not the start's.
    expect(((await call('branch.agentWorld', { sessionId: session.id, fromStepId: null })).result as { reason: string }).reason).toContain('after step 2');
  });
});
