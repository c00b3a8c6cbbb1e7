// asciicast v2 (https://docs.asciinema.org/manual/asciicast/v2/) from a terminal
// recording: raw bytes (<terminalId>.out) + timing index (<terminalId>.timing.jsonl,
// `[ts, offset, length]` per batch) + the session events of that terminal.
//
//   line 1: {"version":2,"width","height","timestamp","title","env"}
//   then:   [seconds, "o", text]   output, decoded as UTF-8 across chunk boundaries
//           [seconds, "i", text]   human keyboard input (terminal.input source human)
//           [seconds, "r", "COLSxROWS"]  resize (terminal.resized, or a restart at a new size)
// Times are seconds since the header timestamp (the terminal's start), never
// decreasing. Bytes the timing index does not cover (including output past its last
// entry, e.g. after a crash between the two files) get the time of the batch before
// them. Every byte of the output is replayed exactly once, in file order; timing
// entries superseded by a rollback (see `normalizeTiming`) are ignored. The output is
// redacted as one stream (a secret split across two batches is still found); the
// replacement lands in the batch where the secret starts.
// A recording is streamed block by block and written line by line, so a 1 GB
// recording never becomes one string; its timing is read block by block from the
// searched index (timing-index.ts), so a 40 MB timing log never becomes a million objects.
import { open } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import type { SessionEvent } from '../../../shared/events';
import { ApolloError } from '../../../shared/errors';
import { normalizeTiming, parseTiming, type TimingEntry } from '../store/terminal-recording';
import { TimingIndex } from '../store/timing-index';
import { StreamRedactor, type Redactor } from './redact';

export interface AsciicastHeader {
  version: 2;
  width: number;
  height: number;
  timestamp: number;
  title: string;
  env: Record<string, string>;
}

export interface SideEvent {
  ts: number;
  offset: number;
  code: 'i' | 'r';
  data: string;
}

export interface TerminalFacts {
  header: AsciicastHeader;
  /** ms epoch the times are relative to. */
  startTs: number;
  side: SideEvent[];
}

/** Terminal ids of a session in order of first appearance in its events. */
export function terminalIdsOf(events: readonly SessionEvent[]): string[] {
  const seen = new Set<string>();
  for (const ev of events) {
    if ('terminalId' in ev && typeof ev.terminalId === 'string' && ev.type.startsWith('terminal.')) seen.add(ev.terminalId);
  }
  return [...seen];
}

/**
 * Header and the non-output events of one terminal. `firstOutputTs` is used as the
 * start when the log has no terminal.started for it.
 */
export function terminalFacts(events: readonly SessionEvent[], terminalId: string, opts: { title: string; firstOutputTs?: number; inputs?: 'human' | 'all' }): TerminalFacts {
  let started: Extract<SessionEvent, { type: 'terminal.started' }> | undefined;
  const side: SideEvent[] = [];
  let cols = 0;
  let rows = 0;
  for (const ev of events) {
    if (!('terminalId' in ev) || ev.terminalId !== terminalId) continue;
    if (ev.type === 'terminal.started') {
      if (!started) {
        started = ev;
      } else if (ev.cols !== cols || ev.rows !== rows) {
        side.push({ ts: ev.ts, offset: ev.offset, code: 'r', data: `${ev.cols}x${ev.rows}` });
      }
      cols = ev.cols;
      rows = ev.rows;
    } else if (ev.type === 'terminal.resized') {
      if (ev.cols !== cols || ev.rows !== rows) side.push({ ts: ev.ts, offset: ev.offset, code: 'r', data: `${ev.cols}x${ev.rows}` });
      cols = ev.cols;
      rows = ev.rows;
    } else if (ev.type === 'terminal.input' && (ev.source === 'human' || opts.inputs === 'all') && ev.data !== '') {
      side.push({ ts: ev.ts, offset: ev.offset, code: 'i', data: ev.data });
    }
  }
  const startTs = Math.round(started?.ts ?? opts.firstOutputTs ?? side[0]?.ts ?? 0);
  const env: Record<string, string> = {};
  if (started?.command) env.SHELL = started.command;
  env.TERM = 'xterm-256color';
  return {
    header: {
      version: 2,
      width: started?.cols ?? 80,
      height: started?.rows ?? 24,
      timestamp: Math.floor(startTs / 1000),
      title: opts.title,
      env,
    },
    startTs,
    side: side.map((s, i) => ({ s, i })).sort((a, b) => a.s.ts - b.s.ts || a.i - b.i).map((x) => x.s),
  };
}

/** A line (without newline), the redaction kinds applied to it, and the value it encodes. */
export type LineSink = (line: string, kinds: readonly string[], value: unknown) => void;

/**
 * Turns output batches into asciicast lines. Feed `output()` in recording order,
 * then `end()`. Lines (without newline) go to `sink` with the redaction kinds applied
 * to that line.
 */
export class AsciicastEncoder {
  private readonly decoder = new StringDecoder('utf8');
  private readonly redactor: StreamRedactor<number> | null;
  private side: SideEvent[];
  private sideIdx = 0;
  private lastT = 0;
  private curTs = NaN;
  private curText = '';
  lines = 0;

  constructor(
    private readonly facts: TerminalFacts,
    private readonly sink: LineSink,
    redactor?: Redactor,
  ) {
    this.side = facts.side;
    if (redactor) {
      this.side = redactInputs(facts.side, redactor);
      this.redactor = new StreamRedactor<number>(redactor, (data, ts, kinds) => this.emit(ts, 'o', data, kinds));
    } else {
      this.redactor = null;
    }
    // The header too: its title names the terminal (an id the agent chose) and its SHELL is the command the terminal ran.
    const kinds: string[] = [];
    const header = redactor ? redactor.redactValue(facts.header, (_ptr, kind) => void kinds.push(kind)) : facts.header;
    this.line(JSON.stringify(header), kinds, header);
  }

  output(ts: number, bytes: Buffer): void {
    const text = this.decoder.write(bytes);
    this.text(ts, text);
  }

  end(): void {
    this.text(this.curTs, this.decoder.end());
    this.flushText();
    this.redactor?.end();
    while (this.sideIdx < this.side.length) this.emitSide(this.side[this.sideIdx++]!);
  }

  private text(ts: number, text: string): void {
    if (ts !== this.curTs) {
      this.flushText();
      this.curTs = ts;
    }
    this.curText += text;
  }

  private flushText(): void {
    if (this.curText === '') return;
    if (this.redactor) this.redactor.push(this.curText, this.curTs);
    else this.emit(this.curTs, 'o', this.curText, []);
    this.curText = '';
  }

  private emit(ts: number, code: 'o', data: string, kinds: readonly string[]): void {
    while (this.sideIdx < this.side.length && this.side[this.sideIdx]!.ts <= ts) this.emitSide(this.side[this.sideIdx++]!);
    this.event(ts, code, data, kinds);
  }

  private emitSide(s: SideEvent & { kinds?: string[] }): void {
    this.event(s.ts, s.code, s.data, s.kinds ?? []);
  }

  private event(ts: number, code: string, data: string, kinds: readonly string[]): void {
    if (data === '') return;
    const t = Math.max(this.lastT, Math.max(0, Math.round(ts) - this.facts.startTs) / 1000);
    this.lastT = t;
    const v = [t, code, data];
    this.line(JSON.stringify(v), kinds, v);
  }

  private line(s: string, kinds: readonly string[], value: unknown): void {
    this.lines++;
    this.sink(s, kinds, value);
  }
}

/** Redact human input as one text (a key typed one character per event is still found). */
function redactInputs(side: SideEvent[], redactor: Redactor): Array<SideEvent & { kinds?: string[] }> {
  const inputs = side.filter((s) => s.code === 'i');
  if (!inputs.length) return side;
  const redacted = new Map<SideEvent, { data: string; kinds: string[] }>();
  let k = 0;
  const r = new StreamRedactor<number>(redactor, (data, idx, kinds) => {
    const ev = inputs[idx]!;
    const prev = redacted.get(ev);
    redacted.set(ev, prev ? { data: prev.data + data, kinds: [...prev.kinds, ...kinds] } : { data, kinds });
  }, Number.MAX_SAFE_INTEGER);
  for (const ev of inputs) r.push(ev.data, k++);
  r.end();
  return side.map((s) => {
    if (s.code !== 'i') return s;
    const x = redacted.get(s);
    return { ...s, data: x?.data ?? '', kinds: x?.kinds ?? [] };
  });
}

/**
 * Walks `[from, from+buf.length)` of the recording and hands each run of bytes to
 * `feed` with its batch time. Keeps its place between calls (sequential blocks).
 */
class TimingWalker {
  private ei = 0;
  private ts: number;

  constructor(
    private readonly entries: TimingEntry[],
    startTs: number,
  ) {
    this.ts = entries[0]?.ts ?? startTs;
  }

  /** Forget the entries walked past (a streamed walk refills `entries` from the end). */
  compact(): void {
    if (this.ei < 65_536) return;
    this.entries.splice(0, this.ei);
    this.ei = 0;
  }

  walk(from: number, buf: Buffer, feed: (ts: number, bytes: Buffer) => void): void {
    let i = 0;
    while (i < buf.length) {
      const abs = from + i;
      while (this.ei < this.entries.length && this.entries[this.ei]!.offset + this.entries[this.ei]!.length <= abs) this.ei++;
      const e = this.entries[this.ei];
      let end = Infinity;
      if (e && e.offset <= abs) {
        this.ts = e.ts;
        end = e.offset + e.length;
      } else if (e) {
        end = e.offset; // bytes not in the index: time of the batch before
      }
      const n = Math.min(buf.length - i, end - abs);
      feed(this.ts, buf.subarray(i, i + n));
      i += n;
    }
  }
}

/** In-memory conversion (tests, small recordings): the whole .cast file as a string. */
export function toAsciicast(opts: {
  output: Buffer;
  timing: TimingEntry[];
  events: readonly SessionEvent[];
  terminalId: string;
  title: string;
  redactor?: Redactor;
  inputs?: 'human' | 'all';
  onLine?: (line: number, kinds: readonly string[]) => void;
}): string {
  const entries = normalizeTiming(opts.timing);
  const facts = terminalFacts(opts.events, opts.terminalId, { title: opts.title, firstOutputTs: entries[0]?.ts, inputs: opts.inputs });
  const lines: string[] = [];
  const enc = new AsciicastEncoder(facts, (l, kinds) => {
    lines.push(l);
    if (kinds.length) opts.onLine?.(lines.length, kinds);
  }, opts.redactor);
  new TimingWalker(entries, facts.startTs).walk(0, opts.output, (ts, b) => enc.output(ts, b));
  enc.end();
  return lines.map((l) => `${l}\n`).join('');
}

export interface AsciicastStreamOptions {
  recordingPath: string;
  timingPath: string;
  events: readonly SessionEvent[];
  terminalId: string;
  title: string;
  /** Receives the lines (newlines included), about 1 MB at a time; awaited between blocks. Unused with `out`. */
  write?: (chunk: string) => Promise<void>;
  /** Takes each line as it is made (a BufferedWriter), flushed between blocks: no joined copies. */
  out?: { push(s: string): void; maybeFlush(): Promise<void> };
  redactor?: Redactor;
  onLine?: (line: number, kinds: readonly string[]) => void;
  /** Each line as written (header first, without its newline): the exporter validates while writing. */
  check?: (line: string) => void;
  /** Instead of `check`: each line as the value JSON.stringify encoded into it (nothing parsed back). */
  checkValue?: (value: unknown) => void;
  onBytes?: (done: number, total: number) => void;
  signal?: AbortSignal;
  inputs?: 'human' | 'all';
  blockSize?: number;
}

/**
 * The normalized timing entries of a recording in offset order, pulled block by
 * block: from the searched index when `timingPath` is a recording's
 * `<terminal>.timing.jsonl` (converted on the way when it has none yet), else parsed.
 */
class TimingStream {
  readonly entries: TimingEntry[] = [];
  private done = false;
  private constructor(private readonly it: AsyncIterator<TimingEntry[]> | null, private readonly close: () => Promise<void>) {
    if (!it) this.done = true;
  }

  static async open(timingPath: string): Promise<TimingStream> {
    const file = basename(timingPath);
    if (file.endsWith('.timing.jsonl') && (await exists(timingPath))) {
      const idx = await TimingIndex.open(dirname(timingPath), file.slice(0, -'.timing.jsonl'.length));
      return new TimingStream(idx.blocks(), () => idx.close());
    }
    let text = '';
    try {
      const th = await open(timingPath, 'r');
      try {
        text = await th.readFile('utf8');
      } finally {
        await th.close();
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    const s = new TimingStream(null, async () => {});
    s.entries.push(...parseTiming(text));
    return s;
  }

  /** Load entries until one ends past `offset` (or there are no more). */
  async fill(offset: number): Promise<void> {
    while (!this.done) {
      const last = this.entries[this.entries.length - 1];
      if (last && last.offset + last.length > offset) return;
      const r = await this.it!.next();
      if (r.done) this.done = true;
      else for (const e of r.value) this.entries.push({ ts: e.ts, offset: e.offset, length: e.length });
    }
  }

  end(): Promise<void> {
    return this.close();
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await (await open(path, 'r')).close();
    return true;
  } catch {
    return false;
  }
}

/** Stream a recording into asciicast lines. Returns the number of lines and input bytes. */
export async function writeAsciicast(o: AsciicastStreamOptions): Promise<{ lines: number; bytes: number }> {
  const timing = await TimingStream.open(o.timingPath);
  try {
    return await streamAsciicast(o, timing);
  } finally {
    await timing.end();
  }
}

async function streamAsciicast(o: AsciicastStreamOptions, timing: TimingStream): Promise<{ lines: number; bytes: number }> {
  await timing.fill(0);
  const entries = timing.entries;
  const facts = terminalFacts(o.events, o.terminalId, { title: o.title, firstOutputTs: entries[0]?.ts, inputs: o.inputs });
  let pending: string[] = [];
  let pendingLen = 0;
  let lineNo = 0;
  const out = o.out;
  const enc = new AsciicastEncoder(facts, (line, kinds, value) => {
    lineNo++;
    if (o.checkValue) o.checkValue(value);
    else o.check?.(line);
    if (out) {
      out.push(line);
      out.push('\n');
    } else {
      pending.push(line, '\n');
      pendingLen += line.length + 1;
    }
    if (kinds.length) o.onLine?.(lineNo, kinds);
  }, o.redactor);
  const flush = async (): Promise<void> => {
    if (out) return out.maybeFlush();
    if (!pending.length) return;
    const s = pending.join('');
    pending = [];
    pendingLen = 0;
    await o.write?.(s);
  };
  const fh = await open(o.recordingPath, 'r');
  let pos = 0;
  try {
    const { size } = await fh.stat();
    const walker = new TimingWalker(entries, facts.startTs);
    const buf = Buffer.allocUnsafe(o.blockSize ?? 1 << 20);
    while (pos < size) {
      if (o.signal?.aborted) throw new ApolloError('CANCELLED', 'Export cancelled');
      const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, size - pos), pos);
      if (bytesRead === 0) break;
      await timing.fill(pos + bytesRead);
      // The decoder copies what it keeps, so reusing `buf` is safe.
      walker.walk(pos, buf.subarray(0, bytesRead), (ts, b) => enc.output(ts, b));
      walker.compact();
      pos += bytesRead;
      if (out || pendingLen >= 1 << 20) await flush();
      o.onBytes?.(pos, size);
    }
  } finally {
    await fh.close();
  }
  enc.end();
  await flush();
  return { lines: enc.lines, bytes: pos };
}

/** The code that decides a converted recording's bytes, as text (see redactionRulesSource): the key of a kept conversion includes it. */
export function asciicastConverterSource(): string {
  return [terminalFacts, AsciicastEncoder, redactInputs, TimingWalker, TimingStream, writeAsciicast, streamAsciicast, normalizeTiming, parseTiming].map((f) => f.toString()).join('\n');
}
