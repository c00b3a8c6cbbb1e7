import { createHash, type Hash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import type { LoadReport } from '../../../shared/types';
import { inContent, parseSessionEvent, type SessionEvent, type SessionEventBody } from '../../../shared/events';
import { AppendLog, type AppendLogOptions } from './append-log';
import { readFully } from './disk';
import { matchingStamp, writeStamp } from './log-stamp';

export interface ParsedLog {
  events: SessionEvent[];
  report: LoadReport;
  /** Byte length of the intact prefix (everything up to the last newline). */
  goodLength: number;
  /** Its lines were checked against the schemas before (a matching stamp, see log-stamp.ts): only decoded now. */
  stamped?: boolean;
  /** sha256 of the last line of the intact prefix ('' when empty): what a stamp of it records. */
  tail?: string;
  /** Lines in the intact prefix (empty and corrupt ones included). */
  lines?: number;
  /**
   * The file as it was read (readEventLog): its stat and the sha256 of its last line.
   * Absent when a torn tail was found (opening for appends cuts it, so the file changes).
   */
  loadedAs?: { size: number; mtimeMs: number; tail: string };
  /**
   * readEventLog: a running SHA-256 over the lines `events` were parsed from, in order,
   * except those of export.made events (an export's output never depends on them), so
   * that exporting again after an export can take what it wrote (bundle-cache.ts).
   * SessionLog carries it on over the lines it appends.
   */
  content?: Hash;
}

/** Note the line `ev` was read from or written as in a log's running content hash (ParsedLog.content). */
export function addToContent(content: Hash | null, ev: SessionEvent, line: Buffer | string): void {
  if (inContent(ev)) content?.update(line);
}

/** Lines longer than this whose event is an action result keep their observation on disk (see spill). */
export const SPILL_LINE_BYTES = 256 * 1024;
/** How much of a log is read at a time: a log larger than memory is never in memory whole. */
const READ_CHUNK = 4 << 20;

/**
 * A long observation is not kept in memory: the event's `observation` reads its line
 * back from the log when asked for (the log is append-only, so the bytes stay where
 * they are). Everything that reads observations (the fold, stepDetail, export, search)
 * gets the same text, one at a time. The last one read is kept, for readers that ask
 * twice in a row (its length, then its text); a cache of more (or of WeakRefs, which a
 * synchronous loop keeps alive to its end) would hold them all.
 */
let lastSpilled: { key: object; observation: string } | null = null;

function spill(ev: SessionEvent, path: string, at: number, length: number): void {
  const key = {};
  Object.defineProperty(ev, 'observation', {
    enumerable: true,
    configurable: true,
    get(): string {
      if (lastSpilled?.key === key) return lastSpilled.observation;
      const buf = Buffer.alloc(length);
      const fd = openSync(path, 'r');
      try {
        let got = 0;
        while (got < length) {
          const n = readSync(fd, buf, got, length - got, at + got);
          if (n === 0) throw new Error(`${path} ends before the line at byte ${at}`);
          got += n;
        }
      } finally {
        closeSync(fd);
      }
      const { observation } = JSON.parse(buf.toString('utf8')) as { observation: string };
      lastSpilled = { key, observation };
      return observation;
    },
  });
}

/** The lines of a log fed in chunks, parsed as each completes; see parseEventLog. */
class LogParser {
  readonly events: SessionEvent[] = [];
  readonly corruptLines: number[] = [];
  line = 0;
  private carry: Buffer[] = [];
  private carryBytes = 0;
  /** File offset of the next byte fed. */
  private pos = 0;
  private last: Buffer | null = null;
  private readonly skip: Set<number> | null;
  private readonly content: Hash | null;

  constructor(knownInvalid: readonly number[] | null, private readonly spillFrom: string | null, hashContent = false) {
    this.skip = knownInvalid ? new Set(knownInvalid) : null;
    this.content = hashContent ? createHash('sha256') : null;
  }

  /** `reused`: the caller fills `chunk` again after this returns, so nothing of it may be kept. */
  push(chunk: Buffer, reused = false): void {
    let start = 0;
    for (let nl = chunk.indexOf(0x0a); nl >= 0; nl = chunk.indexOf(0x0a, start)) {
      const piece = chunk.subarray(start, nl + 1);
      const lineBuf = this.carryBytes ? Buffer.concat([...this.carry, piece], this.carryBytes + piece.length) : piece;
      const at = this.pos + start - this.carryBytes;
      this.carry = [];
      this.carryBytes = 0;
      this.parseLine(lineBuf, at);
      start = nl + 1;
    }
    if (start < chunk.length) {
      this.carry.push(reused ? Buffer.from(chunk.subarray(start)) : chunk.subarray(start));
      this.carryBytes += chunk.length - start;
    }
    if (reused && this.last && this.last.buffer === chunk.buffer) this.last = Buffer.from(this.last);
    this.pos += chunk.length;
  }

  private parseLine(b: Buffer, at: number): void {
    this.line++;
    this.last = b;
    if (b.length <= 1) return;
    try {
      if (this.skip?.has(this.line)) throw new Error('not an event (checked before)');
      const value = JSON.parse(b.toString('utf8', 0, b.length - 1)) as unknown;
      // A line that is JSON but not a valid event (wrong shape, unknown type) is
      // reported like a corrupt one: a fold must never see it.
      const ev = this.skip ? (typeof value === 'object' && value !== null ? (value as SessionEvent) : null) : parseSessionEvent(value);
      if (!ev) throw new Error('not an event');
      if (this.spillFrom && b.length > SPILL_LINE_BYTES && ev.type === 'action.result') spill(ev, this.spillFrom, at, b.length - 1);
      this.events.push(ev);
      addToContent(this.content, ev, b);
    } catch {
      this.corruptLines.push(this.line);
    }
  }

  end(): ParsedLog {
    const tornTail = this.carryBytes > 0;
    const goodLength = this.pos - this.carryBytes;
    const tail = this.last ? createHash('sha256').update(this.last).digest('hex') : '';
    return {
      events: this.events, report: { tornTail, corruptLines: this.corruptLines }, goodLength, stamped: this.skip !== null, tail, lines: this.line,
      ...(this.content ? { content: this.content } : {}),
    };
  }
}

/**
 * Parse a JSONL event log. A last line without its newline is a write torn by a
 * crash and is dropped; a corrupt line in the middle is skipped and reported while
 * every other event loads. `knownInvalid`: the log was checked before and these are
 * its invalid lines (a matching stamp): the others are decoded without the schema check.
 */
export function parseEventLog(buf: Buffer, knownInvalid: readonly number[] | null = null): ParsedLog {
  const p = new LogParser(knownInvalid, null);
  p.push(buf);
  return p.end();
}

/**
 * What opening a log repaired, in words (null when it loaded clean): hosts and the
 * CLI say it once when they open the session, so nothing is dropped silently.
 */
export function describeLoadReport(report: LoadReport): string | null {
  const parts: string[] = [];
  if (report.tornTail) parts.push('dropped a torn last line (a write cut short by a crash)');
  const n = report.corruptLines.length;
  if (n) {
    const shown = report.corruptLines.slice(0, 10).join(', ');
    parts.push(`skipped ${n} corrupt or invalid line${n === 1 ? '' : 's'} (line${n === 1 ? '' : 's'} ${shown}${n > 10 ? ', …' : ''}); everything else loaded`);
  }
  return parts.length ? parts.join('; ') : null;
}

/**
 * Read and parse the log at `path`, a chunk at a time (see parseEventLog); its long
 * observations stay on disk (spill).
 */
export async function readEventLog(path: string): Promise<ParsedLog> {
  const fh = await open(path, 'r');
  try {
    const { size, mtimeMs } = await fh.stat();
    const tail = await lastLineHash(fh, size);
    const parser = new LogParser(await matchingStamp(path, size, mtimeMs, tail), path, true);
    // One buffer for every chunk: a fresh one each was freed only when V8 next collected,
    // and on the generated 2,500-step session ~30 MB of them were alive at once.
    const buf = Buffer.allocUnsafeSlow(Math.min(READ_CHUNK, size));
    for (let pos = 0; pos < size; ) {
      const got = await readFully(fh, buf.subarray(0, Math.min(buf.length, size - pos)), pos);
      if (got === 0) break;
      parser.push(got === buf.length ? buf : buf.subarray(0, got), true);
      pos += got;
    }
    const parsed = parser.end();
    return tail !== null && !parsed.report.tornTail && parsed.goodLength === size ? { ...parsed, loadedAs: { size, mtimeMs, tail } } : parsed;
  } finally {
    await fh.close();
  }
}

/** The last line of the first `size` bytes, with its newline (null when they do not end with one), read from the end. */
export async function lastLine(fh: FileHandle, size: number): Promise<Buffer | null> {
  if (size === 0) return null;
  const blocks: Buffer[] = [];
  for (let end = size; end > 0; ) {
    const from = Math.max(0, end - 65536);
    const b = Buffer.alloc(end - from);
    if ((await readFully(fh, b, from)) !== b.length) return null;
    if (end === size && b[b.length - 1] !== 0x0a) return null;
    const nl = b.lastIndexOf(0x0a, end === size ? b.length - 2 : b.length - 1);
    if (nl >= 0) {
      blocks.unshift(b.subarray(nl + 1));
      break;
    }
    blocks.unshift(b);
    end = from;
  }
  return Buffer.concat(blocks);
}

/** sha256 of the last line of the first `size` bytes (null when they do not end with a newline). */
async function lastLineHash(fh: FileHandle, size: number): Promise<string | null> {
  const line = await lastLine(fh, size);
  return line && createHash('sha256').update(line).digest('hex');
}

/** How far a log is known to be checked: its first `bytes` (`lines` lines), with these invalid lines. */
interface Checked {
  bytes: number;
  lines: number;
  invalidLines: number[];
}

/**
 * An open session log: the loaded events plus an appender that keeps `seq` going.
 * Opening checks it (or finds a stamp saying it was checked as it is, log-stamp.ts)
 * and stamps it; closing checks what was appended, read back from the file, and
 * stamps the whole, so the next open of a session recorded here skips the check.
 */
export class EventLog {
  private nextSeq: number;
  /** Appended events not yet known to be committed, in file order. */
  private uncommitted: Array<{ offset: number; seq: number }> = [];

  private constructor(
    private readonly file: AppendLog,
    lastSeq: number,
    private readonly checked: Checked,
  ) {
    this.nextSeq = lastSeq + 1;
    // A failed commit rolls the file back, so the numbers its events took are free
    // again. This runs synchronously at the rollback, before anything else can
    // append, so numbers stay dense and strictly increasing in the file.
    file.onRollback = (length) => {
      const first = this.uncommitted.find((u) => u.offset >= length);
      if (first) this.nextSeq = first.seq;
      this.uncommitted = [];
    };
  }

  static async open(path: string, opts?: AppendLogOptions): Promise<{ log: EventLog } & ParsedLog> {
    let parsed: ParsedLog = { events: [], report: { tornTail: false, corruptLines: [] }, goodLength: 0, content: createHash('sha256') };
    const exists = await stat(path).then(() => true, () => false);
    if (exists) {
      parsed = await readEventLog(path);
      if (parsed.report.tornTail) {
        // Cut the torn bytes so the next append starts on a line of its own.
        const fh = await open(path, 'r+');
        try {
          await fh.truncate(parsed.goodLength);
          await fh.datasync();
        } finally {
          await fh.close();
        }
      }
    }
    const file = await AppendLog.open(path, opts);
    const lastSeq = parsed.events.reduce((m, e) => Math.max(m, e.seq), 0);
    const checked = { bytes: parsed.goodLength, lines: parsed.lines ?? 0, invalidLines: parsed.report.corruptLines };
    if (parsed.goodLength > 0 && (!parsed.stamped || parsed.report.tornTail)) await writeStamp(path, parsed.goodLength, parsed.tail ?? '', checked.invalidLines);
    return { log: new EventLog(file, lastSeq, checked), ...parsed };
  }

  /** Append an event; `durable` settles once it is fsync'd. `line`: what was written for it. */
  append(body: SessionEventBody, ts = Date.now()): { event: SessionEvent; durable: Promise<void>; line: string } {
    const event = { seq: this.nextSeq, ts, ...body } as SessionEvent;
    const line = JSON.stringify(event) + '\n';
    const { offset, durable } = this.file.append(line);
    this.nextSeq++;
    // Forget the events that are on disk by now (cheap: one cut per commit).
    const committed = this.file.durableSize;
    let i = 0;
    while (i < this.uncommitted.length && this.uncommitted[i]!.offset < committed) i++;
    if (i > 0) this.uncommitted.splice(0, i);
    this.uncommitted.push({ offset, seq: event.seq });
    return { event, durable, line };
  }

  get size(): number {
    return this.file.size;
  }

  flush(): Promise<void> {
    return this.file.flush();
  }

  async close(): Promise<void> {
    await this.file.close();
    await this.stampAppended();
  }

  /** Check the bytes appended since the open, as the file holds them, and stamp the log (best effort: only a cache). */
  private async stampAppended(): Promise<void> {
    const { bytes, lines, invalidLines } = this.checked;
    try {
      const fh = await open(this.file.path, 'r');
      let added: Buffer;
      try {
        const { size } = await fh.stat();
        if (size <= bytes) return;
        added = Buffer.alloc(size - bytes);
        if ((await readFully(fh, added, bytes)) !== added.length) return;
      } finally {
        await fh.close();
      }
      const p = parseEventLog(added);
      if (p.report.tornTail) return;
      await writeStamp(this.file.path, bytes + added.length, p.tail ?? '', [...invalidLines, ...p.report.corruptLines.map((l) => l + lines)]);
    } catch {
      // the next open checks the log in full
    }
  }
}
