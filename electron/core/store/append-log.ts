import { open, type FileHandle } from 'node:fs/promises';
import { ApolloError } from '../../../shared/errors';
import { readFully, truncateTo, writeFully } from './disk';
import { PRIVATE_FILE_MODE, tightenHandle } from './private-files';

export interface AppendLogOptions {
  /**
   * How long an append may wait for company before its group is committed. 0 (the
   * default) commits on the next turn of the event loop; appends that arrive while
   * a commit is in flight form the next group, so batching grows with load.
   */
  maxDelayMs?: number;
  /** A group is committed early once it holds this many bytes. */
  maxBatchBytes?: number;
  /** fdatasync each group (true) or leave it to the OS page cache (false). */
  durable?: boolean;
  /**
   * On a full disk keep the refused bytes and write them again later (every second,
   * and at each flush) instead of dropping them: offsets stay valid and `durable`
   * settles late rather than failing. For terminal output, whose producer can be
   * paused (see onBlocked) but whose bytes cannot be asked for again. Closing gives
   * up on what is still held (its callers get DISK_FULL).
   */
  holdOnFull?: boolean;
}

/** How often bytes held back by a full disk are tried again. */
const HOLD_RETRY_MS = 1000;

interface Pending {
  chunks: Array<Buffer | string>;
  bytes: number;
  waiters: Array<{ resolve: () => void; reject: (e: Error) => void }>;
}

/**
 * An append-only file with group commit: appends are buffered and written (and
 * fsync'd) together within a bounded delay, so a burst of thousands of small
 * appends costs a handful of syscalls, while each caller still learns exactly when
 * its bytes are durable. Offsets are assigned at append time.
 *
 * On a failed write (ENOSPC, EIO) the file is cut back to its last committed length,
 * so a half-written group never leaves a torn record in front of later ones, and
 * every caller whose bytes were not committed gets the error.
 */
export class AppendLog {
  private committed: number;
  private logical: number;
  private pending: Pending | null = null;
  private timer: NodeJS.Timeout | NodeJS.Immediate | null = null;
  private flushing: Promise<void> | null = null;
  private closed = false;
  private closing: Promise<void> | null = null;
  /** Set when a failed group could not be cut off the file: nothing more may be appended after it. */
  private broken: ApolloError | null = null;
  /**
   * Called synchronously when a failed group is rolled back, with the length the
   * file is cut back to: every append at or past it was dropped. (Appends made after
   * this call are queued at that length.)
   */
  onRollback: ((length: number) => void) | null = null;
  /**
   * With holdOnFull: called with the DISK_FULL error when bytes start being held
   * back, and with null once they are all written.
   */
  onBlocked: ((err: ApolloError | null) => void) | null = null;
  /** The group a full disk refused (holdOnFull), written again before anything newer. */
  private held: Pending | null = null;
  private blocked: ApolloError | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private readonly holdOnFull: boolean;
  private readonly maxDelayMs: number;
  private readonly maxBatchBytes: number;
  private readonly durable: boolean;

  private constructor(
    readonly path: string,
    private readonly fh: FileHandle,
    size: number,
    opts: AppendLogOptions,
  ) {
    this.committed = size;
    this.logical = size;
    this.maxDelayMs = opts.maxDelayMs ?? 0;
    this.maxBatchBytes = opts.maxBatchBytes ?? 1 << 20;
    this.durable = opts.durable ?? true;
    this.holdOnFull = opts.holdOnFull ?? false;
  }

  static async open(path: string, opts: AppendLogOptions = {}): Promise<AppendLog> {
    // Event logs and terminal output hold what went through the shells: owner only.
    const fh = await open(path, 'a+', PRIVATE_FILE_MODE);
    try {
      await tightenHandle(fh); // a file made by an older version (0644)
    } catch (e) {
      await fh.close();
      throw e;
    }
    const { size } = await fh.stat();
    return new AppendLog(path, fh, size, opts);
  }

  /** Length of the file including bytes not yet committed. */
  get size(): number {
    return this.logical;
  }

  /** A full disk holds bytes back (holdOnFull) until they can be written. */
  get isBlocked(): boolean {
    return this.blocked !== null;
  }

  /** Length of the file known to be on disk. */
  get durableSize(): number {
    return this.committed;
  }

  /**
   * Queue `data` for the next group commit. Returns the offset it will occupy and a
   * promise that settles once it is durable (or failed).
   */
  append(data: Buffer | string): { offset: number; durable: Promise<void> } {
    if (this.closed) throw new ApolloError('IO', `Log ${this.path} is closed`);
    if (this.broken) throw this.broken;
    const len = typeof data === 'string' ? Buffer.byteLength(data, 'utf8') : data.length;
    const offset = this.logical;
    this.logical += len;
    const p = (this.pending ??= { chunks: [], bytes: 0, waiters: [] });
    p.chunks.push(data);
    p.bytes += len;
    const durable = new Promise<void>((resolve, reject) => p.waiters.push({ resolve, reject }));
    // Callers that do not await durability must not crash the process on failure;
    // the error still reaches whoever awaits this promise.
    durable.catch(() => {});
    // While a full disk holds bytes back, only the retry timer writes (each attempt
    // rewrites everything held, so it must not run at every append).
    if (this.held) return { offset, durable };
    if (p.bytes >= this.maxBatchBytes) void this.flush();
    else if (!this.timer) {
      this.timer = this.maxDelayMs > 0 ? setTimeout(() => void this.flush(), this.maxDelayMs) : setImmediate(() => void this.flush());
    }
    return { offset, durable };
  }

  /** Commit everything appended so far. */
  async flush(): Promise<void> {
    this.clearTimer();
    while (this.flushing) await this.flushing.catch(() => {});
    const batch = this.held ? joinPending(this.held, this.pending) : this.pending;
    if (!batch) return;
    this.pending = null;
    this.held = null;
    this.flushing = this.commit(batch);
    try {
      await this.flushing;
    } finally {
      this.flushing = null;
    }
  }

  private clearTimer(): void {
    if (!this.timer) return;
    clearTimeout(this.timer as NodeJS.Timeout);
    clearImmediate(this.timer as NodeJS.Immediate);
    this.timer = null;
  }

  private async commit(batch: Pending): Promise<void> {
    if (this.broken) {
      for (const w of batch.waiters) w.reject(this.broken);
      return;
    }
    const buf = toBuffer(batch);
    try {
      await writeFully(this.fh, buf);
      if (this.durable) await this.fh.datasync();
      this.committed += buf.length;
      for (const w of batch.waiters) w.resolve();
      if (this.blocked) {
        this.blocked = null;
        notify(this.onBlocked, null);
      }
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (this.holdOnFull && !this.closed && (e.code === 'ENOSPC' || e.code === 'EDQUOT')) await this.hold(batch, e);
      else await this.fail(batch, e);
    }
  }

  /** Keep a group a full disk refused, to write it again (holdOnFull). */
  private async hold(batch: Pending, err: NodeJS.ErrnoException): Promise<void> {
    try {
      // Part of it may be in the file: the next attempt writes it all again from the committed end.
      await truncateTo(this.fh, this.committed);
    } catch {
      await this.fail(batch, err);
      return;
    }
    // Appends made during the attempt come after it.
    this.held = joinPending(batch, this.pending);
    this.pending = null;
    this.clearTimer();
    if (!this.blocked) {
      this.blocked = new ApolloError('DISK_FULL', `Disk full: ${this.path} cannot be written; ${this.logical - this.committed} bytes are kept in memory and written once space is freed.`);
      notify(this.onBlocked, this.blocked);
    }
    this.retryTimer ??= setTimeout(() => {
      this.retryTimer = null;
      if (!this.closed) void this.flush();
    }, HOLD_RETRY_MS);
  }

  private async fail(batch: Pending, err: NodeJS.ErrnoException): Promise<void> {
    // Bytes queued after the failed group were given offsets that assumed it landed:
    // drop them too, and reset the end *before* awaiting anything, so that appends
    // made while the file is being cut back get offsets at its committed end.
    const later = this.pending;
    this.pending = null;
    this.clearTimer();
    const length = this.committed;
    this.logical = length;
    try {
      this.onRollback?.(length);
    } catch {
      // a listener's failure must not leave the waiters hanging
    }
    let e =
      err.code === 'ENOSPC' || err.code === 'EDQUOT'
        ? new ApolloError('DISK_FULL', `Disk full: could not write to ${this.path}. Free some space; nothing already saved was lost.`)
        : new ApolloError('IO', `Could not write to ${this.path}: ${err.message}`);
    try {
      await truncateTo(this.fh, length);
    } catch (te) {
      // Part of the group may still be in the file: appending after it would put a
      // torn record in the middle (and give the next bytes wrong offsets). Refuse
      // further writes; the next open drops the torn tail.
      this.broken = new ApolloError(
        e.code,
        `${e.message} The partly written data could not be removed (${(te as Error).message}), so ${this.path} takes no more writes: ` +
          'restart Apollo Workstation (or reopen the session); the damaged tail is dropped when it is opened again.',
      );
      e = this.broken;
    }
    for (const w of [...batch.waiters, ...(later?.waiters ?? [])]) w.reject(e);
  }

  /** Read a committed or pending byte range. */
  async read(start: number, end: number): Promise<Buffer> {
    const from = Math.max(0, Math.min(start, this.logical));
    const to = Math.max(from, Math.min(end, this.logical));
    if (to > this.committed) await this.flush();
    const buf = Buffer.alloc(to - from);
    const onDisk = Math.max(0, Math.min(to, this.committed) - from);
    let got = await readFully(this.fh, buf.subarray(0, onDisk), from);
    // Bytes a full disk holds back are read from memory.
    if (got === onDisk && to > this.committed) got += this.copyUnwritten(buf, got, Math.max(from, this.committed), to);
    return got === buf.length ? buf : buf.subarray(0, got);
  }

  /** Copy the not yet written bytes [start, end) (held, then pending) into `buf` at `at`; returns how many. */
  private copyUnwritten(buf: Buffer, at: number, start: number, end: number): number {
    let pos = this.committed;
    let n = 0;
    for (const c of [...(this.held?.chunks ?? []), ...(this.pending?.chunks ?? [])]) {
      const b = typeof c === 'string' ? Buffer.from(c, 'utf8') : c;
      const lo = Math.max(start, pos);
      const hi = Math.min(end, pos + b.length);
      if (hi > lo) n += b.copy(buf, at + n, lo - pos, hi - pos);
      pos += b.length;
      if (pos >= end) break;
    }
    return n;
  }

  /**
   * Commit everything appended so far and close the file. Appends are refused from
   * the moment close is called (they would otherwise be accepted and then fail on
   * the closed file); concurrent calls share one close.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.closed = true;
      if (this.retryTimer) clearTimeout(this.retryTimer);
      this.retryTimer = null;
      // Closed, a full disk no longer holds bytes back: they fail (and roll back).
      while (this.pending || this.flushing || this.held) await this.flush();
      this.clearTimer();
      await this.fh.close();
    })();
    return this.closing;
  }
}

/** Two groups as one, in file order. */
function joinPending(a: Pending, b: Pending | null): Pending {
  if (!b) return a;
  return { chunks: [...a.chunks, ...b.chunks], bytes: a.bytes + b.bytes, waiters: [...a.waiters, ...b.waiters] };
}

function notify(listener: ((err: ApolloError | null) => void) | null, err: ApolloError | null): void {
  try {
    listener?.(err);
  } catch {
    // a listener's failure must not break the log
  }
}

/** One buffer for a group; runs of strings are joined first, which is far cheaper than a Buffer each. */
function toBuffer(batch: Pending): Buffer {
  const { chunks } = batch;
  if (chunks.length === 1) return typeof chunks[0] === 'string' ? Buffer.from(chunks[0], 'utf8') : chunks[0]!;
  if (chunks.every((c) => typeof c === 'string')) return Buffer.from((chunks as string[]).join(''), 'utf8');
  return Buffer.concat(chunks.map((c) => (typeof c === 'string' ? Buffer.from(c, 'utf8') : c)), batch.bytes);
}
