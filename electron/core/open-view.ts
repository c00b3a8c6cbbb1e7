// The reply sessions.open gives, kept beside the log (`open-view.json`) when a session
// closes, so that the next open (a reviewer's next day, a restarted server) answers
// from it instead of reading, decoding and folding the whole log first: the log loads
// when the page asks for something that needs it (its terminal, after the first frame).
// The events are sent as the bytes read (json-text.ts). On the generated 2,500-step
// session the server's part of an open went from ~700 ms (read and decode a 29 MB log,
// fold it, compact it, encode the reply) to ~90 ms (read and hash a 7.8 MB file).
//
// It is only a cache of the log, never trusted over it: its first line names the log
// it was made from (size, modification time, a hash of the last line, the event
// schemas and the compact form's version, as events.jsonl.checked does); anything
// else (the log grew, was copied or edited, another version of the app) and it is
// ignored and the log is read as before. Exports never read it.
import { createHash } from 'node:crypto';
import { open, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { COMPACT_FORM, compactEvent, type CompactEvent } from '../../shared/compact-events';
import type { LoadReport } from '../../shared/types';
import { logFacts, type LogFacts } from './session-facts';
import { jsonText } from './json-text';
import { readFully, writeFully } from './store/disk';
import { lastLine } from './store/event-log';
import { eventSchemaKey } from './store/log-stamp';
import { replaceFile } from './store/private-files';
import { compactLog } from './session-trajectory';
import type { SessionLog } from './store/workspace';

export const OPEN_VIEW_FILE = 'open-view.json';
/** A header is well under this (its facts name each recorded terminal). */
const HEADER_MAX_BYTES = 1 << 20;

const headerSchema = z.object({
  v: z.literal(1),
  schema: z.string(),
  compact: z.number(),
  size: z.number(),
  mtimeMs: z.number(),
  tail: z.string(),
  /** The seq of the last event: the version sessions.open answers with. */
  version: z.number(),
  events: z.number(),
  /** What opening the log reports every time (lines that are not valid events); a torn tail was cut before. */
  corruptLines: z.array(z.number()),
  /** What the session's entry in the list takes from the log (session-facts.ts). */
  facts: z.object({ terminals: z.array(z.record(z.string(), z.unknown())), steps: z.number(), lastStepAt: z.number().optional() }),
  /**
   * SHA-256 of the header without it and a newline, then the rest of the file (the events'
   * JSON text, which is sent as it is and never decoded here).
   */
  sha256: z.string(),
});
type Header = z.infer<typeof headerSchema>;

export interface OpenView {
  /** The compact events, as JSON text (json-text.ts): the reply carries them undecoded. */
  events: CompactEvent[];
  version: number;
  report: LoadReport;
  facts: LogFacts;
}

type LogKey = Pick<Header, 'size' | 'mtimeMs' | 'tail'>;

/**
 * The log as it is now, as a header describes it, and the seq of its last line (null: no
 * log, or no complete last line). The seq is the first field of every line the log
 * writes ({"seq":N,...}).
 */
async function logKey(dir: string): Promise<{ key: LogKey; lastSeq: number | null } | null> {
  const fh = await open(join(dir, 'events.jsonl'), 'r').catch(() => null);
  if (!fh) return null;
  try {
    const { size, mtimeMs } = await fh.stat();
    const line = await lastLine(fh, size);
    if (!line) return null;
    const seq = /^\{"seq":(\d+)[,}]/.exec(line.subarray(0, 40).toString('latin1'));
    return { key: { size, mtimeMs, tail: createHash('sha256').update(line).digest('hex') }, lastSeq: seq ? Number(seq[1]) : null };
  } finally {
    await fh.close();
  }
}

/** The kept view's header, and the rest of the file when `wantBody` says so for that header (one read of the file). */
async function readKept(path: string, wantBody: (h: Header) => boolean): Promise<{ header: Header; body: Buffer | null } | null> {
  const fh = await open(path, 'r').catch(() => null);
  if (!fh) return null;
  try {
    const { size } = await fh.stat();
    const head = Buffer.alloc(Math.min(size, HEADER_MAX_BYTES));
    await readFully(fh, head, 0);
    const nl = head.indexOf(0x0a);
    if (nl < 0) return null;
    const header = headerSchema.safeParse(JSON.parse(head.subarray(0, nl).toString('utf8')));
    if (!header.success) return null;
    if (!wantBody(header.data)) return { header: header.data, body: null };
    const body = Buffer.alloc(size - nl - 1);
    return { header: header.data, body: (await readFully(fh, body, nl + 1)) === body.length ? body : null };
  } catch {
    return null;
  } finally {
    await fh.close();
  }
}

function describes(h: Header, key: LogKey): boolean {
  return h.schema === eventSchemaKey() && h.compact === COMPACT_FORM && h.size === key.size && h.mtimeMs === key.mtimeMs && h.tail === key.tail;
}

/**
 * The kept reply for the session in `dir`, when it still describes its log exactly; null
 * otherwise (read the log). `dropDamaged`: remove one whose header describes the log but
 * whose events do not hold together, so the next close writes it again.
 */
export async function readOpenView(dir: string, opts: { dropDamaged?: boolean } = {}): Promise<OpenView | null> {
  const path = join(dir, OPEN_VIEW_FILE);
  const log = await logKey(dir);
  if (!log) return null;
  const kept = await readKept(path, (h) => describes(h, log.key));
  if (!kept || !describes(kept.header, log.key)) return null;
  const view = kept.body ? bodyOf(kept.header, kept.body) : null;
  if (!view && opts.dropDamaged) await rm(path, { force: true }).catch(() => undefined);
  return view;
}

function bodyOf(header: Header, body: Buffer): OpenView | null {
  // Written whole and renamed into place by writeOpenView, from JSON.stringify: bytes that
  // hash as it recorded are that text, so the page can be sent them without decoding.
  if (digest(header, body) !== header.sha256) return null;
  return {
    events: jsonText<CompactEvent[]>(body),
    version: header.version,
    report: { tornTail: false, corruptLines: header.corruptLines },
    facts: header.facts as unknown as LogFacts,
  };
}

/** `header` as headerSchema gives it (its fields in the schema's order, as the writer hashed them). */
function digest(header: Header, body: Buffer): string {
  return createHash('sha256').update(`${JSON.stringify({ ...header, sha256: undefined })}\n`).update(body).digest('hex');
}

/**
 * Keep the reply for a session whose log is closed (nothing appends to it any more), unless
 * the one kept already describes the log. Best effort: a view that cannot be written only
 * means the next open reads the log. Says how: the one kept already described the log,
 * grew by the events appended since the load, was written whole, or none was written.
 */
export async function writeOpenView(s: SessionLog): Promise<'kept' | 'grown' | 'whole' | 'none'> {
  try {
    const log = await logKey(s.dir);
    if (!log) return 'none';
    const path = join(s.dir, OPEN_VIEW_FILE);
    const loaded = s.loadedAs;
    const kept = await readKept(path, (h) => !!loaded && describes(h, loaded));
    if (kept && describes(kept.header, log.key)) return 'kept';
    // The events in memory are the log's: the last line on disk is the last event loaded.
    const version = s.events.length ? s.events[s.events.length - 1]!.seq : 0;
    if (log.lastSeq !== version) return 'none';
    const grown = kept?.body ? extended(kept.header, kept.body, s) : null;
    const body = grown ?? Buffer.from(JSON.stringify(compactLog(s).events), 'utf8');
    const header = headerSchema.parse({
      v: 1, schema: eventSchemaKey(), compact: COMPACT_FORM, ...log.key, version, events: s.events.length, corruptLines: [...s.report.corruptLines],
      facts: logFacts(s.events), sha256: '',
    });
    header.sha256 = digest(header, body);
    await replaceFile(path, (fh) => writeFully(fh, Buffer.concat([Buffer.from(`${JSON.stringify(header)}\n`, 'utf8'), body]), 0));
    // The log must not have changed while this was written (an append would make it a view of an older log).
    const after = await stat(join(s.dir, 'events.jsonl'));
    if (after.size !== log.key.size || after.mtimeMs !== log.key.mtimeMs) {
      await rm(path, { force: true });
      return 'none';
    }
    return grown ? 'grown' : 'whole';
  } catch {
    return 'none'; // only a cache
  }
}

/**
 * The kept view's events with those appended since, when it described the log as this
 * process loaded it (so its events are the first ones in memory: only this process has
 * appended since, under the workspace's lock); null when it cannot be trusted so (then
 * the whole log is compacted again). After a session's every change a close wrote the
 * whole view again: on the generated 2,500-step session ~300 ms of compacting, encoding
 * and hashing 7.8 MB, paid by every `apollo export` (it records export.made).
 */
function extended(h: Header, body: Buffer, s: SessionLog): Buffer | null {
  if (digest(h, body) !== h.sha256 || body[body.length - 1] !== 0x5d /* ] */) return null;
  if (h.events > s.events.length || (h.events > 0 && s.events[h.events - 1]!.seq !== h.version)) return null;
  if (h.corruptLines.length !== s.report.corruptLines.length || h.corruptLines.some((l, i) => l !== s.report.corruptLines[i])) return null;
  const added = s.events.slice(h.events).map(compactEvent);
  if (added.length === 0) return body;
  const more = JSON.stringify(added);
  return Buffer.concat([body.subarray(0, body.length - 1), Buffer.from(`${h.events > 0 ? ',' : ''}${more.slice(1)}`, 'utf8')]);
}

/**
 * Keep the view soon after a first open that had to read the log (a session imported, or
 * left by a process that was killed rather than closed), so that a later process opens
 * it fast even if this one never closes it cleanly. Not at once: encoding it would hold
 * the event loop while the reply is still being sent. A close (or a delete) waits for it.
 */
export function writeOpenViewSoon(s: SessionLog, delayMs = 1000): void {
  let running: Promise<unknown> | null = null;
  const timer = setTimeout(() => {
    running = writeOpenView(s).finally(() => unhook());
  }, delayMs);
  timer.unref();
  const unhook = s.onClose(async () => {
    clearTimeout(timer);
    await running;
  });
}
