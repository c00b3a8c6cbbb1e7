// Bench rows of terminal keyframes and timed replay (issue 10 items 4 and 5), through
// the contract as the renderer asks: the screen at every step of the generated session
// (p50 / p95 / max) beside replaying each recording from its start to the step, the
// one-time build of the keyframes of a session recorded without them, and a replay seek
// (the screen at a time plus its first window of frames).
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { HostMessage } from '../../shared/contract/index';
import type { TerminalFrames, TerminalReplayInfo, TerminalScreen } from '../../shared/contract/replay';
import { ApolloCore } from '../core/app';
import { resourcesDir } from '../core/paths';
import { HeadlessScreen } from '../core/pty/headless-screen';
import { keyframesPath } from '../core/pty/keyframes';
import { median, percentile } from './measure';
import { line, ms } from './session';

/** Most steps measured per terminal (sampled evenly); every step at the default size. */
const MAX_STEPS = 600;
const GOAL_MS = 150;

export async function benchReplay(home: string, id: string, dir: string): Promise<void> {
  const tdir = join(dir, 'terminals');
  const terminals = (await readdir(tdir)).filter((f) => f.endsWith('.out')).map((f) => f.slice(0, -4));
  // Measured as for a session recorded before keyframes: built on the first screen asked for.
  await Promise.all(terminals.map((t) => rm(keyframesPath(tdir, t), { force: true })));
  const core = await ApolloCore.open({ home, resourcesDir: resourcesDir(), host: 'web', samples: false });
  const waiting = new Map<number, (m: { ok: boolean; result?: unknown; error?: { message: string } }) => void>();
  const conn = core.connect((m: HostMessage) => {
    if (m.kind === 'res') waiting.get(m.id)?.(m as never);
  });
  let next = 1;
  const call = <T>(cmd: string, args: unknown): Promise<T> =>
    new Promise((resolve, reject) => {
      const rid = next++;
      waiting.set(rid, (m) => (m.ok ? resolve(m.result as T) : reject(new Error(`${cmd}: ${m.error?.message}`))));
      void conn.receive({ kind: 'req', id: rid, cmd, args });
    });
  try {
    const times: number[] = [];
    let buildMs = 0;
    let keyframeBytes = 0;
    let recordingBytes = 0;
    let fullReplay: number[] = [];
    let readBytes: number[] = [];
    for (const t of terminals) {
      const info = await call<TerminalReplayInfo>('terminal.replayInfo', { sessionId: id, terminalId: t });
      if (info.bytes === 0) continue;
      recordingBytes += info.bytes;
      const b0 = performance.now();
      await call<TerminalScreen>('terminal.screen', { sessionId: id, terminalId: t, offset: info.bytes });
      buildMs += performance.now() - b0;
      keyframeBytes += (await stat(keyframesPath(tdir, t))).size;
      const offsets = info.markers.filter((m) => m.offset !== null).map((m) => m.offset!);
      const step = Math.max(1, Math.ceil(offsets.length / MAX_STEPS));
      for (let i = 0; i < offsets.length; i += step) {
        const t0 = performance.now();
        const s = await call<TerminalScreen>('terminal.screen', { sessionId: id, terminalId: t, offset: offsets[i]! });
        times.push(performance.now() - t0);
        if (s.offset !== Math.min(offsets[i]!, info.bytes)) throw new Error(`terminal.screen at ${offsets[i]} answered for ${s.offset}`);
      }
      // Baselines, for the three steps at a quarter, half and three quarters of the recording.
      if (offsets.length >= 3) {
        const bytes = await readFile(join(tdir, `${t}.out`));
        for (const q of [0.25, 0.5, 0.75]) {
          const at = offsets[Math.floor(offsets.length * q)]!;
          const r0 = performance.now();
          const screen = new HeadlessScreen(info.cols, info.rows);
          for (let p = 0; p < at; p += 1 << 20) await screen.write(bytes.subarray(p, Math.min(at, p + (1 << 20))));
          screen.snapshot();
          screen.dispose();
          fullReplay.push(performance.now() - r0);
          const c0 = performance.now();
          await readFile(join(tdir, `${t}.out`)).then((b) => b.subarray(0, at));
          readBytes.push(performance.now() - c0);
        }
      }
    }
    fullReplay = fullReplay.length ? fullReplay : [NaN];
    readBytes = readBytes.length ? readBytes : [NaN];
    const max = Math.max(...times);
    line('screen at a step (keyframe + bounded replay)', ms(median(times)), ms(median(fullReplay)), `${(median(fullReplay) / median(times)).toFixed(0)}× faster (goal < ${GOAL_MS} ms)`,
      `${times.length} steps: p95 ${ms(percentile(times, 0.95))}, max ${ms(max)}; baseline: replaying the recording from its start to the step (median of 3; reading those bytes alone ${ms(median(readBytes))})`);
    line('keyframes: build for a session without them', ms(buildMs), ms(median(fullReplay)), `${(keyframeBytes / 1e6).toFixed(1)} MB`,
      `once, for ${(recordingBytes / 1e6).toFixed(0)} MB of recordings (${((keyframeBytes / recordingBytes) * 100).toFixed(2)}% beside them), then written as recorded`);

    // A replay seek: the screen at a time, then the first window to play from it.
    const seeks: number[] = [];
    const main = terminals.map((t) => ({ t, size: 0 }));
    for (const m of main) m.size = (await stat(join(tdir, `${m.t}.out`))).size;
    const biggest = main.sort((a, b) => b.size - a.size)[0]!.t;
    const info = await call<TerminalReplayInfo>('terminal.replayInfo', { sessionId: id, terminalId: biggest });
    for (let k = 0; k < 50; k++) {
      const at = info.startTs! + ((info.endTs! - info.startTs!) * (k + 0.5)) / 50;
      const t0 = performance.now();
      const s = await call<TerminalScreen>('terminal.screen', { sessionId: id, terminalId: biggest, at });
      // The first window a replay asks for after a seek.
      await call<TerminalFrames>('terminal.frames', { sessionId: id, terminalId: biggest, start: s.offset, maxBytes: 256 * 1024 });
      seeks.push(performance.now() - t0);
    }
    line('replay seek (screen at a time + first frames)', ms(median(seeks)), '—', `p95 ${ms(percentile(seeks, 0.95))}`, `50 seeks across the ${(info.bytes / 1e6).toFixed(0)} MB recording of ${biggest}, max ${ms(Math.max(...seeks))}`);
    if (max >= GOAL_MS) console.log(`  *** screen at a step took up to ${ms(max)}: over the ${GOAL_MS} ms goal`);
  } finally {
    conn.close();
    await core.close();
  }
}
