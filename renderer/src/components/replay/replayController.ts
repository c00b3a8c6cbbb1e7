// Timed replay of a terminal recording, without the page ever holding the recording:
// a seek asks the host for the screen at a byte or a time (a keyframe plus a bounded
// replay, terminal.screen) and then plays windows of output (terminal.frames) with
// their recorded times, at 1× to 64×, each idle gap cut to GAP_CAP_MS of recorded
// time (gapCost). Plain TypeScript driven by `tick(now)`, so it is tested without a page.
import type { TerminalFrames, TerminalScreen } from '../../../../shared/contract/replay';

/**
 * The longest stretch of recorded time between two batches of output (sleeps, idle
 * shells): a longer gap plays as this much recording, so at 64× a 20-minute sleep takes
 * 31 ms of wall time, as every other second of the recording does at that speed.
 */
export const GAP_CAP_MS = 2000;
export const SPEEDS = [1, 2, 4, 8, 16, 32, 64] as const;

/** Wall time (ms) the replay waits for `gapMs` of recorded silence at `speed`: the gap cut to GAP_CAP_MS, then sped up. */
export function gapCost(gapMs: number, speed: number): number {
  return Math.min(Math.max(0, gapMs), GAP_CAP_MS) / speed;
}
/** Fetch the next window when fewer frames than this are left to play. */
const LOW_WATER_FRAMES = 2000;
const WINDOW_BYTES = 1024 * 1024;
/** The first window after a seek is smaller: playing starts sooner. */
const FIRST_WINDOW_BYTES = 256 * 1024;
/**
 * Most text written per tick: a recorded flood at 64× is more than a terminal can
 * draw, so past this the replay runs slower than asked instead of piling up writes.
 */
const MAX_TICK_CHARS = 256 * 1024;

export interface ReplaySink {
  /** Forget everything shown and take this size. */
  reset(cols: number, rows: number): void;
  resize(cols: number, rows: number): void;
  write(data: string): void;
}

export interface ReplaySource {
  screen(target: { offset: number } | { at: number }): Promise<TerminalScreen>;
  frames(start: number, maxBytes: number): Promise<TerminalFrames>;
}

export interface ReplayState {
  playing: boolean;
  speed: number;
  /** Every byte before this one is on the screen. */
  offset: number;
  /** Recorded time of the last byte shown (ms epoch), null before any. */
  ts: number | null;
  /** A seek is under way (its screen is not shown yet). */
  seeking: boolean;
  /** Played to the end of the recording as far as it was recorded. */
  atEnd: boolean;
  error: string | null;
}

interface Queued {
  ts: number;
  offset: number;
  text: string;
}

export class ReplayController {
  private st: ReplayState = { playing: false, speed: 1, offset: 0, ts: null, seeking: false, atEnd: false, error: null };
  private readonly listeners = new Set<(s: ReplayState) => void>();
  private queue: Queued[] = [];
  private head = 0;
  private sizes: TerminalFrames['sizes'] = [];
  /** Where the next window starts; null while none is known (before the first seek). */
  private nextStart: number | null = null;
  private fetching = false;
  private sourceAtEnd = false;
  /** Wall time owed to the frames ahead (ms). */
  private budget = 0;
  private lastTick: number | null = null;
  /** Bumped by every seek: answers to older requests are dropped. */
  private generation = 0;

  constructor(
    private readonly source: ReplaySource,
    private readonly sink: ReplaySink,
  ) {}

  get state(): ReplayState {
    return this.st;
  }

  subscribe(l: (s: ReplayState) => void): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  private set(patch: Partial<ReplayState>): void {
    this.st = { ...this.st, ...patch };
    for (const l of this.listeners) l(this.st);
  }

  /** Show the screen at a byte (or at a time) and play on from there. */
  async seek(target: { offset: number } | { at: number }): Promise<void> {
    const gen = ++this.generation;
    this.queue = [];
    this.head = 0;
    this.sizes = [];
    this.nextStart = null;
    this.sourceAtEnd = false;
    // A window still on its way belongs to the old position (its answer is dropped).
    this.fetching = false;
    this.budget = 0;
    this.set({ seeking: true, atEnd: false, error: null });
    try {
      const s = await this.source.screen(target);
      if (gen !== this.generation) return;
      this.sink.reset(s.cols, s.rows);
      this.sink.write(s.data);
      this.nextStart = s.offset;
      this.set({ offset: s.offset, ts: s.ts, seeking: false });
      await this.fill(gen);
    } catch (e) {
      if (gen === this.generation) this.set({ seeking: false, playing: false, error: e instanceof Error ? e.message : String(e) });
    }
  }

  play(): void {
    if (this.st.playing) return;
    this.lastTick = null;
    // At the end: play again from wherever the recording has got to (a live terminal grows).
    if (this.st.atEnd) {
      this.sourceAtEnd = false;
      this.set({ atEnd: false });
    }
    this.set({ playing: true });
    void this.fill(this.generation);
  }

  pause(): void {
    this.lastTick = null;
    this.budget = 0;
    this.set({ playing: false });
  }

  setSpeed(speed: number): void {
    this.set({ speed: Math.min(64, Math.max(1, speed)) });
  }

  /** Advance the replay to wall time `now` (ms): write every frame that is due. */
  tick(now: number): void {
    if (!this.st.playing || this.st.seeking) {
      this.lastTick = now;
      return;
    }
    const elapsed = this.lastTick === null ? 0 : Math.max(0, now - this.lastTick);
    this.lastTick = now;
    this.budget += elapsed;
    let out = '';
    let ts = this.st.ts;
    let offset = this.st.offset;
    while (this.head < this.queue.length) {
      const f = this.queue[this.head]!;
      const cost = ts === null ? 0 : gapCost(f.ts - ts, this.st.speed);
      if (cost > this.budget) break;
      this.budget -= cost;
      while (this.sizes.length && this.sizes[0]!.offset <= f.offset) {
        const c = this.sizes.shift()!;
        if (out) this.sink.write(out);
        out = '';
        this.sink.resize(c.cols, c.rows);
      }
      out += f.text;
      ts = f.ts;
      this.head++;
      offset = this.queue[this.head]?.offset ?? this.nextStart ?? offset;
      if (out.length >= MAX_TICK_CHARS) {
        this.budget = 0;
        break;
      }
    }
    if (out) this.sink.write(out);
    if (this.head >= this.queue.length) {
      // Waiting for the next window: the time spent waiting is not owed to it.
      this.budget = 0;
      if (this.sourceAtEnd && !this.fetching) {
        this.set({ offset, ts, playing: false, atEnd: true });
        return;
      }
    }
    if (ts !== this.st.ts || offset !== this.st.offset) this.set({ offset, ts });
    if (this.queue.length - this.head < LOW_WATER_FRAMES) void this.fill(this.generation);
  }

  /** Fetch the next window unless one is on its way or the recording has ended. */
  private async fill(gen: number): Promise<void> {
    if (this.fetching || this.sourceAtEnd || this.nextStart === null) return;
    this.fetching = true;
    try {
      const w = await this.source.frames(this.nextStart, this.queue.length === 0 ? FIRST_WINDOW_BYTES : WINDOW_BYTES);
      if (gen !== this.generation) return;
      if (this.head > 0) {
        this.queue = this.queue.slice(this.head);
        this.head = 0;
      }
      for (const f of w.frames) this.queue.push(f);
      this.sizes.push(...w.sizes);
      this.nextStart = w.end;
      if (w.atEnd) this.sourceAtEnd = true;
    } catch (e) {
      if (gen === this.generation) this.set({ playing: false, error: e instanceof Error ? e.message : String(e) });
    } finally {
      if (gen === this.generation) this.fetching = false;
    }
  }

  /** For tests: nothing fetched is still on its way. */
  get idle(): boolean {
    return !this.fetching && !this.st.seeking;
  }
}
