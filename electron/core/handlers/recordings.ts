// A terminal's recording, for the handlers that show it (handlers/sessions.ts attach and
// read, handlers/replay.ts screens and frames).
import { open, stat } from 'node:fs/promises';
import { ApolloError } from '../../../shared/errors';
import type { ApolloCore } from '../app';
import { readFully } from '../store/disk';
import { recordingFile } from '../store/terminal-recording';
import type { SessionLog } from '../store/workspace';

const noTerminal = (terminalId: string) => new ApolloError('NOT_FOUND', `Session has no terminal "${terminalId}"`);

/** The session (its log loaded) and its recording of `terminalId`. */
export async function recordingOf(core: ApolloCore, sessionId: string, terminalId: string): Promise<{ s: SessionLog; rec: Awaited<ReturnType<SessionLog['recording']>> }> {
  const s = await core.session(sessionId);
  if (!(await s.hasRecording(terminalId))) throw noTerminal(terminalId);
  return { s, rec: await s.recording(terminalId) };
}

/** What a replay reads: a terminal's recorded bytes and how many there are. */
export interface ReplaySource {
  size: number;
  read(start: number, end: number): Promise<Buffer>;
}

/**
 * The recording of a terminal, to replay. One of a session whose log is not loaded here
 * (an open answered from the view kept beside it: a review, no terminal running) is read
 * from its file as it is on disk, which only ever grows by appends: loading the whole log
 * to reach it cost the host ~0.3 s of CPU and the log's memory on the full-size session,
 * right after the open, beside the page's requests for the steps' details. Opening it for
 * appends (and the repairs that come with it) waits for something that records.
 */
export async function replaySource(core: ApolloCore, sessionId: string, terminalId: string): Promise<ReplaySource> {
  if (core.ws.isLoaded(sessionId) || core.pty.has(sessionId, terminalId)) return (await recordingOf(core, sessionId, terminalId)).rec;
  core.ws.entry(sessionId); // NOT_FOUND for a session that is not in the workspace
  const file = recordingFile(core.ws.sessionDir(sessionId), terminalId);
  const size = await stat(file).then((st) => (st.isFile() ? st.size : null), () => null);
  if (size === null) throw noTerminal(terminalId);
  return {
    size,
    read: async (start, end) => {
      const fh = await open(file, 'r');
      try {
        const buf = Buffer.alloc(Math.max(0, Math.min(end, size) - start));
        const n = await readFully(fh, buf, start);
        return n === buf.length ? buf : buf.subarray(0, n);
      } finally {
        await fh.close();
      }
    },
  };
}

