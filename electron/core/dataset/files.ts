// File I/O shared by the bundle exporter (bundle.ts) and the bundle merger (merge.ts):
// a buffered writer that hashes what it writes and fsyncs on close, a streaming reader
// that hashes a file and splits it into lines, the check of a file written into a
// bundle (line by line as it is written, or read back from disk), and a temporary
// folder published with one rename (a complete bundle or nothing).
import { createHash, randomBytes } from 'node:crypto';
import { chmod, constants, copyFile, mkdir, open, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { ApolloError } from '../../../shared/errors';
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from '../store/private-files';
import type { ManifestFile } from './bundle';
import {
  AsciicastValidator, MAX_ERRORS, validateMistralLine, validateMistralValue, validateOpenAILine, validateOpenAIValue, validateShareGPTLine, validateShareGPTValue,
  type ValidationError,
} from './validate';

/** Bytes a writer's buffer holds; it is written out once about this much is pending. */
const CHUNK = 1 << 20;
const UTF8 = new TextEncoder();

/**
 * Buffered writer, fsync on close; the SHA-256 and length of what it wrote come with it
 * (no read-back). Strings are encoded straight into a reused 1 MiB buffer: an export
 * streams a gigabyte of text through it, and a joined string plus a fresh Buffer per
 * megabyte were garbage V8 let pile up to hundreds of MB before collecting it.
 */
export class BufferedWriter {
  /** Filled buffers (and Buffers pushed as they are) waiting to be written, in order. */
  private queued: Buffer[] = [];
  private queuedBytes = 0;
  private cur: Buffer = Buffer.allocUnsafe(CHUNK);
  private used = 0;
  /** CHUNK buffers already written out, reused for the next ones (at most two are ever needed). */
  private spares: Buffer[] = [];
  /** The queued slices of our own buffers (never a Buffer a caller pushed). */
  private readonly ours = new WeakSet<Buffer>();
  private readonly hash = createHash('sha256');
  /**
   * The write of the last flush, while it runs: one at a time, in order, so the caller
   * fills the next buffer while the last goes to the file (awaiting each write left the
   * export's thread idle for a tenth of its time). Its failure is thrown by the next
   * flush or by close.
   */
  private writing: Promise<void> | null = null;
  /** Bytes written so far. */
  bytes = 0;
  private constructor(private readonly fh: FileHandle) {}

  /** SHA-256 (hex) of every byte written; call once, after close(). */
  sha256(): string {
    return this.hash.digest('hex');
  }

  /** Create `path`, which must not exist yet; owner only (exports hold terminal output and conversations). */
  static async create(path: string): Promise<BufferedWriter> {
    return new BufferedWriter(await open(path, 'wx', PRIVATE_FILE_MODE));
  }

  /** Buffer `s` (a Buffer is kept as it is: copy one that will be reused). */
  push(s: string | Buffer): void {
    if (typeof s !== 'string') {
      this.seal();
      this.queue(s);
      return;
    }
    // UTF-8 takes at most 3 bytes per UTF-16 unit: what surely fits is written as it is.
    if (s.length * 3 <= CHUNK - this.used) {
      this.used += this.cur.write(s, this.used, 'utf8');
      return;
    }
    if (s.length > CHUNK) {
      this.seal();
      this.queue(Buffer.from(s, 'utf8'));
      return;
    }
    // Else as much as fits, in whole characters, and the rest into the next buffer:
    // counting the bytes of every long line first (Buffer.byteLength) was a scan of
    // each training line more.
    let rest = s;
    for (;;) {
      const { read, written } = UTF8.encodeInto(rest, this.cur.subarray(this.used));
      this.used += written;
      if (read === rest.length) return;
      rest = rest.slice(read);
      this.seal();
    }
  }

  /**
   * Push JSON.stringify(value), byte for byte, a member of its top-level arrays at a
   * time: a training line (one record) is hundreds of KB, and made whole it took a fifth
   * longer to write, as one large string that only a full collection frees.
   */
  pushJson(value: unknown): void {
    if (value === null || typeof value !== 'object' || Array.isArray(value) || typeof (value as { toJSON?: unknown }).toJSON === 'function') {
      const text = JSON.stringify(value);
      if (text === undefined) throw new TypeError('pushJson: the value has no JSON form');
      this.push(text);
      return;
    }
    let sep = '{';
    for (const [k, v] of Object.entries(value)) {
      if (Array.isArray(v) && typeof (v as { toJSON?: unknown }).toJSON !== 'function') {
        this.push(`${sep}${JSON.stringify(k)}:[`);
        for (let i = 0; i < v.length; i++) {
          if (i) this.push(',');
          // As JSON.stringify writes an array member that has no JSON form.
          this.push(JSON.stringify(v[i]) ?? 'null');
        }
        this.push(']');
      } else {
        const text = JSON.stringify(v);
        // As JSON.stringify leaves out a member that has none (undefined, a function).
        if (text === undefined) continue;
        this.push(`${sep}${JSON.stringify(k)}:`);
        this.push(text);
      }
      sep = ',';
    }
    this.push(sep === '{' ? '{}' : '}');
  }

  private queue(b: Buffer): void {
    this.queued.push(b);
    this.queuedBytes += b.length;
  }

  /** Queue what the current buffer holds and start a fresh one. */
  private seal(): void {
    if (this.used === 0) return;
    const filled = this.cur.subarray(0, this.used);
    this.ours.add(filled);
    this.queue(filled);
    this.cur = this.spares.pop() ?? Buffer.allocUnsafe(CHUNK);
    this.used = 0;
  }

  /** Write the buffer out once it holds about 1 MiB. */
  async maybeFlush(): Promise<void> {
    if (this.used + this.queuedBytes >= CHUNK) await this.flush();
  }

  async write(s: string | Buffer): Promise<void> {
    this.push(s);
    await this.maybeFlush();
  }

  private async flush(): Promise<void> {
    this.seal();
    const bufs = this.queued;
    this.queued = [];
    this.queuedBytes = 0;
    await this.writing;
    const writing = this.writeOut(bufs);
    // Handled here so that a failure no one awaits yet is not an unhandled rejection; awaited above and in close.
    writing.catch(() => undefined);
    this.writing = writing;
  }

  private async writeOut(bufs: readonly Buffer[]): Promise<void> {
    for (const buf of bufs) {
      this.hash.update(buf);
      this.bytes += buf.length;
      for (let off = 0; off < buf.length;) {
        const { bytesWritten } = await this.fh.write(buf, off, buf.length - off, null);
        off += bytesWritten;
      }
      // Written: a whole CHUNK buffer of ours can take the next megabyte.
      if (this.ours.has(buf) && this.spares.length < 2) this.spares.push(Buffer.from(buf.buffer, buf.byteOffset, CHUNK));
    }
  }

  async close(): Promise<void> {
    try {
      await this.flush();
      await this.writing;
      await this.fh.sync();
    } finally {
      await this.fh.close();
    }
  }

  async abandon(): Promise<void> {
    await this.writing?.catch(() => undefined);
    await this.fh.close().catch(() => {});
  }
}

export interface ScanResult {
  sha256: string;
  bytes: number;
  /** Complete lines (only counted when a `line` hook is given). */
  lines: number;
  /** The file does not end with \n (only known when a `line` hook is given). */
  unterminated: boolean;
}

export interface ScanHooks {
  /** Each complete line (without its \n), 1-based. */
  line?(text: string, n: number): void;
  /** Each raw chunk read (the buffer is reused: copy it to keep it). */
  chunk?(buf: Buffer): void;
  /** After each chunk: flush writers, check for abort. */
  after?(): Promise<void> | void;
}

/** Read a file once, streamed: hash it and hand its chunks and lines to `hooks`. */
export async function scanFile(path: string, hooks: ScanHooks = {}): Promise<ScanResult> {
  const hash = createHash('sha256');
  const fh = await open(path, 'r');
  const dec = new StringDecoder('utf8');
  const buf = Buffer.allocUnsafe(1 << 20);
  let bytes = 0;
  let n = 0;
  let rest = '';
  try {
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      const chunk = buf.subarray(0, bytesRead);
      hash.update(chunk);
      bytes += bytesRead;
      hooks.chunk?.(chunk);
      if (hooks.line) {
        const text = rest + dec.write(chunk);
        let start = 0;
        for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', start)) {
          hooks.line(text.slice(start, nl), ++n);
          start = nl + 1;
        }
        rest = text.slice(start);
      }
      await hooks.after?.();
    }
  } finally {
    await fh.close();
  }
  if (hooks.line) rest += dec.end();
  return { sha256: hash.digest('hex'), bytes, lines: n, unterminated: rest !== '' };
}

export interface WrittenFile {
  /** Relative to the bundle folder. */
  path: string;
  format: ManifestFile['format'];
}

/**
 * The check of one bundle file, fed its lines (without the newline) in order: each
 * line checked for its format (OpenAI, ShareGPT and mistral lines, JSON trajectory
 * lines, asciicast), other files as one JSON document, YAML trainer configs not at
 * all (written from fixed templates). At most MAX_ERRORS lines are reported. The same
 * check runs on lines as they are written (the exporter) and on lines read back.
 */
export class LineCheck {
  readonly errors: ValidationError[] = [];
  private readonly check: (l: string, n: number) => void;
  /** The same checks on the value a line is written from (training lines, trajectories). */
  private readonly checkValue: ((v: unknown, n: number) => void) | null = null;
  private readonly cast: AsciicastValidator | null = null;
  private readonly whole: string[] | null = null;
  lines = 0;

  constructor(readonly format: ManifestFile['format'], opts: { allowReasoning: boolean }) {
    const errors = this.errors;
    if (format === 'openai') {
      this.check = (l, n) => errors.push(...validateOpenAILine(l, n, { allowReasoning: opts.allowReasoning }));
      this.checkValue = (v, n) => errors.push(...validateOpenAIValue(v, n, { allowReasoning: opts.allowReasoning }));
    } else if (format === 'sharegpt') {
      this.check = (l, n) => errors.push(...validateShareGPTLine(l, n));
      this.checkValue = (v, n) => errors.push(...validateShareGPTValue(v, n));
    } else if (format === 'mistral') {
      this.check = (l, n) => errors.push(...validateMistralLine(l, n));
      this.checkValue = (v, n) => errors.push(...validateMistralValue(v, n));
    } else if (format === 'trainer-config') this.check = () => undefined;
    else if (format === 'trajectory') {
      // A line JSON.stringify wrote is JSON: only a line read back can fail the parse.
      this.checkValue = () => undefined;
      this.check = (l, n) => {
        try {
          JSON.parse(l);
        } catch {
          errors.push({ line: n, message: 'invalid JSON' });
        }
      };
    } else if (format === 'asciicast') {
      const v = (this.cast = new AsciicastValidator());
      this.check = (l) => v.line(l);
    } else {
      const parts: string[] = (this.whole = []);
      this.check = (l) => parts.push(l);
    }
  }

  line(l: string): void {
    const n = ++this.lines;
    if (this.errors.length < MAX_ERRORS) this.check(l, n);
  }

  /**
   * A line given as the value JSON.stringify encoded into it: the checks `line` runs,
   * without parsing the text back (a gigabyte of training lines was parsed again only
   * to be checked). Asciicast: see AsciicastValidator.value.
   */
  value(v: unknown): void {
    if (this.cast) {
      this.lines++;
      this.cast.value(v);
      return;
    }
    if (!this.checkValue) throw new Error(`LineCheck.value: ${this.format} lines are checked as text`);
    const n = ++this.lines;
    if (this.errors.length < MAX_ERRORS) this.checkValue(v, n);
  }

  /** The errors, once every line was given; `unterminated`: the file does not end with a newline. */
  end(unterminated: boolean): ValidationError[] {
    if (unterminated) this.errors.push({ line: this.lines + 1, message: 'last line has no newline' });
    if (this.cast) this.errors.push(...this.cast.end());
    if (this.whole) {
      try {
        JSON.parse(this.whole.join('\n'));
      } catch {
        this.errors.push({ line: 0, message: 'invalid JSON' });
      }
    }
    return this.errors;
  }

  /** What the manifest counts as its records: JSONL lines, asciicast events (header excluded), 1 for a document. */
  records(): number {
    return this.format === 'llama-factory-dataset-info' || this.format === 'trainer-config' ? 1 : this.format === 'asciicast' ? Math.max(0, this.lines - 1) : this.lines;
  }
}

/**
 * Read a file written into a bundle back from disk: check every line for its format
 * (LineCheck), hash it and count its records.
 */
export async function checkWrittenFile(
  dir: string,
  w: WrittenFile,
  opts: { allowReasoning: boolean; onLine?(n: number): void },
): Promise<{ file: ManifestFile; lines: number; errors: ValidationError[] }> {
  const check = new LineCheck(w.format, opts);
  const scan = await scanFile(join(dir, w.path), {
    line: (l, n) => {
      check.line(l);
      opts.onLine?.(n);
    },
  });
  const errors = check.end(scan.unterminated);
  return { file: { path: w.path, format: w.format, bytes: scan.bytes, sha256: scan.sha256, records: check.records() }, lines: scan.lines, errors };
}

/**
 * A copy of `from` at `to` (which must not exist), a clone where the file system can,
 * 0600 whatever mode `from` has (a copy takes its source's: a bundle on a FAT drive
 * reads as 0755). `strict`: a mode that cannot be set fails it (the session folder's
 * file); a bundle's file system may have no modes to set.
 */
export async function place(from: string, to: string, strict: boolean): Promise<void> {
  await copyFile(from, to, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE);
  await chmod(to, PRIVATE_FILE_MODE).catch((e: unknown) => {
    if (strict) throw e;
  });
}

/** Make a file's data durable (a copy placed in a bundle before it is published: the manifest vouches for its bytes). */
export async function fsyncFile(path: string): Promise<void> {
  const fh = await open(path, 'r+');
  try {
    await fh.datasync();
  } finally {
    await fh.close();
  }
}

export async function fsyncDir(path: string): Promise<void> {
  try {
    const fh = await open(path, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch {
    // not supported on every platform (Windows); the rename is still atomic
  }
}

export async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}

/** An I/O or unexpected error as an ApolloError; `doing` and `cancelled` name the operation ("exporting", "Export cancelled"). */
export function toApolloError(e: unknown, doing: string, cancelled: string): ApolloError {
  if (e instanceof ApolloError) return e;
  const err = e as NodeJS.ErrnoException;
  if (err?.code === 'ENOSPC' || err?.code === 'EDQUOT') return new ApolloError('DISK_FULL', `Disk full while ${doing}: ${err.message}`);
  if (err?.name === 'AbortError') return new ApolloError('CANCELLED', cancelled);
  if (typeof err?.code === 'string') return new ApolloError('IO', err.message);
  return new ApolloError('INTERNAL', err?.message ?? String(e));
}

/**
 * A folder built as `<outDir>.tmp-<random>` beside its target and published by renaming
 * it to `outDir` in one step. Until then discard() closes the writers left open and
 * removes it, so either the complete folder exists or nothing does.
 */
export class StagingDir {
  /** The temporary folder. */
  readonly dir: string;
  private readonly writers = new Set<BufferedWriter>();
  private published = false;

  constructor(readonly outDir: string) {
    this.dir = `${outDir}.tmp-${randomBytes(6).toString('hex')}`;
  }

  /** Create outDir's parent when missing, then the temporary folder. */
  async open(): Promise<void> {
    await mkdir(dirname(this.outDir), { recursive: true });
    // The bundle folder itself (it becomes outDir) is owner only, like its files.
    await mkdir(this.dir, { mode: PRIVATE_DIR_MODE });
  }

  /** A new file at `rel` inside (its folders created as needed). */
  async create(rel: string): Promise<BufferedWriter> {
    const path = join(this.dir, rel);
    await mkdir(dirname(path), { recursive: true, mode: PRIVATE_DIR_MODE });
    const w = await BufferedWriter.create(path);
    this.writers.add(w);
    return w;
  }

  /** The path of a file at `rel` inside, its folders created, for a writer this folder does not track (a worker's). */
  async pathFor(rel: string): Promise<string> {
    const path = join(this.dir, rel);
    await mkdir(dirname(path), { recursive: true, mode: PRIVATE_DIR_MODE });
    return path;
  }

  async finish(w: BufferedWriter): Promise<void> {
    this.writers.delete(w);
    await w.close();
  }

  /** Write `text` at `rel`; its size and SHA-256, as written. */
  async writeFile(rel: string, text: string): Promise<{ bytes: number; sha256: string }> {
    const w = await this.create(rel);
    w.push(text);
    await this.finish(w);
    return { bytes: w.bytes, sha256: w.sha256() };
  }

  /** fsync `dirs` (relative, in this order) and the folder, then rename it to outDir unless that exists by now. */
  async publish(dirs: readonly string[]): Promise<void> {
    for (const d of dirs) await fsyncDir(join(this.dir, d));
    await fsyncDir(this.dir);
    if (await exists(this.outDir)) throw new ApolloError('CONFLICT', `${this.outDir} already exists`);
    await rename(this.dir, this.outDir);
    this.published = true;
    await fsyncDir(dirname(this.outDir));
  }

  /** Unless published: close the writers left open and remove the temporary folder. */
  async discard(): Promise<void> {
    if (this.published) return;
    for (const w of this.writers) await w.abandon();
    await rm(this.dir, { recursive: true, force: true }).catch(() => {});
  }
}
