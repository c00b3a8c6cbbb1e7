// Screens and timed replay of terminal recordings. A recording can be 800 MB: nothing
// here sends all of it. The screen at a byte or a time is one keyframe plus a bounded
// replay, done by the host; a replay streams windows of output from a byte on, each
// batch with the time it was written.
import { z } from 'zod';
import { command } from './define';
import { terminalName } from './sessions';

const id = z.string().min(1).max(200);
/** Most bytes of output one frames window carries. */
export const MAX_FRAMES_BYTES = 4 * 1024 * 1024;

export interface TerminalScreen {
  sessionId: string;
  terminalId: string;
  /** The screen after every byte before this one. */
  offset: number;
  /** When that byte was written (ms epoch; null: no timing recorded). */
  ts: number | null;
  cols: number;
  rows: number;
  /** Written into a reset terminal of cols × rows, draws the screen (cursor, modes and pen included). */
  data: string;
  /** The keyframe it was built from and the bytes replayed after it (what it cost). */
  keyframeOffset: number;
  replayedBytes: number;
  ms: number;
}

/** One batch of output as it was written. `text` is decoded across batch boundaries (no character is cut). */
export interface ReplayFrame {
  ts: number;
  offset: number;
  text: string;
}

export interface TerminalFrames {
  sessionId: string;
  terminalId: string;
  start: number;
  /** The first byte after the window (the next window's start). */
  end: number;
  frames: ReplayFrame[];
  /** Size changes inside the window (apply before the frame at or after `offset`). */
  sizes: Array<{ offset: number; cols: number; rows: number }>;
  /** The recording ends here (for now, if the terminal runs). */
  atEnd: boolean;
}

export interface ReplayMarker {
  stepId: string;
  /** 1-based, in the order the steps started (all branches). */
  n: number;
  branchId: string;
  ts: number;
  /** Where the step's output in this terminal starts, if it ran a command here. */
  offset: number | null;
}

export interface TerminalReplayInfo {
  sessionId: string;
  terminalId: string;
  bytes: number;
  /** Time of the first and last recorded output (null: nothing recorded). */
  startTs: number | null;
  endTs: number | null;
  cols: number;
  rows: number;
  live: boolean;
  /** The steps whose commands ran in this terminal (else every step), by time. */
  markers: ReplayMarker[];
}

export const replayCommands = {
  /** The screen at a byte of the recording, or at the first byte written at or after a time. */
  'terminal.screen': command<TerminalScreen>()(
    z
      .object({ sessionId: id, terminalId: terminalName, offset: z.number().int().min(0).optional(), at: z.number().finite().optional() })
      .refine((a) => (a.offset === undefined) !== (a.at === undefined), 'give exactly one of offset or at'),
  ),
  /** Recorded output from byte `start` on, batch by batch with its time, for a timed replay. */
  'terminal.frames': command<TerminalFrames>()(
    z.object({ sessionId: id, terminalId: terminalName, start: z.number().int().min(0), maxBytes: z.number().int().min(1).max(MAX_FRAMES_BYTES).optional() }),
  ),
  /** What a replay's scrubber shows: the recording's span, its size, and the steps that ran in it. */
  'terminal.replayInfo': command<TerminalReplayInfo>()(z.object({ sessionId: id, terminalId: terminalName })),
};
