// A paged open (issue 10): sessions.open with `paged` sends the tree and the newest
// steps' details; sessions.page gives the rest by ranges of steps. Whatever the source
// (the log, the view kept beside it, the web host's frame spliced from its bytes), the
// tree, the tail and the pages together are exactly the events an open that is not paged
// answers, and a page read at the open's version holds nothing recorded after it.
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { generateSession, type GeneratedSession } from '../../electron/bench/generate';
import { ApolloCore } from '../../electron/core/app';
import { PAGE_STEPS, tailFrom } from '../../electron/core/open-pages';
import { isStepDetail, mergeBySeq, type CompactEvent } from '../../shared/compact-events';
import type { HostMessage } from '../../shared/contract/index';
import type { SessionOpenView } from '../../shared/contract/sessions';
import { branchPath, defaultBranchId, foldTrajectory } from '../../shared/trajectory';
import { openClient } from '../fixtures/core-client';
import { deferred, FakeTransport } from '../fixtures/fake-transport';
import { createAppStore } from '../../renderer/src/store/index';
import type { SessionEvent } from '../../shared/events';
import { startTestHost } from '../fixtures/web-host';

const STEPS = 230;
let root: string;
let g: GeneratedSession;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'apollo-open-paged-'));
  g = await generateSession({ home: join(root, 'home'), steps: STEPS, hours: 2, terminalMb: 1, seed: 11 });
}, 120_000);
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const openCore = (home = join(root, 'home')) => ApolloCore.open({ home, resourcesDir: resolve(__dirname, '../../resources'), host: 'web', samples: false });

/** The steps in the order they started, from a whole list of events. */
function stepOrder(events: readonly CompactEvent[]): string[] {
  return events.filter((e) => e.type === 'step.started').map((e) => (e as { stepId: string }).stepId);
}

/** Every range a paged open left, `size` steps per request, merged with its tree and tail. */
async function assemble(call: ReturnType<typeof openClient>['call'], view: SessionOpenView, size: number): Promise<CompactEvent[]> {
  const pages: CompactEvent[][] = [];
  for (const [a, b] of view.pages!.left) {
    for (let from = a; from < b; from += size) {
      const page = await call('sessions.page', { sessionId: g.id, version: view.version, from, to: Math.min(b, from + size) });
      expect(page.version).toBe(view.version);
      pages.push(page.events);
    }
  }
  return mergeBySeq(view.events, view.tail!, ...pages);
}

const stepOf = (e: CompactEvent) => (e as { stepId: string }).stepId;

function checkSplit(view: SessionOpenView, whole: readonly CompactEvent[]): void {
  const order = stepOrder(whole);
  expect(order.length).toBe(STEPS);
  const { size, left } = view.pages!;
  expect(size).toBe(PAGE_STEPS);
  // Ranges in order, apart, before the newest steps.
  const to = tailFrom(order.length);
  expect(to).toBeGreaterThan(0);
  left.forEach(([a, b], i) => {
    expect(a).toBeLessThan(b);
    expect(b).toBeLessThanOrEqual(to);
    if (i > 0) expect(a).toBeGreaterThan(left[i - 1]![1]);
  });
  const later = new Set(left.flatMap(([a, b]) => order.slice(a, b)));
  // The tree holds no step's details; the tail holds all of the others' and nothing else.
  expect(view.events.filter(isStepDetail)).toEqual([]);
  expect(view.tail!.every((e) => isStepDetail(e) && !later.has(stepOf(e)))).toBe(true);
  expect(view.tail!.length).toBe(whole.filter((e) => isStepDetail(e) && !later.has(stepOf(e))).length);
  for (const id of order.slice(to)) expect(later.has(id)).toBe(false);
  // The rows the page shows first: the newest steps of the branch it opens on, wherever they started.
  const t = foldTrajectory(whole);
  const path = branchPath(t, defaultBranchId(t)!).slice(-100);
  expect(path.filter((s) => later.has(s.id))).toEqual([]);
}

describe('a paged open', () => {
  it('is, with its pages, the whole open: from the log, then from the view kept beside it', async () => {
    const core = await openCore();
    const { call } = openClient(core);
    const paged = await call('sessions.open', { sessionId: g.id, paged: true });
    expect(core.ws.isLoaded(g.id)).toBe(true);
    const whole = (await call('sessions.open', { sessionId: g.id })).events;
    checkSplit(paged, whole);
    // Here the branch it opens on forked before the newest steps: pages of it came before the tail.
    expect(paged.pages!.left).not.toEqual([[0, tailFrom(STEPS)]]);
    expect(await assemble(call, paged, PAGE_STEPS)).toEqual(whole);
    // Any range of steps, on the pages or not.
    expect(await assemble(call, paged, 37)).toEqual(whole);
    await core.close();

    const next = await openCore();
    const c2 = openClient(next);
    const fromView = await c2.call('sessions.open', { sessionId: g.id, paged: true });
    expect(next.ws.isLoaded(g.id)).toBe(false);
    checkSplit(fromView, whole);
    expect(JSON.stringify(fromView.events)).toBe(JSON.stringify(paged.events));
    expect(await assemble(c2.call, fromView, PAGE_STEPS * 2)).toEqual(whole);
    // The pages came from the view's bytes: the log is still not loaded.
    expect(next.ws.isLoaded(g.id)).toBe(false);
    expect(await assemble(c2.call, fromView, 29)).toEqual(whole);
    // The fold of it all is the fold of the whole open.
    expect(foldTrajectory(await assemble(c2.call, fromView, PAGE_STEPS))).toEqual(foldTrajectory(whole));
    await next.close();
  });

  it('gives the pages as they were at its version, whatever was recorded since', async () => {
    const core = await openCore();
    const { call } = openClient(core);
    const view = await call('sessions.open', { sessionId: g.id, paged: true });
    const before = await assemble(call, view, PAGE_STEPS);
    const oldest = stepOrder(before)[0]!;
    await call('labels.set', { sessionId: g.id, stepIds: [oldest], label: 'mask' });
    await call('comment.add', { sessionId: g.id, stepId: oldest, text: 'after the open' });
    expect(await assemble(call, view, PAGE_STEPS)).toEqual(before);
    const now = await call('sessions.open', { sessionId: g.id });
    expect(now.version).toBe(view.version + 2);
    await expect(call('sessions.page', { sessionId: g.id, version: now.version + 1, from: 0, to: 10 })).rejects.toThrow(/has no version/);
    await core.close();
  });

  it('reaches the page through the web host with its tree and tail spliced from the view', async () => {
    const t = await startTestHost('apollo-open-paged-web-', {
      seed: async (ws) => {
        await cp(g.dir, join(ws, 'sessions', g.id), { recursive: true });
        // Closed once, so the view is kept beside the log.
        const c = await openCore(ws);
        await c.session(g.id);
        await c.close();
      },
    });
    try {
      const sock = new WebSocket(`ws://127.0.0.1:${t.host.port}/ws?token=${t.host.token}`);
      await new Promise((r, j) => (sock.once('open', r), sock.once('error', j)));
      const replies = new Map<number, string>();
      const got = (id: number) => new Promise<string>((r) => {
        const poll = () => (replies.has(id) ? r(replies.get(id)!) : setTimeout(poll, 5));
        poll();
      });
      sock.on('message', (d) => {
        const text = d.toString();
        const m = JSON.parse(text) as HostMessage;
        if (m.kind === 'res') replies.set(m.id, text);
      });
      sock.send(JSON.stringify({ kind: 'req', id: 1, cmd: 'sessions.open', args: { sessionId: g.id, paged: true } }));
      const view = (JSON.parse(await got(1)) as { result: SessionOpenView }).result;
      expect(t.core.ws.isLoaded(g.id)).toBe(false);
      const pages: CompactEvent[][] = [];
      for (const [i, [from, to]] of view.pages!.left.entries()) {
        sock.send(JSON.stringify({ kind: 'req', id: 2 + i, cmd: 'sessions.page', args: { sessionId: g.id, version: view.version, from, to } }));
        pages.push((JSON.parse(await got(2 + i)) as { result: { events: CompactEvent[] } }).result.events);
      }
      sock.close();
      const { call } = openClient(t.core);
      expect(view).toEqual(await call('sessions.open', { sessionId: g.id, paged: true }));
      expect(mergeBySeq(view.events, view.tail!, ...pages)).toEqual((await call('sessions.open', { sessionId: g.id })).events);
    } finally {
      await t.close();
    }
  });

  it('loads in the renderer store: the newest steps at once, the others by page, then one fold of every event', async () => {
    const core = await openCore();
    try {
      const { call } = openClient(core);
      const whole = (await call('sessions.open', { sessionId: g.id })).events;
      const t = new FakeTransport();
      const gate = deferred<void>();
      t.handle('sessions.open', (a) => call('sessions.open', a));
      t.handle('sessions.page', async (a) => {
        await gate.promise;
        return call('sessions.page', a);
      });
      const store = createAppStore(t);
      store.setState({ sessions: [(await call('sessions.open', { sessionId: g.id })).session] });
      await store.getState().openSession(g.id);
      const first = store.getState().trajectories[g.id]!;
      const order = stepOrder(whole);
      const { left } = (await call('sessions.open', { sessionId: g.id, paged: true })).pages!;
      // The steps sent have their details; the others are marked as coming.
      expect([...first.pending!.steps]).toEqual(left.flatMap(([a, b]) => order.slice(a, b)));
      expect(first.t.steps.get(order.at(-1)!)!.response).toBeDefined();
      expect(first.t.steps.get(order[0]!)!.response).toBeUndefined();
      expect(t.argsOf('sessions.page')[0]).toMatchObject({ sessionId: g.id, version: (await call('sessions.open', { sessionId: g.id })).version, from: left[0]![0] });
      // Something recorded while the pages are on their way is folded at once, and again at the end.
      const push = { seq: whole.at(-1)!.seq + 1, ts: Date.now(), type: 'comment.added', commentId: 'c-paged', stepId: order[0]!, text: 'pushed while paging', author: 'alice' } as SessionEvent;
      store.getState().applySessionEvents(g.id, [push]);
      expect(store.getState().trajectories[g.id]!.t.comments.get('c-paged')?.text).toBe('pushed while paging');
      gate.resolve();
      const end = Date.now() + 10_000;
      while (store.getState().trajectories[g.id]!.pending && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
      const done = store.getState().trajectories[g.id]!;
      expect(done.pending).toBeNull();
      expect(done.version).toBeGreaterThan(first.version);
      expect(done.t).toEqual(foldTrajectory([...whole, push]));
      // Every range asked for, 200 steps at a time at most.
      const asked = t.argsOf('sessions.page').map((a) => [a.from, a.to] as const);
      expect(asked.every(([a, b]) => b - a <= 200)).toBe(true);
      expect(new Set(asked.flatMap(([a, b]) => order.slice(a, b)))).toEqual(first.pending!.steps);
    } finally {
      await core.close();
    }
  });

  it('says so when a page cannot be loaded, and keeps the filter off the partial steps', async () => {
    const core = await openCore();
    try {
      const { call } = openClient(core);
      const t = new FakeTransport();
      t.handle('sessions.open', (a) => call('sessions.open', a));
      t.handle('sessions.page', () => {
        throw new Error('the host went away');
      });
      const store = createAppStore(t);
      await store.getState().openSession(g.id);
      const end = Date.now() + 10_000;
      while (!store.getState().trajectories[g.id]!.pending?.error && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
      expect(store.getState().trajectories[g.id]!.pending!.error).toMatch(/the host went away/);
      expect(store.getState().toasts.some((x) => /earlier steps/.test(x.title ?? ''))).toBe(true);
    } finally {
      await core.close();
    }
  });
});

describe('mergeBySeq', () => {
  const ev = (seq: number, tag = '') => ({ seq, tag });
  it('merges two lists in order in one pass, and sorts anything else, each seq once', () => {
    expect(mergeBySeq([ev(1), ev(3), ev(4)], [ev(2), ev(5)]).map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
    // The same seq in both (a page and a push): kept once, the first list's.
    expect(mergeBySeq([ev(1, 'a'), ev(2, 'a')], [ev(2, 'b'), ev(3, 'b')])).toEqual([ev(1, 'a'), ev(2, 'a'), ev(3, 'b')]);
    expect(mergeBySeq([ev(4), ev(1)], [ev(3), ev(2)]).map((e) => e.seq)).toEqual([1, 2, 3, 4]);
    expect(mergeBySeq([ev(2)], [ev(1)], [ev(3), ev(2)]).map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(mergeBySeq([], [])).toEqual([]);
  });
});
