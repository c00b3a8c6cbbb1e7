import { join } from 'node:path';
import { AppendLog } from './append-log';

/**
 * Raw terminal output of one terminal, append-only, plus a timing index: one line
 * `[msSinceEpoch, offset, length]` per batch of output, so a recording can be
 * replayed with its original timing (asciicast export) and seeked by time.
 * Events in the session log refer into the output by byte offsets.
 */
export class TerminalRecording {
  private constructor(
    readonly terminalId: string,
    private readonly out: AppendLog,
    private readonly timing: AppendLog,
  ) {}

  static async open(dir: string, terminalId: string, durable = true): Promise<TerminalRecording> {
    const out = await AppendLog.open(join(dir, `${terminalId}.out`), { maxDelayMs: 50, durable });
    const timing = await AppendLog.open(join(dir, `${terminalId}.timing.jsonl`), { maxDelayMs: 50, durable });
    return new TerminalRecording(terminalId, out, timing);
  }

  get size(): number {
    return this.out.size;
  }

  append(data: Buffer, ts = Date.now()): { offset: number; durable: Promise<void> } {
    const r = this.out.append(data);
    this.timing.append(`[${ts},${r.offset},${data.length}]\n`);
    return r;
  }

  read(start: number, end = this.out.size): Promise<Buffer> {
    return this.out.read(start, end);
  }

  async flush(): Promise<void> {
    await Promise.all([this.out.flush(), this.timing.flush()]);
  }

  async close(): Promise<void> {
    await Promise.all([this.out.close(), this.timing.close()]);
  }
}

export interface TimingEntry {
  ts: number;
  offset: number;
  length: number;
}

/** Parse a timing index, ignoring a torn or corrupt line. */
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
  return out;
}
