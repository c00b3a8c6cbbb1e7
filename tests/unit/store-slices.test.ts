// The renderer store's sessions, rollout and labels slices (renderer/src/store/*.ts),
// driven over a fake transport: what the store holds after command answers and
// pushed events (through connectPushEvents, batched like the app does).
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { SessionInfo } from '../../shared/types';
import type { SessionEvent } from '../../shared/events';
import type { Step } from '../../shared/trajectory';
import { createAppStore, type AppStore } from '../../renderer/src/store/index';
import { connectPushEvents } from '../../renderer/src/store/wiring';
import { annotatorLabel, modeOf, selectFilterView } from '../../renderer/src/store/labels';
import { ApolloError } from '../../shared/errors';
import { deferred, FakeTransport } from '../fixtures/fake-transport';
import { SessionBuilder, run } from '../fixtures/sessions';

/** Push events are folded every ~16 ms. */
const BATCH_MS = 20;

const info = (id: string, over: Partial<SessionInfo> = {}): SessionInfo => ({
  id, name: `Session ${id}`, cwd: '/work', createdAt: 1000, updatedAt: 1000, live: true, terminals: [], steps: 0, ...over,
});

function setup() {
  const t = new FakeTransport();
  const store: AppStore = createAppStore(t);
  const off = connectPushEvents(t, store);
  return { t, store, s: () => store.getState(), off };
}

function sessionEvents() {
  const b = new SessionBuilder();
  b.rollout({ task: 'fix the build' });
  b.step({ id: 's1', calls: [run('make')] });
  b.step({ id: 's2', calls: [run('make test')] });
  b.guidance('use -j4', { after: 's2' });
  return b;
}

function openWith(t: FakeTransport, id: string, events: SessionEvent[], report = { tornTail: false, corruptLines: [] as number[] }) {
  t.handle('sessions.open', () => ({ session: info(id, { steps: 2 }), events, report, version: versionOf(events) }));
}

/** The version sessions.open answers with: the seq of the log's last event. */
const versionOf = (events: SessionEvent[]) => events.reduce((m, e) => Math.max(m, e.seq), 0);

/** A `session.event` push as the core sends it (its version is the event's seq). */
function pushEvent(t: FakeTransport, m: { sessionId: string; event: SessionEvent }) {
  t.push('session.event', { ...m, version: m.event.seq });
}

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

describe('sessions slice', () => {
  it('bootstrap: ready, the list newest first, loaded', async () => {
    const { t, s } = setup();
    t.handle('app.info', () => ({ version: '9.9.9', host: 'web' }) as never);
    t.handle('sessions.list', () => [info('a', { createdAt: 1 }), info('b', { createdAt: 3 }), info('c', { createdAt: 2 })]);
    await s().bootstrap();
    expect(s().connection).toEqual({ state: 'ready' });
    expect(s().appInfo).toMatchObject({ version: '9.9.9' });
    expect(s().sessions.map((x) => x.id)).toEqual(['b', 'c', 'a']);
    expect(s().sessionsLoaded).toBe(true);
  });

  it('bootstrap failing: the connection failed with the reason', async () => {
    const { s } = setup(); // no handlers: every request fails
    await s().bootstrap();
    expect(s().connection).toMatchObject({ state: 'failed', reason: expect.stringContaining('app.info') });
    expect(s().sessionsLoaded).toBe(false);
  });

  it('a pushed list never lowers a step count learnt from a full view, and closes a session that is gone', async () => {
    const { t, s } = setup();
    openWith(t, 'a', sessionEvents().events);
    s().applySessionList([info('a'), info('b')]);
    await s().openSession('a');
    expect(s().openSessionId).toBe('a');
    expect(s().sessions.find((x) => x.id === 'a')?.steps).toBe(2);
    t.push('sessions.changed', { sessions: [info('a', { steps: 0 }), info('b', { steps: 7 })] });
    expect(s().sessions.find((x) => x.id === 'a')?.steps).toBe(2);
    expect(s().sessions.find((x) => x.id === 'b')?.steps).toBe(7);
    t.push('sessions.changed', { sessions: [info('b')] });
    expect(s().openSessionId).toBeNull();
    expect(s().trajectories.a).toBeUndefined();
    expect(s().sessions.map((x) => x.id)).toEqual(['b']);
  });

  it('pushed step.started events count steps of a session not open here', () => {
    const { t, s } = setup();
    s().applySessionList([info('b', { steps: 3, lastStepAt: 50 })]);
    const ev = (seq: number, ts: number, type = 'step.started') =>
      ({ seq, ts, type, stepId: `x${seq}`, parentId: null, branchId: 'main', depth: seq, rolloutId: 'r1' }) as unknown as SessionEvent;
    pushEvent(t, { sessionId: 'b', event: ev(10, 100) });
    pushEvent(t, { sessionId: 'b', event: ev(11, 200) });
    pushEvent(t, { sessionId: 'b', event: { seq: 12, ts: 300, type: 'comment.added', commentId: 'c', stepId: 'x', text: 't', author: 'a' } as SessionEvent });
    expect(s().sessions[0]?.steps).toBe(3); // not folded before the batch ends
    vi.advanceTimersByTime(BATCH_MS);
    expect(s().sessions[0]).toMatchObject({ steps: 5, lastStepAt: 200 });
  });

  it('opening: the trajectory is folded, pushed events are applied once, and a repaired log says so', async () => {
    const { t, s } = setup();
    const b = sessionEvents();
    openWith(t, 'a', b.events, { tornTail: true, corruptLines: [3, 9] });
    await s().openSession('a');
    const entry = s().trajectories.a!;
    expect(entry.t.order).toEqual(['s1', 's2']);
    expect(s().loadReports.a).toEqual({ tornTail: true, corruptLines: [3, 9] });
    expect(s().toasts.map((x) => [x.level, x.title, x.message])).toEqual([
      ['warning', 'Session “Session a” opened with repairs', 'an incomplete last record (interrupted write) was dropped; 2 unreadable line(s) were skipped (3, 9).'],
    ]);
    const next = b.add({ type: 'step.started', stepId: 's3', parentId: 's2', branchId: 'main', depth: 3, rolloutId: 'r1' });
    const old = b.events[b.events.length - 3]!; // already in the log we opened
    pushEvent(t, { sessionId: 'a', event: old });
    pushEvent(t, { sessionId: 'a', event: next });
    vi.advanceTimersByTime(BATCH_MS);
    expect(s().trajectories.a!.t.order).toEqual(['s1', 's2', 's3']);
    expect(s().trajectories.a!.lastSeq).toBe(next.seq);
    expect(s().sessions.find((x) => x.id === 'a')).toMatchObject({ steps: 3, lastStepAt: next.ts });
  });

  it('a click on another session while one loads wins; the first is dropped', async () => {
    const { t, s } = setup();
    const slow = deferred<{ session: SessionInfo; events: SessionEvent[]; report: { tornTail: boolean; corruptLines: number[] }; version: number }>();
    const events = sessionEvents().events;
    t.handle('sessions.open', (a) => (a.sessionId === 'a' ? slow.promise : { session: info('b'), events, report: { tornTail: false, corruptLines: [] }, version: versionOf(events) }));
    const first = s().openSession('a');
    await s().openSession('b');
    slow.resolve({ session: info('a'), events, report: { tornTail: false, corruptLines: [] }, version: versionOf(events) });
    await first;
    expect(s().openSessionId).toBe('b');
    expect(Object.keys(s().trajectories)).toEqual(['b']);
  });

  it('rename failing answers false with an error toast; delete of the open session closes it', async () => {
    const { t, s } = setup();
    openWith(t, 'a', sessionEvents().events);
    s().applySessionList([info('a')]);
    await s().openSession('a');
    t.handle('sessions.rename', () => {
      throw new ApolloError('DISK_FULL', 'No space left');
    });
    expect(await s().renameSession('a', 'new')).toBe(false);
    expect(s().sessions[0]?.name).toBe('Session a');
    expect(s().toasts.at(-1)).toMatchObject({ level: 'error', title: 'Could not rename the session', code: 'DISK_FULL' });
    t.handle('sessions.delete', () => ({ ok: true }) as never);
    expect(await s().deleteSession('a')).toBe(true);
    expect(s().openSessionId).toBeNull();
    expect(s().sessions).toEqual([]);
    expect(s().trajectories).toEqual({});
  });
});

describe('rollout slice', () => {
  it('streamed deltas of one step are joined in order; the response replaces them', async () => {
    const { t, s } = setup();
    const b = sessionEvents();
    openWith(t, 'a', b.events);
    await s().openSession('a');
    t.push('rollout.delta', { sessionId: 'a', stepId: 's3', content: 'Let me ', reasoning: 'hm' } as never);
    t.push('rollout.delta', { sessionId: 'a', stepId: 's3', content: 'check.', reasoning: '' } as never);
    expect(s().streaming.a).toBeUndefined();
    vi.advanceTimersByTime(BATCH_MS);
    expect(s().streaming.a).toMatchObject({ stepId: 's3', content: 'Let me check.', reasoning: 'hm' });
    pushEvent(t, { sessionId: 'a', event: b.add({ type: 'step.started', stepId: 's3', parentId: 's2', branchId: 'main', depth: 3, rolloutId: 'r1' }) });
    pushEvent(t, {
      sessionId: 'a',
      event: b.add({ type: 'model.response', stepId: 's3', content: 'Let me check.', reasoning: 'hm', toolCalls: [], usage: null, finishReason: 'stop', durationMs: 5 }),
    });
    vi.advanceTimersByTime(BATCH_MS);
    expect(s().streaming.a).toBeUndefined();
  });

  it('guidance: sending, then known by id until the fold has it; a failure stays with its error', async () => {
    const { t, s } = setup();
    const b = sessionEvents();
    openWith(t, 'a', b.events);
    await s().openSession('a');
    t.handle('rollout.guidance', () => ({ guidanceId: 'g9' }) as never);
    const sent = s().sendGuidance('a', 'try again');
    expect(s().pendingGuidance.a).toMatchObject([{ text: 'try again', state: 'sending' }]);
    expect(await sent).toBe(true);
    expect(s().pendingGuidance.a).toMatchObject([{ text: 'try again', state: 'sending', guidanceId: 'g9' }]);
    pushEvent(t, { sessionId: 'a', event: b.add({ type: 'guidance.queued', guidanceId: 'g9', text: 'try again', author: 'alice' }) });
    vi.advanceTimersByTime(BATCH_MS);
    expect(s().pendingGuidance.a).toEqual([]);

    t.handle('rollout.guidance', () => {
      throw new ApolloError('CONFLICT', 'No rollout is running');
    });
    expect(await s().sendGuidance('a', 'hello?')).toBe(false);
    expect(s().pendingGuidance.a).toMatchObject([{ text: 'hello?', state: 'failed', error: 'No rollout is running' }]);
    s().dismissPendingGuidance('a', s().pendingGuidance.a![0]!.localId);
    expect(s().pendingGuidance.a).toEqual([]);
  });

  it('pause stays pending until a rollout.state event; stop clears at once; a failure clears with a toast', async () => {
    const { t, s } = setup();
    const b = sessionEvents();
    openWith(t, 'a', b.events);
    await s().openSession('a');
    t.handle('rollout.pause', () => ({ ok: true }) as never);
    t.handle('rollout.stop', () => ({ ok: true }) as never);
    await s().controlRollout('a', 'pause');
    expect(s().controlPending.a).toBe('pause');
    pushEvent(t, { sessionId: 'a', event: b.add({ type: 'rollout.state', rolloutId: 'r1', state: 'paused' } as never) });
    vi.advanceTimersByTime(BATCH_MS);
    expect(s().controlPending.a).toBeUndefined();
    await s().controlRollout('a', 'stop');
    expect(s().controlPending.a).toBeUndefined();
    await s().controlRollout('a', 'resume'); // no handler
    expect(s().controlPending.a).toBeUndefined();
    expect(s().toasts.at(-1)).toMatchObject({ level: 'error', title: 'Could not resume the rollout' });
    expect(t.calls.filter((c) => c.cmd.startsWith('rollout.')).map((c) => c.cmd)).toEqual(['rollout.pause', 'rollout.stop', 'rollout.resume']);
  });

  it('rollout.control pushes replace who drives the session', () => {
    const { t, s } = setup();
    const status = { sessionId: 'a', holder: 'human' } as never;
    t.push('rollout.control', status);
    expect(s().control.a).toBe(status);
  });
});

describe('labels slice', () => {
  async function openFilter() {
    const env = setup();
    const b = sessionEvents();
    b.step({ id: 's3', calls: [run('ls')] });
    b.label('s2', 'mask', { source: 'rule', rule: 'failed-command', tags: ['error'] });
    openWith(env.t, 'a', b.events);
    await env.s().openSession('a');
    const step = (id: string): Step => env.s().trajectories.a!.t.steps.get(id)!;
    return { ...env, b, step };
  }

  it('the view mode is per session, and new sessions start in the last one chosen', () => {
    const { s } = setup();
    expect(modeOf(s(), 'a')).toBe('live');
    s().setSessionMode('a', 'filter');
    expect(modeOf(s(), 'a')).toBe('filter');
    expect(modeOf(s(), 'zzz')).toBe('filter');
    s().setSessionMode('b', 'live');
    expect(modeOf(s(), 'a')).toBe('filter');
    expect(selectFilterView({ ...s(), openSessionId: 'a' })).toBe(true);
    expect(selectFilterView({ ...s(), openSessionId: null })).toBe(false);
  });

  it('labelling the selection: one labels.set for the steps, shown at once, undone and redone', async () => {
    const { t, s, b, step } = await openFilter();
    s().setFilterCursor('a', { selection: ['s1', 's3'], cursor: 's3', anchor: 's1' });
    expect(s().filterCursorOf('a')).toEqual({ branchId: null, selection: ['s1', 's3'], cursor: 's3', anchor: 's1' });
    t.handle('labels.set', () => ({ ok: true }) as never);
    t.handle('labels.clear', () => ({ ok: true }) as never);
    const sel = s().filterCursorOf('a').selection.map(step);
    const done = s().applyLabel('a', sel, 'keep');
    expect(s().labelOverlay.a).toEqual({ s1: { label: 'keep', tags: [], note: '' }, s3: { label: 'keep', tags: [], note: '' } });
    expect(await done).toBe(true);
    expect(t.argsOf('labels.set')).toEqual([{ sessionId: 'a', stepIds: ['s1', 's3'], label: 'keep', tags: [], note: '' }]);
    expect(s().labelUndo.a).toMatchObject([{ kind: 'annotator', what: 'keep 2 actions' }]);
    // The answer came before the events: the overlay stays (the rows say pending) until each
    // step's event is folded, then goes at once rather than after its grace period.
    vi.advanceTimersByTime(100);
    expect(Object.keys(s().labelOverlay.a!)).toEqual(['s1', 's3']);
    pushEvent(t, { sessionId: 'a', event: b.add({ type: 'label.set', stepId: 's1', label: 'keep', tags: [], note: '', source: 'annotator', author: 'alice' }) });
    vi.advanceTimersByTime(BATCH_MS + 20);
    expect(Object.keys(s().labelOverlay.a!)).toEqual(['s3']);
    // s3's event never comes (a lost push): the grace period ends the overlay anyway.
    vi.advanceTimersByTime(400);
    expect(s().labelOverlay.a).toEqual({});
    pushEvent(t, { sessionId: 'a', event: b.add({ type: 'label.set', stepId: 's3', label: 'keep', tags: [], note: '', source: 'annotator', author: 'alice' }) });
    vi.advanceTimersByTime(BATCH_MS);
    expect(annotatorLabel(step('s1'))).toEqual({ label: 'keep', tags: [], note: '' });

    expect(await s().undoLabel('a')).toEqual(['s1', 's3']);
    expect(t.argsOf('labels.clear')).toEqual([{ sessionId: 'a', stepIds: ['s1', 's3'] }]);
    expect(s().labelUndo.a).toEqual([]);
    expect(s().labelRedo.a).toHaveLength(1);
    expect(await s().redoLabel('a')).toEqual(['s1', 's3']);
    expect(t.argsOf('labels.set')).toHaveLength(2);
    expect(s().labelRedo.a).toEqual([]);
    expect(s().labelUndo.a).toHaveLength(1);
    expect(await s().redoLabel('a')).toBeNull();
  });

  it('masking a rule-masked step inherits its reason tags; steps already so labelled send nothing', async () => {
    const { t, s, step } = await openFilter();
    t.handle('labels.set', () => ({ ok: true }) as never);
    expect(await s().applyLabel('a', [step('s2')], 'mask')).toBe(true);
    expect(t.argsOf('labels.set')).toEqual([{ sessionId: 'a', stepIds: ['s2'], label: 'mask', tags: ['error'], note: '' }]);
    expect(s().labelUndo.a).toMatchObject([{ what: 'mask step 2' }]);
    // The overlay now says mask/error: the same label again is a no-op.
    expect(await s().applyLabel('a', [step('s2')], 'mask')).toBe(true);
    expect(t.argsOf('labels.set')).toHaveLength(1);
    expect(s().labelUndo.a).toHaveLength(1);
  });

  it('different labels in one change are grouped per value; a failure drops the overlay and records no undo', async () => {
    const { t, s, step } = await openFilter();
    t.handle('labels.set', (a) => {
      if (a.label === 'mask') throw new ApolloError('DISK_FULL', 'No space left on the device');
      return { ok: true } as never;
    });
    const ok = await s().applyLabels('a', [
      { step: step('s1'), label: 'keep' },
      { step: step('s2'), label: 'mask', tags: [] },
      { step: step('s3'), label: 'keep' },
    ]);
    expect(ok).toBe(false);
    expect(t.argsOf('labels.set').map((a) => [a.label, a.stepIds])).toEqual([['keep', ['s1', 's3']], ['mask', ['s2']]]);
    expect(s().labelOverlay.a).toEqual({});
    expect(s().labelUndo.a).toBeUndefined();
    expect(s().toasts.at(-1)).toMatchObject({ level: 'error', title: 'Could not label 3 actions', code: 'DISK_FULL' });
  });

  it('export progress that comes before export.start answers is kept for the job', async () => {
    const { t, s } = setup();
    const started = deferred<{ exportId: string }>();
    t.handle('export.start', () => started.promise as never);
    const res = s().startExport({ sessionIds: ['a'] } as never);
    const progress = { exportId: 'e1', done: 1, total: 4 } as never;
    t.push('export.progress', progress);
    expect(s().exportEarly).toEqual({ e1: progress });
    started.resolve({ exportId: 'e1' });
    expect(await res).toEqual({ ok: true, value: 'e1' });
    expect(s().exportEarly).toEqual({});
    expect(s().exports.e1).toMatchObject({ exportId: 'e1', progress });
    const later = { exportId: 'e1', done: 4, total: 4 } as never;
    t.push('export.progress', later);
    expect(s().exports.e1!.progress).toBe(later);
  });
});
