// Paged open (issue 10, items 1 and 2): sessions.open sends the compact log (long
// observations cut with an `elided` marker giving the full length, request bodies left
// out) and its version; sessions.stepDetail gives the full results on demand; pushes
// after the open carry the compact event and its version; the core keeps one fold per
// session that every reader shares; the renderer store skips what it already has, and
// fetches cut observations whole.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HostMessage } from '../../shared/contract/index';
import type { SessionOpenView, StepDetailResponse } from '../../shared/contract/sessions';
import type { SessionEvent } from '../../shared/events';
import { CUT_MARK, compactEvent, OBSERVATION_WHOLE_CHARS, PREVIEW_HEAD_CHARS, PREVIEW_TAIL_CHARS, REASONING_HEAD_CHARS, REASONING_TAIL_CHARS, REASONING_WHOLE_CHARS, type CompactEvent } from '../../shared/compact-events';
import { foldTrajectory, requestMessages } from '../../shared/trajectory';
import { ApolloCore } from '../../electron/core/app';
import { compactLog, trajectoryOf, trajectoryVersion } from '../../electron/core/session-trajectory';
import { createAppStore } from '../../renderer/src/store/index';
import { fullReasoning, fullResults } from '../../renderer/src/lib/stepDetail';
import { FakeTransport } from '../fixtures/fake-transport';
import { run, SessionBuilder } from '../fixtures/sessions';

interface Reply { ok: boolean; result?: unknown; error?: { code: string; message: string } }

/** A ResearchGym-style observation with `n` characters of output, its first and last lines marked. */
function bigObservation(n: number): string {
  const body = 'x'.repeat(Math.max(0, n - 40));
  return JSON.stringify({ success: true, message: 'Command `cat train.log` finished', exit_code: 3, output: `FIRST LINE\n${body}\nLAST LINE` });
}

/** A model's long reasoning, its first and last words marked. */
const LONG_REASONING = `FIRST THOUGHT ${'the loss plateaus, so look at the schedule; '.repeat(200)}LAST THOUGHT`;

function sessionWith(observationChars: number) {
  const b = new SessionBuilder({ name: 'Compact open' });
  b.rollout({ task: 'Read the log.' });
  const small = b.step({ calls: [run('ls')], reasoning: 'Short.' });
  const big = b.step({ calls: [run('cat train.log')], results: [{ observation: bigObservation(observationChars) }], reasoning: LONG_REASONING });
  b.add({ type: 'request.config', hash: 'cfg1', config: { model: 'm', tools: [{ type: 'function', function: { name: 'run_command', description: 'd'.repeat(5000) } }] } });
  b.add({
    type: 'model.request', requestId: 'q1', stepId: big, purpose: 'step', base: null, keep: 0, config: 'cfg1',
    append: [{ role: 'system', content: 'sys' }, { role: 'user', content: 'u'.repeat(50_000) }],
  });
  return { events: b.events, small, big };
}

let root: string;
let core: ApolloCore;

async function writeSession(home: string, id: string, events: SessionEvent[]): Promise<void> {
  const dir = join(home, 'sessions', id);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'events.jsonl'), events.map((e) => `${JSON.stringify(e)}\n`).join(''));
}

function client() {
  const pending = new Map<number, (r: Reply) => void>();
  const pushes: Array<{ name: string; payload: unknown }> = [];
  let n = 0;
  const c = core.connect((m: HostMessage) => {
    if (m.kind === 'res') pending.get(m.id)?.(m as Reply);
    else pushes.push({ name: m.name, payload: m.payload });
  });
  const reply = (cmd: string, args: unknown): Promise<Reply> => {
    const id = ++n;
    const p = new Promise<Reply>((r) => pending.set(id, r));
    void c.receive({ kind: 'req', id, cmd, args });
    return p;
  };
  const call = async <T,>(cmd: string, args: unknown): Promise<T> => {
    const r = await reply(cmd, args);
    if (!r.ok) throw new Error(`${cmd}: ${r.error?.code} ${r.error?.message}`);
    return r.result as T;
  };
  return { call, reply, pushes, close: c.close };
}

const S = sessionWith(200_000);
const HUGE = sessionWith(2_000_000);

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'apollo-compact-open-'));
  const home = join(root, 'home');
  await writeSession(home, 'S', S.events);
  await writeSession(home, 'HUGE', HUGE.events);
  core = await ApolloCore.open({ home, resourcesDir: resolve(__dirname, '../../resources'), host: 'web', samples: false });
});

afterAll(async () => {
  await core?.close();
  await rm(root, { recursive: true, force: true });
});

describe('compactEvent', () => {
  it('cuts a long JSON observation inside its strings, keeping it JSON with its message, exit code, head and tail', () => {
    const ev = S.events.find((e) => e.type === 'action.result' && e.stepId === S.big)!;
    const c = compactEvent(ev) as CompactEvent & { type: 'action.result' };
    const full = (ev as { observation: string }).observation;
    expect(c.elided).toEqual({ observation: full.length });
    expect(c.observation.length).toBeLessThan(2 * OBSERVATION_WHOLE_CHARS);
    const o = JSON.parse(c.observation) as { message: string; exit_code: number; output: string };
    expect(o).toMatchObject({ message: 'Command `cat train.log` finished', exit_code: 3 });
    const output = (JSON.parse(full) as { output: string }).output;
    expect(o.output).toBe(output.slice(0, PREVIEW_HEAD_CHARS) + CUT_MARK + output.slice(-PREVIEW_TAIL_CHARS));
    expect(o.output.startsWith('FIRST LINE')).toBe(true);
    expect(o.output.endsWith('LAST LINE')).toBe(true);
    // The log's own event is untouched.
    expect((ev as { observation: string }).observation).toBe(full);
  });

  it('cuts plain text as a whole, never inside a surrogate pair; short observations and other events are the same object', () => {
    const text = `${'a'.repeat(PREVIEW_HEAD_CHARS - 1)}😀${'b'.repeat(20_000)}😀${'c'.repeat(PREVIEW_TAIL_CHARS - 1)}`;
    const ev = { seq: 1, ts: 1, type: 'action.result', stepId: 's', toolCallId: 'c', name: 'run_command', observation: text, isError: false, durationMs: 1 } as SessionEvent;
    const c = compactEvent(ev) as { observation: string; elided: { observation: number } };
    expect(c.elided.observation).toBe(text.length);
    expect(c.observation.startsWith(`${'a'.repeat(PREVIEW_HEAD_CHARS - 1)}${CUT_MARK}`)).toBe(true);
    expect(c.observation.endsWith(`${CUT_MARK}😀${'c'.repeat(PREVIEW_TAIL_CHARS - 1)}`)).toBe(true);
    expect(c.observation).not.toMatch(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/);
    const short = S.events.find((e) => e.type === 'action.result' && e.stepId === S.small)!;
    expect(compactEvent(short)).toBe(short);
    const started = S.events.find((e) => e.type === 'step.started')!;
    expect(compactEvent(started)).toBe(started);
  });

  it('cuts a long reasoning to its head and tail and says so; the fold marks the response; short reasoning is sent whole', () => {
    const ev = S.events.find((e) => e.type === 'model.response' && e.stepId === S.big)!;
    const c = compactEvent(ev) as CompactEvent & { type: 'model.response' };
    expect(c.elided).toEqual({ reasoning: LONG_REASONING.length });
    expect(c.reasoning).toBe(LONG_REASONING.slice(0, REASONING_HEAD_CHARS) + CUT_MARK + LONG_REASONING.slice(-REASONING_TAIL_CHARS));
    expect(c.reasoning.length).toBeLessThan(REASONING_WHOLE_CHARS);
    expect((ev as { reasoning: string }).reasoning).toBe(LONG_REASONING);
    const t = foldTrajectory(S.events.map(compactEvent));
    expect(t.steps.get(S.big)!.response).toMatchObject({ reasoning: c.reasoning, reasoningElided: LONG_REASONING.length });
    expect(t.steps.get(S.small)!.response!.reasoning).toBe('Short.');
    expect(t.steps.get(S.small)!.response!.reasoningElided).toBeUndefined();
    const small = S.events.find((e) => e.type === 'model.response' && e.stepId === S.small)!;
    expect(compactEvent(small)).toBe(small);
  });

  it('leaves request bodies out and says so; a fold of the compact log cannot rebuild a request from them', () => {
    const compact = S.events.map(compactEvent);
    const req = compact.find((e) => e.type === 'model.request')!;
    expect(req).toMatchObject({ requestId: 'q1', stepId: S.big, base: null, keep: 0, config: '', append: [], elided: { messages: 2 } });
    expect(compact.find((e) => e.type === 'request.config')).toMatchObject({ hash: 'cfg1', config: {}, elided: { config: true } });
    const t = foldTrajectory(compact);
    expect(t.steps.get(S.big)!.requestId).toBe('q1');
    expect(t.steps.get(S.big)!.results[0]!.elided).toBe(bigObservation(200_000).length);
    expect(t.steps.get(S.small)!.results[0]!.elided).toBeUndefined();
    expect(t.configs.has('cfg1')).toBe(false);
    expect(requestMessages(t, 'q1')).toBeNull();
    expect(requestMessages(foldTrajectory(S.events), 'q1')).toHaveLength(2);
  });

  it('leaves the steps a summary covered out and says how many; the fold marks the summary; an empty list is sent as it is', () => {
    const b = new SessionBuilder({ name: 'Summary' });
    b.rollout({ task: 'T' });
    const a = b.step({ calls: [run('ls')] });
    const c = b.step({ calls: [run('pwd')] });
    b.add({ type: 'summary.created', stepId: c, summary: 'Listed, then printed the folder.', coveredStepIds: [a, c], requestId: 'qs' });
    const ev = b.events.at(-1)!;
    const compact = compactEvent(ev);
    expect(compact).toMatchObject({ summary: 'Listed, then printed the folder.', coveredStepIds: [], elided: { covered: 2 } });
    expect(foldTrajectory(b.events.map(compactEvent)).steps.get(c)!.summary).toEqual({ text: 'Listed, then printed the folder.', coveredStepIds: [], requestId: 'qs', coveredElided: 2 });
    expect(foldTrajectory(b.events).steps.get(c)!.summary).toEqual({ text: 'Listed, then printed the folder.', coveredStepIds: [a, c], requestId: 'qs' });
    const none = { ...ev, coveredStepIds: [] } as SessionEvent;
    expect(compactEvent(none)).toBe(none);
  });
});

describe('sessions.open and sessions.stepDetail', () => {
  it('opens with the compact log and its version; its size does not grow with the observations', async () => {
    const c = client();
    const view = await c.call<SessionOpenView>('sessions.open', { sessionId: 'S' });
    expect(view.version).toBe(S.events.at(-1)!.seq);
    expect(view.events.map((e) => e.seq)).toEqual(S.events.map((e) => e.seq));
    const big = view.events.find((e) => e.type === 'action.result' && e.stepId === S.big)!;
    expect(big.elided).toEqual({ observation: bigObservation(200_000).length });
    const huge = await c.call<SessionOpenView>('sessions.open', { sessionId: 'HUGE' });
    const bytes = (v: SessionOpenView) => JSON.stringify(v.events).length;
    // 1.8 MB more of observation, the same message.
    expect(Math.abs(bytes(huge) - bytes(view))).toBeLessThan(100);
    expect(bytes(view)).toBeLessThan(20_000);
    c.close();
  });

  it('gives the full results of the steps asked for, byte-exact; unknown steps are left out, bad arguments refused', async () => {
    const c = client();
    const d = await c.call<StepDetailResponse>('sessions.stepDetail', { sessionId: 'S', stepIds: [S.big, 'nope', S.big] });
    expect(d.version).toBe(S.events.at(-1)!.seq);
    expect(d.steps).toHaveLength(1);
    expect(d.steps[0]!.stepId).toBe(S.big);
    expect(d.steps[0]!.results[0]!.observation).toBe(bigObservation(200_000));
    expect(d.steps[0]!.results[0]!.elided).toBeUndefined();
    expect(d.steps[0]!.reasoning).toBe(LONG_REASONING);
    expect(await c.reply('sessions.stepDetail', { sessionId: 'S', stepIds: [] })).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
    expect(await c.reply('sessions.stepDetail', { sessionId: 'S' })).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
    c.close();
  });

  it('pushes events appended after the open in compact form with their version, which the next open starts from', async () => {
    const c = client();
    const view = await c.call<SessionOpenView>('sessions.open', { sessionId: 'S' });
    const session = await core.session('S');
    const obs = bigObservation(100_000);
    const ev = await session.append({ type: 'action.result', stepId: S.big, toolCallId: 'late', name: 'run_command', observation: obs, isError: false, durationMs: 5 });
    const push = c.pushes.find((p) => p.name === 'session.event' && (p.payload as { event: SessionEvent }).event.seq === ev.seq)!.payload as { sessionId: string; event: CompactEvent; version: number };
    expect(push.sessionId).toBe('S');
    expect(push.version).toBe(ev.seq);
    expect(push.version).toBeGreaterThan(view.version);
    expect(push.event.elided).toEqual({ observation: obs.length });
    expect((push.event as { observation: string }).observation.length).toBeLessThan(2 * OBSERVATION_WHOLE_CHARS);
    const again = await c.call<SessionOpenView>('sessions.open', { sessionId: 'S' });
    expect(again.version).toBe(ev.seq);
    const d = await c.call<StepDetailResponse>('sessions.stepDetail', { sessionId: 'S', stepIds: [S.big] });
    expect(d.steps[0]!.results.map((r) => r.observation)).toEqual([bigObservation(200_000), obs]);
    c.close();
  });
});

describe('the one fold of a session', () => {
  it('is one shared trajectory, advanced by appends, versioned by the last seq, its compact log built once per event', async () => {
    const session = await core.session('HUGE');
    const t = trajectoryOf(session);
    const v = trajectoryVersion(session);
    expect(v).toBe(session.events.at(-1)!.seq);
    const first = compactLog(session).events;
    expect(compactLog(session).events).toBe(first);
    const firstBig = first.find((e) => e.type === 'action.result' && e.stepId === HUGE.big);
    await session.append({ type: 'comment.added', commentId: 'c1', stepId: HUGE.big, text: 'long output', author: 'alice' });
    expect(trajectoryOf(session)).toBe(t);
    expect(t.comments.get('c1')?.text).toBe('long output');
    expect(trajectoryVersion(session)).toBe(v + 1);
    const after = compactLog(session);
    expect(after.version).toBe(v + 1);
    // Earlier events are not compacted again: the same objects.
    expect(after.events.find((e) => e.type === 'action.result' && e.stepId === HUGE.big)).toBe(firstBig);
    expect(after.events.at(-1)).toMatchObject({ type: 'comment.added', commentId: 'c1' });
  });
});

describe('the renderer store', () => {
  it('loads the compact view at its version, skips pushes it already holds without a new state, folds later ones', async () => {
    const t = new FakeTransport();
    const store = createAppStore(t);
    const compact = S.events.map(compactEvent);
    const version = S.events.at(-1)!.seq;
    store.getState().loadTrajectory('S', compact, version);
    const entry = store.getState().trajectories.S!;
    expect(entry.lastSeq).toBe(version);
    // A push the open already answered with: nothing changes, nothing re-renders.
    store.getState().applySessionEvents('S', [compact.at(-1)!]);
    expect(store.getState().trajectories.S).toBe(entry);
    const b = new SessionBuilder();
    const later = { ...b.add({ type: 'comment.added', commentId: 'c9', stepId: S.big, text: 'see the tail', author: 'bob' }), seq: version + 1 };
    store.getState().applySessionEvents('S', [later]);
    const next = store.getState().trajectories.S!;
    expect(next).not.toBe(entry);
    expect(next.lastSeq).toBe(version + 1);
    expect(next.version).toBe(entry.version + 1);
    expect(next.t.comments.get('c9')?.text).toBe('see the tail');
  });

  it('fetches a cut observation whole once, and hands back uncut steps as they are', async () => {
    const t = new FakeTransport();
    const full = foldTrajectory(S.events);
    t.handle('sessions.stepDetail', ({ stepIds }) => ({ version: 1, steps: stepIds.map((id) => ({ stepId: id, results: full.steps.get(id)!.results })) }));
    const compact = foldTrajectory(S.events.map(compactEvent));
    const big = compact.steps.get(S.big)!;
    const results = await fullResults(t, 'S', big);
    expect(results[0]!.observation).toBe(bigObservation(200_000));
    expect(results[0]!.elided).toBeUndefined();
    await fullResults(t, 'S', big);
    expect(t.argsOf('sessions.stepDetail')).toEqual([{ sessionId: 'S', stepIds: [S.big] }]);
    const small = compact.steps.get(S.small)!;
    expect(await fullResults(t, 'S', small)).toBe(small.results);
    expect(t.argsOf('sessions.stepDetail')).toHaveLength(1);
  });

  it('fetches a cut reasoning whole (with the results, one request), and hands back an uncut one as it is', async () => {
    const t = new FakeTransport();
    const full = foldTrajectory(S.events);
    t.handle('sessions.stepDetail', ({ stepIds }) => ({ version: 1, steps: stepIds.map((id) => ({ stepId: id, results: full.steps.get(id)!.results, reasoning: full.steps.get(id)!.response!.reasoning })) }));
    const compact = foldTrajectory(S.events.map(compactEvent));
    const big = compact.steps.get(S.big)!;
    expect(big.response!.reasoning).not.toBe(LONG_REASONING);
    expect(await fullReasoning(t, 'S2', big)).toBe(LONG_REASONING);
    expect((await fullResults(t, 'S2', big))[0]!.observation).toBe(bigObservation(200_000));
    expect(t.argsOf('sessions.stepDetail')).toEqual([{ sessionId: 'S2', stepIds: [S.big] }]);
    expect(await fullReasoning(t, 'S2', compact.steps.get(S.small)!)).toBe('Short.');
    expect(t.argsOf('sessions.stepDetail')).toHaveLength(1);
  });
});
