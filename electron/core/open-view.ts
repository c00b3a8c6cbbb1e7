// The reply sessions.open gives, kept beside the log (`open-view.json`) when a session
// closes, so that the next open (a reviewer's next day, a restarted server) answers
// from it instead of reading, decoding and folding the whole log first: the log loads
// when the page asks for something that needs it (its terminal, after the first frame).
// The events are sent as the bytes read (json-text.ts). On the generated 2,500-step
// session the server's part of an open went from ~700 ms (read and decode a 29 MB log,
// fold it, compact it, encode the reply) to ~90 ms (read and hash a 7.8 MB file).
//
// Its body is two JSON arrays on two lines: the session's tree (every event but the
// steps' details, open-pages.ts) in seq order, then the details grouped by step in the
// order steps started, with the byte offset of each page's first one in the header, so a
// paged open sends the tree and the newest pages as they were read, and each later page
// is a slice of the same bytes.
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
import { COMPACT_FORM, compactEvent, isStepDetail, mergeBySeq, type CompactEvent } from '../../shared/compact-events';
import { firstPages, opening, PAGE_STEPS, splitForPages, stepIndex, type PagedOpening, type PageSplit } from './open-pages';
import type { LoadReport } from '../../shared/types';
import { logFacts, type LogFacts } from './session-facts';
import { readFully, writeFully } from './store/disk';
import { lastLine } from './store/event-log';
import { eventSchemaKey } from './store/log-stamp';
import { replaceFile } from './store/private-files';
import { compactLog, trajectoryOf } from './session-trajectory';
import type { SessionLog } from './store/workspace';

export const OPEN_VIEW_FILE = 'open-view.json';
/** A header is well under this (its facts name each recorded terminal). */
const HEADER_MAX_BYTES = 1 << 20;

const headerSchema = z.object({
  v: z.literal(2),
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
  /** Bytes of the tree's JSON text (the body's first line). */
  split: z.number().int().min(2),
  /** Steps in the order they started (the details' groups), and the steps per page. */
  steps: z.number().int().min(0),
  pageSteps: z.number().int().min(1),
  /**
   * Byte offsets in the details' JSON text (the second line) where the details of steps
   * 0, pageSteps, 2·pageSteps… begin, then where the text ends: each detail is followed by
   * a comma, the last by the closing bracket.
   */
  pages: z.array(z.number().int().min(1)),
  /** The pages before the tail sent with a paged open (open-pages.ts firstPages): the newest steps of the branch it opens on. */
  first: z.array(z.number().int().min(0)),
  /**
   * SHA-256 of the header without it and a newline, then the rest of the file (the events'
   * JSON text, which is sent as it is and never decoded here).
   */
  sha256: z.string(),
});
type Header = z.infer<typeof headerSchema>;

export interface OpenView {
  /** JSON text of the tree's events (seq order). */
  tree: Buffer;
  /** JSON text of the details, grouped by step (see `pages`). */
  details: Buffer;
  /** Header `pages`: where each page's details begin in `details`, then its end. */
  pages: readonly number[];
  first: readonly number[];
  steps: number;
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
  return h.schema === eventSchemaKey() && h.compact === COMPACT_FORM && h.pageSteps === PAGE_STEPS
    && h.size === key.size && h.mtimeMs === key.mtimeMs && h.tail === key.tail;
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
  const { split, pages, steps, first } = header;
  if (body[split] !== 0x0a || pages.length !== Math.ceil(steps / PAGE_STEPS) + 1 || pages.at(-1) !== body.length - split - 1) return null;
  return {
    tree: body.subarray(0, split),
    details: body.subarray(split + 1),
    pages,
    first,
    steps,
    version: header.version,
    report: { tornTail: false, corruptLines: header.corruptLines },
    facts: header.facts as unknown as LogFacts,
  };
}

/** `header` as headerSchema gives it (its fields in the schema's order, as the writer hashed them). */
function digest(header: Header, body: Buffer | readonly Buffer[]): string {
  const h = createHash('sha256').update(`${JSON.stringify({ ...header, sha256: undefined })}\n`);
  for (const part of Buffer.isBuffer(body) ? [body] : body) h.update(part);
  return h.digest('hex');
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
    const { parts, split, steps, pages } = grown ?? encodeView(splitForPages(compactLog(s).events));
    // Again when grown: a rollout started since may have changed the branch the session opens on.
    const t = trajectoryOf(s);
    const first = firstPages(t, stepIndex(t), steps);
    const header = headerSchema.parse({
      v: 2, schema: eventSchemaKey(), compact: COMPACT_FORM, ...log.key, version, events: s.events.length, corruptLines: [...s.report.corruptLines],
      facts: logFacts(s.events), split, steps, pageSteps: PAGE_STEPS, pages, first, sha256: '',
    });
    header.sha256 = digest(header, parts);
    // Part by part, never joined: on the generated 2,500-step session the view is 7.8 MB,
    // and a joined copy of it (two, when grown) was the peak of an `apollo export`'s memory.
    await replaceFile(path, async (fh) => {
      let at = 0;
      for (const part of [Buffer.from(`${JSON.stringify(header)}\n`, 'utf8'), ...parts]) {
        await writeFully(fh, part, at);
        at += part.length;
      }
    });
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

/** `parts`: the body's bytes, in order (a few large buffers, some of them the kept view's). */
type Encoded = Pick<Header, 'split' | 'steps' | 'pages'> & { parts: readonly Buffer[] };

/** JSON text of the details a paged open sends (its `first` pages, then the tail), and the ranges of steps left. */
export function viewOpening(view: OpenView): { tail: Buffer; pages: PagedOpening['pages'] } {
  const { sent, pages } = opening(view.steps, view.first);
  return { tail: jsonArray(sent.map(([a, b]) => pageElements(view, a, b)!)), pages };
}

/** The body of a view (see the file header) and where its parts are. */
function encodeView({ tree, byStep }: PageSplit): Encoded {
  const treeText = Buffer.from(JSON.stringify(tree), 'utf8');
  const parts: Buffer[] = [treeText, Buffer.from('\n[', 'utf8')];
  const pages: number[] = [];
  let at = 1;
  for (let i = 0; i < byStep.length; i++) {
    if (i % PAGE_STEPS === 0) pages.push(at);
    for (const ev of byStep[i]!) {
      const b = Buffer.from(`${JSON.stringify(ev)},`, 'utf8');
      parts.push(b);
      at += b.length;
    }
  }
  if (at === 1) {
    parts.push(Buffer.from(']', 'utf8'));
    at = 2;
  } else {
    // The last detail's comma becomes the closing bracket.
    const last = parts[parts.length - 1]!;
    last[last.length - 1] = 0x5d;
  }
  pages.push(at);
  return { parts: [Buffer.concat(parts)], split: treeText.length, steps: byStep.length, pages };
}

/**
 * The kept view with the events appended since the load, when it described the log as
 * this process loaded it (so its events are the first ones in memory: only this process
 * has appended since, under the workspace's lock) and they only add to the tree (labels,
 * comments, exports, terminals: what annotating a recorded session appends); null when it
 * cannot be grown so (then the whole log is compacted again). Before, a close after any
 * change wrote the whole view again: on the generated 2,500-step session ~300 ms of
 * compacting, encoding and hashing 7.8 MB, paid by every `apollo export` (it records
 * export.made).
 */
function extended(h: Header, body: Buffer, s: SessionLog): Encoded | null {
  if (digest(h, body) !== h.sha256 || body[h.split] !== 0x0a || body[h.split - 1] !== 0x5d /* ] */) return null;
  if (h.events > s.events.length || (h.events > 0 && s.events[h.events - 1]!.seq !== h.version)) return null;
  if (h.corruptLines.length !== s.report.corruptLines.length || h.corruptLines.some((l, i) => l !== s.report.corruptLines[i])) return null;
  const added = s.events.slice(h.events);
  if (added.some((ev) => ev.type === 'step.started' || isStepDetail(ev))) return null;
  if (added.length === 0) return { parts: [body], split: h.split, steps: h.steps, pages: h.pages };
  const more = Buffer.from(`${h.split > 2 ? ',' : ''}${JSON.stringify(added.map(compactEvent)).slice(1)}`, 'utf8');
  return { parts: [body.subarray(0, h.split - 1), more, body.subarray(h.split)], split: h.split - 1 + more.length, steps: h.steps, pages: h.pages };
}

/** The events of a view, decoded and in seq order (what an open that is not paged answers). */
export function viewEvents(view: OpenView): CompactEvent[] {
  return mergeBySeq(JSON.parse(view.tree.toString('utf8')) as CompactEvent[], JSON.parse(view.details.toString('utf8')) as CompactEvent[]);
}

/**
 * JSON text of the details of the steps [from, to) (grouped by step, each in seq order),
 * when `from` and `to` fall on the view's pages (multiples of PAGE_STEPS, or its end);
 * null otherwise.
 */
export function viewPage(view: OpenView, from: number, to: number): Buffer | null {
  const elements = pageElements(view, from, to);
  return elements && jsonArray([elements]);
}

/** The text of the details of steps [from, to), comma-separated, as the view holds them (not copied); null off its pages. */
function pageElements(view: OpenView, from: number, to: number): Buffer | null {
  const pageAt = (step: number): number | undefined => (step === view.steps ? view.pages.at(-1) : step % PAGE_STEPS === 0 ? view.pages[step / PAGE_STEPS] : undefined);
  const a = pageAt(Math.min(from, view.steps));
  const b = pageAt(Math.min(to, view.steps));
  if (a === undefined || b === undefined || b < a) return null;
  // Each detail ends with a comma (the last with the bracket): drop the page's last one.
  return view.details.subarray(a, Math.max(a, b - 1));
}

/** One JSON array of comma-separated elements (each part's), in one copy. */
function jsonArray(parts: readonly Buffer[]): Buffer {
  const out: Buffer[] = [Buffer.from('[', 'utf8')];
  for (const p of parts) {
    if (!p.length) continue;
    if (out.length > 1) out.push(Buffer.from(',', 'utf8'));
    out.push(p);
  }
  out.push(Buffer.from(']', 'utf8'));
  return Buffer.concat(out);
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
