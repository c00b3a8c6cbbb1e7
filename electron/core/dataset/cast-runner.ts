// Where the exporter converts a recording: in a worker thread with its own, small
// heap (cast-worker.ts, built beside the CLI and the Electron main entry), or in the
// exporter's thread when no built worker is there (running from source, as the unit
// tests do). Each megabyte of terminal output allocates 3-4 MB of strings that are
// dead at once; the exporter's heap also holds the session's log, and V8 let its old
// space grow to ~4× that before collecting (570 MB peak RSS for the full generated
// session). A worker's heap holds only the conversion's few megabytes, so its limit
// makes V8 collect early, and the worker is gone when the recording is done.
import { Worker } from 'node:worker_threads';
import { ApolloError, type ApolloErrorShape } from '../../../shared/errors';
import { builtEntry } from '../built-entry';
import { convertRecording, type CastHooks, type CastJob, type CastResult } from './cast-job';

/** The worker's file name in the build (electron.vite.config.ts names the entry). */
export const CAST_WORKER_FILE = 'cast-worker.js';

/**
 * The worker's old-space limit. Converting the full generated session's recordings
 * (640 MB of tqdm output, 160 MB of shell) fits in 32 MB and fails at 24 MB: the
 * limit leaves three times that (for, say, a terminal with megabytes of typed input),
 * and a worker that still reaches it ends the export with a clear error.
 */
export const CAST_WORKER_HEAP_MB = 96;
/**
 * The worker's young generation: nearly all it allocates dies young, and V8's default
 * semi-spaces cost ~30 MB of RSS for no speed (the 640 MB recording converts in the
 * same CPU time with 4 MB: process peak 98 MB instead of 130 MB).
 */
const CAST_WORKER_YOUNG_MB = 4;

export interface CastWorkerOptions {
  /** The built worker entry. */
  path: string;
  heapMb?: number;
}

export type WorkerRequest = { type: 'abort' };
export type WorkerMessage =
  | { type: 'progress'; done: number; size: number; lines: Array<[number, string[]]> }
  | { type: 'done'; result: CastResult; lines: Array<[number, string[]]> }
  | { type: 'error'; error: ApolloErrorShape; lines: Array<[number, string[]]> };

/** The built worker beside this bundle; null from source. */
export function builtCastWorker(): string | null {
  return builtEntry(CAST_WORKER_FILE);
}

/**
 * Convert one recording, in `worker` when given (hooks.redactor unused: the worker
 * makes its own from job.secrets), else in this thread. Errors are the
 * ApolloErrors the conversion throws here (DISK_FULL, IO, CANCELLED… with the same
 * messages); a worker that runs out of memory or dies ends it as INTERNAL, saying so.
 */
export function runCastJob(job: CastJob, hooks: CastHooks, worker: CastWorkerOptions | null): Promise<CastResult> {
  if (!worker) return convertRecording(job, hooks);
  return inWorker(job, hooks, worker);
}

function inWorker(job: CastJob, hooks: CastHooks, opts: CastWorkerOptions): Promise<CastResult> {
  const heapMb = opts.heapMb ?? CAST_WORKER_HEAP_MB;
  return new Promise((resolve, reject) => {
    const w = new Worker(opts.path, { workerData: job, resourceLimits: { maxOldGenerationSizeMb: heapMb, maxYoungGenerationSizeMb: CAST_WORKER_YOUNG_MB } });
    let outcome: { ok: CastResult } | { err: ApolloError } | null = null;
    // A hook that throws (a progress listener) stops the worker; its error is the job's.
    let hookError: unknown = null;
    const abort = (): void => void w.postMessage({ type: 'abort' } satisfies WorkerRequest);
    hooks.signal?.addEventListener('abort', abort, { once: true });
    if (hooks.signal?.aborted) abort();
    const lines = (ls: Array<[number, string[]]>): void => {
      for (const [n, kinds] of ls) hooks.onLine?.(n, kinds);
    };
    w.on('message', (m: WorkerMessage) => {
      try {
        lines(m.lines);
        if (m.type === 'progress') hooks.onBytes?.(m.done, m.size);
        else if (m.type === 'done') outcome = { ok: m.result };
        else outcome = { err: ApolloError.from(m.error) };
      } catch (e) {
        hookError ??= e;
        abort();
      }
    });
    w.on('error', (e: Error & { code?: string }) => {
      outcome ??= {
        err: e.code === 'ERR_WORKER_OUT_OF_MEMORY'
          ? new ApolloError('INTERNAL', `Converting terminal ${job.terminalId} to asciicast ran out of memory (the recording worker's heap is limited to ${heapMb} MB); nothing was written`)
          : new ApolloError('INTERNAL', `The recording worker for terminal ${job.terminalId} failed: ${e.message}`),
      };
    });
    // Settled on exit: by then the worker has closed the file it wrote.
    w.on('exit', (code) => {
      hooks.signal?.removeEventListener('abort', abort);
      if (hookError) reject(hookError);
      else if (outcome && 'ok' in outcome) resolve(outcome.ok);
      else if (outcome) reject(outcome.err);
      else reject(new ApolloError('INTERNAL', `The recording worker for terminal ${job.terminalId} stopped (exit code ${code}) before finishing`));
    });
  });
}
