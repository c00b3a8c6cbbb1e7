// Annotating a recorded session offline: no model server, no live terminal. Hand-
// written branches are recorded at once and run when a shell is available;
// comments and checkpoint reading work through the contract; a damaged checkpoint
// store fails rewinds clearly without breaking anything else.
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventOf, SessionEventType } from '../../shared/events';
import type { HostMessage } from '../../shared/contract/index';
import type { RestoreProgress } from '../../shared/contract/annotate';
import { effectiveLabel, foldTrajectory } from '../../shared/trajectory';
import { ApolloCore } from '../../electron/core/app';
import type { ResolvedEndpoint } from '../../electron/core/profiles';
import type { SessionLog } from '../../electron/core/store/workspace';
import { createBranch, pendingHandSteps, rewind, runPendingActions, trajectoryOf } from '../../electron/core/annotate/index';
import { startFakeLlm, tool, type FakeLlm } from '../fixtures/fake-llm-server';
import { useHermeticBash } from '../fixtures/shell-home';

const TUNING = {
  llm: { retry: { baseDelayMs: 5, maxDelayMs: 50, maxRetries: 1, jitter: 0 }, timeoutMs: 10_000, idleTimeoutMs: 5_000 },
  tools: { commandTimeoutMs: 10_000, settleMs: 300 },
};

let root: string;
let home: string;
let cwd: string;
let sessionId: string;
let stepIds: string[];
/** The workspace reopened after the recording: nothing live, no server. */
let core: ApolloCore;
let session: SessionLog;

const endpoint = (s: FakeLlm): ResolvedEndpoint => ({ profile: 'fake', baseUrl: s.url, model: 'fake-model', apiKey: 'sk-test', toolMode: 'tools' });

function events<T extends SessionEventType>(s: SessionLog, type: T): EventOf<T>[] {
  return s.events.filter((e): e is EventOf<T> => e.type === type);
}

async function record(c: ApolloCore, name: string, dir: string, script: Parameters<typeof startFakeLlm>[0]): Promise<SessionLog> {
  const server = await startFakeLlm(script);
  try {
    const s = await c.ws.create({ name, cwd: dir });
    const { done } = c.rollouts.start({ session: s, task: `Task of ${name}`, endpoint: endpoint(server), policy: 'model', maxSteps: 10, cwd: dir, tuning: TUNING });
    expect(await done).toBe('finished');
    return s;
  } finally {
    await server.close();
  }
}

/** Send a command through the contract as a client would; resolves to the response. */
async function call(cmd: string, args: unknown): Promise<{ ok: boolean; result?: unknown; error?: { code: string; message: string } }> {
  const replies: HostMessage[] = [];
  const client = core.connect((m) => replies.push(m));
  try {
    await client.receive({ kind: 'req', id: 1, cmd, args });
    const res = replies.find((m) => m.kind === 'res') as { ok: boolean; result?: unknown; error?: { code: string; message: string } };
    return res;
  } finally {
    client.close();
  }
}

async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 25));
  }
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'apollo-annotate-offline-'));
  await useHermeticBash(root);
  home = join(root, 'ws');
  cwd = join(root, 'work');
  await mkdir(cwd);

  const recorder = await ApolloCore.open({ home, resourcesDir: resolve('resources'), host: 'web' });
  const s = await record(recorder, 'recorded', cwd, [
    tool('create_file', { filename: 'notes.md', content: '# Notes\n\nfirst\n' }),
    tool('run_command', { session_id: 'main', command: "printf '\\377\\376\\000x' > blob.bin && echo two >> notes.md" }),
    tool('finish', { message: 'ok' }),
  ]);
  sessionId = s.id;
  await recorder.close();

  core = await ApolloCore.open({ home, resourcesDir: resolve('resources'), host: 'web' });
  await core.ws.setSetting('annotator', 'bob');
  session = await core.session(sessionId);
  stepIds = events(session, 'step.started').map((e) => e.stepId);
});

afterAll(async () => {
  await core.close();
  await rm(root, { recursive: true, force: true });
});

describe('offline annotation of a recorded session', () => {
  it('records a hand-written branch with no model and no shell, and runs it once a shell is available', async () => {
    expect(core.pty.list(sessionId)).toEqual([]);
    // The environment is not there (another machine, a moved folder): nothing can run.
    await rename(cwd, `${cwd}.away`);
    try {
      const r = await createBranch(core, {
        sessionId, fromStepId: stepIds[1]!, name: 'by hand', guidance: 'Then check the file.',
        action: { name: 'run_command', arguments: { session_id: 'main', command: 'echo hand > hand.txt && cat notes.md' } },
      });
      expect(r.action).toBe('pending');
      const t = foldTrajectory(session.events);
      expect(t.branches.get(r.branchId)).toMatchObject({ name: 'by hand', fromStepId: stepIds[1], reason: 'branch', author: 'bob' });
      const step = t.steps.get(r.stepId!)!;
      expect(step).toMatchObject({ parentId: stepIds[1], branchId: r.branchId, depth: 3, results: [] });
      expect(step.finishedAt).toBeUndefined();
      expect(step.response).toMatchObject({ humanAuthored: true, author: 'bob', content: '' });
      expect(step.response!.toolCalls).toHaveLength(1);
      expect(step.response!.toolCalls[0]!.name).toBe('run_command');
      expect(JSON.parse(step.response!.toolCalls[0]!.arguments)).toEqual({ session_id: 'main', command: 'echo hand > hand.txt && cat notes.md' });
      expect(t.rollouts.get(r.rolloutId!)).toMatchObject({ policy: 'human', endpoint: null, branchId: r.branchId, state: 'paused', task: 'Task of recorded' });
      expect([...t.guidance.values()].find((g) => g.branchId === r.branchId)).toMatchObject({ text: 'Then check the file.', author: 'bob' });
      expect(pendingHandSteps(t).map((s) => s.id)).toEqual([r.stepId]);
      expect(await runPendingActions(core, sessionId)).toEqual({ ran: [], pending: [r.stepId] });
      expect(core.pty.list(sessionId)).toEqual([]);

      await rename(`${cwd}.away`, cwd);
      const ran = await runPendingActions(core, sessionId, TUNING.tools);
      expect(ran).toEqual({ ran: [r.stepId], pending: [] });
      expect(await readFile(join(cwd, 'hand.txt'), 'utf8')).toBe('hand\n');
      const after = foldTrajectory(session.events).steps.get(r.stepId!)!;
      expect(after.finishedAt).toBeDefined();
      expect(after.results).toHaveLength(1);
      // It ran on step 2's checkpoint, restored in a fresh terminal when it could run.
      expect(after.world).toEqual({ kind: 'checkpoint', stepId: stepIds[1], commit: t.steps.get(stepIds[1]!)!.checkpoint!.commit });
      expect(after.results[0]).toMatchObject({ name: 'run_command', isError: false });
      expect(after.results[0]!.terminalId).toMatch(/^main-r\d+$/);
      expect(JSON.parse(after.results[0]!.observation).output).toBe('# Notes\n\nfirst\ntwo');
      expect(after.checkpoint?.commit).toMatch(/^[0-9a-f]{40}$/);
      expect(foldTrajectory(session.events).rollouts.get(r.rolloutId!)!.state).toBe('finished');
      expect(await runPendingActions(core, sessionId)).toEqual({ ran: [], pending: [] });
    } finally {
      if (existsSync(`${cwd}.away`)) await rename(`${cwd}.away`, cwd);
    }
  });

  it('runs a hand-written action at once when it can, also through the contract', async () => {
    const r = await createBranch(core, { sessionId, fromStepId: stepIds[0]!, action: { name: 'create_file', arguments: { filename: 'direct.txt', content: 'x\n' } } });
    expect(r.action).toBe('ran');
    expect(await readFile(join(cwd, 'direct.txt'), 'utf8')).toBe('x\n');

    const res = await call('branch.create', { sessionId, fromStepId: stepIds[0], action: { name: 'run_command', arguments: { session_id: 'main', command: 'echo via-contract > c.txt' } } });
    expect(res.ok).toBe(true);
    const { branchId, stepId } = res.result as { branchId: string; stepId: string };
    await until(() => !!trajectoryOf(session).steps.get(stepId)?.finishedAt);
    expect(trajectoryOf(session).steps.get(stepId)!.branchId).toBe(branchId);
    expect(await readFile(join(cwd, 'c.txt'), 'utf8')).toBe('via-contract\n');

    const bad = await call('branch.create', { sessionId, fromStepId: stepIds[0], action: { name: 'no_such_tool', arguments: {} } });
    expect(bad).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
    expect(bad.error!.message).toContain('unknown tool');
    const missing = await call('branch.create', { sessionId, fromStepId: 'nope' });
    expect(missing).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
  });

  it('continues with the agent from a hand-written step: a waiting action runs first', async () => {
    const hand = await createBranch(core, {
      sessionId, fromStepId: stepIds[1]!, runAction: 'later',
      action: { name: 'run_command', arguments: { session_id: 'main', command: 'echo waited > waited.txt' } },
    });
    expect(hand.action).toBe('pending');
    expect(existsSync(join(cwd, 'waited.txt'))).toBe(false);
    const server = await startFakeLlm([tool('finish', { message: 'ok' })]);
    try {
      const r = await createBranch(core, { sessionId, fromStepId: hand.stepId!, endpoint: endpoint(server), tuning: TUNING, maxSteps: 2 });
      expect(await r.done).toBe('finished');
      expect(await readFile(join(cwd, 'waited.txt'), 'utf8')).toBe('waited\n');
      const t = foldTrajectory(session.events);
      expect(t.steps.get(hand.stepId!)!.results).toHaveLength(1);
      const next = [...t.steps.values()].find((s) => s.branchId === r.branchId)!;
      expect(next.parentId).toBe(hand.stepId);
      // The agent saw the hand-written call and its result as part of its history.
      const m = server.requests[0]!.body.messages as { role: string; content: string | null; tool_calls?: { function: { arguments: string } }[] }[];
      const last = m.at(-2)!;
      expect(last.role).toBe('assistant');
      expect(last.tool_calls?.[0]?.function.arguments).toContain('echo waited');
      expect(m.at(-1)!.role).toBe('tool');
    } finally {
      await server.close();
    }
  });

  it('adds, edits and deletes comments with author and time; Markdown is stored as is', async () => {
    const text = '**Wrong file.**  \nShould be:\n\n```bash\necho hi > a.txt\n```\n';
    const add = await call('comment.add', { sessionId, stepId: stepIds[1], text });
    expect(add.ok).toBe(true);
    const { commentId } = add.result as { commentId: string };
    let t = foldTrajectory(session.events);
    expect(t.comments.get(commentId)).toMatchObject({ stepId: stepIds[1], text, author: 'bob' });
    expect(t.comments.get(commentId)!.createdAt).toBeGreaterThan(0);
    expect(t.steps.get(stepIds[1]!)!.comments).toEqual([commentId]);

    await core.ws.setSetting('annotator', 'carol');
    expect((await call('comment.edit', { sessionId, commentId, text: 'Edited *text*' })).ok).toBe(true);
    t = foldTrajectory(session.events);
    expect(t.comments.get(commentId)).toMatchObject({ text: 'Edited *text*', author: 'bob' });
    expect(t.comments.get(commentId)!.editedAt).toBeGreaterThanOrEqual(t.comments.get(commentId)!.createdAt);
    expect(events(session, 'comment.edited').at(-1)).toMatchObject({ commentId, author: 'carol' });

    const second = (await call('comment.add', { sessionId, stepId: stepIds[1], text: 'another' })).result as { commentId: string };
    expect((await call('comment.delete', { sessionId, commentId })).ok).toBe(true);
    t = foldTrajectory(session.events);
    expect(t.comments.has(commentId)).toBe(false);
    expect(t.steps.get(stepIds[1]!)!.comments).toEqual([second.commentId]);
    expect(events(session, 'comment.deleted').at(-1)).toMatchObject({ commentId, author: 'carol' });

    expect(await call('comment.edit', { sessionId, commentId, text: 'x' })).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
    expect(await call('comment.delete', { sessionId, commentId })).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
    expect(await call('comment.add', { sessionId, stepId: 'nope', text: 'x' })).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
    expect(await call('comment.add', { sessionId, stepId: stepIds[0], text: '   ' })).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
    await core.ws.setSetting('annotator', 'bob');
  });

  it('labels offline through the contract', async () => {
    const res = await call('labels.set', { sessionId, stepIds: [stepIds[0]], label: 'mask', tags: ['error'], note: 'offline' });
    expect(res.ok).toBe(true);
    const step = foldTrajectory(session.events).steps.get(stepIds[0]!)!;
    expect(effectiveLabel(step)).toMatchObject({ label: 'mask', source: 'annotator', author: 'bob', note: 'offline' });
  });

  it("reads a step's checkpoint files (text, binary), also without the working directory", async () => {
    const files = await call('checkpoint.files', { sessionId, stepId: stepIds[0] });
    expect(files.ok).toBe(true);
    const r = files.result as { files: { path: string; size: number; sha: string }[]; usage: { bytes: number; budgetBytes: number } };
    expect(r.files.map((f) => f.path)).toEqual(['notes.md']);
    expect(r.files[0]).toMatchObject({ size: 15 });
    expect(r.usage.bytes).toBeGreaterThan(0);
    expect(r.usage.budgetBytes).toBeGreaterThan(r.usage.bytes);

    await rename(cwd, `${cwd}.away`);
    try {
      const f2 = (await call('checkpoint.files', { sessionId, stepId: stepIds[1] })).result as { files: { path: string }[] };
      expect(f2.files.map((f) => f.path)).toEqual(['blob.bin', 'notes.md']);
      expect((await call('checkpoint.readFile', { sessionId, stepId: stepIds[1], path: 'notes.md' })).result).toEqual({ text: '# Notes\n\nfirst\ntwo\n', binary: false });
      expect((await call('checkpoint.readFile', { sessionId, stepId: stepIds[1], path: 'blob.bin' })).result).toEqual({ text: '', binary: true });
      expect(await call('checkpoint.readFile', { sessionId, stepId: stepIds[0], path: 'blob.bin' })).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
      expect(await call('checkpoint.readFile', { sessionId, stepId: stepIds[0], path: '../etc/passwd' })).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
    } finally {
      await rename(`${cwd}.away`, cwd);
    }
    // A step without a checkpoint (a hand-written step that never ran) says so.
    const pending = await createBranch(core, { sessionId, fromStepId: stepIds[0]!, action: { name: 'think', arguments: { thought: 'x' } }, runAction: 'later' });
    expect(pending.action).toBe('pending');
    const none = await call('checkpoint.files', { sessionId, stepId: pending.stepId });
    expect(none).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
    expect(none.error!.message).toContain('no checkpoint');
    const rw = await call('branch.rewind', { sessionId, toStepId: pending.stepId });
    expect(rw).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
    expect(rw.error!.message).toMatch(/has no checkpoint/);
    await runPendingActions(core, sessionId);
  });

  it('rewinds through the contract, telling the client that asked what it is doing', async () => {
    await writeFile(join(cwd, 'notes.md'), 'scribbled over\n');
    const asking: HostMessage[] = [];
    const other: HostMessage[] = [];
    const client = core.connect((m) => asking.push(m));
    const bystander = core.connect((m) => other.push(m));
    let res: { ok: boolean; result?: unknown };
    try {
      await client.receive({ kind: 'req', id: 1, cmd: 'branch.rewind', args: { sessionId, toStepId: stepIds[0] } });
      res = asking.find((m) => m.kind === 'res') as { ok: boolean; result?: unknown };
    } finally {
      client.close();
      bystander.close();
    }
    const said = asking.flatMap((m) => (m.kind === 'evt' && m.name === 'rewind.progress' ? [m.payload as RestoreProgress & { sessionId: string; toStepId: string }] : []));
    // Every stage, in order, for this session and step, before the answer.
    expect(said.map((p) => p.stage).filter((st, i, a) => a.indexOf(st) === i)).toEqual(['scan', 'save', 'write', 'swap', 'shell']);
    expect(said.every((p) => p.sessionId === sessionId && p.toStepId === stepIds[0] && p.text.length > 0)).toBe(true);
    const swaps = said.filter((p) => p.stage === 'swap');
    expect(swaps.at(-1)).toMatchObject({ done: swaps.at(-1)!.total });
    expect(asking.findIndex((m) => m.kind === 'res')).toBeGreaterThan(asking.map((m) => m.kind === 'evt' && m.name === 'rewind.progress').lastIndexOf(true));
    expect(other.some((m) => m.kind === 'evt' && m.name === 'rewind.progress')).toBe(false);
    expect(res.ok).toBe(true);
    expect(await readFile(join(cwd, 'notes.md'), 'utf8')).toBe('# Notes\n\nfirst\n');
    expect(existsSync(join(cwd, 'blob.bin'))).toBe(false);
    const { branchId } = res.result as { branchId: string };
    expect(foldTrajectory(session.events).branches.get(branchId)).toMatchObject({ reason: 'rewind', fromStepId: stepIds[0], author: 'bob' });
  });

  it('reports a damaged checkpoint store for that session only; the session keeps working', async () => {
    const otherDir = join(root, 'other');
    await mkdir(otherDir);
    const other = await record(core, 'healthy', otherDir, [tool('create_file', { filename: 'h.txt', content: 'h\n' }), tool('finish', {})]);

    await rm(join(session.dir, 'checkpoints.git', 'objects'), { recursive: true, force: true });
    const before = session.events.length;
    await writeFile(join(cwd, 'notes.md'), 'current\n');
    const err = (await rewind(core, { sessionId, toStepId: stepIds[0]! }).then(() => null, (e: unknown) => e)) as { code: string; message: string };
    expect(err).toMatchObject({ code: 'IO' });
    expect(err.message).toMatch(new RegExp(`Cannot rewind session ${sessionId}: .*damaged`));
    expect(session.events.length).toBe(before); // nothing recorded, nothing restored
    expect(await readFile(join(cwd, 'notes.md'), 'utf8')).toBe('current\n');
    expect(await call('checkpoint.files', { sessionId, stepId: stepIds[0] })).toMatchObject({ ok: false, error: { code: 'IO' } });

    // Everything else works: comments, branches, the agent (its checkpoints fail, recorded).
    expect((await call('comment.add', { sessionId, stepId: stepIds[0], text: 'still fine' })).ok).toBe(true);
    const server = await startFakeLlm([tool('run_command', { session_id: 'main', command: 'echo again > again.txt' }), tool('finish', {})]);
    try {
      const r = await createBranch(core, { sessionId, fromStepId: stepIds[2]!, endpoint: endpoint(server), tuning: TUNING, maxSteps: 5 });
      expect(await r.done).toBe('finished');
      const failed = events(session, 'checkpoint.failed');
      expect(failed.length).toBeGreaterThanOrEqual(2);
      expect(failed.at(-1)!.error).toMatch(/damaged/);
      expect(await readFile(join(cwd, 'again.txt'), 'utf8')).toBe('again\n');
    } finally {
      await server.close();
    }

    // Another session's store is not affected.
    await writeFile(join(otherDir, 'h.txt'), 'changed\n');
    const otherStep = events(other, 'step.started')[0]!.stepId;
    const ok = await rewind(core, { sessionId: other.id, toStepId: otherStep });
    expect(ok.branchId).toBeTruthy();
    expect(await readFile(join(otherDir, 'h.txt'), 'utf8')).toBe('h\n');
  });
});
