// Measuring helpers shared by the bench rows: the baseline of reading the same bytes,
// and the peak memory of a run.
import { createReadStream } from 'node:fs';

/** Milliseconds to read `files` once, start to end (the baseline a row is compared with). */
export async function readAll(files: string | readonly string[]): Promise<number> {
  const t0 = performance.now();
  for (const f of typeof files === 'string' ? [files] : files) {
    for await (const _chunk of createReadStream(f, { highWaterMark: 1 << 20 })) {
      // reading only
    }
  }
  return performance.now() - t0;
}

/** Peak RSS above the start while `fn` runs (sampled every 20 ms). */
export async function peakRss<T>(fn: () => Promise<T>): Promise<{ value: T; mb: number }> {
  const start = process.memoryUsage().rss;
  let peak = start;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  try {
    const value = await fn();
    peak = Math.max(peak, process.memoryUsage().rss);
    return { value, mb: (peak - start) / 1e6 };
  } finally {
    clearInterval(timer);
  }
}
