// The timing index of a terminal recording in a form that is searched, not parsed:
// <terminalId>.timing.idx beside <terminalId>.timing.jsonl. A lookup by time or by
// byte offset is a binary search over fixed-width records (O(log n) reads of 32
// bytes), so get_session_output(since_timestamp) on a 40 MB timing log no longer
// parses all of it on every call (625–780 ms, +150–300 MB, blocking every client).
//
// The JSONL stays the record of truth: it is append-only, durable, what older versions
// read (they keep working on sessions recorded by this one), and what imports write.
// The .idx is derived from it and can always be rebuilt from it:
//
//   header (32 bytes)  "APTIMIDX", u32 version 1, u32 record size 32,
//                      f64 bytes of the JSONL the records describe, f64 0
//   record (32 bytes)  f64 ts, f64 max ts of this and every earlier record,
//                      f64 offset, f64 length                    (little-endian)
//
// The records are the JSONL's entries normalized (`normalizeTiming`): ordered by
// offset, not overlapping, lengths > 0 (a rollback entry supersedes what it cuts).
// "The first byte written at or after T" is the first record whose ts >= T; ts need
// not grow (clocks step back), but the running max does, and the first record whose
// max >= T is that same record, so it is found by binary search.
//
// Writes: records are appended (and, after a rollback, the file cut back and the last
// record rewritten) in group flushes without fsync: after a crash the index may lag,
// be torn or mismatch the JSONL, and opening it repairs that: a torn record is
// dropped, entries the JSONL has beyond the header's byte count are applied again
// (applying a suffix twice gives the same records), an index that does not fit its
// JSONL is rebuilt. A session recorded by an older version (JSONL only) is converted
// on open: the index is written to a temporary file and renamed into place.
import { open, readdir, rm, stat, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { readFully as readAt, truncateTo, writeFully as writeAt } from './disk';
import { replaceFile } from './private-files';

export interface TimingRecord {
  ts: number;
  /** Largest ts of this record and every record before it. */
  maxTs: number;
  offset: number;
  length: number;
}

const MAGIC = Buffer.from('APTIMIDX', 'latin1');
const VERSION = 1;
export const TIMING_HEADER_BYTES = 32;
export const TIMING_RECORD_BYTES = 32;
/** Records kept in memory behind the last flush, so a rollback can cut into them. */
const KEEP_TAIL = 4096;
/** Records read per block when the whole index is walked (asciicast export). */
const WALK_BLOCK = 8192;
const FLUSH_DELAY_MS = 100;
/** Records per cached page of the file, and pages kept: the first levels of every search read the same pages. */
const PAGE_RECORDS = 128;
const MAX_PAGES = 256;

export function timingJsonlPath(dir: string, terminalId: string): string {
  return join(dir, `${terminalId}.timing.jsonl`);
}

export function timingIndexPath(dir: string, terminalId: string): string {
  return join(dir, `${terminalId}.timing.idx`);
}

// A JSON number, as JSON.parse reads one.
const NUM = String.raw`-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?`;
const FAST_LINE = new RegExp(`^\\[(${NUM}),(${NUM}),(${NUM})\\]$`);

/**
 * One line of the JSONL as `parseTiming` reads it: three finite numbers, else null
 * (a torn or corrupt line). The common `[ts,offset,length]` shape skips JSON.parse.
 */
export function parseTimingLine(line: string): [number, number, number] | null {
  const m = FAST_LINE.exec(line);
  if (m) return [Number(m[1]), Number(m[2]), Number(m[3])];
  try {
    const [ts, offset, length] = JSON.parse(line) as [number, number, number];
    return Number.isFinite(ts) && Number.isFinite(offset) && Number.isFinite(length) ? [ts, offset, length] : null;
  } catch {
    return null;
  }
}

function encodeHeader(sourceBytes: number): Buffer {
  const b = Buffer.alloc(TIMING_HEADER_BYTES);
  MAGIC.copy(b, 0);
  b.writeUInt32LE(VERSION, 8);
  b.writeUInt32LE(TIMING_RECORD_BYTES, 12);
  b.writeDoubleLE(sourceBytes, 16);
  return b;
}

function encodeRecords(recs: readonly TimingRecord[]): Buffer {
  const b = Buffer.allocUnsafe(recs.length * TIMING_RECORD_BYTES);
  recs.forEach((r, i) => {
    const o = i * TIMING_RECORD_BYTES;
    b.writeDoubleLE(r.ts, o);
    b.writeDoubleLE(r.maxTs, o + 8);
    b.writeDoubleLE(r.offset, o + 16);
    b.writeDoubleLE(r.length, o + 24);
  });
  return b;
}

function decodeRecord(b: Buffer, o: number): TimingRecord {
  return { ts: b.readDoubleLE(o), maxTs: b.readDoubleLE(o + 8), offset: b.readDoubleLE(o + 16), length: b.readDoubleLE(o + 24) };
}

/** The invariants of a run of consecutive records (`prev`: the record before them, itself only checked to be a record). */
function validRun(recs: readonly TimingRecord[], prev: TimingRecord | null): boolean {
  if (prev && (!Number.isFinite(prev.ts) || !(prev.maxTs >= prev.ts) || !(prev.offset >= 0) || !(prev.length > 0))) return false;
  let p = prev;
  for (const r of recs) {
    if (!Number.isFinite(r.ts) || !Number.isFinite(r.maxTs) || !(r.offset >= 0) || !(r.length > 0) || !Number.isFinite(r.offset + r.length)) return false;
    if (r.maxTs !== Math.max(p ? p.maxTs : -Infinity, r.ts)) return false;
    if (p && r.offset < p.offset + p.length) return false;
    p = r;
  }
  return true;
}

/** Entries applied in order, normalized as they come (the in-memory half of an index). */
class Normalizer {
  constructor(
    /** Records before `recs` that are not in memory; a cut into them cannot be applied here. */
    readonly before: TimingRecord | null,
    readonly recs: TimingRecord[] = [],
  ) {}

  /**
   * Apply one JSONL entry. Returns how many records at the start of `recs` it left
   * untouched (everything after them was removed, shortened or added), or -1 when it
   * cuts into records that are not in memory (nothing was changed then).
   */
  apply(ts: number, offset: number, length: number): number {
    const recs = this.recs;
    if (!(offset >= 0) || !(length >= 0)) return recs.length;
    let keep = recs.length;
    while (keep > 0 && recs[keep - 1]!.offset >= offset) keep--;
    const last = keep > 0 ? recs[keep - 1]! : this.before;
    if (keep === 0 && this.before && (this.before.offset >= offset || this.before.offset + this.before.length > offset)) return -1;
    recs.length = keep;
    let untouched = keep;
    if (last && keep > 0 && last.offset + last.length > offset) {
      recs[keep - 1] = { ...last, length: offset - last.offset };
      untouched = keep - 1;
    }
    if (length > 0) recs.push({ ts, maxTs: Math.max(last ? last.maxTs : -Infinity, ts), offset, length });
    return untouched;
  }
}

/** Every entry of a JSONL timing log, normalized, read in blocks (a conversion or a rebuild). */
async function buildFromJsonl(jsonlPath: string): Promise<{ recs: TimingRecord[]; sourceBytes: number }> {
  const n = new Normalizer(null);
  let sourceBytes = 0;
  let fh: FileHandle;
  try {
    fh = await open(jsonlPath, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { recs: [], sourceBytes: 0 };
    throw e;
  }
  try {
    sourceBytes = await applyLines(fh, 0, (await fh.stat()).size, n);
  } finally {
    await fh.close();
  }
  return { recs: n.recs, sourceBytes };
}

/**
 * Apply the complete lines of bytes [from, to) of a JSONL timing log; returns where
 * the last complete line ends (a torn last line is left for later). Stops early (and
 * returns -1) when an entry cuts into records the normalizer does not hold. Lines are
 * found in the bytes, so positions stay exact whatever a damaged line contains; a
 * line decodes as latin1, which reads `[ts,offset,length]` as UTF-8 does.
 */
async function applyLines(fh: FileHandle, from: number, to: number, n: Normalizer): Promise<number> {
  const block = Buffer.allocUnsafe(4 << 20);
  let pos = from;
  let rest: Buffer = Buffer.alloc(0);
  let done = from;
  while (pos < to) {
    const got = await readAt(fh, block.subarray(0, Math.min(block.length, to - pos)), pos);
    if (got === 0) break;
    pos += got;
    const buf = rest.length ? Buffer.concat([rest, block.subarray(0, got)]) : block.subarray(0, got);
    let start = 0;
    for (let nl = buf.indexOf(0x0a); nl >= 0; nl = buf.indexOf(0x0a, start)) {
      if (nl > start) {
        const e = parseTimingLine(buf.toString('latin1', start, nl));
        if (e && n.apply(e[0], e[1], e[2]) < 0) return -1;
      }
      done += nl + 1 - start;
      start = nl + 1;
    }
    rest = Buffer.from(buf.subarray(start));
  }
  return done;
}

/** Conversions and rebuilds in flight in this process, by index path (two openers share one). */
const building = new Map<string, Promise<void>>();

/** Write `recs` as the index at `path`: a temporary file, synced, renamed into place. */
async function writeWhole(path: string, recs: readonly TimingRecord[], sourceBytes: number): Promise<void> {
  // Temporary files a crash left behind are of no use: the JSONL is rebuilt from anyway.
  const stale = `${basename(path)}.tmp-`;
  for (const f of await readdir(dirname(path)).catch(() => [] as string[])) if (f.startsWith(stale)) await rm(join(dirname(path), f), { force: true });
  await replaceFile(path, async (fh) => {
    await writeAt(fh, encodeHeader(sourceBytes), 0);
    for (let i = 0; i < recs.length; i += 65536) await writeAt(fh, encodeRecords(recs.slice(i, i + 65536)), TIMING_HEADER_BYTES + i * TIMING_RECORD_BYTES);
  }, { sync: true });
}

async function rebuild(path: string, jsonlPath: string): Promise<{ count: number; sourceBytes: number }> {
  let out = { count: 0, sourceBytes: 0 };
  const prev = building.get(path);
  const run = (prev ?? Promise.resolve()).then(async () => {
    const { recs, sourceBytes } = await buildFromJsonl(jsonlPath);
    await writeWhole(path, recs, sourceBytes);
    out = { count: recs.length, sourceBytes };
  });
  const settled = run.catch(() => undefined);
  building.set(path, settled);
  try {
    await run;
  } finally {
    if (building.get(path) === settled) building.delete(path);
  }
  return out;
}

export interface TimingIndexOpenOptions {
  /**
   * Keep the index up to date with appends (the recording's writer). Read-only opens
   * (an export of a session another part of the app may be recording) never change an
   * existing index: what the file lacks is read from the JSONL into memory.
   */
  write?: boolean;
  /** Bytes in the recording: an index reaching past them is reported (output lost in a crash). */
  recordingSize?: number;
}

/**
 * The searched timing index of one terminal recording. Lookups see every entry
 * appended so far, flushed or not.
 */
export class TimingIndex {
  /** What opening found wrong and repaired (for people): a torn or lagging index, a rebuild, a short recording. */
  readonly repairs: string[] = [];
  /** Set when opening converted a session recorded before the index existed. */
  converted = false;
  /** Set when the recording ends before the index's last record (a crash lost output): the time of that record. */
  cutShortAt: number | null = null;
  private fh: FileHandle | null;
  /** Records in the file. */
  private diskCount: number;
  /** Records [tailStart, tailStart + tail.length) are in memory (some also in the file). */
  private tail: Normalizer;
  private tailStart: number;
  /** The first record whose bytes in the file are out of date (rewritten after a cut). */
  private staleFrom = Infinity;
  private sourceBytes: number;
  private writtenSourceBytes: number;
  /** A rollback cut deeper than the records in memory: rebuilt from the JSONL at the next flush. */
  private needsRebuild = false;
  private timer: NodeJS.Timeout | null = null;
  /** The JSONL's length known to be written (the recording's timing log), to bound the header's claim. */
  committedJsonl: (() => number) | null = null;
  private flushing: Promise<void> = Promise.resolve();
  private closed = false;
  /** Pages of records before tailStart (which never change until a rebuild), most recently used last. */
  private readonly pages = new Map<number, Buffer>();

  private constructor(
    readonly path: string,
    private readonly jsonlPath: string,
    private readonly writable: boolean,
    fh: FileHandle | null,
    diskCount: number,
    tailStart: number,
    tail: Normalizer,
    sourceBytes: number,
  ) {
    this.fh = fh;
    this.diskCount = diskCount;
    this.tailStart = tailStart;
    this.tail = tail;
    this.sourceBytes = sourceBytes;
    this.writtenSourceBytes = sourceBytes;
  }

  static async open(dir: string, terminalId: string, opts: TimingIndexOpenOptions = {}): Promise<TimingIndex> {
    const path = timingIndexPath(dir, terminalId);
    const jsonlPath = timingJsonlPath(dir, terminalId);
    const write = opts.write ?? false;
    const repairs: string[] = [];
    let converted = false;
    const name = `The timing index of terminal ${terminalId}`;
    for (let attempt = 0; ; attempt++) {
      await building.get(path);
      const jsonlSize = await stat(jsonlPath).then((s) => s.size, () => 0);
      let fh: FileHandle | null = null;
      try {
        fh = await open(path, write ? 'r+' : 'r');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
      const fail = async (why: string): Promise<void> => {
        await fh?.close().catch(() => undefined);
        fh = null;
        if (!write) throw new NotUsable(why);
        const r = await rebuild(path, jsonlPath);
        repairs.push(`${name} ${why}: rebuilt from ${terminalId}.timing.jsonl (${r.count.toLocaleString('en')} entries).`);
      };
      try {
        if (!fh) {
          // Recorded before the index existed (or a new terminal): convert, whoever opens it.
          if (attempt > 0) throw new Error(`${path} could not be created`);
          try {
            await rebuild(path, jsonlPath);
          } catch (e) {
            if (write) throw e;
            throw new NotUsable(`could not be created (${(e as Error).message})`);
          }
          converted = jsonlSize > 0;
          continue;
        }
        const size = (await fh.stat()).size;
        const head = Buffer.alloc(TIMING_HEADER_BYTES);
        const got = await readAt(fh, head, 0);
        if (got < TIMING_HEADER_BYTES || !head.subarray(0, 8).equals(MAGIC) || head.readUInt32LE(8) !== VERSION || head.readUInt32LE(12) !== TIMING_RECORD_BYTES) {
          if (attempt > 1) throw new Error(`${path} stays unreadable after a rebuild`);
          await fail('was unreadable (not an index of this version)');
          continue;
        }
        let sourceBytes = head.readDoubleLE(16);
        const count = Math.floor((size - TIMING_HEADER_BYTES) / TIMING_RECORD_BYTES);
        const torn = size - TIMING_HEADER_BYTES - count * TIMING_RECORD_BYTES;
        if (!(sourceBytes >= 0) || sourceBytes > jsonlSize) {
          if (attempt > 1) throw new Error(`${path} does not fit its JSONL after a rebuild`);
          await fail(`describes ${sourceBytes} bytes of a ${jsonlSize}-byte JSONL (the JSONL was cut or replaced)`);
          continue;
        }
        // The last records, checked: damage from a crash is at the end.
        const n = Math.min(count, KEEP_TAIL);
        const start = count - n;
        const buf = Buffer.allocUnsafe(n * TIMING_RECORD_BYTES + (start > 0 ? TIMING_RECORD_BYTES : 0));
        await readAt(fh, buf, TIMING_HEADER_BYTES + (start > 0 ? start - 1 : 0) * TIMING_RECORD_BYTES);
        const before = start > 0 ? decodeRecord(buf, 0) : null;
        const recs: TimingRecord[] = [];
        for (let i = 0; i < n; i++) recs.push(decodeRecord(buf, (i + (start > 0 ? 1 : 0)) * TIMING_RECORD_BYTES));
        if (!validRun(recs, before)) {
          if (attempt > 1) throw new Error(`${path} is damaged after a rebuild`);
          await fail('was damaged (its last records are not in order)');
          continue;
        }
        if (torn) {
          // Which JSONL line the torn record came from is unknown (the header may or may
          // not have been written after it), so the records are derived again.
          if (attempt > 1) throw new Error(`${path} is torn after a rebuild`);
          await fail(`was cut short (a crash tore its last record, ${torn} byte(s))`);
          continue;
        }
        const tail = new Normalizer(before, recs);
        // Entries the JSONL has beyond what the index describes: a flush lost to a crash,
        // or an older version that recorded more. Applying them again is harmless.
        if (sourceBytes < jsonlSize) {
          const jh = await open(jsonlPath, 'r');
          let end: number;
          const had = tail.recs.length;
          try {
            end = await applyLines(jh, sourceBytes, jsonlSize, tail);
          } finally {
            await jh.close();
          }
          if (end < 0) {
            if (attempt > 1) throw new Error(`${path} cannot catch up after a rebuild`);
            await fail('lagged behind its JSONL by a rollback deeper than it keeps in memory');
            continue;
          }
          if (end > sourceBytes) {
            repairs.push(`${name} lagged ${(end - sourceBytes).toLocaleString('en')} bytes of ${terminalId}.timing.jsonl behind (a crash, or an older version recorded more): caught up (${Math.max(0, tail.recs.length - had)} entries).`);
            sourceBytes = end;
          }
        }
        const last = tail.recs[tail.recs.length - 1] ?? before;
        const recordingSize = opts.recordingSize;
        const cutShortAt = recordingSize !== undefined && last && last.offset + last.length > recordingSize ? last.ts : null;
        if (cutShortAt !== null && last && recordingSize !== undefined) {
          repairs.push(`Terminal ${terminalId}: the recording is shorter than its timing index says (${recordingSize.toLocaleString('en')} of ${(last.offset + last.length).toLocaleString('en')} bytes; output lost in a crash); new output continues from its end.`);
        }
        const idx = new TimingIndex(path, jsonlPath, write, fh, count, start, tail, sourceBytes);
        idx.repairs.push(...repairs);
        idx.converted = converted;
        idx.cutShortAt = cutShortAt;
        if (write) {
          // Catch-up records and the header go to disk now (a rollback in the tail is rewritten).
          idx.staleFrom = start;
          idx.writtenSourceBytes = -1;
          await idx.flush();
        } else {
          idx.writtenSourceBytes = sourceBytes;
        }
        return idx;
      } catch (e) {
        if (e instanceof NotUsable && !write) {
          // Read-only and unusable: everything from the JSONL, in memory only.
          const built = await buildFromJsonl(jsonlPath);
          const idx = new TimingIndex(path, jsonlPath, false, null, 0, 0, new Normalizer(null, built.recs), built.sourceBytes);
          idx.repairs.push(`${name} ${e.message}: read from ${terminalId}.timing.jsonl instead.`);
          return idx;
        }
        await fh?.close().catch(() => undefined);
        throw e;
      }
    }
  }

  /** Records in the index (flushed or not); stale while a rebuild is pending (see length()). */
  private get count(): number {
    return this.tailStart + this.tail.recs.length;
  }

  /** How many records the index holds. */
  async length(): Promise<number> {
    await this.settle();
    return this.count;
  }

  /**
   * Add one entry as the JSONL got it (`jsonlEnd`: the JSONL's length after its line).
   * Synchronous; written at the next flush (soon, or on flush()).
   */
  append(ts: number, offset: number, length: number, jsonlEnd: number): void {
    if (this.closed || !Number.isFinite(ts) || !Number.isFinite(offset) || !Number.isFinite(length)) return;
    this.sourceBytes = Math.max(this.sourceBytes, jsonlEnd);
    if (this.needsRebuild) return;
    const untouched = this.tail.apply(ts, offset, length);
    if (untouched < 0) this.needsRebuild = true;
    else if (this.tailStart + untouched < this.diskCount) {
      // A rollback changed records already in the file: they are rewritten (or cut off).
      this.staleFrom = Math.min(this.staleFrom, this.tailStart + untouched);
    }
    this.schedule();
  }

  private schedule(): void {
    if (!this.writable || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.flush().catch(() => undefined);
    }, FLUSH_DELAY_MS);
    // A flush lost at exit is caught up from the JSONL at the next open.
    this.timer.unref();
  }

  /** Write what was appended (cut, rewritten, rebuilt as needed). */
  flush(): Promise<void> {
    if (!this.writable) return Promise.resolve();
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const run = this.flushing.then(() => this.write());
    this.flushing = run.catch(() => undefined);
    return run;
  }

  private async write(): Promise<void> {
    if (!this.fh) return;
    if (this.needsRebuild && (this.committedJsonl?.() ?? Infinity) < this.sourceBytes) {
      // The rebuild reads the JSONL: wait until every entry appended here is in it,
      // else the rebuilt index would lack them until the next open.
      this.schedule();
      return;
    }
    if (this.needsRebuild) {
      // The JSONL holds every entry (the recording flushes it before this).
      await this.fh.close();
      this.fh = null;
      const r = await rebuild(this.path, this.jsonlPath);
      this.fh = await open(this.path, 'r+');
      const n = Math.min(r.count, KEEP_TAIL);
      const start = r.count - n;
      const buf = Buffer.allocUnsafe((n + (start > 0 ? 1 : 0)) * TIMING_RECORD_BYTES);
      await readAt(this.fh, buf, TIMING_HEADER_BYTES + (start > 0 ? start - 1 : 0) * TIMING_RECORD_BYTES);
      const recs: TimingRecord[] = [];
      for (let i = 0; i < n; i++) recs.push(decodeRecord(buf, (i + (start > 0 ? 1 : 0)) * TIMING_RECORD_BYTES));
      this.tail = new Normalizer(start > 0 ? decodeRecord(buf, 0) : null, recs);
      this.pages.clear();
      this.tailStart = start;
      this.diskCount = r.count;
      this.staleFrom = Infinity;
      this.sourceBytes = Math.max(this.sourceBytes, r.sourceBytes);
      this.writtenSourceBytes = r.sourceBytes;
      this.needsRebuild = false;
      return;
    }
    const count = this.count;
    const from = Math.min(this.staleFrom, this.diskCount, count);
    // Never claim JSONL lines that are not in the file yet (records ahead of the header are fine: applied again, they give the same records).
    const sourceBytes = Math.min(this.sourceBytes, this.committedJsonl?.() ?? Infinity);
    if (from === count && count === this.diskCount && sourceBytes === this.writtenSourceBytes) return;
    if (count < this.diskCount) await truncateTo(this.fh, TIMING_HEADER_BYTES + count * TIMING_RECORD_BYTES);
    if (from < count) await writeAt(this.fh, encodeRecords(this.tail.recs.slice(from - this.tailStart)), TIMING_HEADER_BYTES + from * TIMING_RECORD_BYTES);
    // The header last: it never claims entries whose records are not written.
    await writeAt(this.fh, encodeHeader(sourceBytes), 0);
    this.diskCount = count;
    this.staleFrom = Infinity;
    this.writtenSourceBytes = sourceBytes;
    // Keep the last records in memory for rollbacks; the rest is read from the file.
    const excess = this.tail.recs.length - KEEP_TAIL;
    if (excess > 0) {
      this.tail = new Normalizer(this.tail.recs[excess - 1]!, this.tail.recs.slice(excess));
      this.tailStart += excess;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.flush().catch(() => undefined);
    this.closed = true;
    await this.flushing;
    await this.fh?.close().catch(() => undefined);
    this.fh = null;
  }

  /** Record `i` (0-based), from memory or the file. */
  private async record(i: number): Promise<TimingRecord> {
    if (i >= this.tailStart) return this.tail.recs[i - this.tailStart]!;
    if (!this.fh) throw new Error(`timing index ${this.path}: record ${i} is not available`);
    const p = Math.floor(i / PAGE_RECORDS);
    let page = this.pages.get(p);
    if (page) this.pages.delete(p);
    else {
      page = Buffer.allocUnsafe(PAGE_RECORDS * TIMING_RECORD_BYTES);
      page = page.subarray(0, await readAt(this.fh, page, TIMING_HEADER_BYTES + p * PAGE_RECORDS * TIMING_RECORD_BYTES));
      // Only a page wholly before the in-memory tail is final; one reaching into it is read again next time.
      if ((p + 1) * PAGE_RECORDS > this.tailStart || page.length < PAGE_RECORDS * TIMING_RECORD_BYTES) return decodeRecord(page, (i - p * PAGE_RECORDS) * TIMING_RECORD_BYTES);
      if (this.pages.size >= MAX_PAGES) this.pages.delete(this.pages.keys().next().value!);
    }
    this.pages.set(p, page);
    return decodeRecord(page, (i - p * PAGE_RECORDS) * TIMING_RECORD_BYTES);
  }

  /** The first record index in [0, count) for which `pred` holds (pred is monotone), or count. */
  private async search(pred: (r: TimingRecord) => boolean): Promise<number> {
    await this.settle();
    const tail = this.tail.recs;
    const tailStart = this.tailStart;
    // The in-memory part first: recent output is what is asked for most.
    if (tail.length && !pred(tail[0]!)) {
      let lo = 0;
      let hi = tail.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (pred(tail[mid]!)) hi = mid;
        else lo = mid + 1;
      }
      return tailStart + lo;
    }
    let lo = 0;
    let hi = tailStart;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (pred(await this.record(mid))) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  /** A pending rebuild must happen before the file is searched. */
  private async settle(): Promise<void> {
    if (this.needsRebuild) await this.flush();
  }

  /**
   * The first record written at or after `since` (ms epoch), or null: where
   * get_session_output(since_timestamp) starts reading.
   */
  async firstAtOrAfter(since: number): Promise<TimingRecord | null> {
    const i = await this.search((r) => r.maxTs >= since);
    return i < this.count ? this.record(i) : null;
  }

  /** The record holding byte `offset`, else the last one before it (a gap the index missed), or null. */
  async atOffset(offset: number): Promise<TimingRecord | null> {
    const i = await this.search((r) => r.offset > offset);
    return i > 0 ? this.record(i - 1) : null;
  }

  /** The time byte `offset` was written: its record's, in a gap the one before it, before the first record the first's. */
  async timeAt(offset: number): Promise<number | null> {
    const r = (await this.atOffset(offset)) ?? (this.count ? await this.record(0) : null);
    return r ? r.ts : null;
  }

  /**
   * Up to `max` consecutive records from the one holding byte `offset` (else the first
   * after it) on, in offset order: a replay's window, one search and then sequential reads.
   */
  async recordsFrom(offset: number, max: number): Promise<TimingRecord[]> {
    let i = await this.search((r) => r.offset + r.length > offset);
    const out: TimingRecord[] = [];
    for (; i < this.count && out.length < max; i++) out.push(await this.record(i));
    return out;
  }

  /** Every record in offset order, in blocks (a snapshot of the index as it is when called). */
  async *blocks(): AsyncGenerator<TimingRecord[]> {
    await this.settle();
    const tailStart = this.tailStart;
    const tail = this.tail.recs.slice();
    const buf = Buffer.allocUnsafe(WALK_BLOCK * TIMING_RECORD_BYTES);
    for (let i = 0; i < tailStart; i += WALK_BLOCK) {
      const n = Math.min(WALK_BLOCK, tailStart - i);
      await readAt(this.fh!, buf.subarray(0, n * TIMING_RECORD_BYTES), TIMING_HEADER_BYTES + i * TIMING_RECORD_BYTES);
      const out: TimingRecord[] = [];
      for (let k = 0; k < n; k++) out.push(decodeRecord(buf, k * TIMING_RECORD_BYTES));
      yield out;
    }
    if (tail.length) yield tail;
  }
}

class NotUsable extends Error {}
