// The renderer's timed replay (renderer/src/components/replay/replayController.ts)
// over a fake host: a seek paints the host's screen and plays on from its byte; frames
// come out at their recorded times divided by the speed; an idle gap plays as at most
// GAP_CAP_MS of recording, sped up like the rest (gapCost); windows are fetched one after the other and the end
// of the recording pauses; a seek during play drops what the old position fetched.
import { describe, expect, it } from 'vitest';
import { GAP_CAP_MS, ReplayController, SPEEDS, gapCost, type ReplaySink, type ReplaySource } from '../../renderer/src/components/replay/replayController';
import type { TerminalFrames, TerminalScreen } from '../../shared/contract/replay';

const T0 = 1_700_000_000_000;
/** 300 batches of 10 bytes, 100 ms apart, with an hour of silence after batch 99. */
const BATCHES = Array.from({ length: 300 }, (_, i) => ({ ts: T0 + i * 100 + (i >= 100 ? 3_600_000 : 0), offset: i * 10, text: `b${String(i).padStart(3, '0')}......`.slice(0, 10) }));
const TOTAL = 3000;

function fakeHost(windowFrames = 64): { source: ReplaySource; sink: ReplaySink & { shown: string; resets: number }; calls: string[] } {
  const calls: string[] = [];
  const sink = {
    shown: '',
    resets: 0,
    reset() {
      this.shown = '';
      this.resets++;
    },
    resize() {},
    write(d: string) {
      this.shown += d;
    },
  };
  const source: ReplaySource = {
    async screen(target): Promise<TerminalScreen> {
      const offset = 'offset' in target ? target.offset : (BATCHES.find((b) => b.ts >= target.at)?.offset ?? TOTAL);
      calls.push(`screen ${offset}`);
      const before = BATCHES.filter((b) => b.offset < offset);
      return { sessionId: 's', terminalId: 't', offset, ts: before.at(-1)?.ts ?? null, cols: 80, rows: 24, data: `[screen@${offset}]`, keyframeOffset: 0, replayedBytes: offset, ms: 1 };
    },
    async frames(start): Promise<TerminalFrames> {
      calls.push(`frames ${start}`);
      const frames = BATCHES.filter((b) => b.offset >= start).slice(0, windowFrames);
      const end = frames.length ? frames.at(-1)!.offset + 10 : TOTAL;
      return { sessionId: 's', terminalId: 't', start, end, frames, sizes: [], atEnd: end >= TOTAL };
    },
  };
  return { source, sink, calls };
}

async function settle(c: ReplayController): Promise<void> {
  for (let i = 0; i < 100 && !c.idle; i++) await new Promise((r) => setImmediate(r));
}

describe('replay controller', () => {
  it('plays at the recorded pace times the speed, caps idle gaps, and pauses at the end', async () => {
    const { source, sink } = fakeHost();
    const c = new ReplayController(source, sink);
    await c.seek({ offset: 0 });
    expect(sink.shown).toBe('[screen@0]');
    c.play();
    let now = 0;
    c.tick(now);
    // 1×: batch 0 at once (nothing shown before it), then one batch per 100 ms.
    expect(sink.shown).toBe('[screen@0]b000......');
    c.tick((now += 350));
    expect(c.state.offset).toBe(40);
    expect(c.state.ts).toBe(T0 + 300);
    // 8×: 800 ms of recording per 100 ms (plus the 50 ms left over from 1×).
    c.setSpeed(8);
    c.tick((now += 100));
    expect(c.state.offset).toBe(160);
    await settle(c);
    // Up to batch 99, then an hour of silence: at 8× that would be 7.5 minutes, cut to GAP_CAP_MS of recording (250 ms at 8×).
    c.tick((now += 1250));
    await settle(c);
    c.tick((now += 1));
    expect(c.state.offset).toBe(1000);
    // (A pause forgets the time owed.)
    c.pause();
    c.play();
    c.tick(now);
    c.tick((now += GAP_CAP_MS / 8 - 10));
    expect(c.state.offset).toBe(1000);
    c.tick((now += 20));
    expect(c.state.offset).toBe(1010);
    // 64× to the end: everything, in order, then paused at the end.
    c.setSpeed(64);
    for (let i = 0; i < 100 && !c.state.atEnd; i++) {
      c.tick((now += 100));
      await settle(c);
    }
    expect(c.state.atEnd).toBe(true);
    expect(c.state.playing).toBe(false);
    expect(c.state.offset).toBe(TOTAL);
    expect(sink.shown).toBe(`[screen@0]${BATCHES.map((b) => b.text).join('')}`);
  });

  it('cuts an idle gap to GAP_CAP_MS of recorded time, which every speed then speeds up', () => {
    expect(GAP_CAP_MS).toBe(2000);
    // An hour of silence: 2 s at 1×, 31 ms at 64×; a gap under the cap is only sped up.
    expect(SPEEDS.map((s) => gapCost(3_600_000, s))).toEqual([2000, 1000, 500, 250, 125, 62.5, 31.25]);
    expect(SPEEDS.map((s) => gapCost(1500, s))).toEqual(SPEEDS.map((s) => 1500 / s));
    expect(gapCost(GAP_CAP_MS, 4)).toBe(gapCost(GAP_CAP_MS * 100, 4));
    // Out-of-order times (a clock step back) cost nothing.
    expect(gapCost(-500, 1)).toBe(0);
  });

  for (const speed of [1, 8, 64]) {
    it(`plays an hour-long idle gap in GAP_CAP_MS / ${speed} of wall time at ${speed}×`, async () => {
      const { source, sink } = fakeHost(200);
      const c = new ReplayController(source, sink);
      // Right after batch 99, the last before the hour of silence.
      await c.seek({ offset: 1000 });
      c.setSpeed(speed);
      c.play();
      let now = 0;
      c.tick(now);
      expect(c.state.offset).toBe(1000);
      // Batch 100 comes an hour (and 100 ms) later: due once the capped gap has passed, not before.
      c.tick((now += GAP_CAP_MS / speed - 2));
      expect(c.state.offset).toBe(1000);
      c.tick((now += 2));
      expect(c.state.offset).toBe(1010);
      expect(sink.shown).toBe('[screen@1000]b100......');
    });
  }

  it('pausing stops the clock; a seek paints the screen there and plays on from it, dropping the old windows', async () => {
    const { source, sink, calls } = fakeHost(16);
    const c = new ReplayController(source, sink);
    await c.seek({ offset: 0 });
    c.play();
    c.tick(0);
    c.tick(500);
    expect(c.state.offset).toBe(60);
    c.pause();
    c.tick(10_000);
    expect(c.state.offset).toBe(60);
    // Seek by time into the second part, while playing.
    c.play();
    const seeking = c.seek({ at: T0 + 3_600_000 + 150 * 100 });
    await seeking;
    expect(sink.resets).toBe(2);
    expect(sink.shown).toBe('[screen@1500]');
    expect(c.state.offset).toBe(1500);
    expect(calls.at(-1)).toBe('frames 1500');
    c.tick(20_000);
    c.tick(20_250);
    expect(sink.shown).toBe('[screen@1500]b150......b151......');
    // And back.
    await c.seek({ offset: 60 });
    expect(sink.shown).toBe('[screen@60]');
    c.tick(30_000);
    c.tick(30_001);
    expect(sink.shown.startsWith('[screen@60]b006')).toBe(true);
  });
});
