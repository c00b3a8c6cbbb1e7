// Keyframes built in the keyframe worker (out/main/keyframe-worker.js, as `apollo serve`
// and the app run it) are the keyframes built in the host's own thread, byte for byte;
// a worker killed in the middle of a build is replaced, says so, and the build goes on
// from its last keyframe to the same file, while the recording takes every byte.
// Needs the build (`npx electron-vite build`).
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { keyframesPath, TerminalKeyframes } from '../../electron/core/pty/keyframes';
import { localEngine } from '../../electron/core/pty/screen-engine';
import { ScreenWorkers } from '../../electron/core/pty/screen-workers';
import { TerminalRecording } from '../../electron/core/store/terminal-recording';

const WORKER = resolve(__dirname, '../../out/main/keyframe-worker.js');
const COLS = 80;
const ROWS = 24;
const INTERVAL = 32 * 1024;
const SIZES = [{ offset: 0, cols: COLS, rows: ROWS }];

/** A full-screen program (alternate screen, scroll region, status line), cut into pty-sized chunks anywhere. */
function program(updates: number): Buffer[] {
  let s = `\x1b[?1049h\x1b[2J\x1b[1;1H\x1b[1;44m WORKER-MONITOR \x1b[0m\x1b[3;${ROWS - 2}r\x1b[${ROWS - 2};1H`;
  for (let i = 0; i < updates; i++) {
    s += `\x1b[3${i % 7}m line ${i} — ünïcødé ✓ ${'x'.repeat(i % 41)}\x1b[0m\r\n`;
    if (i % 5 === 0) s += `\x1b7\x1b[${ROWS};1H\x1b[7m status ${i} \x1b[0m\x1b[K\x1b8`;
  }
  const all = Buffer.from(s, 'utf8');
  const chunks: Buffer[] = [];
  for (let at = 0, n = 1; at < all.length; at += n, n = 1 + ((n * 7919 + 13) % 2900)) chunks.push(all.subarray(at, at + n));
  return chunks;
}

let pool: ScreenWorkers;
let dir: string;
beforeAll(() => {
  if (!existsSync(WORKER)) throw new Error(`${WORKER} is missing: run \`npx electron-vite build\` first`);
  pool = new ScreenWorkers(WORKER);
});
afterAll(async () => {
  await pool.close();
});
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'apollo-kf-worker-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The keyframe file the host's own thread builds for `bytes`. */
async function builtInThread(bytes: Buffer): Promise<Buffer> {
  const d = await mkdtemp(join(dir, 'local-'));
  const rec = await TerminalRecording.open(d, 'main', false);
  rec.append(bytes, 1_700_000_000_000);
  await rec.flush();
  const kf = await TerminalKeyframes.open(d, 'main', rec, SIZES, { interval: INTERVAL, durable: false, engine: localEngine });
  await kf.catchUp();
  await kf.close();
  await rec.close();
  return readFile(keyframesPath(d, 'main'));
}

describe('the keyframe worker', () => {
  it('builds the keyframes and screens the host thread builds, byte for byte', async () => {
    const rec = await TerminalRecording.open(dir, 'main', false);
    let ts = 1_700_000_000_000;
    for (const c of program(6000)) rec.append(c, (ts += 10));
    await rec.flush();
    const kf = await TerminalKeyframes.open(dir, 'main', rec, SIZES, { interval: INTERVAL, durable: false, engine: pool });
    await kf.catchUp();
    expect(kf.list().length).toBeGreaterThan(5);
    const local = await TerminalKeyframes.open(await mkdtemp(join(dir, 'cmp-')), 'main', rec, SIZES, { interval: INTERVAL, durable: false, engine: localEngine });
    for (const o of [0, 777, Math.floor(rec.size / 3), Math.floor(rec.size / 2) + 5, rec.size]) {
      expect((await kf.screenAt(o)).data, `screen at ${o}`).toBe((await local.screenAt(o)).data);
    }
    await kf.close();
    await local.close();
    const bytes = await rec.read(0, rec.size);
    await rec.close();
    expect((await readFile(keyframesPath(dir, 'main'))).equals(await builtInThread(bytes))).toBe(true);
  }, 60_000);

  it('killed in the middle of a live build: a new worker goes on from the last keyframe, said once, and the recording keeps every byte', async () => {
    const rec = await TerminalRecording.open(dir, 'main', false);
    const kf = await TerminalKeyframes.open(dir, 'main', rec, SIZES, { interval: INTERVAL, durable: false, engine: pool });
    const told: string[] = [];
    kf.onReport = (m) => told.push(m);
    const stopped: string[] = [];
    const off = pool.onStopped((m) => stopped.push(m));
    const starts = pool.starts;
    const chunks = program(9000);
    let ts = 1_700_000_000_000;
    const feed = async (part: Buffer[]): Promise<void> => {
      for (const [i, c] of part.entries()) {
        rec.append(c, (ts += 10));
        kf.noteOutput();
        if (i % 20 === 0) await rec.flush();
      }
      await rec.flush();
    };
    // Killed while the build is under way (a keyframe made, output left to parse), with more output to come.
    const cut = Math.floor(chunks.length * 0.4);
    await feed(chunks.slice(0, cut));
    await waitUntil(() => kf.list().length >= 2, 'two keyframes built in the worker');
    expect(kf.built).toBeLessThan(rec.size);
    await pool.kill();
    await feed(chunks.slice(cut));
    await waitUntil(() => told.length > 0 && kf.built === rec.size, 'the build to go on in a new worker');
    await kf.catchUp();
    off();
    expect(stopped).toHaveLength(1);
    expect(stopped[0]).toMatch(/keyframe worker stopped .*a new one starts/);
    expect(pool.starts).toBeGreaterThan(starts);
    expect(told.filter((m) => /interrupted by the keyframe worker stopping; a new worker goes on from its last keyframe/.test(m))).toHaveLength(1);
    const all = Buffer.concat(chunks);
    expect(rec.size).toBe(all.length);
    expect((await rec.read(0, rec.size)).equals(all)).toBe(true);
    const frames = kf.list().map((f) => f.offset);
    await kf.close();
    // The interrupted build left no gap and no half keyframe: reopened, nothing to repair, and
    // the screens equal those of one build in this thread (where live output cuts the reads,
    // keyframes may sit a few bytes elsewhere).
    const again = await TerminalKeyframes.open(dir, 'main', rec, SIZES, { interval: INTERVAL, durable: false, engine: pool });
    expect(again.repairs).toEqual([]);
    expect(again.list().map((f) => f.offset)).toEqual(frames);
    for (let i = 1; i < frames.length; i++) expect(frames[i]! - frames[i - 1]!).toBeLessThan(INTERVAL + 64 * 1024);
    expect(frames.at(-1)!).toBeGreaterThan(all.length - INTERVAL - 64 * 1024);
    const local = await TerminalKeyframes.open(await mkdtemp(join(dir, 'cmp-')), 'main', rec, SIZES, { interval: INTERVAL, durable: false, engine: localEngine });
    for (const o of [...frames.slice(0, 4), Math.floor(all.length / 2), all.length]) {
      expect((await again.screenAt(o)).data, `screen at ${o}`).toBe((await local.screenAt(o)).data);
    }
    await again.close();
    await local.close();
    await rec.close();
  }, 60_000);
});

async function waitUntil(cond: () => boolean, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
