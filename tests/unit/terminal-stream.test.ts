// The renderer's terminal stream (renderer/src/lib/terminalStream.ts) and its ack
// batcher, over a fake transport: what reaches the screen, in which order, what is
// read back for holes, and exactly how many bytes are acknowledged and when.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { TerminalReplay } from '../../shared/types';
import type { TerminalScreen } from '../../shared/contract/replay';
import { ACK_BYTES, ACK_DELAY_MS, AckBatcher } from '../../renderer/src/lib/ackBatcher';
import { TerminalStream, type ScreenPosition, type StreamSink } from '../../renderer/src/lib/terminalStream';
import { dropUtf8Prefix } from '../../renderer/src/lib/utf8';
import { deferred, FakeTransport, settle } from '../fixtures/fake-transport';

const IDS = { sessionId: 'sess1', terminalId: 'main' };
const bytesOf = (s: string) => Buffer.byteLength(s, 'utf8');

describe('AckBatcher', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('sends the bytes added within the delay as one ack when the delay ends', () => {
    const sent: number[] = [];
    const a = new AckBatcher((n) => sent.push(n));
    a.add(1000);
    a.add(2345);
    vi.advanceTimersByTime(ACK_DELAY_MS - 1);
    expect(sent).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(sent).toEqual([3345]);
    vi.advanceTimersByTime(10 * ACK_DELAY_MS);
    expect(sent).toEqual([3345]);
  });

  it('sends at once when ACK_BYTES are pending, and the timer then sends nothing more', () => {
    const sent: number[] = [];
    const a = new AckBatcher((n) => sent.push(n));
    a.add(ACK_BYTES - 1);
    expect(sent).toEqual([]);
    a.add(1);
    expect(sent).toEqual([ACK_BYTES]);
    vi.advanceTimersByTime(ACK_DELAY_MS);
    expect(sent).toEqual([ACK_BYTES]);
    a.add(ACK_BYTES + 7);
    expect(sent).toEqual([ACK_BYTES, ACK_BYTES + 7]);
  });

  it('ignores zero and negative counts, and sends nothing when nothing is pending', () => {
    const sent: number[] = [];
    const a = new AckBatcher((n) => sent.push(n));
    a.add(0);
    a.add(-5);
    a.flush();
    vi.advanceTimersByTime(ACK_DELAY_MS);
    expect(sent).toEqual([]);
  });

  it('dispose sends what is pending and ignores later bytes', () => {
    const sent: number[] = [];
    const a = new AckBatcher((n) => sent.push(n));
    a.add(10);
    a.dispose();
    expect(sent).toEqual([10]);
    a.add(20);
    vi.advanceTimersByTime(ACK_DELAY_MS);
    expect(sent).toEqual([10]);
  });
});

describe('dropUtf8Prefix', () => {
  it('drops whole bytes and never starts inside a character', () => {
    const s = 'a→b'; // a: byte 0, →: bytes 1-3, b: byte 4
    expect(dropUtf8Prefix(s, 0)).toBe(s);
    expect(dropUtf8Prefix(s, 1)).toBe('→b');
    expect(dropUtf8Prefix(s, 2)).toBe('b');
    expect(dropUtf8Prefix(s, 3)).toBe('b');
    expect(dropUtf8Prefix(s, 4)).toBe('b');
    expect(dropUtf8Prefix(s, 5)).toBe('');
    expect(dropUtf8Prefix('😀x', 1)).toBe('x');
  });
});

/** A screen that records writes; a write is "parsed" only when the test says so. */
function fakeSink() {
  const writes: string[] = [];
  const notes: string[] = [];
  const unparsed: Array<() => void> = [];
  const sink: StreamSink = {
    write(data, onParsed) {
      writes.push(data);
      if (onParsed) unparsed.push(onParsed);
    },
    note(text) {
      notes.push(text);
    },
  };
  const parseAll = () => {
    for (const cb of unparsed.splice(0)) cb();
  };
  return { sink, writes, notes, parseAll, unparsed };
}

const replay = (start: number, data: string, truncated = false): TerminalReplay => ({ ...IDS, start, end: start + bytesOf(data), data, truncated });
const screenAt = (offset: number, data: string): TerminalScreen => ({ ...IDS, offset, ts: null, cols: 80, rows: 24, data, keyframeOffset: 0, replayedBytes: offset, ms: 1 });
/** The page's SCREEN_WAIT_MS: how long it waits for the screen before painting the tail. */
const SCREEN_WAIT = 1500;
const chunk = (offset: number, data: string, ids = IDS) => ({ ...ids, offset, data, bytes: bytesOf(data) });

function setup(opts: { attach?: () => TerminalReplay | Promise<TerminalReplay>; screen?: ScreenPosition; recordedBytes?: number } = {}) {
  const t = new FakeTransport();
  t.handle('terminal.ack', () => ({ ok: true as const }));
  if (opts.attach) t.handle('terminal.attach', opts.attach);
  const s = fakeSink();
  const screen = opts.screen ?? { end: null };
  const errors: unknown[] = [];
  const stream = new TerminalStream(t, IDS, s.sink, screen, opts.recordedBytes ?? 0, (e) => errors.push(e));
  const acks = () => t.argsOf('terminal.ack').map((a) => a.bytes);
  return { t, stream, screen, errors, acks, ...s };
}

describe('TerminalStream', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('paints the replay, holds live chunks until it has, and acks only parsed live bytes', async () => {
    const attach = deferred<TerminalReplay>();
    const { t, writes, parseAll, acks, screen, unparsed } = setup({ attach: () => attach.promise });
    expect(t.argsOf('terminal.attach')).toEqual([{ ...IDS, maxBytes: 256 * 1024 }]);
    t.push('terminal.data', chunk(5, 'wörld')); // arrives before the attach answer
    t.push('terminal.data', chunk(11, '!', { ...IDS, terminalId: 'other' })); // another terminal's
    expect(writes).toEqual([]);
    attach.resolve(replay(0, 'hello'));
    await settle();
    expect(writes).toEqual(['hello', 'wörld']);
    expect(screen.end).toBe(11); // 'hello' 5 bytes + 'wörld' 6 bytes
    t.push('terminal.data', chunk(11, '→\r\n'));
    expect(writes).toEqual(['hello', 'wörld', '→\r\n']);
    expect(screen.end).toBe(16);
    // The replay write carries no ack; nothing is acked before xterm parsed it.
    expect(unparsed).toHaveLength(2);
    vi.advanceTimersByTime(ACK_DELAY_MS * 4);
    expect(acks()).toEqual([]);
    parseAll();
    vi.advanceTimersByTime(ACK_DELAY_MS);
    expect(acks()).toEqual([6 + 5]);
    expect(t.argsOf('terminal.ack')[0]).toEqual({ ...IDS, bytes: 11 });
  });

  it('does not paint or ack chunks of an earlier attachment that the replay already holds', async () => {
    const { t, writes, parseAll, acks } = setup({ attach: () => replay(0, 'abcdefghij') });
    await settle();
    t.push('terminal.data', chunk(4, 'efgh')); // ends at 8 <= 10
    t.push('terminal.data', chunk(6, 'ghij')); // ends at 10 <= 10
    expect(writes).toEqual(['abcdefghij']);
    parseAll();
    vi.advanceTimersByTime(ACK_DELAY_MS);
    expect(acks()).toEqual([]);
  });

  it('writes only the new part of a chunk overlapping the screen, cut on a character boundary, and acks the whole chunk', async () => {
    const { t, writes, parseAll, acks, screen } = setup({ attach: () => replay(0, 'ab→') }); // ends at 5
    await settle();
    t.push('terminal.data', chunk(2, '→€x')); // overlaps the 3 bytes of '→' already painted
    expect(writes).toEqual(['ab→', '€x']);
    expect(screen.end).toBe(2 + bytesOf('→€x'));
    parseAll();
    vi.advanceTimersByTime(ACK_DELAY_MS);
    expect(acks()).toEqual([bytesOf('→€x')]); // 7: what the host counted for this attachment
  });

  it('on a second attachment to the same screen, writes only what the screen lacks', async () => {
    const screen: ScreenPosition = { end: 5 };
    const { writes } = setup({ screen, attach: () => replay(0, 'hello, again') });
    await settle();
    expect(writes).toEqual([', again']);
    expect(screen.end).toBe(12);
  });

  it('reads a hole back from the recording before the chunk after it, holding chunks meanwhile', async () => {
    const read = deferred<TerminalReplay>();
    const { t, writes, parseAll, acks, screen } = setup({ attach: () => replay(0, 'hello') });
    t.handle('terminal.read', () => read.promise);
    await settle();
    t.push('terminal.data', chunk(100, 'later'));
    t.push('terminal.data', chunk(105, '!'));
    expect(t.argsOf('terminal.read')).toEqual([{ ...IDS, start: 5, end: 100 }]);
    expect(writes).toEqual(['hello']);
    read.resolve(replay(5, 'x'.repeat(95)));
    await settle();
    expect(writes).toEqual(['hello', 'x'.repeat(95), 'later', '!']);
    expect(screen.end).toBe(106);
    parseAll();
    vi.advanceTimersByTime(ACK_DELAY_MS);
    expect(acks()).toEqual([6]); // only the live chunks; the read-back hole is not owed
  });

  it('goes on with a note when the hole cannot be read', async () => {
    const { t, writes, notes, screen } = setup({ attach: () => replay(0, 'hello') });
    t.handle('terminal.read', () => {
      throw new Error('gone');
    });
    await settle();
    t.push('terminal.data', chunk(2053, 'tail'));
    await settle();
    expect(notes).toEqual(['2.0 KB of output could not be shown here; it is in the recording.']);
    expect(writes).toEqual(['hello', 'tail']);
    expect(screen.end).toBe(2057);
  });

  it('tolerates a chunk starting up to 4 bytes past the screen without reading a hole', async () => {
    const { t, writes } = setup({ attach: () => replay(0, 'hello') });
    t.handle('terminal.read', () => replay(5, ''));
    await settle();
    t.push('terminal.data', chunk(9, 'x'));
    expect(t.argsOf('terminal.read')).toEqual([]);
    expect(writes).toEqual(['hello', 'x']);
  });

  it('paints the tail of the recording when the terminal cannot be attached, with a note', async () => {
    const MB = 1024 * 1024;
    const t = new FakeTransport();
    t.handle('terminal.attach', () => {
      throw new Error('not live');
    });
    t.handle('terminal.read', (a) => replay(a.start, 'tail'));
    const s = fakeSink();
    const screen: ScreenPosition = { end: null };
    const errors: unknown[] = [];
    new TerminalStream(t, IDS, s.sink, screen, 5 * MB, (e) => errors.push(e));
    await settle();
    expect(t.argsOf('terminal.read')).toEqual([{ ...IDS, start: 1 * MB }]);
    expect(s.notes).toEqual(['Showing the last 4 B; 1.0 MB of earlier output is in the recording.']);
    expect(s.writes).toEqual(['tail']);
    expect(screen.end).toBe(MB + 4);
    expect(errors).toEqual([]);
  });

  it('reports the attach error when the recording cannot be read either', async () => {
    const t = new FakeTransport();
    const boom = new Error('not live');
    t.handle('terminal.attach', () => {
      throw boom;
    });
    const errors: unknown[] = [];
    new TerminalStream(t, IDS, fakeSink().sink, { end: null }, 10, (e) => errors.push(e));
    await settle();
    expect(t.argsOf('terminal.read')).toEqual([{ ...IDS, start: 0 }]); // no handler: fails
    expect(errors).toEqual([boom]);
  });

  it('paints the tail while the screen is being built and says so, then shows the screen at what is on screen by then, live chunks held until it is', async () => {
    const built = deferred<TerminalScreen>();
    const now = deferred<TerminalScreen>();
    const { t, writes, notes, screen, parseAll, acks } = setup({ attach: () => replay(1000, 'tail') });
    const asked = [built, now];
    t.handle('terminal.screen', () => asked.shift()!.promise);
    await settle();
    expect(t.argsOf('terminal.screen')).toEqual([{ ...IDS, offset: 1004 }]);
    expect(writes).toEqual([]);
    await vi.advanceTimersByTimeAsync(SCREEN_WAIT);
    expect(writes).toEqual(['tail']);
    expect(notes.at(-1)).toMatch(/^Building the screen index of this recording \(1004 B of output\): showing its last 4 B until the screen is ready/);
    t.push('terminal.data', chunk(1004, 'ab'));
    expect(writes).toEqual(['tail', 'ab']);
    // Built up to where it was asked: live output came since, so the screen at the end of it is asked for.
    built.resolve(screenAt(1004, 'OLD'));
    await settle();
    expect(t.argsOf('terminal.screen').map((a) => a.offset)).toEqual([1004, 1006]);
    t.push('terminal.data', chunk(1006, 'cd'));
    expect(writes).toEqual(['tail', 'ab']); // held: the screen at 1006 comes first
    now.resolve(screenAt(1006, 'SCREEN'));
    await settle();
    expect(writes).toEqual(['tail', 'ab', '\x1bcSCREEN', 'cd']);
    expect(screen.end).toBe(1008);
    expect(notes.at(-1)).toMatch(/^Showing the screen after 1006 B of output/);
    parseAll();
    vi.advanceTimersByTime(ACK_DELAY_MS);
    expect(acks()).toEqual([4]); // the live chunks, each once
  });

  it('shows a screen built late at once when nothing came since, asking again when a request fails, and says when it gives up', async () => {
    const first = deferred<TerminalScreen>();
    const { t, writes, notes } = setup({ attach: () => replay(1000, 'tail') });
    let n = 0;
    t.handle('terminal.screen', (a) => (++n === 1 ? first.promise : screenAt(a.offset!, 'SCREEN')));
    await settle();
    await vi.advanceTimersByTimeAsync(SCREEN_WAIT);
    first.reject(new Error('the keyframe worker stopped'));
    await settle();
    expect(t.argsOf('terminal.screen').map((a) => a.offset)).toEqual([1004, 1004]);
    expect(writes).toEqual(['tail', '\x1bcSCREEN']);
    expect(notes.at(-1)).toMatch(/^Showing the screen after 1004 B/);

    const never = setup({ attach: () => replay(1000, 'tail') });
    never.t.handle('terminal.screen', () => new Promise<TerminalScreen>((_, reject) => setTimeout(() => reject(new Error('damaged')), SCREEN_WAIT + 1)));
    await settle();
    await vi.advanceTimersByTimeAsync(SCREEN_WAIT * 4);
    expect(never.t.argsOf('terminal.screen')).toHaveLength(3);
    expect(never.writes).toEqual(['tail']);
    expect(never.notes.at(-1)).toBe('The screen could not be built (damaged); showing the raw output, the rest is in the recording.');
  });

  it('dispose unsubscribes, sends the pending ack, and ignores later chunks and parses', async () => {
    const { t, stream, writes, parseAll, acks } = setup({ attach: () => replay(0, '') });
    await settle();
    t.push('terminal.data', chunk(0, 'abc'));
    parseAll();
    expect(acks()).toEqual([]);
    expect(t.listenerCount('terminal.data')).toBe(1);
    stream.dispose();
    expect(t.listenerCount('terminal.data')).toBe(0);
    expect(acks()).toEqual([3]);
    t.push('terminal.data', chunk(3, 'def'));
    expect(writes).toEqual(['abc']);
  });
});
