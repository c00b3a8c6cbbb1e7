// Delivery of one terminal's output to the UI: batching, UTF-8-safe cutting and
// ack-based flow control. The recording is written elsewhere, before this, and
// never depends on the UI.
import { utf8SafeEnd, utf8SkipContinuation } from './strip-ansi';

export interface FlowOptions {
  /**
   * Batching: output is coalesced for up to `batchMs` or until `batchBytes` are
   * pending, whichever comes first. 16 ms is one frame at 60 Hz — the renderer cannot
   * paint more often, so waiting that long adds no visible latency while a flood
   * becomes ≤60 IPC messages per second instead of thousands of tiny ones. The byte
   * cap bounds the size of one message (and the memory held here) and is about what
   * xterm.js parses within one frame.
   */
  batchMs: number;
  batchBytes: number;
  /** Pause the pty when this many bytes were sent to the UI and not acknowledged. */
  highWatermark: number;
  /** Resume once unacknowledged bytes fall to this. */
  lowWatermark: number;
  /**
   * A UI that keeps the pty paused this long without acknowledging anything is
   * treated as stuck: the pty resumes (a rollout must never hang on a hidden tab)
   * and output to the UI is skipped until it catches up; the UI sees the jump in
   * `offset` and can fetch the gap from the recording.
   */
  stallMs: number;
}

export const DEFAULT_FLOW: FlowOptions = {
  batchMs: 16,
  batchBytes: 200 * 1024,
  highWatermark: 2 * 1024 * 1024,
  lowWatermark: 512 * 1024,
  stallMs: 10_000,
};

export interface UiBatch {
  data: string;
  /** Recording offset of the first byte of `data`. */
  offset: number;
  /** Raw bytes `data` was decoded from (what `ack` must give back). */
  bytes: number;
}

/**
 * Each emitted batch covers exactly the raw bytes [offset, offset + bytes): a batch
 * is cut before an incomplete UTF-8 character (whose bytes start the next batch), so
 * no character is ever split between two events and offsets stay exact. (Node's
 * StringDecoder does the same hold-back but hides how many bytes it holds, which
 * would blur the offsets the UI uses to join replay and live output.)
 */
export class UiStream {
  private attached = 0;
  private chunks: Buffer[] = [];
  private pendingBytes = 0;
  private pendingOffset = 0;
  private timer: NodeJS.Timeout | null = null;
  private stallTimer: NodeJS.Timeout | null = null;
  /** Bytes emitted and not yet acknowledged. */
  private unacked = 0;
  private paused = false;
  private lagging = false;
  /** The next batch follows a gap: skip a partial character at its start. */
  private resync = false;
  /** Totals, for tests and diagnostics. */
  readonly stats = { emittedBytes: 0, droppedBytes: 0, pauses: 0, stalls: 0 };

  constructor(
    private readonly opts: FlowOptions,
    private readonly emit: (batch: UiBatch) => void,
    /** Called when the UI wants the pty paused (true) or no longer does (false). */
    private readonly onPressure: (paused: boolean) => void,
  ) {}

  get isAttached(): boolean {
    return this.attached > 0;
  }

  get unackedBytes(): number {
    return this.unacked;
  }

  get isPaused(): boolean {
    return this.paused;
  }

  get isLagging(): boolean {
    return this.lagging;
  }

  attach(): void {
    if (this.attached++ === 0) this.reset();
  }

  detach(): void {
    if (this.attached === 0) return;
    if (--this.attached === 0) this.reset();
  }

  /** Output that was just recorded at `offset`. */
  push(chunk: Buffer, offset: number): void {
    if (this.attached === 0) return;
    if (this.lagging) {
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
    if (this.pendingBytes >= this.opts.batchBytes) this.flush(false);
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
    this.unacked += cut;
    this.stats.emittedBytes += cut;
    this.emit({ data: buf.subarray(0, cut).toString('utf8'), offset, bytes: cut });
    if (!this.paused && this.unacked >= this.opts.highWatermark) {
      this.paused = true;
      this.stats.pauses++;
      this.armStall();
      this.onPressure(true);
    }
  }

  ack(bytes: number): void {
    if (!(bytes > 0)) return;
    this.unacked = Math.max(0, this.unacked - bytes);
    if (this.unacked <= this.opts.lowWatermark) {
      if (this.lagging) {
        this.lagging = false;
        this.resync = true;
      }
      if (this.paused) {
        this.paused = false;
        this.clearStall();
        this.onPressure(false);
      }
    } else if (this.paused) {
      this.armStall(); // progress: the UI is slow, not stuck
    }
  }

  dispose(): void {
    this.flush(true);
    this.clearStall();
  }

  private armStall(): void {
    this.clearStall();
    this.stallTimer = setTimeout(() => {
      this.stallTimer = null;
      if (!this.paused) return;
      this.stats.stalls++;
      this.paused = false;
      this.lagging = true;
      this.dropPending();
      this.onPressure(false);
    }, this.opts.stallMs);
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
    this.unacked = 0;
    this.lagging = false;
    // A fresh stream may start inside a character cut by the previous reader.
    this.resync = true;
    if (this.paused) {
      this.paused = false;
      this.onPressure(false);
    }
  }
}
