// Screens and timed replay of terminal recordings (shared/contract/replay.ts): the
// screen at a byte or a time from the keyframes, windows of output with their times
// from the timing index. Never more than a window of the recording in memory.
import { StringDecoder } from 'node:string_decoder';
import { MAX_FRAMES_BYTES, type ReplayFrame } from '../../../shared/contract/replay';
import type { ApolloCore } from '../app';
import type { HandlerMap } from '../dispatch';
import { terminalKeyframes } from '../pty/session-keyframes';
import { terminalSizes, trajectoryOf } from '../session-trajectory';
import { terminalMarkers } from '../replay-markers';
import { utf8SafeEnd } from '../pty/strip-ansi';
import { recordingOf } from './recordings';

const DEFAULT_FRAMES_BYTES = 1024 * 1024;
/** A window stops here even short of its bytes (a replay asks for the next one in time). */
const MAX_FRAMES = 20_000;

export function replayHandlers(core: ApolloCore): HandlerMap {
  return {
    'terminal.screen': async ({ sessionId, terminalId, offset, at }) => {
      const t0 = performance.now();
      const { s, rec } = await recordingOf(core, sessionId, terminalId);
      const index = rec.timingIndex;
      // At a time: after everything written before it.
      const target = at !== undefined ? ((await index.firstAtOrAfter(at))?.offset ?? rec.size) : Math.min(offset ?? 0, rec.size);
      const k = await terminalKeyframes(s, terminalId);
      const screen = await k.screenAt(target);
      const ts = at ?? (await index.timeAt(Math.max(0, screen.offset - 1)));
      return { sessionId, terminalId, ...screen, ts, ms: Math.round(performance.now() - t0) };
    },

    'terminal.frames': async ({ sessionId, terminalId, start, maxBytes }) => {
      const { s, rec } = await recordingOf(core, sessionId, terminalId);
      const size = rec.size;
      const from = Math.min(start, size);
      let buf = await rec.read(from, Math.min(size, from + Math.min(maxBytes ?? DEFAULT_FRAMES_BYTES, MAX_FRAMES_BYTES)));
      // Whole characters only: a window that starts inside one skips its rest, one that ends inside one stops before it.
      let skip = 0;
      while (from > 0 && skip < Math.min(3, buf.length) && (buf[skip]! & 0xc0) === 0x80) skip++;
      if (from + buf.length < size) buf = buf.subarray(0, Math.max(skip, utf8SafeEnd(buf)));
      const index = rec.timingIndex;
      const decoder = new StringDecoder('utf8');
      const frames: ReplayFrame[] = [];
      let pos = from + skip;
      const stop = from + buf.length;
      const push = (ts: number, end: number) => {
        frames.push({ ts, offset: pos, text: decoder.write(buf.subarray(pos - from, end - from)) });
        pos = end;
      };
      // The window's batches in one search and a sequential read of the index.
      const recs = pos < stop ? await index.recordsFrom(pos, MAX_FRAMES + 1) : [];
      let ts = recs[0] && recs[0].offset <= pos ? recs[0].ts : ((await index.timeAt(pos)) ?? 0);
      for (const r of recs) {
        if (pos >= stop || frames.length >= MAX_FRAMES) break;
        // Output the index missed (a gap) is played at the time before it.
        if (r.offset > pos) push(ts, Math.min(stop, r.offset));
        if (pos >= stop) break;
        ts = r.ts;
        const end = Math.min(stop, r.offset + r.length);
        if (end > pos) push(ts, end);
      }
      // Output past the last batch the index has (not indexed yet).
      if (pos < stop && frames.length < MAX_FRAMES && recs.length <= MAX_FRAMES) push(ts, stop);
      // Stopped short at MAX_FRAMES: a character the last batch cut is held by the decoder; the next window starts on it.
      const end = pos < stop ? from + utf8SafeEnd(buf.subarray(0, pos - from)) : pos;
      const sizes = terminalSizes(s, terminalId).filter((c) => c.offset > from && c.offset < end);
      return { sessionId, terminalId, start: from + skip, end, frames, sizes, atEnd: end >= rec.size };
    },

    'terminal.replayInfo': async ({ sessionId, terminalId }) => {
      const { s, rec } = await recordingOf(core, sessionId, terminalId);
      const index = rec.timingIndex;
      const bytes = rec.size;
      const startTs = bytes > 0 ? await index.timeAt(0) : null;
      const endTs = bytes > 0 ? await index.timeAt(bytes - 1) : null;
      const markers = terminalMarkers(trajectoryOf(s), terminalId);
      const first = terminalSizes(s, terminalId)[0] ?? { cols: 80, rows: 24 };
      return { sessionId, terminalId, bytes, startTs, endTs, cols: first.cols, rows: first.rows, live: core.pty.has(sessionId, terminalId), markers };
    },
  };
}
