// The output of one terminal as a screen receives it: the replay `terminal.attach`
// answers with, then the live `terminal.data` chunks that follow it, in recording
// order and without holes or repeats.
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
    inOrder(transport, ids, () => transport.request('terminal.attach', { ...ids, ...since }))
      .then((replay) => this.onReplay(replay, true))
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
