// The replay commands through the contract (shared/contract/replay.ts) on a generated
// session, which has no keyframes (as one recorded before them): terminal.screen at
// every step is the full replay's screen, and says the keyframes were built once;
// terminal.frames windows, one after the other, give back every byte with the time the
// timing index has for it; terminal.replayInfo spans the recording with its steps.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSession, type GeneratedSession } from '../../electron/bench/generate';
import { ApolloCore } from '../../electron/core/app';
import { HeadlessScreen } from '../../electron/core/pty/headless-screen';
import { terminalSizes } from '../../electron/core/session-trajectory';
import { readEventLog } from '../../electron/core/store/event-log';
import { parseTiming } from '../../electron/core/store/terminal-recording';
import type { HostMessage } from '../../shared/contract/index';
import type { TerminalFrames, TerminalReplayInfo, TerminalScreen } from '../../shared/contract/replay';

let root: string;
let g: GeneratedSession;
let core: ApolloCore;
let call: (cmd: string, args: unknown) => Promise<{ ok: boolean; result?: unknown; error?: { code: string; message: string } }>;
let close: () => void;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'apollo-replay-'));
  g = await generateSession({ home: join(root, 'home'), steps: 40, hours: 1, terminalMb: 4, seed: 5 });
  core = await ApolloCore.open({ home: join(root, 'home'), resourcesDir: join(__dirname, '..', '..', 'resources'), host: 'web' });
  const waiting = new Map<number, (m: unknown) => void>();
  const c = core.connect((m: HostMessage) => {
    if (m.kind === 'res') waiting.get(m.id)?.(m);
  });
  let next = 1;
  call = (cmd, args) =>
    new Promise((resolve) => {
      const id = next++;
      waiting.set(id, resolve as (m: unknown) => void);
      void c.receive({ kind: 'req', id, cmd, args });
    });
  close = () => c.close();
}, 120_000);
afterAll(async () => {
  close();
  await core.close();
  await rm(root, { recursive: true, force: true });
});

describe('terminal replay through the contract', () => {
  it('terminal.screen at each step equals replaying the recording from its start; the keyframes are built once and said', async () => {
    const info = (await call('terminal.replayInfo', { sessionId: g.id, terminalId: g.trainTerminal })).result as TerminalReplayInfo;
    expect(info.bytes).toBe(g.terminals[g.trainTerminal]!.bytes);
    expect(info.startTs).not.toBeNull();
    expect(info.endTs!).toBeGreaterThan(info.startTs!);
    expect(info.markers.length).toBeGreaterThan(0);
    const withOffset = info.markers.filter((m) => m.offset !== null);
    expect(withOffset.length).toBeGreaterThan(0);

    const bytes = await readFile(join(g.dir, 'terminals', `${g.trainTerminal}.out`));
    const events = (await readEventLog(join(g.dir, 'events.jsonl'))).events;
    const sizes = terminalSizes({ events }, g.trainTerminal);
    const offsets = [...new Set(withOffset.map((m) => m.offset!).concat([bytes.length]))].sort((a, b) => a - b);
    const full = new HeadlessScreen(sizes[0]?.cols ?? 80, sizes[0]?.rows ?? 24);
    let pos = 0;
    for (const o of offsets) {
      await full.write(bytes.subarray(pos, o));
      pos = o;
      const r = await call('terminal.screen', { sessionId: g.id, terminalId: g.trainTerminal, offset: o });
      expect(r.ok, r.error?.message).toBe(true);
      const s = r.result as TerminalScreen;
      expect(s.offset).toBe(o);
      expect(s.replayedBytes).toBeLessThanOrEqual(600 * 1024);
      expect(s.data, `screen at ${o}`).toBe(full.snapshot());
    }
    full.dispose();
    const log = (await readEventLog(join(g.dir, 'events.jsonl'))).events;
    const said = log.filter((e) => e.type === 'warning' && /had no keyframes/.test(e.message));
    expect(said).toHaveLength(1);
    // By time: everything written before that moment.
    const mid = Math.floor((info.startTs! + info.endTs!) / 2);
    const t = (await call('terminal.screen', { sessionId: g.id, terminalId: g.trainTerminal, at: mid })).result as TerminalScreen;
    const timing = parseTiming(await readFile(join(g.dir, 'terminals', `${g.trainTerminal}.timing.jsonl`), 'utf8'));
    expect(t.offset).toBe(timing.find((e) => e.ts >= mid)!.offset);
    expect((await call('terminal.screen', { sessionId: g.id, terminalId: g.trainTerminal })).error?.code).toBe('BAD_REQUEST');
    expect((await call('terminal.screen', { sessionId: g.id, terminalId: 'nope', offset: 0 })).error?.code).toBe('NOT_FOUND');
  });

  it('terminal.frames windows give back every byte, each batch with its recorded time', async () => {
    const tid = g.trainTerminal;
    const bytes = await readFile(join(g.dir, 'terminals', `${tid}.out`));
    const timing = parseTiming(await readFile(join(g.dir, 'terminals', `${tid}.timing.jsonl`), 'utf8'));
    let start = 0;
    const texts: string[] = [];
    let windows = 0;
    for (;;) {
      const w = (await call('terminal.frames', { sessionId: g.id, terminalId: tid, start, maxBytes: 256 * 1024 })).result as TerminalFrames;
      expect(w.start).toBe(start);
      windows++;
      for (const f of w.frames) {
        const e = timing.find((x) => x.offset <= f.offset && f.offset < x.offset + x.length);
        expect(f.ts).toBe(e!.ts);
        texts.push(f.text);
      }
      if (w.atEnd) break;
      expect(w.end).toBeGreaterThan(start);
      start = w.end;
    }
    expect(windows).toBeGreaterThan(bytes.length / (256 * 1024) - 1);
    expect(texts.join('')).toBe(bytes.toString('utf8'));
    expect((await call('terminal.frames', { sessionId: g.id, terminalId: tid, start: 0, maxBytes: 64 * 1024 * 1024 })).error?.code).toBe('BAD_REQUEST');
  });

  // Last: it appends to the generated session's log.
  it('terminal.frames gives the resizes inside its window, a resize logged after earlier windows included', async () => {
    const tid = g.trainTerminal;
    const mid = Math.floor(g.terminals[tid]!.bytes / 2);
    const window = { sessionId: g.id, terminalId: tid, start: mid - 1000, maxBytes: 64 * 1024 };
    const before = (await call('terminal.frames', window)).result as TerminalFrames;
    expect(before.sizes.some((c) => c.offset === mid)).toBe(false);
    await (await core.session(g.id)).append({ type: 'terminal.resized', terminalId: tid, cols: 101, rows: 33, offset: mid });
    const after = (await call('terminal.frames', window)).result as TerminalFrames;
    expect(after.sizes).toContainEqual({ offset: mid, cols: 101, rows: 33 });
    // Outside the window it is not sent; the replay still starts at the size the terminal started with.
    const elsewhere = (await call('terminal.frames', { ...window, start: 0 })).result as TerminalFrames;
    expect(elsewhere.sizes.some((c) => c.offset === mid)).toBe(false);
    const info = (await call('terminal.replayInfo', { sessionId: g.id, terminalId: tid })).result as TerminalReplayInfo;
    expect([info.cols, info.rows]).not.toEqual([101, 33]);
  });
});
