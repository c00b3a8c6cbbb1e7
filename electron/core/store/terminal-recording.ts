import { join } from 'node:path';
import { AppendLog } from './append-log';
import { TimingIndex } from './timing-index';

/**
 * Raw terminal output of one terminal, append-only, plus a timing index: one line
 * `[msSinceEpoch, offset, length]` per batch of output, so a recording can be
 * replayed with its original timing (asciicast export) and seeked by time. The JSONL
 * is the record; beside it a searched binary form (timing-index.ts) answers lookups
 * by time and offset without parsing it.
 * Events in the session log refer into the output by byte offsets.
 */
/** Where a session folder keeps the output of `terminalId`. */
export function recordingFile(sessionDir: string, terminalId: string): string {
  return join(sessionDir, 'terminals', `${terminalId}.out`);
}

export class TerminalRecording {
  private constructor(
    readonly terminalId: string,
    private readonly out: AppendLog,
    private readonly timing: AppendLog,
    private readonly index: TimingIndex,
  ) {
    // The index never claims JSONL lines that are not written yet.
    index.committedJsonl = () => timing.durableSize;
    // A failed write cuts the output back (AppendLog rollback), so later output reuses
    // those offsets, while timing lines for the dropped bytes may already be queued or
    // written. Record the cut as an empty entry at the new end: `parseTiming` lets a
    // later entry at or before an earlier one's end supersede it, so the index stays
    // append-only and never points at bytes that were replaced.
    out.onRollback = (length) => this.appendTiming(Date.now(), length, 0);
  }

  /**
   * `holdOnFull`: a full disk holds output back instead of dropping it (AppendLog),
   * so no byte a program printed is lost and the offsets events refer to stay true;
   * the terminal pauses its program meanwhile (see onBlocked).
   */
  static async open(dir: string, terminalId: string, durable = true, opts: { holdOnFull?: boolean } = {}): Promise<TerminalRecording> {
    const holdOnFull = opts.holdOnFull ?? false;
    const out = await AppendLog.open(join(dir, `${terminalId}.out`), { maxDelayMs: 50, durable, holdOnFull });
    const timing = await AppendLog.open(join(dir, `${terminalId}.timing.jsonl`), { maxDelayMs: 50, durable, holdOnFull });
    try {
      // Converted on the first open of a session recorded before it existed, repaired after a crash.
      const index = await TimingIndex.open(dir, terminalId, { write: true, recordingSize: out.size });
      const rec = new TerminalRecording(terminalId, out, timing, index);
      // The bytes a crash lost are cut from the timing as a rollback cuts them, so the
      // index ends where the recording does and the next open has nothing to repair.
      if (index.cutShortAt !== null) rec.appendTiming(index.cutShortAt, out.size, 0);
      return rec;
    } catch (e) {
      await Promise.all([out.close(), timing.close()]).catch(() => undefined);
      throw e;
    }
  }

  /** Told (holdOnFull) when the output starts being held back by a full disk (the error), and when it is all written (null). */
  set onBlocked(listener: ((err: Error | null) => void) | null) {
    this.out.onBlocked = listener;
  }

  /** The output is being held back by a full disk (holdOnFull). */
  get blocked(): boolean {
    return this.out.isBlocked;
  }

  get size(): number {
    return this.out.size;
  }

  /** Bytes on disk: never cut back by a rollback or lost in a crash (what derived files may be built from). */
  get durableSize(): number {
    return this.out.durableSize;
  }

  /** The searched timing index: the first byte written at or after a time, the time of a byte. */
  get timingIndex(): TimingIndex {
    return this.index;
  }

  /** What opening found wrong with the recording or its timing index and repaired, for people. */
  get repairs(): readonly string[] {
    return this.index.repairs;
  }

  append(data: Buffer, ts = Date.now()): { offset: number; durable: Promise<void> } {
    const r = this.out.append(data);
    this.appendTiming(ts, r.offset, data.length);
    return r;
  }

  /**
   * The timing index is best-effort: output the index cannot describe is still
   * replayed (at the time of the entry before it), so a timing log that refuses writes
   * must not stop the recording.
   */
  private appendTiming(ts: number, offset: number, length: number): void {
    try {
      const line = `[${ts},${offset},${length}]\n`;
      const at = this.timing.append(line).offset;
      this.index.append(ts, offset, length, at + line.length);
    } catch {
      // closed or broken timing log; see above
    }
  }

  read(start: number, end = this.out.size): Promise<Buffer> {
    return this.out.read(start, end);
  }

  async flush(): Promise<void> {
    await Promise.all([this.out.flush(), this.timing.flush()]);
    await this.index.flush();
  }

  async close(): Promise<void> {
    await Promise.all([this.out.close(), this.timing.close()]);
    await this.index.close();
  }
}

export interface TimingEntry {
  ts: number;
  offset: number;
  length: number;
}

/**
 * Parse a timing index, ignoring a torn or corrupt line. The result is normalized
 * (see `normalizeTiming`): ordered, non-overlapping ranges of the current output.
 */
export function parseTiming(text: string): TimingEntry[] {
  const out: TimingEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    try {
      const [ts, offset, length] = JSON.parse(line) as [number, number, number];
      if (Number.isFinite(ts) && Number.isFinite(offset) && Number.isFinite(length)) out.push({ ts, offset, length });
    } catch {
      // torn last line after a crash
    }
  }
  return normalizeTiming(out);
}

/**
 * Timing entries as they describe the output file now, from entries in the order they
 * were written. Offsets only grow in an append-only file, except after a failed write
 * was rolled back (or a crash lost output the index had recorded): then later output
 * reuses the offsets, so an entry starting at or before the end of earlier ones
 * replaces them from its offset on (an empty entry just marks such a cut). The result
 * is ordered by offset with no overlaps; gaps (output the index missed) are allowed,
 * and entries may reach past the end of the output, which readers clamp.
 */
export function normalizeTiming(entries: readonly TimingEntry[]): TimingEntry[] {
  const kept: TimingEntry[] = [];
  for (const e of entries) {
    if (!(e.offset >= 0) || !(e.length >= 0)) continue;
    while (kept.length && kept[kept.length - 1]!.offset >= e.offset) kept.pop();
    const last = kept[kept.length - 1];
    if (last && last.offset + last.length > e.offset) kept[kept.length - 1] = { ...last, length: e.offset - last.offset };
    if (e.length > 0) kept.push(e);
  }
  return kept;
}
