// Terminals off screen cost nothing (issue 10, item 6): a hidden tab detaches, is sent
// nothing and never holds the shell back; shown again it catches up from the
// recording; flow control follows only the consumers that show the terminal, and a
// slow one cannot slow the others. Over the host's stream (UiStream), the renderer's
// stream with a fake transport, and the core with real ptys and two fake clients.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { UiStream, type FlowOptions, type UiBatch } from '../../electron/core/pty/ui-stream';
import { ApolloCore } from '../../electron/core/app';
import type { PtyTerminal } from '../../electron/core/pty/terminal';
import type { PushEvents } from '../../shared/contract/index';
import type { TerminalReplay } from '../../shared/types';
import { TerminalStream, type ScreenPosition, type StreamSink } from '../../renderer/src/lib/terminalStream';
import { deferred, FakeTransport, settle } from '../fixtures/fake-transport';
import { openClient } from '../fixtures/core-client';

const FLOW: FlowOptions = { batchMs: 1000, batchBytes: 100, highWatermark: 300, lowWatermark: 100, stallMs: 500, rejoinMs: 0 };

/** A host stream whose batches are recorded with the consumers each went to. */
function hostStream(opts: FlowOptions = FLOW) {
  const sent: Array<{ batch: UiBatch; to: string[] }> = [];
  const pressure: boolean[] = [];
  const s = new UiStream(opts, (batch, to) => sent.push({ batch, to: [...to] }), (p) => pressure.push(p));
  let off = 0;
  const push = (n: number) => {
    s.push(Buffer.alloc(n, 0x61), off);
    off += n;
  };
  const bytesTo = (c: string) => sent.filter((e) => e.to.includes(c)).reduce((n, e) => n + e.batch.bytes, 0);
  return { s, sent, pressure, push, bytesTo, offset: () => off };
}

describe('host stream: one account per consumer', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('sends a detached (hidden) consumer nothing, and its acks count for nothing', () => {
    const { s, sent, pressure, push, bytesTo } = hostStream();
    s.attach('shown');
    s.attach('hidden');
    push(100);
    expect(sent.at(-1)!.to).toEqual(['shown', 'hidden']);
    s.detach('hidden');
    push(100);
    push(100);
    expect(sent.slice(1).every((e) => e.to.join() === 'shown')).toBe(true);
    expect(bytesTo('hidden')).toBe(100);
    expect(pressure).toEqual([true]); // the shown one owes 300
    s.ack(300, 'hidden'); // a late ack from the tab that went away
    expect(pressure).toEqual([true]);
    expect(s.account('hidden')).toBeUndefined();
    s.ack(250, 'shown');
    expect(pressure).toEqual([true, false]);
  });

  it('holds the pty back only for the lead: a slow second consumer is skipped, then rejoins past a gap', () => {
    const { s, sent, pressure, push, bytesTo } = hostStream();
    s.attach('fast');
    s.attach('slow');
    for (let i = 0; i < 3; i++) {
      push(100);
      s.ack(100, 'fast');
    }
    expect(pressure).toEqual([]); // slow owes 300 and never paused anything
    expect(s.account('slow')).toEqual({ unacked: 300, lagging: true });
    for (let i = 0; i < 2; i++) {
      push(100);
      s.ack(100, 'fast');
    }
    expect(sent.at(-1)!.to).toEqual(['fast']);
    expect(bytesTo('slow')).toBe(300);
    s.ack(250, 'slow'); // caught up to the low watermark
    expect(s.account('slow')).toEqual({ unacked: 50, lagging: false });
    push(100);
    expect(sent.at(-1)).toEqual({ batch: { data: 'a'.repeat(100), offset: 500, bytes: 100 }, to: ['fast', 'slow'] });
    expect(pressure).toEqual([]);
  });

  it('follows the next consumer when the lead goes away or stalls', () => {
    const { s, pressure, push } = hostStream();
    s.attach('a');
    s.attach('b');
    push(100);
    push(100);
    s.ack(200, 'b');
    push(100);
    expect(pressure).toEqual([true]); // a owes 300
    s.detach('a'); // hidden: b owes 100, not behind
    expect(pressure).toEqual([true, false]);

    s.attach('c');
    push(100);
    push(100);
    s.ack(100, 'c');
    expect(pressure).toEqual([true, false, true]); // b owes 300
    vi.advanceTimersByTime(FLOW.stallMs); // b never acks: stuck
    expect(s.account('b')!.lagging).toBe(true);
    expect(pressure).toEqual([true, false, true, false]); // c owes 100 and leads now
    push(100);
    push(100);
    expect(pressure).toEqual([true, false, true, false, true]);
    s.ack(300, 'c');
    expect(pressure.at(-1)).toBe(false);
  });

  it('gives a skipped consumer output again only once caught up and rejoinMs after the skip', () => {
    const { s, sent, push } = hostStream({ ...FLOW, rejoinMs: 250 });
    s.attach('fast');
    s.attach('slow');
    for (let i = 0; i < 3; i++) {
      push(100);
      s.ack(100, 'fast');
    }
    expect(s.account('slow')!.lagging).toBe(true);
    s.ack(300, 'slow'); // caught up at once: still too soon
    push(100);
    s.ack(100, 'fast');
    expect(sent.at(-1)!.to).toEqual(['fast']);
    vi.advanceTimersByTime(250); // no ack left to come: the timer lets it back
    expect(s.account('slow')!.lagging).toBe(false);
    // ...and shows it where the output is now, for a program that prints no more.
    expect(sent.at(-1)).toEqual({ batch: { data: '', offset: 400, bytes: 0 }, to: ['slow'] });
    push(100);
    expect(sent.at(-1)!.to).toEqual(['fast', 'slow']);
    expect(sent.at(-1)!.batch.offset).toBe(400); // past the gap
    s.detach('slow'); // its timer goes with it
    expect(vi.getTimerCount()).toBe(0);
  });

  it('attaching again starts that consumer afresh, after what is pending went to the others', () => {
    const { s, sent, push } = hostStream({ ...FLOW, batchBytes: 1000 });
    s.attach('a');
    s.attach('b');
    push(10); // quiet before: goes at once
    push(10); // held for the batch
    s.attach('b'); // b shown again: the held 10 bytes are before its replay's end
    expect(sent.at(-1)).toEqual({ batch: { data: 'a'.repeat(10), offset: 10, bytes: 10 }, to: ['a'] });
    expect(s.account('b')).toEqual({ unacked: 0, lagging: false });
    expect(s.account('a')!.unacked).toBe(20);
  });
});

/** A screen that records writes and parses each at once. */
function sink() {
  const writes: string[] = [];
  const notes: string[] = [];
  const s: StreamSink = {
    write(data, onParsed) {
      writes.push(data);
      onParsed?.();
    },
    note: (t) => notes.push(t),
  };
  return { s, writes, notes };
}

const IDS = { sessionId: 's1', terminalId: 'flood' };
const replay = (start: number, data: string): TerminalReplay => ({ ...IDS, start, end: start + Buffer.byteLength(data), data, truncated: start > 0 });

describe('renderer stream: hidden and shown again', () => {
  it('detaches when hidden, after its attach was answered, and catches up with only what the screen lacks', async () => {
    const t = new FakeTransport();
    const firstAttach = deferred<TerminalReplay>();
    const attaches: Array<Record<string, unknown>> = [];
    t.handle('terminal.attach', (a) => {
      attaches.push(a);
      return attaches.length === 1 ? firstAttach.promise : replay(a.since ?? 0, 'while hidden\r\n');
    });
    t.handle('terminal.detach', () => ({ ok: true as const }));
    t.handle('terminal.ack', () => ({ ok: true as const }));
    const screen: ScreenPosition = { end: null };
    const { s, writes } = sink();

    // Shown, then hidden before the host answered the attach: the detach waits for it,
    // else the host would see it first and keep the hidden tab attached.
    const first = new TerminalStream(t, IDS, s, screen, 0, () => {});
    first.dispose();
    await settle();
    expect(t.calls.map((c) => c.cmd)).toEqual(['terminal.attach']);
    firstAttach.resolve(replay(0, 'hello\r\n'));
    await settle();
    expect(t.calls.map((c) => c.cmd)).toEqual(['terminal.attach', 'terminal.detach']);
    expect(writes).toEqual([]); // disposed: nothing painted

    // Shown: paints the replay and live output.
    const t2 = new FakeTransport();
    t2.handle('terminal.attach', () => replay(0, 'hello\r\n'));
    t2.handle('terminal.detach', () => ({ ok: true as const }));
    t2.handle('terminal.ack', () => ({ ok: true as const }));
    const shown = new TerminalStream(t2, IDS, s, screen, 0, () => {});
    await settle();
    t2.push('terminal.data', { ...IDS, offset: 7, data: 'live\r\n', bytes: 6 });
    expect(writes).toEqual(['hello\r\n', 'live\r\n']);
    expect(screen.end).toBe(13);
    shown.dispose(); // hidden: no more data reaches the screen
    await settle();
    expect(t2.argsOf('terminal.detach')).toEqual([IDS]);
    t2.push('terminal.data', { ...IDS, offset: 13, data: 'not for a hidden tab', bytes: 20 });
    expect(writes).toHaveLength(2);

    // Shown again: attaches with what the screen has, paints only the rest.
    const again = new TerminalStream(t, IDS, s, screen, 0, () => {});
    await settle();
    expect(attaches.at(-1)).toEqual({ ...IDS, since: 13, maxBytes: 256 * 1024 });
    expect(writes).toEqual(['hello\r\n', 'live\r\n', 'while hidden\r\n']);
    expect(screen.end).toBe(13 + 14);
    again.dispose();
  });

  it('says so when more came while hidden than the catch-up replays', async () => {
    const t = new FakeTransport();
    t.handle('terminal.attach', () => replay(5_000_000, 'the latest\r\n'));
    t.handle('terminal.detach', () => ({ ok: true as const }));
    const screen: ScreenPosition = { end: 100 };
    const { s, writes, notes } = sink();
    const stream = new TerminalStream(t, IDS, s, screen, 0, () => {});
    await settle();
    expect(t.argsOf('terminal.attach')).toEqual([{ ...IDS, since: 100, maxBytes: 256 * 1024 }]);
    expect(writes).toEqual(['the latest\r\n']);
    expect(notes[0]).toMatch(/^Showing the last 12 B; 4\.8 MB of skipped output is in the recording\.$/);
    stream.dispose();
  });
});

describe('core: a hidden client never holds the shell back', () => {
  let root: string;
  let core: ApolloCore;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'apollo-offscreen-'));
    core = await ApolloCore.open({ home: join(root, 'ws'), resourcesDir: resolve('resources'), host: 'web', samples: false });
  });
  afterAll(async () => {
    await core.close();
    await rm(root, { recursive: true, force: true });
  });

  /** A client of the core: its terminal.data pushes and its answers. */
  function client() {
    const data: Array<PushEvents['terminal.data']> = [];
    const { call: request, link } = openClient(core, (msg) => {
      if (msg.kind === 'evt' && msg.name === 'terminal.data') data.push(msg.payload as PushEvents['terminal.data']);
    });
    const bytes = () => data.reduce((s, d) => s + d.bytes, 0);
    return { link, data, request, bytes };
  }

  async function until(cond: () => boolean, what: string, ms = 30_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!cond()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  it('lets the shell go on as soon as the tab that held it back is hidden, and shows that tab its latest output again', async () => {
    const s = await core.ws.create({ name: 'offscreen', cwd: root });
    await core.session(s.id);
    const term = (await core.pty.create(s, { id: 'flood', command: 'bash' })) as PtyTerminal;
    const ids = { sessionId: s.id, terminalId: 'flood' };
    await term.runCommand('true', { wait: true, timeoutMs: 10_000 });
    // The first window shows the flood and does not keep up at all (it never acks):
    // the pty waits for it (a moment at a time), as it should while it is on screen.
    const hidden = client();
    await hidden.request('terminal.attach', ids);
    // Twice the 2 MB replay tail checked below, and far past the watermark the pty pauses at (512 KB).
    await term.runCommand('yes | head -c 4000000; echo flood-$((6*7))-done', { wait: false, timeoutMs: 0 });
    await until(() => term.ui.stats.pauses > 0, 'the pty to wait for the window showing it');

    // Another window shows it and keeps up; the first one hides its tab.
    const shown = client();
    await shown.request('terminal.attach', ids);
    let acked = 0;
    const acker = setInterval(() => {
      const owed = shown.bytes() - acked;
      if (owed > 0) void shown.request('terminal.ack', { ...ids, bytes: owed });
      acked += owed;
    }, 5);
    try {
      expect(await hidden.request('terminal.detach', ids)).toEqual({ ok: true });
      const hiddenGot = hidden.data.length;
      // At once: nothing waits for a tab that is not shown.
      expect(term.flowState().ptyPaused).toBe(false);
      expect(term.ui.account(hidden.link.conn.id)).toBeUndefined();
      await until(() => shown.data.some((d) => d.data.includes('flood-42-done')), 'the flood to end', 60_000);
      expect(hidden.data.length).toBe(hiddenGot);
    } finally {
      clearInterval(acker);
    }

    // Shown again: the catch-up replay ends where live output starts and holds the latest output.
    const rep = (await hidden.request('terminal.attach', { ...ids, since: 1000 })) as TerminalReplay;
    expect(rep.end).toBe(term.recordedBytes());
    expect(rep.start).toBe(rep.end - 2 * 1024 * 1024); // bounded: the default tail, not all since 1000
    expect(rep.data).toMatch(/flood-42-done/);
    const small = (await hidden.request('terminal.attach', { ...ids, since: rep.end - 10 })) as TerminalReplay;
    expect(small).toMatchObject({ start: rep.end - 10, end: rep.end });
    // Its output can reach the tab before the shell's prompt mark ends the command.
    await until(() => term.isIdle(), 'the flood command to end');
    await term.runCommand('echo after-$((2+2))', { wait: true, timeoutMs: 10_000 });
    await until(() => hidden.data.some((d) => d.data.includes('after-4')), 'live output for the tab shown again');
    shown.link.close();
    hidden.link.close();
    expect(term.ui.isAttached).toBe(false);
    await term.kill();
  }, 90_000);
});
