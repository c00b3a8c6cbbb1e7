// What a writer last found when it validated an event log, kept beside it
// (events.jsonl.checked): the log's size, modification time and a hash of its last
// line, and which lines were not valid events. When all three still match, every line
// is as it was when it was checked, so opening it again only decodes the lines
// (JSON.parse) and skips the schema check, which costs more than the decoding on a
// cold start. Anything that does not match (the log grew, was edited or copied, a
// version of the app with other event schemas) is checked in full and stamped again:
// the stamp is never trusted over the log, only used to skip repeating work on it.
import { open, readFile, rename, rm, stat } from 'node:fs/promises';
import { sessionEventBodySchema } from '../../../shared/events';
import { APP_VERSION } from '../version';
import { writeFully } from './disk';
import { PRIVATE_FILE_MODE, tightenHandle } from './private-files';

export interface LogStamp {
  v: 1;
  /** The app version and the fields of every event type: another schema checks again. */
  schema: string;
  size: number;
  mtimeMs: number;
  /** sha256 of the log's last line (with its newline). */
  tail: string;
  /** 1-based lines that were not valid events (reported again at each open). */
  invalidLines: number[];
}

export const stampPath = (logPath: string): string => `${logPath}.checked`;

let schemaKey: string | null = null;
/** The app version and the fields of every event type: what a cache of a log's events depends on. */
export function eventSchemaKey(): string {
  schemaKey ??= `${APP_VERSION};${sessionEventBodySchema.options.map((o) => Object.keys(o.shape).join(',')).join(';')}`;
  return schemaKey;
}

/**
 * The invalid lines the stamp records when it still describes the log (`size`,
 * `mtimeMs` its stat, `tail` the sha256 of its last line, null when it has none); null
 * when it does not (check it all).
 */
export async function matchingStamp(logPath: string, size: number, mtimeMs: number, tail: string | null): Promise<number[] | null> {
  if (tail === null) return null;
  let s: LogStamp;
  try {
    s = JSON.parse(await readFile(stampPath(logPath), 'utf8')) as LogStamp;
  } catch {
    return null;
  }
  if (s?.v !== 1 || s.schema !== eventSchemaKey() || s.size !== size || s.mtimeMs !== mtimeMs || s.tail !== tail || !Array.isArray(s.invalidLines)) return null;
  return s.invalidLines;
}

/**
 * Stamp the log as checked: `tail` is the hash of its last line, `invalidLines` what the
 * check found. Written beside it (0600) and renamed into place; the log's stat is taken
 * now, so a stamp for a log that changed meanwhile never matches. Best effort: a stamp
 * that cannot be written only means the next open checks again.
 */
export async function writeStamp(logPath: string, expectedSize: number, tail: string, invalidLines: readonly number[]): Promise<void> {
  try {
    const st = await stat(logPath);
    if (st.size !== expectedSize) return;
    const stamp: LogStamp = { v: 1, schema: eventSchemaKey(), size: st.size, mtimeMs: st.mtimeMs, tail, invalidLines: [...invalidLines] };
    const tmp = `${stampPath(logPath)}.tmp`;
    const fh = await open(tmp, 'w', PRIVATE_FILE_MODE);
    try {
      await tightenHandle(fh); // one left by a crash keeps its old mode
      await fh.truncate(0);
      await writeFully(fh, Buffer.from(JSON.stringify(stamp)), 0);
    } finally {
      await fh.close();
    }
    await rename(tmp, stampPath(logPath));
  } catch {
    // Only a cache: the next open checks the log in full.
    await rm(`${stampPath(logPath)}.tmp`, { force: true }).catch(() => undefined);
  }
}
