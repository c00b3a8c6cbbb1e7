// "Waiting for the endpoint": when a model request has been silent for 30 s, the UI
// says so with the time waited. The state comes from the log's events (model.request,
// llm.retry, model.response, ...) and the streamed text; checked on the pure fold and
// through the store fed by a fake host.
import { describe, expect, it } from 'vitest';
import type { SessionEvent } from '../../shared/events';
import type { HostMessage, RequestMessage } from '../../shared/contract/index';
import { createTransport, type Wire } from '../../shared/transport';
import { ENDPOINT_WAIT_NOTICE_MS, endpointSilentMs, nextEndpointWait } from '../../renderer/src/lib/endpointWait';
import { createAppStore } from '../../renderer/src/store/index';
import { connectPushEvents } from '../../renderer/src/store/wiring';

const T0 = 1_700_000_000_000;
let seq = 0;
function ev(body: Record<string, unknown>, ts: number): SessionEvent {
  return { seq: ++seq, ts, ...body } as unknown as SessionEvent;
}
const request = (stepId: string, ts: number) =>
  ev({ type: 'model.request', requestId: `q-${seq}`, stepId, purpose: 'step', base: null, keep: 0, append: [], config: 'c', owners: [] }, ts);
const retry = (stepId: string, ts: number, delayMs: number) => ev({ type: 'llm.retry', stepId, attempt: 1, delayMs, error: 'timeout' }, ts);
const response = (stepId: string, ts: number) =>
  ev({ type: 'model.response', stepId, content: '', reasoning: '', toolCalls: [], usage: null, finishReason: 'stop', durationMs: 1 }, ts);
const state = (s: string, ts: number) => ev({ type: 'rollout.state', rolloutId: 'r1', state: s }, ts);

describe('endpoint wait (pure)', () => {
  it('waits from the request, silent only past 30 s', () => {
    const w = nextEndpointWait(null, [request('s1', T0)]);
    expect(w).toMatchObject({ stepId: 's1', since: T0 });
    expect(endpointSilentMs(w, null, T0 + ENDPOINT_WAIT_NOTICE_MS - 1)).toBeNull();
    expect(endpointSilentMs(w, null, T0 + 45_000)).toBe(45_000);
  });

  it('counts from the last streamed text of the same step', () => {
    const w = nextEndpointWait(null, [request('s1', T0)]);
    expect(endpointSilentMs(w, { stepId: 's1', at: T0 + 40_000 }, T0 + 45_000)).toBeNull();
    expect(endpointSilentMs(w, { stepId: 's1', at: T0 + 10_000 }, T0 + 45_000)).toBe(35_000);
    // Text of another step says nothing about this request.
    expect(endpointSilentMs(w, { stepId: 's0', at: T0 + 44_000 }, T0 + 45_000)).toBe(45_000);
  });

  it('after a retry, counts from the end of the backoff (the countdown shows before)', () => {
    const w = nextEndpointWait(null, [request('s1', T0), retry('s1', T0 + 300_000, 8_000)]);
    expect(w).toMatchObject({ stepId: 's1', since: T0 + 308_000 });
    expect(endpointSilentMs(w, null, T0 + 305_000)).toBeNull();
    expect(endpointSilentMs(w, null, T0 + 340_000)).toBe(32_000);
  });

  it('stops waiting on the response, a new step or a state change', () => {
    const ends = [
      () => response('s1', T0 + 5),
      () => state('paused', T0 + 5),
      () => ev({ type: 'step.started', stepId: 's2', parentId: 's1', branchId: 'main', depth: 2, rolloutId: 'r1' }, T0 + 5),
    ];
    for (const make of ends) {
      const req = request('s1', T0);
      const end = make(); // later seq than the request
      const w = nextEndpointWait(null, [req, end]);
      expect([end.type, w?.stepId]).toEqual([end.type, null]);
      expect(endpointSilentMs(w, null, T0 + 999_999)).toBeNull();
    }
  });

  it('keeps the latest by seq whatever the order events are fed in, and ignores other events', () => {
    const req = request('s1', T0);
    const done = response('s1', T0 + 5);
    const other = ev({ type: 'comment.added', commentId: 'c', stepId: 's1', text: 'x', author: 'a' }, T0 + 6);
    const pushedFirst = nextEndpointWait(null, [done, other]);
    const thenLoaded = nextEndpointWait(pushedFirst, [req]);
    expect(thenLoaded).toBe(pushedFirst); // the older request does not bring the wait back
    expect(thenLoaded?.stepId).toBeNull();
    const same = nextEndpointWait(thenLoaded, [other]);
    expect(same).toBe(thenLoaded);
  });
});

/** A host that answers nothing and pushes what the test says. */
function fakeHost() {
  let deliver: (m: HostMessage) => void = () => undefined;
  const wire: Wire = {
    send: (_m: RequestMessage) => undefined,
    onMessage: (cb) => void (deliver = cb),
  };
  const transport = createTransport(wire);
  const store = createAppStore(transport);
  const stop = connectPushEvents(transport, store);
  const push = (name: string, payload: unknown) => deliver({ kind: 'evt', name, payload } as HostMessage);
  return { store, push, stop };
}

const flush = () => new Promise((r) => setTimeout(r, 40));

describe('endpoint wait in the store', () => {
  it('follows pushed events and streamed text of the open session', async () => {
    const { store, push, stop } = fakeHost();
    try {
      const now = Date.now();
      push('session.event', { sessionId: 'S', event: request('s9', now - 60_000) });
      await flush();
      const w = store.getState().endpointWaits.S ?? null;
      expect(w?.stepId).toBe('s9');
      expect(endpointSilentMs(w, store.getState().streaming.S, Date.now())).toBeGreaterThanOrEqual(60_000);
      push('rollout.delta', { sessionId: 'S', stepId: 's9', content: 'Let me', reasoning: '' });
      await flush();
      // The text just arrived: not waiting any more.
      expect(endpointSilentMs(store.getState().endpointWaits.S ?? null, store.getState().streaming.S, Date.now())).toBeNull();
      push('session.event', { sessionId: 'S', event: response('s9', Date.now()) });
      await flush();
      expect(store.getState().endpointWaits.S?.stepId).toBeNull();
      // Another session's request does not touch this one's.
      push('session.event', { sessionId: 'T', event: request('t1', now - 90_000) });
      await flush();
      expect(store.getState().endpointWaits.S?.stepId).toBeNull();
      expect(store.getState().endpointWaits.T?.stepId).toBe('t1');
    } finally {
      stop();
    }
  });
});
