// The output of one terminal as a screen receives it: what was written before it
// attached, then the live `terminal.data` chunks that follow, in recording order and
// without holes or repeats.
//
// Before: `terminal.attach` answers with at most RAW_CATCHUP_BYTES of raw output
// ending where live data starts. When that reaches back to what the screen has (a
// short terminal, a tab hidden briefly) it is painted, scrollback included. When more
// was written, the screen paints the serialized screen at exactly the replay's end
// (`terminal.screen`: one keyframe plus a bounded replay on the host) instead of
// megabytes of raw output, which were slow to parse and, for a full-screen program
// drawn long before, wrong. The raw tail is painted when the host has no screen to
// give in time: a recording made before keyframes has them built on the first screen
// asked for. The page then says the screen is being built, and once it is, replaces
// the tail with the screen at what is on screen by then (live chunks held meanwhile,
// so the two join at the seam).
//
// Flow control: every live chunk of *this* attachment is acknowledged exactly once,
// after xterm has parsed it (its write callback). Chunks that end at or before the
// replay's end come from an earlier attachment of this connection, whose account the
// host reset when we attached again: they are already on screen and are not
// acknowledged (that would pay off bytes this attachment still owes).
//
// Holes: a renderer that falls behind (a flood faster than xterm parses, a page that
// stops acknowledging) makes the host skip output rather than hold the pty back; the
// next chunk then starts past what is on screen, and the missing bytes (their last
// 256 KB at most) are read from the recording before going on.
//
// A stream lives while its screen is shown: hidden, the screen detaches (the host
// sends it nothing and the recording keeps everything); shown again, a new stream
// attaches with `since` = what the screen has, and the replay brings it up to date.
import type { PushEvents } from '../../../shared/contract/index';
import type { TerminalScreen } from '../../../shared/contract/replay';
import type { TerminalReplay } from '../../../shared/types';
import type { Transport } from '../../../shared/transport';
import { AckBatcher } from './ackBatcher';
import { formatBytes } from './format';
import { dropUtf8Prefix } from './utf8';

type DataMsg = PushEvents['terminal.data'];

/** Where the screen stands in the recording: shared by the streams of one screen, one after another. */
export interface ScreenPosition {
  /** Recording offset up to which output is on screen; null before anything was painted. */
  end: number | null;
}

export interface StreamSink {
  write(data: string, onParsed?: () => void): void;
  /** Earlier output is not on screen (only in the recording). */
  note(text: string): void;
}

/** A live chunk may start up to one UTF-8 character past what is on screen (the host never splits characters). */
const RESYNC_BYTES = 4;
/**
 * Most bytes of a hole read back from the recording: a few thousand lines of ordinary
 * output. A hole is what a screen missed while it could not keep up (a flood); more
 * would be parsed only to scroll away while the flood goes on.
 */
const HOLE_MAX_BYTES = 256 * 1024;
/** How much history to paint for a recorded terminal the host cannot attach to. */
const RECORDED_REPLAY_BYTES = 4 * 1024 * 1024;
/** Up to this far behind, a screen is caught up with the raw output (cheap to parse, keeps scrollback). */
const RAW_CATCHUP_BYTES = 256 * 1024;
/**
 * How long to wait for the screen before painting the tail: a recording made before
 * keyframes has them built on the first screen asked for, which can take minutes for
 * hundreds of MB. The request goes on; its answer replaces the tail.
 */
const SCREEN_WAIT_MS = 1500;
/** Requests of a screen being built before giving up on it (a keyframe worker that stopped fails the calls in flight). */
const SCREEN_TRIES = 3;

/**
 * The attaches and detaches of each terminal, in the order they were asked: the host
 * handles a request as it arrives and an attach takes a while (it reads the replay),
 * so a detach sent behind it could otherwise overtake it, or a stale detach undo the
 * next attach of a tab shown, hidden and shown again quickly.
 */
const attachQueues = new WeakMap<Transport, Map<string, Promise<unknown>>>();

function inOrder<T>(transport: Transport, ids: { sessionId: string; terminalId: string }, f: () => Promise<T>): Promise<T> {
  let queues = attachQueues.get(transport);
  if (!queues) attachQueues.set(transport, (queues = new Map()));
  const key = `${ids.sessionId}\0${ids.terminalId}`;
  const prev = queues.get(key);
  const next = prev ? prev.then(f, f) : f();
  const tail = next.catch(() => undefined);
  queues.set(key, tail);
  void tail.then(() => {
    if (queues.get(key) === tail) queues.delete(key);
  });
  return next;
}

export class TerminalStream {
  private readonly acker: AckBatcher;
  private readonly offData: () => void;
  private disposed = false;
  /** Offset live data of this attachment starts at; null until attach answered. */
  private liveFrom: number | null = null;
  /** Chunks held while the replay or a hole is being read. */
  private held: DataMsg[] = [];
  private reading = true;
  /** A screen was built after the tail was painted: fetch it at what is on screen once nothing else is being read. */
  private screenDue = false;

  constructor(
    private readonly transport: Transport,
    private readonly ids: { sessionId: string; terminalId: string },
    private readonly sink: StreamSink,
    private readonly screen: ScreenPosition,
    /** Recording size known from the terminal's info (for the recorded fallback). */
    recordedBytes: number,
    onError: (err: unknown) => void,
  ) {
    this.acker = new AckBatcher((bytes) => {
      transport.request('terminal.ack', { ...ids, bytes }).catch(() => {
        /* the terminal may be gone; nothing to acknowledge any more */
      });
    });
    this.offData = transport.on('terminal.data', (msg) => {
      if (msg.sessionId === ids.sessionId && msg.terminalId === ids.terminalId) this.onChunk(msg);
    });
    // A screen that was painted before (hidden, now shown again) needs only what came since.
    const since = screen.end === null ? {} : { since: screen.end };
    inOrder(transport, ids, () => transport.request('terminal.attach', { ...ids, ...since, maxBytes: RAW_CATCHUP_BYTES }))
      .then(async (replay) => {
        if (replay.start <= (screen.end ?? 0)) return this.onReplay(replay, true);
        const { painted, building } = await this.screenInstead(replay);
        if (this.disposed) return;
        this.onReplay(painted, true);
        if (building) void this.whenBuilt(building, replay);
      })
      .catch(async (err: unknown) => {
        if (this.disposed) return;
        // A recorded terminal may not be attachable: paint the tail of its recording instead.
        try {
          const start = Math.max(0, recordedBytes - RECORDED_REPLAY_BYTES);
          this.onReplay(await transport.request('terminal.read', { ...ids, start }), true);
        } catch {
          if (!this.disposed) onError(err);
        }
      });
  }

  /**
   * More was written than the raw replay holds: the serialized screen at its end, which
   * then replaces whatever this xterm showed; without one in time, the replay itself
   * (the tail, with a note of what is missing) and the screen's request still going on.
   */
  private async screenInstead(replay: TerminalReplay): Promise<{ painted: TerminalReplay; building?: Promise<TerminalScreen> }> {
    const end = replay.end;
    const request = this.transport.request('terminal.screen', { ...this.ids, offset: end });
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const s = await Promise.race([request, new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), SCREEN_WAIT_MS)))]);
      if (!s) {
        request.catch(() => undefined); // whenBuilt reads it; never an unhandled rejection meanwhile
        return { painted: replay, building: request };
      }
      // The screen must end where live data starts, or bytes would be lost or doubled at the seam.
      if (s.offset !== end || this.disposed) return { painted: replay };
      const had = this.screen.end;
      this.showScreen(s, had === null ? '' : ` (${formatBytes(end - had)} came while hidden)`);
      return { painted: { ...replay, start: end, data: '' } };
    } catch {
      return { painted: replay }; // no screen (an old host, a damaged recording): the tail
    } finally {
      clearTimeout(timer);
    }
  }

  /** Paint `s` in place of what this xterm shows; it is the screen after every byte before `s.offset`. */
  private showScreen(s: TerminalScreen, extra = ''): void {
    this.sink.write(this.screen.end === null ? s.data : `\x1bc${s.data}`);
    this.screen.end = s.offset;
    this.sink.note(`Showing the screen after ${formatBytes(s.offset)} of output${extra}; the lines scrolled off it are in Replay and the recording.`);
  }

  /**
   * The tail is on screen while the host builds the recording's keyframes: say so, wait
   * for the build (asking again if a request fails), then show the screen.
   */
  private async whenBuilt(first: Promise<TerminalScreen>, tail: TerminalReplay): Promise<void> {
    this.sink.note(
      `Building the screen index of this recording (${formatBytes(tail.end)} of output): showing its last ${formatBytes(tail.end - tail.start)} until the screen is ready.`,
    );
    let s: TerminalScreen | null = null;
    for (let tries = 1, request = first; !s; tries++) {
      try {
        s = await request;
      } catch (err) {
        if (this.disposed) return;
        if (tries >= SCREEN_TRIES) {
          this.sink.note(`The screen could not be built (${err instanceof Error ? err.message : String(err)}); showing the raw output, the rest is in the recording.`);
          return;
        }
        request = this.transport.request('terminal.screen', { ...this.ids, offset: this.screen.end ?? tail.end });
      }
    }
    if (this.disposed) return;
    // Nothing came since it was asked for: it is the screen now. Else the build has
    // reached close to the end, and the screen at what is on screen now is quick.
    if (!this.reading && s.offset === this.screen.end) this.showScreen(s);
    else {
      this.screenDue = true;
      if (!this.reading) void this.refreshScreen();
    }
  }

  /** The screen at what is on screen now, live chunks held until it is painted. */
  private async refreshScreen(): Promise<void> {
    this.screenDue = false;
    this.reading = true;
    const at = this.screen.end ?? 0;
    const s = await this.transport.request('terminal.screen', { ...this.ids, offset: at }).catch(() => null);
    if (this.disposed) return;
    if (s && s.offset === at) this.showScreen(s);
    else this.sink.note('The screen could not be built; showing the raw output, the rest is in the recording.');
    this.onReplay({ ...this.ids, start: at, end: at, data: '', truncated: false }, false);
  }

  /** Stop listening and detach: the host sends this screen nothing more and forgets what it was owed. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.offData();
    this.acker.dispose();
    this.held = [];
    inOrder(this.transport, this.ids, () => this.transport.request('terminal.detach', this.ids)).catch(() => {
      /* the terminal or the connection may be gone: nothing is attached any more */
    });
  }

  private onReplay(replay: TerminalReplay, first: boolean): void {
    if (this.disposed) return;
    this.paint(replay);
    if (first) this.liveFrom = replay.end;
    this.reading = false;
    const held = this.held;
    this.held = [];
    for (const m of held) this.onChunk(m);
    if (this.screenDue && !this.reading) void this.refreshScreen();
  }

  /** Write the part of a replay that is not on screen yet. */
  private paint(r: TerminalReplay): void {
    const at = this.screen.end;
    if (at === null || r.start > at + RESYNC_BYTES) {
      // Nothing on screen yet, or a hole the replay does not reach back to.
      if (r.start > (at ?? 0)) this.sink.note(`Showing the last ${formatBytes(r.end - r.start)}; ${formatBytes(r.start - (at ?? 0))} of ${at === null ? 'earlier' : 'skipped'} output is in the recording.`);
      if (r.data) this.sink.write(r.data);
    } else if (r.end > at) {
      this.sink.write(dropUtf8Prefix(r.data, at - r.start));
    }
    this.screen.end = Math.max(at ?? 0, r.end);
  }

  private onChunk(msg: DataMsg): void {
    if (this.disposed) return;
    if (this.reading) {
      this.held.push(msg);
      return;
    }
    const end = msg.offset + msg.bytes;
    if (this.liveFrom !== null && end <= this.liveFrom) return; // an earlier attachment's, already painted
    const at = this.screen.end ?? msg.offset;
    if (msg.offset > at + RESYNC_BYTES) {
      // The host skipped output while this screen lagged: read the hole first.
      this.reading = true;
      this.held.push(msg);
      const start = Math.max(at, msg.offset - HOLE_MAX_BYTES);
      this.transport
        .request('terminal.read', { ...this.ids, start, end: msg.offset })
        .then((r) => this.onReplay(r, false))
        .catch(() => {
          // Go on without it (the output is still in the recording).
          if (this.disposed) return;
          this.sink.note(`${formatBytes(msg.offset - at)} of output could not be shown here; it is in the recording.`);
          this.screen.end = msg.offset;
          this.onReplay({ ...this.ids, start: msg.offset, end: msg.offset, data: '', truncated: false }, false);
        });
      return;
    }
    const data = msg.offset < at ? dropUtf8Prefix(msg.data, at - msg.offset) : msg.data;
    this.screen.end = Math.max(at, end);
    this.sink.write(data, () => this.acker.add(msg.bytes));
  }
}
