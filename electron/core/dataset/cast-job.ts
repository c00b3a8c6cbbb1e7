// One recording converted to an asciicast file of a bundle: written, validated as it
// is written and hashed, with the redactions it made. The same code runs in the
// exporter's thread and in the recording worker (cast-worker.ts), so what it writes
// does not depend on where it ran; everything it takes and returns can be cloned
// into and out of a worker.
import type { SessionEvent } from '../../../shared/events';
import { ApolloError } from '../../../shared/errors';
import { writeAsciicast } from './asciicast';
import { BufferedWriter, LineCheck } from './files';
import { Redactor } from './redact';
import type { ValidationError } from './validate';
import type { SecretSpec } from './key-fingerprint';

export interface CastJob {
  recordingPath: string;
  timingPath: string;
  /** The file to create (must not exist; its folder must). */
  outPath: string;
  /** The events of this terminal (terminalEventsOf): all the conversion reads of the log. */
  events: SessionEvent[];
  terminalId: string;
  title: string;
  /** Exact secret values to redact, on top of the built-in patterns. */
  secrets: SecretSpec[];
}

export interface CastResult {
  bytes: number;
  sha256: string;
  /** asciicast events (header excluded). */
  records: number;
  errors: ValidationError[];
}

export interface CastHooks {
  /** A line of the file (1-based, header = 1) had these redactions. */
  onLine?(line: number, kinds: readonly string[]): void;
  /** After each block of the recording: bytes read of `size`. */
  onBytes?(done: number, size: number): void;
  signal?: AbortSignal;
  /** The exporter's redactor when run in its thread (else one is made from job.secrets). */
  redactor?: Redactor;
}

/** The events of `terminalId` the conversion uses (its starts, resizes and inputs), to hand a worker no more of the log. */
export function terminalEventsOf(events: readonly SessionEvent[], terminalId: string): SessionEvent[] {
  return events.filter((ev) => (ev.type === 'terminal.started' || ev.type === 'terminal.resized' || ev.type === 'terminal.input') && ev.terminalId === terminalId);
}

export async function convertRecording(job: CastJob, hooks: CastHooks = {}): Promise<CastResult> {
  const out = await BufferedWriter.create(job.outPath);
  const check = new LineCheck('asciicast', { allowReasoning: false });
  try {
    await writeAsciicast({
      checkValue: (v) => {
        check.value(v);
        if (check.lines % 4096 === 0 && hooks.signal?.aborted) throw new ApolloError('CANCELLED', 'Export cancelled');
      },
      recordingPath: job.recordingPath,
      timingPath: job.timingPath,
      events: job.events,
      terminalId: job.terminalId,
      title: job.title,
      out,
      redactor: hooks.redactor ?? new Redactor(job.secrets),
      ...(hooks.onLine ? { onLine: hooks.onLine } : {}),
      ...(hooks.onBytes ? { onBytes: hooks.onBytes } : {}),
      ...(hooks.signal ? { signal: hooks.signal } : {}),
    });
    await out.close();
  } catch (e) {
    await out.abandon();
    throw e;
  }
  return { bytes: out.bytes, sha256: out.sha256(), records: check.records(), errors: check.end(false) };
}
