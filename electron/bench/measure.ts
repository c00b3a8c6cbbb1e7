// Measuring helpers shared by the bench rows: the baseline of reading the same bytes,
// the peak memory of a run, and the percentiles every row reports.
import { createReadStream, readFileSync } from 'node:fs';

/**
 * The sample at rank floor(q·n) of the sorted samples (nearest rank, no interpolation:
 * every printed p50 / p95 is a time that was measured). q = 0.5 is the upper median.
 */
export function percentile(xs: readonly number[], q: number): number {
  if (xs.length === 0) throw new Error('percentile of no samples');
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}

export function median(xs: readonly number[]): number {
  return percentile(xs, 0.5);
}

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

/**
 * This process's peak RSS in MB: VmHWM of its own address space. Not getrusage's maxRSS,
 * which Linux carries across exec: a child spawned by a larger bench process reports the
 * parent's peak (a 40 MB child of a 300 MB parent says 297 MB).
 */
export function processPeakRssMb(): number {
  const hwm = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  return hwm ? Number(hwm[1]) / 1e3 : process.resourceUsage().maxRSS / 1e3;
}
