import { open, stat } from 'node:fs/promises';
import type { LoadReport } from '../../../shared/types';
import { parseSessionEvent, type SessionEvent, type SessionEventBody } from '../../../shared/events';
import { AppendLog, type AppendLogOptions } from './append-log';
import { readFully } from './disk';
import { matchingStamp, tailHash, writeStamp } from './log-stamp';

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
}

/**
 * Parse a JSONL event log. A last line without its newline is a write torn by a
 * crash and is dropped; a corrupt line in the middle is skipped and reported while
 * every other event loads. `knownInvalid`: the log was checked before and these are
 * its invalid lines (a matching stamp): the others are decoded without the schema check.
 */
export function parseEventLog(buf: Buffer, knownInvalid: readonly number[] | null = null): ParsedLog {
  const skip = knownInvalid ? new Set(knownInvalid) : null;
  const events: SessionEvent[] = [];
  const corruptLines: number[] = [];
  const lastNl = buf.lastIndexOf(0x0a);
  const goodLength = lastNl + 1;
  const tornTail = goodLength < buf.length;
  let line = 0;
  let start = 0;
  while (start < goodLength) {
    const nl = buf.indexOf(0x0a, start);
    line++;
    if (nl > start) {
      try {
        if (skip?.has(line)) throw new Error('not an event (checked before)');
        const value = JSON.parse(buf.toString('utf8', start, nl)) as unknown;
        // A line that is JSON but not a valid event (wrong shape, unknown type) is
        // reported like a corrupt one: a fold must never see it.
        const ev = skip ? (typeof value === 'object' && value !== null ? (value as SessionEvent) : null) : parseSessionEvent(value);
        if (!ev) throw new Error('not an event');
        events.push(ev);
      } catch {
        corruptLines.push(line);
      }
    }
    start = nl + 1;
  }
  return { events, report: { tornTail, corruptLines }, goodLength, stamped: skip !== null, tail: goodLength ? tailHash(buf, goodLength) : '', lines: line };
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

export async function readEventLog(path: string): Promise<ParsedLog> {
  const fh = await open(path, 'r');
  try {
    const { mtimeMs } = await fh.stat();
    const buf = await fh.readFile();
    return parseEventLog(buf, await matchingStamp(path, buf, mtimeMs));
  } finally {
    await fh.close();
  }
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
    let parsed: ParsedLog = { events: [], report: { tornTail: false, corruptLines: [] }, goodLength: 0 };
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

  /** Append an event; `durable` settles once it is fsync'd. */
  append(body: SessionEventBody, ts = Date.now()): { event: SessionEvent; durable: Promise<void> } {
    const event = { seq: this.nextSeq, ts, ...body } as SessionEvent;
    const { offset, durable } = this.file.append(JSON.stringify(event) + '\n');
    this.nextSeq++;
    // Forget the events that are on disk by now (cheap: one cut per commit).
    const committed = this.file.durableSize;
    let i = 0;
    while (i < this.uncommitted.length && this.uncommitted[i]!.offset < committed) i++;
    if (i > 0) this.uncommitted.splice(0, i);
    this.uncommitted.push({ offset, seq: event.seq });
    return { event, durable };
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
