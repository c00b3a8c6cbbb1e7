// Delivery of one terminal's output to the UI: batching, UTF-8-safe cutting and
// ack-based flow control. The recording is written elsewhere, before this, and
// never depends on the UI.
import { utf8SafeEnd, utf8SkipContinuation } from './strip-ansi';

export interface FlowOptions {
  /**
   * Batching: output is coalesced for up to `batchMs` or until `batchBytes` are
   * pending, whichever comes first. 16 ms is one frame at 60 Hz — the renderer cannot
   * paint more often — so a flood becomes ≤60 IPC messages per second instead of
   * thousands of tiny ones. Output after a quiet `batchMs` (a key's echo) goes at once:
   * waiting would only add to its latency. The byte cap bounds the size of one message
   * (and the memory held here).
   */
  batchMs: number;
  batchBytes: number;
  /** Pause the pty when this many bytes were sent to the UI and not acknowledged. */
  highWatermark: number;
  /** Resume once unacknowledged bytes fall to this. */
  lowWatermark: number;
  /**
   * The longest the pty waits for a UI at a time. A UI that keeps it paused this long
   * (stuck, or only slower than the program: a screen parses a few MB/s, `yes` prints
   * more) is skipped until it has caught up, and the pty resumes: the program never
   * runs slower than it would with no UI for more than this. The UI sees the jump in
   * `offset` and fetches the gap from the recording. Progress does not extend the wait.
   */
  stallMs: number;
  /**
   * A consumer that was skipped gets output again only once it has caught up *and* this
   * long after it was skipped: a screen that cannot keep up with a flood then shows it
   * a few times a second (each time its latest output) instead of parsing all it can,
   * which took a whole core from the program on a 2-core machine.
   */
  rejoinMs: number;
}

// Sized for a slow machine, where xterm parses 2-3 MB/s of dense output (`yes` on a
// busy 2-core VM): a batch is ~25 ms of parsing, and a screen is at most ~0.2 s of
// parsing behind, which is what a tab hidden during a flood still parses after it is
// hidden, and the longest a key's echo queues behind a flood shown in the same page.
// The stall: a screen must parse the 384 KB between the watermarks within 50 ms (~8 MB/s)
// to keep the program waiting for it, else it shows the flood once a second. At 100 ms
// (~4 MB/s) a screen that only just kept up held `yes` back at every pause: the flood
// ran at 0.76-0.93 of its speed with no UI on the 2-core VM (Chromium 1.2-2.1 s of CPU
// per 30 MB), at 50 ms 0.93-0.97 (1.0-1.1 s), with the same echo times.
export const DEFAULT_FLOW: FlowOptions = {
  batchMs: 16,
  batchBytes: 64 * 1024,
  highWatermark: 512 * 1024,
  lowWatermark: 128 * 1024,
  stallMs: 50,
  rejoinMs: 1000,
};

export interface UiBatch {
  data: string;
  /** Recording offset of the first byte of `data`. */
  offset: number;
  /** Raw bytes `data` was decoded from (what `ack` must give back). */
  bytes: number;
}

/** The consumer of callers that know only one (tests, a single UI). */
export const DEFAULT_CONSUMER = 'ui';

/** What one consumer (a client showing the terminal) has been sent and not acknowledged. */
interface Account {
  readonly id: string;
  unacked: number;
  /** Skipped until it catches up: it is sent nothing, and sees the gap in `offset`. */
  lagging: boolean;
  /** Set while it is too soon after a skip to rejoin; it fires when it no longer is. */
  rejoinTimer: NodeJS.Timeout | null;
}

/**
 * Each emitted batch covers exactly the raw bytes [offset, offset + bytes): a batch
 * is cut before an incomplete UTF-8 character (whose bytes start the next batch), so
 * no character is ever split between two events and offsets stay exact. (Node's
 * StringDecoder does the same hold-back but hides how many bytes it holds, which
 * would blur the offsets the UI uses to join replay and live output.)
 *
 * Consumers are the clients showing the terminal right now (a hidden tab detaches,
 * and catches up from the recording when shown). Each has its own account of bytes
 * owed. The pty is held back only for the *lead*, the earliest attached consumer
 * that keeps up, and at most `stallMs` at a time: a consumer that falls a high
 * watermark behind (or a lead that keeps the pty waiting that long) is skipped until
 * it has caught up, so no consumer can slow the shell or another for long.
 */
export class UiStream {
  /** In attach order: the first one that is not lagging leads flow control. */
  private readonly consumers = new Map<string, Account>();
  private chunks: Buffer[] = [];
  private pendingBytes = 0;
  private pendingOffset = 0;
  /** Recording offset just past the latest output pushed. */
  private end = 0;
  private timer: NodeJS.Timeout | null = null;
  /** When the last batch went out (ms epoch): output after a quiet spell is not held. */
  private lastEmitAt = -Infinity;
  private stallTimer: NodeJS.Timeout | null = null;
  private paused = false;
  /** The next batch follows a gap: skip a partial character at its start. */
  private resync = false;
  /** Totals, for tests and diagnostics. */
  readonly stats = { emittedBytes: 0, droppedBytes: 0, pauses: 0, stalls: 0 };

  constructor(
    private readonly opts: FlowOptions,
    private readonly emit: (batch: UiBatch, consumers: readonly string[]) => void,
    /** Called when the UI wants the pty paused (true) or no longer does (false). */
    private readonly onPressure: (paused: boolean) => void,
  ) {}

  get isAttached(): boolean {
    return this.consumers.size > 0;
  }

  /** Bytes the lead (else the first consumer) owes. */
  get unackedBytes(): number {
    return (this.lead() ?? this.consumers.values().next().value)?.unacked ?? 0;
  }

  get isPaused(): boolean {
    return this.paused;
  }

  /** Every consumer is being skipped (none keeps up). */
  get isLagging(): boolean {
    return this.consumers.size > 0 && this.lead() === undefined;
  }

  /** The account of one consumer, for tests and diagnostics. */
  account(consumer: string): { unacked: number; lagging: boolean } | undefined {
    const a = this.consumers.get(consumer);
    return a && { unacked: a.unacked, lagging: a.lagging };
  }

  /**
   * `consumer` shows the terminal from the current recording offset on (attaching
   * again starts its account afresh). What is pending goes out to the others first:
   * it lies before that offset, in the replay the consumer paints.
   */
  attach(consumer: string = DEFAULT_CONSUMER): void {
    if (this.consumers.size === 0 || (this.consumers.size === 1 && this.consumers.has(consumer))) this.reset();
    else {
      this.forget(consumer);
      this.flush(false);
    }
    this.consumers.set(consumer, { id: consumer, unacked: 0, lagging: false, rejoinTimer: null });
    this.settle();
  }

  detach(consumer: string = DEFAULT_CONSUMER): void {
    if (!this.forget(consumer)) return;
    if (this.consumers.size === 0) this.reset();
    else this.settle();
  }

  /** Output that was just recorded at `offset`. */
  push(chunk: Buffer, offset: number): void {
    if (this.consumers.size === 0) return;
    this.end = offset + chunk.length;
    if (this.lead() === undefined) {
      // Nobody keeps up: keep nothing (each catches up from the recording).
      this.stats.droppedBytes += chunk.length;
      this.dropPending();
      this.resync = true;
      return;
    }
    if (this.pendingBytes > 0 && this.pendingOffset + this.pendingBytes !== offset) {
      // Not contiguous (should not happen): emit what we have first.
      this.flush(true);
    }
    if (this.pendingBytes === 0) this.pendingOffset = offset;
    this.chunks.push(chunk);
    this.pendingBytes += chunk.length;
    if (this.pendingBytes >= this.opts.batchBytes || (this.timer === null && Date.now() - this.lastEmitAt >= this.opts.batchMs)) this.flush(false);
    else this.timer ??= setTimeout(() => this.flush(false), this.opts.batchMs);
  }

  /** Emit pending output now; `final` also emits a trailing partial character. */
  flush(final: boolean): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.pendingBytes === 0) return;
    let buf = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.pendingBytes);
    let offset = this.pendingOffset;
    if (this.resync) {
      const skip = utf8SkipContinuation(buf);
      buf = buf.subarray(skip);
      offset += skip;
      this.resync = false;
    }
    const cut = final ? buf.length : utf8SafeEnd(buf);
    const rest = buf.subarray(cut);
    this.chunks = rest.length > 0 ? [Buffer.from(rest)] : [];
    this.pendingBytes = rest.length;
    this.pendingOffset = offset + cut;
    if (cut === 0) return;
    const to: string[] = [];
    for (const [id, a] of this.consumers) {
      if (a.lagging) continue;
      a.unacked += cut;
      to.push(id);
    }
    if (to.length === 0) {
      this.stats.droppedBytes += cut;
      this.resync = true;
      return;
    }
    this.stats.emittedBytes += cut;
    this.lastEmitAt = Date.now();
    this.emit({ data: buf.subarray(0, cut).toString('utf8'), offset, bytes: cut }, to);
    this.settle();
  }

  /** `consumer` has processed `bytes` more of what it was sent. */
  ack(bytes: number, consumer: string = DEFAULT_CONSUMER): void {
    const a = this.consumers.get(consumer);
    if (!a || !(bytes > 0)) return;
    a.unacked = Math.max(0, a.unacked - bytes);
    this.maybeRejoin(a);
    this.settle();
  }

  dispose(): void {
    this.flush(true);
    this.clearStall();
  }

  private lead(): Account | undefined {
    for (const a of this.consumers.values()) if (!a.lagging) return a;
    return undefined;
  }

  /**
   * Skip every consumer but the lead that is a high watermark behind, and hold the
   * pty back exactly while the lead is (until it is down to the low watermark).
   */
  private settle(): void {
    const lead = this.lead();
    for (const a of this.consumers.values()) if (a !== lead && !a.lagging && a.unacked >= this.opts.highWatermark) this.skip(a);
    const want = lead !== undefined && (this.paused ? lead.unacked > this.opts.lowWatermark : lead.unacked >= this.opts.highWatermark);
    if (want === this.paused) return;
    this.paused = want;
    if (want) {
      this.stats.pauses++;
      this.armStall();
    } else this.clearStall();
    this.onPressure(want);
  }

  private armStall(): void {
    this.clearStall();
    this.stallTimer = setTimeout(() => {
      this.stallTimer = null;
      const lead = this.lead();
      if (!this.paused || lead === undefined) return;
      // The lead kept the pty waiting this long: skip it until it has caught up.
      this.stats.stalls++;
      this.skip(lead);
      if (this.lead() === undefined) this.dropPending();
      this.paused = false;
      this.onPressure(false);
      this.settle(); // the next consumer that keeps up may lead now
    }, this.opts.stallMs);
  }

  private skip(a: Account): void {
    a.lagging = true;
    if (a.rejoinTimer) clearTimeout(a.rejoinTimer);
    a.rejoinTimer = null;
    if (this.opts.rejoinMs <= 0) return;
    // The timer both ends the wait and rejoins it if it caught up meanwhile, with no ack left to come.
    a.rejoinTimer = setTimeout(() => {
      a.rejoinTimer = null;
      if (this.maybeRejoin(a)) this.settle();
    }, this.opts.rejoinMs);
  }

  /** Caught up, and long enough after it was skipped: it gets live output again, past a gap it reads from the recording. */
  private maybeRejoin(a: Account): boolean {
    if (!a.lagging || a.unacked > this.opts.lowWatermark || a.rejoinTimer !== null) return false;
    a.lagging = false;
    // Nothing pending to show it the gap (the program may have stopped printing): an
    // empty batch at the end of the output does, and the consumer reads the gap back.
    if (this.pendingBytes === 0) this.emit({ data: '', offset: this.end, bytes: 0 }, [a.id]);
    return true;
  }

  /** Drop a consumer's account (and its timer); false when it had none. */
  private forget(consumer: string): boolean {
    const a = this.consumers.get(consumer);
    if (!a) return false;
    if (a.rejoinTimer) clearTimeout(a.rejoinTimer);
    return this.consumers.delete(consumer);
  }

  private clearStall(): void {
    if (this.stallTimer) {
      clearTimeout(this.stallTimer);
      this.stallTimer = null;
    }
  }

  private dropPending(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    this.stats.droppedBytes += this.pendingBytes;
    this.chunks = [];
    this.pendingBytes = 0;
  }

  /** Nothing is buffered or owed for a UI that is not there. */
  private reset(): void {
    this.dropPending();
    this.clearStall();
    for (const id of [...this.consumers.keys()]) this.forget(id);
    // A fresh stream may start inside a character cut by the previous reader.
    this.resync = true;
    if (this.paused) {
      this.paused = false;
      this.onPressure(false);
    }
  }
}
