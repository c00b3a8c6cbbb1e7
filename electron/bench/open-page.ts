// The open row in the real page: `apollo serve` on the generated workspace and the
// built renderer in Chromium; from the click on the session in the list until its
// newest step is on screen, with the memory both sides hold once it is.
//
// Memory is read from /proc/<pid>/smaps_rollup as PSS (proportional set size): a page
// shared by N processes counts 1/N in each, so summing Chromium's renderer processes
// counts each shared page once, where summed RSS counts it in every process.
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { CHROMIUM, CHROMIUM_ARGS, startServe, type Server } from './browser';
import { browserCpu, cpuSeconds } from './terminal-ui';

/** Marks the page sets while it opens a session (renderer/src/store/sessions.ts). */
export const OPEN_MARKS = { reply: 'apollo:open:reply', folded: 'apollo:open:folded', complete: 'apollo:open:complete' } as const;

/** Until every step's details are in the page (a paged open's last page folded). */
export async function allDetailsIn(page: Page): Promise<void> {
  await page.waitForFunction((n) => performance.getEntriesByName(n).length > 0, OPEN_MARKS.complete, { timeout: 120_000, polling: 50 });
}

export interface ProcMemory {
  rssMb: number;
  /** Proportional set size: shared pages divided among the processes sharing them. */
  pssMb: number;
  /** Pages of this process alone (private clean + dirty). */
  privateMb: number;
}

export interface PageOpenResult {
  /** From page.goto to the session list on screen (the page's load: its files, their compile, the first list). */
  loadMs: number;
  /** Chromium's CPU seconds over that load. */
  loadCpu: number;
  /** Navigation start to DOMContentLoaded, timed in the page: index.html and the bundle fetched, compiled and run (a module script runs before it). */
  dclMs: number;
  /** The bundle came from the browser's cache (no bytes over the wire). */
  bundleCached: boolean;
  /** V8's code cache in the profile once the step is on screen (kB on disk; 0 for a first visit's profile in memory). */
  codeCacheKb: number;
  /** From playwright's click (its checks included) to the newest step visible, as playwright sees it (it waits for the page's main thread). */
  ms: number;
  /** Click to the first frame with the newest step laid out on screen, timed in the page from the click's event. */
  frameMs: number;
  /** Playwright's click before its event: its checks that the row is visible and stable (not part of the open). */
  dispatchMs: number;
  /** Click to every step's details in the page (a paged open's last page folded), timed in the page. */
  completeMs: number;
  /** Click to the sessions.open reply in the page (server + transfer + the transport's parse). */
  replyMs: number;
  /** The reply folded into the page's trajectory. */
  foldMs: number;
  /** From the fold to the first frame with the newest step (React's render of the session view, its layout). */
  renderMs: number;
  /** CPU seconds from the click to the step visible: apollo serve, and Chromium's processes (steadier than wall time on a loaded machine). */
  serverCpu: number;
  browserCpu: number;
  server: ProcMemory;
  /** The page's renderer processes, summed. */
  renderer: ProcMemory & { processes: number };
  rendererHeapMb: number;
}

/** What DevTools' Performance panel records: the main thread's tasks, V8's compile, parse and GC, layout and paint, and JS samples. */
const TRACE_CATEGORIES = ['devtools.timeline', 'disabled-by-default-devtools.timeline', 'v8', 'v8.execute', 'blink.user_timing', 'disabled-by-default-v8.cpu_profiler', 'disabled-by-default-devtools.timeline.frame', 'disabled-by-default-v8.compile'];

/**
 * Trace the page into `path` (chrome://tracing, DevTools) until stop(): over the page's own
 * DevTools session, which a persistent profile's context has too (it has no Browser to trace with).
 */
async function startTrace(page: Page, path: string): Promise<{ stop(): Promise<void> }> {
  const cdp = await page.context().newCDPSession(page);
  const events: unknown[] = [];
  cdp.on('Tracing.dataCollected', (e) => events.push(...e.value));
  await cdp.send('Tracing.start', { traceConfig: { includedCategories: TRACE_CATEGORIES }, transferMode: 'ReportEvents' });
  return {
    stop: async () => {
      const done = new Promise<void>((r) => cdp.once('Tracing.tracingComplete', () => r()));
      await cdp.send('Tracing.end');
      await done;
      await cdp.detach();
      writeFileSync(path, JSON.stringify({ traceEvents: events }));
    },
  };
}

/** Memory of one process from /proc (zeros for one that is gone). */
export function procMemory(pid: number): ProcMemory {
  const kb = (text: string, key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0) / 1024;
  try {
    const r = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    return { rssMb: kb(r, 'Rss'), pssMb: kb(r, 'Pss'), privateMb: kb(r, 'Private_Clean') + kb(r, 'Private_Dirty') };
  } catch {
    return { rssMb: 0, pssMb: 0, privateMb: 0 };
  }
}

/** The bytes of the files in `dir` (not below), in kB; 0 when it is missing. */
function dirKb(dir: string): number {
  try {
    return readdirSync(dir, { withFileTypes: true }).reduce((kb, d) => kb + (d.isFile() ? statSync(join(dir, d.name)).size / 1024 : 0), 0);
  } catch {
    return 0;
  }
}

/** Chromium's renderer processes descending from `root`. */
function rendererPids(root: number): number[] {
  const parent = new Map<number, number>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      // pid (comm) state ppid …: comm may hold spaces, so read after its closing parenthesis.
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      parent.set(Number(d), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      /* gone meanwhile */
    }
  }
  const under = (pid: number): boolean => {
    for (let p = parent.get(pid); p !== undefined && p > 1; p = parent.get(p)) if (p === root) return true;
    return false;
  };
  return [...parent.keys()].filter((pid) => {
    if (!under(pid)) return false;
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('--type=renderer');
    } catch {
      return false;
    }
  });
}

/**
 * A returning annotator's browser: a profile on disk (`dir`, its HTTP cache and V8's code
 * cache) that has loaded the page of a server on `port` before. Both caches are keyed by
 * URL, so the port must be the same: a new port is a new origin, a first visit again.
 */
export interface WarmProfile {
  dir: string;
  port: number;
}

const VIEWPORT = { width: 1500, height: 920 };

function playwright(): typeof import('playwright-core') {
  // Required at run time: bundled, playwright-core cannot find its own package.json.
  return createRequire(import.meta.url)('playwright-core') as typeof import('playwright-core');
}

/**
 * The visits before the measured one, in the same browser, from a server on the same port
 * (stopped after them, as between two days): Chromium keeps a script's compiled code on its
 * second load from the cache and uses it from the third, and only for a script its cache
 * still holds (not one sent anew each time).
 */
async function warmUp(ctx: BrowserContext, cli: string, root: string, home: string, sessionId: string, warm: WarmProfile): Promise<void> {
  const server = await startServe(cli, root, home, ['--port', String(warm.port)]);
  try {
    for (let visit = 0; visit < 2; visit++) {
      const page = await ctx.newPage();
      await page.goto(server.url);
      await page.locator(`[data-testid="session-item"][data-session-id="${sessionId}"]`).waitFor();
      await page.close();
    }
  } finally {
    await server.stop();
  }
  // The code cache is written after the second visit's script has run: wait until it is on disk
  // (a build whose bundle is sent anew on every load never gets one, hence the bound).
  const until = performance.now() + 3000;
  while (dirKb(codeCacheDir(warm.dir)) === 0 && performance.now() < until) await new Promise((r) => setTimeout(r, 50));
}

function codeCacheDir(profile: string): string {
  return join(profile, 'Default', 'Code Cache', 'js');
}

/**
 * Open `sessionId` from the session list and wait for `stepId` (the newest step of the
 * branch it opens on) to be visible. Each run starts a fresh `apollo serve`, so the
 * log is read from disk as a reviewer's first open of the day reads it; the browser is a
 * first visit's (a fresh profile) or, with `warm`, a returning annotator's.
 */
export async function openInPage(cli: string, root: string, home: string, sessionId: string, stepId: string, run = 0, warm?: WarmProfile): Promise<PageOpenResult> {
  const { chromium } = playwright();
  const opened = warm
    ? await chromium.launchPersistentContext(warm.dir, { executablePath: CHROMIUM, args: CHROMIUM_ARGS, viewport: VIEWPORT }).then((ctx) => ({ ctx, close: () => ctx.close() }))
    : await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS }).then(async (b) => ({ ctx: await b.newContext({ viewport: VIEWPORT }), close: () => b.close() }));
  // BENCH_OPEN_TRACE=DIR: where the time goes, for a person to read (chrome://tracing or DevTools):
  // the page's trace from the click to the step visible, and the server's CPU profile (written when it exits).
  const traceDir = process.env.BENCH_OPEN_TRACE;
  const tag = `${run}${warm ? '-warm' : ''}`;
  let server: Server | undefined;
  try {
    if (warm) await warmUp(opened.ctx, cli, root, home, sessionId, warm);
    server = await startServe(cli, root, home, warm ? ['--port', String(warm.port)] : [], {}, traceDir ? ['--cpu-prof', `--cpu-prof-dir=${traceDir}`, `--cpu-prof-name=serve-${tag}.cpuprofile`] : []);
    const page = await opened.ctx.newPage();
    const item = page.locator(`[data-testid="session-item"][data-session-id="${sessionId}"]`);
    // Load trace: where the page load goes, and whether V8 used its code cache (v8.compileModule's consumedCacheSize).
    const loadTrace = traceDir ? await startTrace(page, join(traceDir, `load-${tag}.json`)) : null;
    const load0 = [performance.now(), browserCpu(server)] as const;
    await page.goto(server.url);
    await item.waitFor();
    const loadMs = performance.now() - load0[0];
    const loadCpu = browserCpu(server) - load0[1];
    await loadTrace?.stop();
    const dclMs = await page.evaluate(() => (performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming | undefined)?.domContentLoadedEventEnd ?? NaN);
    const bundleCached = await page.evaluate(() =>
      performance.getEntriesByType('resource').some((e) => {
        const r = e as PerformanceResourceTiming;
        return r.initiatorType === 'script' && /\/assets\/.*\.js$/.test(r.name) && r.transferSize === 0 && r.decodedBodySize > 0;
      }));
    // BENCH_OPEN_PAUSE_MS: a reviewer's pause between the list showing and the click (default none:
    // the click at once, the page's idle-time work still under way, which is the harder case).
    const pause = Number(process.env.BENCH_OPEN_PAUSE_MS ?? 0);
    if (pause > 0) await page.waitForTimeout(pause);
    // A frame callback in the page notes the first frame that has the step on screen, with
    // what it did (not a row whose details are still on their way: a paged open's).
    const shown = `[data-testid="step"][data-step-id="${stepId}"]:not([data-loading])`;
    // The click itself is timed by its event (when the browser took the input), not by this call:
    // playwright's click first waits for the row to be visible and stable over animation frames,
    // and that wait (the dispatch below) is the bench's, not the annotator's.
    const evaluatedAt = await page.evaluate((sel) => {
      const w = window as unknown as { benchStepFrame?: number; benchClickAt?: number };
      delete w.benchStepFrame;
      delete w.benchClickAt;
      document.addEventListener('click', (e) => (w.benchClickAt = e.timeStamp), { capture: true, once: true });
      const check = () => {
        const r = document.querySelector(sel)?.getBoundingClientRect();
        if (r && r.height > 0 && r.bottom > 0 && r.top < innerHeight) w.benchStepFrame = performance.now();
        else requestAnimationFrame(check);
      };
      requestAnimationFrame(check);
      return performance.now();
    }, shown);
    const clickTrace = traceDir ? await startTrace(page, join(traceDir, `page-${tag}.json`)) : null;
    const cpu0 = [cpuSeconds(server.proc.pid), browserCpu(server)] as const;
    const t0 = performance.now();
    await item.click();
    await page.locator(shown).waitFor({ state: 'visible', timeout: 120_000 });
    const ms = performance.now() - t0;
    await clickTrace?.stop();
    const cpu = [cpuSeconds(server.proc.pid) - cpu0[0], browserCpu(server) - cpu0[1]] as const;
    const marks = await page.evaluate((names) => names.map((n) => performance.getEntriesByName(n).at(-1)?.startTime ?? NaN), [OPEN_MARKS.reply, OPEN_MARKS.folded]);
    const [reply, folded] = marks as [number, number];
    const [frame, clickAt] = await page.evaluate(() => {
      const w = window as unknown as { benchStepFrame?: number; benchClickAt?: number };
      return [w.benchStepFrame ?? NaN, w.benchClickAt ?? NaN] as const;
    });
    // The rest of a paged open: every step's details fetched and folded (memory is measured with them in).
    await allDetailsIn(page);
    const complete = await page.evaluate((n) => performance.getEntriesByName(n).at(-1)!.startTime, OPEN_MARKS.complete);
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('HeapProfiler.collectGarbage');
    const heap = (await cdp.send('Runtime.getHeapUsage')) as { usedSize: number };
    // Chromium is a child of this process: its renderers are among our descendants.
    const pids = rendererPids(process.pid);
    const renderer = { rssMb: 0, pssMb: 0, privateMb: 0, processes: pids.length };
    for (const p of pids) {
      const m = procMemory(p);
      renderer.rssMb += m.rssMb;
      renderer.pssMb += m.pssMb;
      renderer.privateMb += m.privateMb;
    }
    return {
      loadMs,
      loadCpu,
      dclMs,
      bundleCached,
      codeCacheKb: warm ? dirKb(codeCacheDir(warm.dir)) : 0,
      ms,
      frameMs: frame - clickAt,
      dispatchMs: clickAt - evaluatedAt,
      completeMs: complete - clickAt,
      replyMs: reply - clickAt,
      foldMs: folded - reply,
      renderMs: frame - folded,
      serverCpu: cpu[0],
      browserCpu: cpu[1],
      server: procMemory(server.proc.pid!),
      renderer,
      rendererHeapMb: heap.usedSize / 1024 / 1024,
    };
  } finally {
    await opened.close();
    await server?.stop();
  }
}
