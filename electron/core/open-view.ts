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
import { COMPACT_FORM, type CompactEvent } from '../../shared/compact-events';
import type { LoadReport } from '../../shared/types';
import { logFacts, type LogFacts } from './session-facts';
import { jsonText } from './json-text';
import { readFully, writeFully } from './store/disk';
import { lastLineHash } from './store/event-log';
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

/** The log as it is now, as a header describes it (null: no log, or no complete last line). */
async function logKey(dir: string): Promise<Pick<Header, 'size' | 'mtimeMs' | 'tail'> | null> {
  const fh = await open(join(dir, 'events.jsonl'), 'r').catch(() => null);
  if (!fh) return null;
  try {
    const { size, mtimeMs } = await fh.stat();
    const tail = await lastLineHash(fh, size);
    return tail === null ? null : { size, mtimeMs, tail };
  } finally {
    await fh.close();
  }
}

/** The header line is read first; the rest (`body`) only when asked for. */
async function readHeader(path: string, withBody: boolean): Promise<{ header: Header; body: Buffer } | null> {
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
    if (!withBody) return { header: header.data, body: Buffer.alloc(0) };
    const body = Buffer.alloc(size - nl - 1);
    return (await readFully(fh, body, nl + 1)) === body.length ? { header: header.data, body } : null;
  } catch {
    return null;
  } finally {
    await fh.close();
  }
}

function describes(h: Header, key: Pick<Header, 'size' | 'mtimeMs' | 'tail'>): boolean {
  return h.schema === eventSchemaKey() && h.compact === COMPACT_FORM && h.size === key.size && h.mtimeMs === key.mtimeMs && h.tail === key.tail;
}

/**
 * The kept reply for the session in `dir`, when it still describes its log exactly; null
 * otherwise (read the log). `dropDamaged`: remove one whose header describes the log but
 * whose events do not hold together, so the next close writes it again.
 */
export async function readOpenView(dir: string, opts: { dropDamaged?: boolean } = {}): Promise<OpenView | null> {
  const path = join(dir, OPEN_VIEW_FILE);
  const [key, kept] = await Promise.all([logKey(dir), readHeader(path, false)]);
  if (!key || !kept || !describes(kept.header, key)) return null;
  const whole = await readHeader(path, true);
  const view = whole && describes(whole.header, key) ? bodyOf(whole) : null;
  if (!view && opts.dropDamaged) await rm(path, { force: true }).catch(() => undefined);
  return view;
}

function bodyOf({ header, body }: { header: Header; body: Buffer }): OpenView | null {
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
 * means the next open reads the log.
 */
export async function writeOpenView(s: SessionLog): Promise<void> {
  try {
    const key = await logKey(s.dir);
    if (!key) return;
    const path = join(s.dir, OPEN_VIEW_FILE);
    const kept = await readHeader(path, false);
    if (kept && describes(kept.header, key)) return;
    const { events, version } = compactLog(s);
    // The events in memory are the log's: the last line on disk is the last event loaded.
    if (!(await lastLineIsSeq(s.dir, key.size, version))) return;
    const body = Buffer.from(JSON.stringify(events), 'utf8');
    const header = headerSchema.parse({
      v: 1, schema: eventSchemaKey(), compact: COMPACT_FORM, ...key, version, events: events.length, corruptLines: [...s.report.corruptLines],
      facts: logFacts(s.events), sha256: '',
    });
    header.sha256 = digest(header, body);
    await replaceFile(path, (fh) => writeFully(fh, Buffer.concat([Buffer.from(`${JSON.stringify(header)}\n`, 'utf8'), body]), 0));
    // The log must not have changed while this was written (an append would make it a view of an older log).
    const after = await stat(join(s.dir, 'events.jsonl'));
    if (after.size !== key.size || after.mtimeMs !== key.mtimeMs) await rm(path, { force: true });
  } catch {
    /* only a cache */
  }
}

/**
 * Keep the view soon after a first open that had to read the log (a session imported, or
 * left by a process that was killed rather than closed), so that a later process opens
 * it fast even if this one never closes it cleanly. Not at once: encoding it would hold
 * the event loop while the reply is still being sent. A close (or a delete) waits for it.
 */
export function writeOpenViewSoon(s: SessionLog, delayMs = 1000): void {
  let running: Promise<void> | null = null;
  const timer = setTimeout(() => {
    running = writeOpenView(s).finally(() => unhook());
  }, delayMs);
  timer.unref();
  const unhook = s.onClose(async () => {
    clearTimeout(timer);
    await running;
  });
}

/** Whether the log's last line (of its first `size` bytes) is the event numbered `seq`. */
async function lastLineIsSeq(dir: string, size: number, seq: number): Promise<boolean> {
  const fh = await open(join(dir, 'events.jsonl'), 'r');
  try {
    // Back from the end, a block at a time, to the newline before the last line (which may be long).
    let start = 0;
    for (let end = size - 1; end > 0 && start === 0; ) {
      const from = Math.max(0, end - 65536);
      const buf = Buffer.alloc(end - from);
      await fh.read(buf, 0, buf.length, from);
      const nl = buf.lastIndexOf(0x0a);
      if (nl >= 0) start = from + nl + 1;
      end = from;
    }
    const head = Buffer.alloc(Math.min(40, size - start));
    await fh.read(head, 0, head.length, start);
    // The seq is the first field of every line the log writes ({"seq":N,...}).
    const m = /^\{"seq":(\d+)[,}]/.exec(head.toString('latin1'));
    return m !== null && Number(m[1]) === seq;
  } finally {
    await fh.close();
  }
}
