// Keyframes of terminal recordings (electron/core/pty/keyframes.ts): written as the
// recording is made, built lazily for a recording without them, repaired when torn,
// and the screen at any byte equal to replaying the whole recording from its start,
// for a full-screen program whose screen was drawn long before.
import { mkdtemp, open, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HeadlessScreen } from '../../electron/core/pty/headless-screen';
import { keyframesPath, TerminalKeyframes, type SizeChange } from '../../electron/core/pty/keyframes';
import { terminalKeyframes } from '../../electron/core/pty/session-keyframes';
import { terminalSizes } from '../../electron/core/session-trajectory';
import { TerminalRecording } from '../../electron/core/store/terminal-recording';
import { ptyWorkspace } from '../fixtures/shell-home';

const COLS = 80;
const ROWS = 24;
const INTERVAL = 32 * 1024;

/**
 * A top-like full-screen program: the alternate screen, a frame drawn once with cursor
 * addressing, DEC line drawing and colours, a scroll region where log lines scroll,
 * and a status line updated between DECSC / DECRC, then many KB of updates. Chunks as
 * a pty delivers them (cut anywhere, inside escape sequences and UTF-8 characters too).
 */
function fullScreenProgram(updates: number): Buffer[] {
  let s = '\x1b[?1049h\x1b[2J\x1b[H\x1b[?25l';
  s += `\x1b[1;1H\x1b[1;37;44m${' MONITOR '.padEnd(COLS, '═')}\x1b[0m`;
  s += `\x1b(0\x1b[2;1Hl${'q'.repeat(COLS - 2)}k\x1b(B`;
  for (let y = 3; y < ROWS - 1; y++) s += `\x1b[${y};1H\x1b(0x\x1b(B\x1b[${y};${COLS}H\x1b(0x\x1b(B`;
  s += `\x1b[${ROWS - 1};1H\x1b(0m${'q'.repeat(COLS - 2)}j\x1b(B`;
  s += `\x1b[3;${ROWS - 2}r\x1b[${ROWS - 2};2H`;
  for (let i = 0; i < updates; i++) {
    s += `\x1b[3${i % 7}m log line ${i} — ünïcødé ✓ ${'x'.repeat(i % 37)}\x1b[0m\r\n\x1b[2C`;
    if (i % 5 === 0) s += `\x1b7\x1b[${ROWS};1H\x1b[7m step ${i} \x1b[42m ok \x1b[0m\x1b[K\x1b8`;
    if (i % 97 === 0) s += `\x1b[2;${2 + (i % 60)}H\x1b[33m[${i}]\x1b[0m\x1b[${ROWS - 2};3H`;
  }
  const all = Buffer.from(s, 'utf8');
  const chunks: Buffer[] = [];
  let seed = 7;
  for (let at = 0; at < all.length; ) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    const n = 1 + (seed % 3000);
    chunks.push(all.subarray(at, at + n));
    at += n;
  }
  return chunks;
}

/** Snapshots of replaying the recording from its start, at each of `offsets` (ascending). */
async function fullReplay(bytes: Buffer, offsets: number[], sizes: readonly SizeChange[] = [{ offset: 0, cols: COLS, rows: ROWS }]): Promise<Map<number, { data: string; text: string[] }>> {
  const screen = new HeadlessScreen(sizes[0]!.cols, sizes[0]!.rows);
  const out = new Map<number, { data: string; text: string[] }>();
  let pos = 0;
  for (const target of offsets) {
    while (pos < target) {
      const next = sizes.find((c) => c.offset > pos)?.offset ?? Infinity;
      const size = [...sizes].reverse().find((c) => c.offset <= pos)!;
      screen.resize(size.cols, size.rows);
      const end = Math.min(target, next);
      await screen.write(bytes.subarray(pos, end));
      pos = end;
    }
    const size = [...sizes].reverse().find((c) => c.offset <= target)!;
    screen.resize(size.cols, size.rows);
    out.set(target, { data: screen.snapshot(), text: screen.text() });
  }
  screen.dispose();
  return out;
}

/** A screen as a person sees it: written into a fresh terminal of its size. */
async function shown(s: { data: string; cols: number; rows: number }): Promise<string[]> {
  const t = new HeadlessScreen(s.cols, s.rows);
  await t.write(s.data);
  const text = t.text();
  t.dispose();
  return text;
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'apollo-keyframes-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function record(chunks: Buffer[]): Promise<TerminalRecording> {
  const rec = await TerminalRecording.open(dir, 'main', false);
  let ts = 1_700_000_000_000;
  for (const c of chunks) rec.append(c, (ts += 10));
  await rec.flush();
  return rec;
}

function offsetsOf(total: number): number[] {
  const out = new Set<number>([0, 1, 5000, total - 1, total]);
  for (let i = 1; i < 40; i++) out.add(Math.floor((total * i) / 40) + (i % 3));
  return [...out].filter((o) => o >= 0 && o <= total).sort((a, b) => a - b);
}

describe('terminal keyframes', () => {
  it('are written as the recording is made, and the screen at any byte equals a full replay of a full-screen program', async () => {
    const chunks = fullScreenProgram(9000);
    const rec = await TerminalRecording.open(dir, 'main', false);
    const sizes = [{ offset: 0, cols: COLS, rows: ROWS }];
    const kf = await TerminalKeyframes.open(dir, 'main', rec, sizes, { interval: INTERVAL, durable: false });
    let ts = 1_700_000_000_000;
    for (const [i, c] of chunks.entries()) {
      rec.append(c, (ts += 10));
      kf.noteOutput();
      // What a live terminal's builder sees: output arriving while it builds.
      if (i % 20 === 0) await rec.flush();
    }
    await rec.flush();
    await kf.catchUp();
    const total = rec.size;
    expect(total).toBeGreaterThan(600 * 1024);
    const frames = kf.list();
    // About one keyframe per interval, each at most a little past it.
    expect(frames.length).toBeGreaterThanOrEqual(Math.floor(total / (INTERVAL * 1.25)));
    for (let i = 1; i < frames.length; i++) expect(frames[i]!.offset - frames[i - 1]!.offset).toBeLessThan(INTERVAL + 64 * 1024);
    await kf.flush();
    const st = await stat(keyframesPath(dir, 'main'));
    expect(st.mode & 0o777).toBe(0o600);

    const bytes = await rec.read(0, total);
    const offsets = offsetsOf(total);
    const expected = await fullReplay(bytes, offsets);
    for (const o of offsets) {
      const got = await kf.screenAt(o);
      expect(got.replayedBytes, `offset ${o}`).toBeLessThan(INTERVAL + 64 * 1024);
      expect(got.data, `serialized screen at ${o}`).toBe(expected.get(o)!.data);
      expect(await shown(got), `text at ${o}`).toEqual(expected.get(o)!.text);
    }
    // The frame drawn at the start is on the last screen, which the old tail replay (the last 256 KB) misses.
    const last = await shown(await kf.screenAt(total));
    expect(last[0]).toContain('MONITOR');
    const tail = new HeadlessScreen(COLS, ROWS);
    await tail.write(bytes.subarray(total - 256 * 1024));
    expect(tail.text()).not.toEqual(last);
    tail.dispose();
    await kf.close();
    await rec.close();
  });

  it('are built lazily for a recording made without them, and say so', async () => {
    const rec = await record(fullScreenProgram(4000));
    const total = rec.size;
    const kf = await TerminalKeyframes.open(dir, 'main', rec, [{ offset: 0, cols: COLS, rows: ROWS }], { interval: INTERVAL, durable: false });
    const told: string[] = [];
    kf.onReport = (m) => told.push(m);
    expect(kf.list()).toHaveLength(0);
    const mid = Math.floor(total * 0.7);
    const got = await kf.screenAt(mid);
    expect(told.join('\n')).toMatch(/had no keyframes .*building them from its recording, once/);
    expect(kf.list().length).toBeGreaterThan(3);
    expect(got.replayedBytes).toBeLessThan(INTERVAL + 64 * 1024);
    const expected = await fullReplay(await rec.read(0, total), [mid]);
    expect(got.data).toBe(expected.get(mid)!.data);
    await kf.close();
    // Reopened: the keyframes are there, nothing to say.
    const again = await TerminalKeyframes.open(dir, 'main', rec, [{ offset: 0, cols: COLS, rows: ROWS }], { interval: INTERVAL, durable: false });
    expect(again.list().length).toBe(kf.list().length);
    expect(again.repairs).toEqual([]);
    await again.close();
    await rec.close();
  });

  it('a torn or damaged keyframe file is cut back and built on, with the same screens', async () => {
    const rec = await record(fullScreenProgram(4000));
    const total = rec.size;
    const sizes = [{ offset: 0, cols: COLS, rows: ROWS }];
    const kf = await TerminalKeyframes.open(dir, 'main', rec, sizes, { interval: INTERVAL, durable: false });
    await kf.catchUp();
    const count = kf.list().length;
    const lastAt = kf.list()[count - 1]!.at;
    await kf.close();
    const path = keyframesPath(dir, 'main');

    // A crash tore the last record.
    await truncate(path, lastAt + 10);
    const torn = await TerminalKeyframes.open(dir, 'main', rec, sizes, { interval: INTERVAL, durable: false });
    expect(torn.repairs.join('\n')).toMatch(/cut short .*cut back to [\d,]+ keyframe\(s\)/);
    expect(torn.list()).toHaveLength(count - 1);
    await torn.catchUp();
    expect(torn.list()).toHaveLength(count);
    const expected = await fullReplay(await rec.read(0, total), [total]);
    expect((await torn.screenAt(total)).data).toBe(expected.get(total)!.data);
    await torn.close();

    // A flipped byte in a middle record: the CRC catches it, everything from there is rebuilt.
    const mid = kf.list()[Math.floor(count / 2)]!;
    const fh = await open(path, 'r+');
    await fh.write(Buffer.from([0x42]), 0, 1, mid.at + 3);
    await fh.close();
    const damaged = await TerminalKeyframes.open(dir, 'main', rec, sizes, { interval: INTERVAL, durable: false });
    expect(damaged.repairs.join('\n')).toMatch(/damaged at byte/);
    expect(damaged.list()).toHaveLength(Math.floor(count / 2));
    expect((await damaged.screenAt(total)).data).toBe(expected.get(total)!.data);
    await damaged.close();

    // Not a keyframe file at all.
    await writeFile(path, 'garbage');
    const garbage = await TerminalKeyframes.open(dir, 'main', rec, sizes, { interval: INTERVAL, durable: false });
    expect(garbage.repairs.join('\n')).toMatch(/unreadable/);
    expect((await garbage.screenAt(total)).data).toBe(expected.get(total)!.data);
    await garbage.close();
    await rec.close();
  });

  it('keyframes past the end of a recording that was cut are dropped', async () => {
    const chunks = fullScreenProgram(4000);
    const rec = await record(chunks);
    const sizes = [{ offset: 0, cols: COLS, rows: ROWS }];
    const kf = await TerminalKeyframes.open(dir, 'main', rec, sizes, { interval: INTERVAL, durable: false });
    await kf.catchUp();
    const frames = kf.list().slice();
    await kf.close();
    await rec.close();
    // The recording lost its last part (restored from an older copy).
    const keep = frames[2]!.offset + 100;
    await truncate(join(dir, 'main.out'), keep);
    const cut = await TerminalRecording.open(dir, 'main', false);
    const again = await TerminalKeyframes.open(dir, 'main', cut, sizes, { interval: INTERVAL, durable: false });
    expect(again.repairs.join('\n')).toMatch(/no longer has/);
    expect(again.list().map((f) => f.offset)).toEqual(frames.slice(0, 3).map((f) => f.offset));
    const expected = await fullReplay(await cut.read(0, cut.size), [cut.size]);
    expect((await again.screenAt(cut.size)).data).toBe(expected.get(cut.size)!.data);
    await again.close();
    await cut.close();
  });

  it('follows the terminal size through resizes', async () => {
    const chunks = fullScreenProgram(6000);
    const rec = await record(chunks);
    const total = rec.size;
    const sizes: SizeChange[] = [
      { offset: 0, cols: COLS, rows: ROWS },
      { offset: Math.floor(total / 3), cols: 100, rows: 30 },
      { offset: Math.floor((total * 2) / 3), cols: 60, rows: 20 },
    ];
    const kf = await TerminalKeyframes.open(dir, 'main', rec, sizes, { interval: INTERVAL, durable: false });
    const offsets = offsetsOf(total);
    const expected = await fullReplay(await rec.read(0, total), offsets, sizes);
    for (const o of offsets) {
      const got = await kf.screenAt(o);
      const size = [...sizes].reverse().find((c) => c.offset <= o)!;
      expect([got.cols, got.rows]).toEqual([size.cols, size.rows]);
      expect(got.data, `offset ${o}`).toBe(expected.get(o)!.data);
    }
    await kf.close();
    await rec.close();
  });
});

describe('keyframes of a live terminal', () => {
  const fx = ptyWorkspace('apollo-keyframes-live-', { '.bashrc': 'PS1="$ "\n' });

  it('are written beside its recording as it runs a full-screen program, across a resize, and its screen equals a full replay', async () => {
    const cwd = await mkdtemp(join(fx.root, 'work-'));
    const session = await fx.ws.create({ cwd });
    const host = fx.host({ events: { data: () => {}, changed: () => {} }, env: { ...process.env, HOME: fx.userHome } });
    // A program that draws its frame once, then prints ~700 KB of updates in two parts with a pause between.
    const script = join(cwd, 'monitor.cjs');
    const part = (from: number, to: number) =>
      `for (let i = ${from}; i < ${to}; i++) out += '\\x1b[3' + (i % 7) + 'm log ' + i + ' ' + 'x'.repeat(i % 50) + '\\x1b[0m\\r\\n' + (i % 5 === 0 ? '\\x1b7\\x1b[24;1H\\x1b[7m status ' + i + ' \\x1b[0m\\x1b8' : '');`;
    await writeFile(
      script,
      `let out = '\\x1b[?1049h\\x1b[2J\\x1b[1;1H\\x1b[1;44m LIVE-MONITOR \\x1b[0m\\x1b[3;22r\\x1b[22;1H';\n${part(0, 8000)}\nprocess.stdout.write(out);\n` +
        `process.stdin.once('data', () => { out = ''; ${part(8000, 11000)} process.stdout.write(out + 'DONE\\r\\n'); setTimeout(() => process.exit(0), 50); });\n`,
    );
    const t = await host.create(session, { id: 'mon', command: process.execPath, args: [script], cwd, cols: COLS, rows: ROWS });
    const dir = join(session.dir, 'terminals');
    const rec = await session.recording('mon');
    const k = await terminalKeyframes(session, 'mon');
    // The first part printed, then a resize, then the rest.
    await waitUntil(() => rec.size > 300 * 1024, `the first part (${rec.size} bytes so far)`);
    await waitUntil(() => k.list().length >= 1, 'a keyframe written while it runs');
    t.resize(100, 30);
    t.write('\r', 'human');
    await t.exited;
    await rec.flush();
    await k.catchUp();
    await k.flush();
    expect(k.list().length).toBeGreaterThanOrEqual(2);
    expect((await stat(keyframesPath(dir, 'mon'))).mode & 0o777).toBe(0o600);
    const sizes = terminalSizes(session, 'mon');
    expect(sizes.map((c) => [c.cols, c.rows])).toEqual([
      [COLS, ROWS],
      [100, 30],
    ]);
    // After the resize a keyframe has the new size.
    expect(k.list().some((f) => f.cols === 100 && f.rows === 30)).toBe(true);
    const bytes = await rec.read(0, rec.size);
    const offsets = [Math.floor(rec.size / 3), sizes[1]!.offset, rec.size];
    const expected = await fullReplay(bytes, offsets, sizes);
    for (const o of offsets) expect((await k.screenAt(o)).data, `offset ${o}`).toBe(expected.get(o)!.data);
    // Drawn once at the start, still on the screen when the resize came (which resets the scroll region, so the log then scrolls it away).
    const atResize = await shown(await k.screenAt(sizes[1]!.offset));
    expect(atResize[0]).toContain('LIVE-MONITOR');
    expect((await shown(await k.screenAt(rec.size))).join('\n')).toContain('DONE');
  }, 60_000);
});

async function waitUntil(cond: () => boolean, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
