// Keyframes of a terminal recording: the screen, serialized (headless-screen.ts), every
// KEYFRAME_BYTES of output, in <terminal>.keyframes beside <terminal>.out. The screen
// at any byte is then the keyframe at or before it plus at most about KEYFRAME_BYTES of
// replay, instead of replaying the whole recording (800 MB) or a tail of it that
// misses a full-screen program's state drawn long before.
//
//   header (16 bytes)   "APKEYFRM", u32 version 1, u32 0
//   record              u32 "KFR1", u32 payload bytes, u32 CRC-32 of the payload, u32 0
//   payload             f64 offset, u32 cols, u32 rows, 8 bytes SHA-256 prefix of the
//                       64 recording bytes before offset, then the snapshot (UTF-8)
//
// Append-only, group-committed and fdatasync'd like the other logs (AppendLog), 0600.
// The offset index is the records' heads, read in one pass on open (a few KB per
// keyframe: ~10 MB beside 800 MB). Keyframes are only taken where the emulator has
// nothing half-parsed (see HeadlessScreen.atGround) and only from bytes already on
// disk, so a rollback or a crash never leaves one describing bytes that were replaced.
//
// Built as the recording is made (the terminal nudges after output; the builder reads
// the new bytes back from the recording, so the pty's path never waits for it) and,
// for a recording made before keyframes, lazily on the first screen asked for. The
// emulators run in the keyframe worker when the build has one (screen-engine.ts): this
// thread reads the recording and writes this file, the worker parses. A worker that
// stops interrupts a build, which goes on from its last keyframe. Opening
// repairs: a torn or corrupt record ends the file there (cut back and built again from
// the last good keyframe); a keyframe past the recording's end or whose bytes no longer
// match it is dropped with everything after it.
import { createHash } from 'node:crypto';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { AppendLog } from '../store/append-log';
import { readFully as readAt } from '../store/disk';
import type { EngineScreen, FedScreen, ScreenEngine } from './screen-engine';
import { screenEngine, WorkerStopped } from './screen-workers';

export const KEYFRAME_BYTES = 256 * 1024;
/** Bytes read from the recording per step of a build; once a keyframe is due, smaller steps find a point at ground. */
const READ_CHUNK = 256 * 1024;
const DUE_STEP = 4096;
const FINGERPRINT_SPAN = 64;
const MAGIC = Buffer.from('APKEYFRM', 'latin1');
const VERSION = 1;
const HEADER_BYTES = 16;
const RECORD_MAGIC = 0x3152464b; // "KFR1" little-endian
const RECORD_HEAD = 16;
const PAYLOAD_HEAD = 24;
/** A snapshot is a screen: anything this large is damage, not a keyframe. */
const MAX_PAYLOAD = 64 * 1024 * 1024;
/** Builds interrupted in a row (no keyframe between) before the background build gives up on a terminal. */
const MAX_FAILURES = 3;

export function keyframesPath(dir: string, terminalId: string): string {
  return join(dir, `${terminalId}.keyframes`);
}

/** The terminal's size from `offset` on (terminal.started and terminal.resized events). */
export interface SizeChange {
  offset: number;
  cols: number;
  rows: number;
}

/** What keyframes are built from: a terminal recording. */
export interface KeyframeSource {
  readonly size: number;
  /** Bytes on disk: keyframes are built from these only. */
  readonly durableSize: number;
  read(start: number, end: number): Promise<Buffer>;
}

export interface Keyframe {
  offset: number;
  cols: number;
  rows: number;
  /** Where its snapshot is in the keyframe file, and its length in bytes. */
  at: number;
  length: number;
}

export interface ScreenAt {
  /** The screen after every byte before `offset`. */
  offset: number;
  cols: number;
  rows: number;
  /** Written into a fresh terminal of cols × rows, gives that screen. */
  data: string;
  /** The keyframe it started from (0: the start of the recording) and the bytes replayed after it. */
  keyframeOffset: number;
  replayedBytes: number;
}

export interface KeyframeOptions {
  /** Bytes of output between keyframes (tests use small ones). */
  interval?: number;
  /** fdatasync each group (the store's default); off for throwaway workspaces. */
  durable?: boolean;
  /** Where the emulators run (default: the host's keyframe worker, or this thread from source). */
  engine?: ScreenEngine;
}

const DEFAULT_SIZE = { cols: 80, rows: 24 };

function fingerprint(bytes: Buffer): Buffer {
  return createHash('sha256').update(bytes).digest().subarray(0, 8);
}

function encodeRecord(offset: number, cols: number, rows: number, fp: Buffer, snapshot: string): Buffer {
  const snap = Buffer.from(snapshot, 'utf8');
  const payload = Buffer.allocUnsafe(PAYLOAD_HEAD + snap.length);
  payload.writeDoubleLE(offset, 0);
  payload.writeUInt32LE(cols, 8);
  payload.writeUInt32LE(rows, 12);
  fp.copy(payload, 16, 0, 8);
  snap.copy(payload, PAYLOAD_HEAD);
  const head = Buffer.alloc(RECORD_HEAD);
  head.writeUInt32LE(RECORD_MAGIC, 0);
  head.writeUInt32LE(payload.length, 4);
  head.writeUInt32LE(crc32(payload), 8);
  return Buffer.concat([head, payload]);
}

function encodeHeader(): Buffer {
  const b = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(b, 0);
  b.writeUInt32LE(VERSION, 8);
  return b;
}

interface Scanned {
  frames: Array<Keyframe & { fp: Buffer }>;
  /** Where the valid part of the file ends (a header alone: HEADER_BYTES; nothing usable: 0). */
  validEnd: number;
  size: number;
  problem: string | null;
}

/** Every valid record in order, up to the first torn or corrupt one. */
async function scan(path: string): Promise<Scanned> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { frames: [], validEnd: 0, size: -1, problem: null };
    throw e;
  }
  try {
    const size = (await fh.stat()).size;
    const head = Buffer.alloc(HEADER_BYTES);
    if ((await readAt(fh, head, 0)) < HEADER_BYTES || !head.subarray(0, 8).equals(MAGIC) || head.readUInt32LE(8) !== VERSION) {
      return { frames: [], validEnd: 0, size, problem: size === 0 ? null : 'was unreadable (not a keyframe file of this version)' };
    }
    const frames: Scanned['frames'] = [];
    let pos = HEADER_BYTES;
    const rh = Buffer.alloc(RECORD_HEAD);
    let problem: string | null = null;
    while (pos < size) {
      if ((await readAt(fh, rh, pos)) < RECORD_HEAD) {
        problem = `was cut short (a crash tore its last keyframe, ${size - pos} byte(s))`;
        break;
      }
      const len = rh.readUInt32LE(4);
      if (rh.readUInt32LE(0) !== RECORD_MAGIC || len < PAYLOAD_HEAD || len > MAX_PAYLOAD) {
        problem = `was damaged at byte ${pos.toLocaleString('en')}`;
        break;
      }
      if (pos + RECORD_HEAD + len > size) {
        problem = `was cut short (a crash tore its last keyframe, ${size - pos} byte(s))`;
        break;
      }
      const payload = Buffer.allocUnsafe(len);
      await readAt(fh, payload, pos + RECORD_HEAD);
      const offset = payload.readDoubleLE(0);
      const prev = frames[frames.length - 1];
      if (crc32(payload) !== rh.readUInt32LE(8) || !(offset > (prev?.offset ?? 0)) || !Number.isSafeInteger(offset)) {
        problem = `was damaged at byte ${pos.toLocaleString('en')}`;
        break;
      }
      frames.push({
        offset,
        cols: payload.readUInt32LE(8),
        rows: payload.readUInt32LE(12),
        fp: Buffer.from(payload.subarray(16, 24)),
        at: pos + RECORD_HEAD + PAYLOAD_HEAD,
        length: len - PAYLOAD_HEAD,
      });
      pos += RECORD_HEAD + len;
    }
    return { frames, validEnd: pos, size, problem };
  } finally {
    await fh.close();
  }
}

export class TerminalKeyframes {
  /** What opening repaired, and that a lazy build started; each also told to onReport once set. */
  readonly repairs: string[] = [];
  private reportTo: ((message: string) => void) | null = null;
  private readonly sizes: SizeChange[];
  /** The emulator the build continues with, and the byte it stands at. */
  private builder: EngineScreen | null = null;
  /** Builds interrupted since the last keyframe (a stopped worker); at MAX_FAILURES the background build stops. */
  private failures = 0;
  private pos = 0;
  private work: Promise<void> = Promise.resolve();
  private closed = false;
  private scheduled = false;
  /** The file held bytes of no keyframe (new, or built by an older version): said once when a build starts. */
  private lazy: boolean;

  private constructor(
    readonly terminalId: string,
    private readonly source: KeyframeSource,
    private readonly log: AppendLog,
    private readonly frames: Keyframe[],
    sizes: readonly SizeChange[],
    private readonly interval: number,
    lazy: boolean,
    private readonly engine: ScreenEngine,
  ) {
    this.sizes = [...sizes].sort((a, b) => a.offset - b.offset);
    this.lazy = lazy;
  }

  static async open(dir: string, terminalId: string, source: KeyframeSource, sizes: readonly SizeChange[], opts: KeyframeOptions = {}): Promise<TerminalKeyframes> {
    const path = keyframesPath(dir, terminalId);
    const name = `The keyframes of terminal ${terminalId}`;
    const repairs: string[] = [];
    const found = await scan(path);
    let frames = found.frames;
    let keepBytes = found.validEnd;
    if (found.problem) repairs.push(`${name} ${found.problem}: cut back to ${frames.length.toLocaleString('en')} keyframe(s) and built on from there.`);
    // A keyframe must describe the recording as it is: the same bytes before its offset.
    const recSize = source.durableSize;
    let drop = frames.length;
    while (drop > 0) {
      const f = frames[drop - 1]!;
      if (f.offset <= recSize) {
        const from = Math.max(0, f.offset - FINGERPRINT_SPAN);
        if (fingerprint(await source.read(from, f.offset)).equals(f.fp)) break;
      }
      drop--;
    }
    if (drop < frames.length) {
      repairs.push(`${name} describe output the recording no longer has (${frames.length - drop} of ${frames.length} keyframe(s): the recording was cut or rewritten): dropped and built again.`);
      keepBytes = frames[drop]!.at - PAYLOAD_HEAD - RECORD_HEAD;
      frames = frames.slice(0, drop);
    }
    if (keepBytes < HEADER_BYTES) keepBytes = 0;
    if (found.size >= 0 && keepBytes < found.size) {
      const fh = await open(path, 'r+');
      try {
        await fh.truncate(keepBytes);
      } finally {
        await fh.close();
      }
    }
    const log = await AppendLog.open(path, { maxDelayMs: 100, durable: opts.durable ?? true });
    if (log.size === 0) log.append(encodeHeader());
    // Recorded before keyframes (or the file was lost) while there is output: built on first use.
    const lazy = frames.length === 0 && recSize > (opts.interval ?? KEYFRAME_BYTES) && found.size < 0;
    const k = new TerminalKeyframes(terminalId, source, log, frames.map(({ fp: _fp, ...f }) => f), sizes, opts.interval ?? KEYFRAME_BYTES, lazy, opts.engine ?? screenEngine());
    k.repairs.push(...repairs);
    return k;
  }

  /** Told every repair so far and each later one (a lazy build starting). */
  set onReport(listener: ((message: string) => void) | null) {
    this.reportTo = listener;
    if (listener) for (const m of this.repairs) listener(m);
  }

  private report(message: string): void {
    this.repairs.push(message);
    this.reportTo?.(message);
  }

  /** The keyframes so far, in offset order. */
  list(): readonly Keyframe[] {
    return this.frames;
  }

  /** The bytes of the recording the build has taken in. */
  get built(): number {
    return this.pos;
  }

  /** The terminal's size changed at `offset` (told by the live terminal before any later output). */
  resized(offset: number, cols: number, rows: number): void {
    const last = this.sizes[this.sizes.length - 1];
    if (last && last.offset === offset && last.cols === cols && last.rows === rows) return;
    let i = this.sizes.length;
    while (i > 0 && this.sizes[i - 1]!.offset > offset) i--;
    this.sizes.splice(i, 0, { offset, cols, rows });
  }

  private sizeAt(offset: number): { cols: number; rows: number } {
    let s: { cols: number; rows: number } = this.sizes[0] ?? DEFAULT_SIZE;
    for (const c of this.sizes) {
      if (c.offset > offset) break;
      s = c;
    }
    return s;
  }

  /** The first size change after `offset`, if any. */
  private nextChange(offset: number): number {
    for (const c of this.sizes) if (c.offset > offset) return c.offset;
    return Infinity;
  }

  /**
   * Output was recorded: build on in the background once a keyframe's worth is on
   * disk. Never waits, never throws (the recording goes on whatever happens here).
   */
  noteOutput(): void {
    if (this.closed || this.scheduled || this.failures >= MAX_FAILURES) return;
    const last = this.frames[this.frames.length - 1]?.offset ?? 0;
    if (this.source.size - Math.max(last, this.pos) < this.interval) return;
    this.scheduled = true;
    // After the group commit that is under way, so the bytes are on disk when read; and
    // again while output recorded is not all on disk yet (the program may print no more).
    setTimeout(() => {
      void this.catchUp()
        .catch(() => undefined)
        .then(() => {
          this.scheduled = false;
          if (this.source.durableSize < this.source.size || this.source.durableSize > this.pos) this.noteOutput();
        });
    }, 100).unref();
  }

  /** Build keyframes up to `to` (default: all output on disk). */
  catchUp(to = Infinity): Promise<void> {
    const run = this.work.then(() => this.advance(to).catch((e: unknown) => this.interrupted(e)));
    this.work = run.catch(() => undefined);
    return run;
  }

  private async advance(to: number): Promise<void> {
    const target = Math.min(to, this.source.durableSize);
    if (this.closed || target <= this.pos) return;
    if (this.lazy) {
      this.lazy = false;
      this.report(`Terminal ${this.terminalId} had no keyframes (recorded before them, or the file was removed): building them from its recording, once.`);
    }
    if (!this.builder) {
      const last = this.frames[this.frames.length - 1];
      this.pos = last?.offset ?? 0;
      this.builder = last ? await this.restore(last) : await this.engine.open(this.sizeAt(0));
    }
    const screen = this.builder;
    while (this.pos < target && !this.closed) {
      const size = this.sizeAt(this.pos);
      const lastKf = this.frames[this.frames.length - 1]?.offset ?? 0;
      const due = lastKf + this.interval;
      // Small steps once a keyframe is due, so one is taken soon after, where nothing is half-parsed.
      const step = this.pos >= due ? DUE_STEP : Math.min(READ_CHUNK, due - this.pos);
      const end = Math.min(target, this.pos + step, this.nextChange(this.pos));
      const bytes = await this.source.read(this.pos, end);
      if (bytes.length === 0) break;
      const fed = await screen.feed(bytes, size, this.pos + bytes.length >= due);
      this.pos += bytes.length;
      if (fed.snapshot !== null) await this.addKeyframe(fed, fed.snapshot);
    }
  }

  /**
   * A build step failed (the worker stopped, or the recording could not be read): the
   * emulator is dropped and the next build starts again from the last keyframe.
   */
  private interrupted(e: unknown): never {
    this.builder?.dispose();
    this.builder = null;
    this.pos = this.frames[this.frames.length - 1]?.offset ?? 0;
    if (e instanceof WorkerStopped && !this.closed) {
      this.failures++;
      const from = `its last keyframe (byte ${this.pos.toLocaleString('en')})`;
      this.report(
        this.failures >= MAX_FAILURES
          ? `The keyframe build of terminal ${this.terminalId} was interrupted ${this.failures} times in a row by the keyframe worker stopping: it stops building in the background (the recording goes on; screens are built from ${from} when asked for).`
          : `The keyframe build of terminal ${this.terminalId} was interrupted by the keyframe worker stopping; a new worker goes on from ${from}.`,
      );
    }
    throw e;
  }

  private async addKeyframe(size: FedScreen, snapshot: string): Promise<void> {
    const offset = this.pos;
    const fp = fingerprint(await this.source.read(Math.max(0, offset - FINGERPRINT_SPAN), offset));
    const rec = encodeRecord(offset, size.cols, size.rows, fp, snapshot);
    if (this.closed) return;
    const { offset: at } = this.log.append(rec);
    this.frames.push({ offset, cols: size.cols, rows: size.rows, at: at + RECORD_HEAD + PAYLOAD_HEAD, length: rec.length - RECORD_HEAD - PAYLOAD_HEAD });
    this.failures = 0;
  }

  private async restore(f: Keyframe): Promise<EngineScreen> {
    return this.engine.open({ cols: f.cols, rows: f.rows }, await this.log.read(f.at, f.at + f.length));
  }

  /** The last keyframe at or before `offset`, or null (the start of the recording). */
  keyframeAt(offset: number): Keyframe | null {
    let lo = 0;
    let hi = this.frames.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.frames[mid]!.offset <= offset) lo = mid + 1;
      else hi = mid;
    }
    return lo > 0 ? this.frames[lo - 1]! : null;
  }

  /**
   * The screen after every byte before `offset` (clamped to the recording): the
   * keyframe at or before it (built first, for a recording that lacks them) plus the
   * bytes after it, replayed.
   */
  async screenAt(offset: number): Promise<ScreenAt> {
    const target = Math.max(0, Math.min(Math.floor(offset), this.source.size));
    // Short of keyframes (an interrupted build), the screen is replayed from an earlier one.
    await this.catchUp(target).catch(() => undefined);
    try {
      return await this.replayTo(target);
    } catch (e) {
      // The worker stopped under this screen: once more, in a new one.
      if (e instanceof WorkerStopped) return this.replayTo(target);
      throw e;
    }
  }

  private async replayTo(target: number): Promise<ScreenAt> {
    const kf = this.keyframeAt(target);
    const start = kf?.offset ?? 0;
    const screen = kf ? await this.restore(kf) : await this.engine.open(this.sizeAt(start));
    try {
      let pos = start;
      while (pos < target) {
        const size = this.sizeAt(pos);
        const end = Math.min(target, pos + READ_CHUNK, this.nextChange(pos));
        const bytes = await this.source.read(pos, end);
        if (bytes.length === 0) break;
        await screen.feed(bytes, size, false);
        pos += bytes.length;
      }
      const { cols, rows } = this.sizeAt(target);
      return { offset: target, cols, rows, data: await screen.snapshot({ cols, rows }), keyframeOffset: start, replayedBytes: target - start };
    } finally {
      screen.dispose();
    }
  }

  async flush(): Promise<void> {
    await this.work;
    await this.log.flush();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.work.catch(() => undefined);
    this.builder?.dispose();
    this.builder = null;
    await this.log.close();
  }
}

/** Does this recording have a keyframe file yet (for saying that one is being built)? */
export async function hasKeyframes(dir: string, terminalId: string): Promise<boolean> {
  return stat(keyframesPath(dir, terminalId)).then((s) => s.size > HEADER_BYTES, () => false);
}
