// The rows of issue 10's table that can be measured here, on a generated session of
// the size of a real 30-hour run (generate.ts), each beside its baseline measured in
// the same run on the same files:
//
//   open until the latest step is visible   vs read + parse of events.jsonl in Node
//   memory with it open                     (server, and the renderer's copy simulated in Node)
//   export openai / all formats             vs `cat` of the session folder
//   get_session_output(since_timestamp)     vs the full parse of the timing log it replaced
//   converting an old session's timing log  vs one such parse
//   search across the session               vs grep -r -i -F over its folder
//
// Memory and export are measured in child processes (a fresh heap each, peak RSS from
// the OS), so one row's garbage does not count against the next.
//
// Size: BENCH_FULL=1 generates the full session (2,500 steps, 48 h, 800 MB); otherwise
// BENCH_SESSION_STEPS / _HOURS / _TERMINAL_MB (default a fifth of it, for a 2-core
// machine). BENCH_SESSION_HOME keeps the generated session there and reuses it on the
// next run. The bench fails when the session is not the size it claims.
import { spawn, spawnSync } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { parseTiming, type TimingEntry } from '../core/store/terminal-recording';
import { TimingIndex, timingIndexPath } from '../core/store/timing-index';
import { readEventLog } from '../core/store/event-log';
import { ApolloCore } from '../core/app';
import { resourcesDir } from '../core/paths';
import { exportBundle, EXPORT_FORMATS, type ExportFormat } from '../core/dataset/bundle';
import { TOKEN_STORE_FILE } from '../core/dataset/token-store';
import { REDACTION_MEMO_FILE } from '../core/dataset/redaction-memo';
import { CAST_CACHE_DIR } from '../core/dataset/cast-cache';
import { TokenWarmer } from '../core/dataset/token-warmer';
import { sessionTextKeys } from '../core/dataset/tokens';
import { branchLeaf, foldTrajectory } from '../../shared/trajectory';
import type { SessionEvent } from '../../shared/events';
import { borrowFold, compactLog, trajectoryOf } from '../core/session-trajectory';
import { encodeHostMessage } from '../core/json-text';
import { pagedOpen } from '../core/open-pages';
import { mergeBySeq, type CompactEvent } from '../../shared/compact-events';
import type { HostMessage } from '../../shared/contract/index';
import { openInPage, type PageOpenResult } from './open-page';
import { describeScroll, scrollInPage, SCROLL_GOAL_MS } from './scroll-page';
import { SessionSearch } from '../core/search/session-search';
import { FULL_SIZE, generateSession, verifyGenerated, type GenerateClaims } from './generate';
import { benchReplay } from './replay';
import { median, percentile, processPeakRssMb } from './measure';

const full = process.env.BENCH_FULL === '1';
const STEPS = full ? FULL_SIZE.steps : Number(process.env.BENCH_SESSION_STEPS ?? FULL_SIZE.steps / 5);
const HOURS = full ? FULL_SIZE.hours : Number(process.env.BENCH_SESSION_HOURS ?? FULL_SIZE.hours / 5);
const TERMINAL_MB = full ? FULL_SIZE.terminalMb : Number(process.env.BENCH_SESSION_TERMINAL_MB ?? FULL_SIZE.terminalMb / 5);

export function ms(n: number): string {
  return n >= 10_000 ? `${(n / 1000).toFixed(1)} s` : n >= 10 ? `${n.toFixed(0)} ms` : `${n.toFixed(2)} ms`;
}

export function line(name: string, value: string, baseline: string, ratio: string, note = ''): void {
  console.log(`${name.padEnd(46)} ${value.padStart(12)}   baseline ${baseline.padStart(12)}   ${ratio.padEnd(16)}${note ? `  ${note}` : ''}`);
}

/** Run `fn` in a fresh process (this bundle with --child); returns what it printed as JSON. */
function child<T>(task: string, args: Record<string, unknown>, nodeFlags: string[] = []): Promise<T> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [...process.execArgv, ...nodeFlags, process.argv[1]!, '--child', task, JSON.stringify(args)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.on('error', reject);
    p.on('exit', (code) => {
      if (code !== 0) reject(new Error(`bench child "${task}" exited with ${code}`));
      else {
        try {
          resolve(JSON.parse(out.trim().split('\n').at(-1)!) as T);
        } catch (e) {
          reject(e);
        }
      }
    });
  });
}

interface OpenResult { serverMs: number; wireMs: number; foldMs: number; wireChars: number; logBytes: number; serverRssMb: number; rendererRssMb: number; peakRssMb: number; steps: number; leafId: string }
/**
 * `notedMs`: the CPU of noting the keys of the session's texts as the host that recorded it did, event by event (0: the
 * session was opened from disk); `planMs`: the export dialog's plan before it (0: none made).
 */
interface ExportResult { ms: number; cpuMs: number; peakRssMb: number; addedRssMb: number; examples: number; tokens: number; reused: boolean; notedMs: number; planMs: number }

/** Entry of the child processes (`bench.js --child TASK JSON`). */
export async function benchChild(argv: string[]): Promise<void> {
  const [task, raw] = argv;
  const a = JSON.parse(raw ?? '{}') as { home: string; id: string; dir: string; out: string; formats: ExportFormat[]; inThread?: boolean; firstOpen?: boolean; built?: boolean; recorded?: boolean; planned?: boolean };
  const rss = () => process.memoryUsage().rss / 1e6;
  if (task === 'open') {
    const rss0 = rss();
    const t0 = performance.now();
    const core = await ApolloCore.open({ home: a.home, resourcesDir: resourcesDir(), host: 'web', samples: false });
    let reply: HostMessage;
    let logBytes: number;
    if (a.firstOpen) {
      // A first open (no view kept beside the log yet): the session's log read and decoded, folded and compacted…
      const s = await core.session(a.id);
      const view = compactLog(s);
      reply = { kind: 'res', id: 1, ok: true, result: { ...pagedOpen(view.events, trajectoryOf(s)), report: s.report, version: view.version } } as HostMessage;
      logBytes = s.logBytes;
    } else {
      // A next open: sessions.open itself, through the dispatcher, as the web host calls it (open-view.ts)…
      let answer: (m: HostMessage) => void = () => undefined;
      const answered = new Promise<HostMessage>((r) => (answer = r));
      const link = core.connect((m) => {
        if (m.kind === 'res') answer(m);
      }, { jsonText: true });
      await link.receive({ kind: 'req', id: 1, cmd: 'sessions.open', args: { sessionId: a.id, paged: true } });
      reply = await answered;
      logBytes = (await stat(join(a.dir, 'events.jsonl'))).size;
      link.close();
    }
    const serverMs = performance.now() - t0;
    const serverRssMb = rss() - rss0;
    // …as one message, encoded as the web host sends it…
    const t1 = performance.now();
    const encoded = encodeHostMessage(reply);
    const wire = typeof encoded === 'string' ? encoded : encoded.toString('utf8');
    const wireMs = performance.now() - t1;
    // …which the page parses and folds before the latest step shows (the other steps' details come by page after).
    const rss1 = rss();
    const t2 = performance.now();
    const { events, tail } = (JSON.parse(wire) as { result: { events: CompactEvent[]; tail: CompactEvent[] } }).result;
    const traj = foldTrajectory(mergeBySeq(events, tail));
    // The page opens on the branch of the latest rollout (renderer/src/lib/trajectoryView.ts).
    const leaf = branchLeaf(traj, [...traj.rollouts.values()].at(-1)?.branchId ?? 'main');
    const foldMs = performance.now() - t2;
    const rendererRssMb = rss() - rss1;
    await core.close();
    const r: OpenResult = { serverMs, wireMs, foldMs, wireChars: wire.length, logBytes, serverRssMb, rendererRssMb, peakRssMb: processPeakRssMb(), steps: leaf ? traj.steps.size : 0, leafId: leaf?.id ?? '' };
    console.log(JSON.stringify(r));
    return;
  }
  if (task === 'export') {
    const parsed = await readEventLog(join(a.dir, 'events.jsonl'));
    // The host has the session's fold already (it recorded it, or opened it): the export borrows it.
    const source = { events: parsed.events };
    const fold = borrowFold(source);
    // `recorded`: the host that recorded the session exports it, and noted the keys of its texts as each event came
    // (token-warmer.ts take; the counting itself, in its worker, is the warm child's). Else it was opened from disk.
    const textKeys = a.recorded ? sessionTextKeys(source) : undefined;
    let notedMs = 0;
    if (textKeys) {
      const warmer = new TokenWarmer(a.dir, undefined, async () => undefined, async () => [], textKeys);
      const n0 = process.cpuUsage();
      for (const ev of parsed.events) warmer.take(ev);
      const n = process.cpuUsage(n0);
      notedMs = (n.user + n.system) / 1e3;
      await warmer.stop();
    }
    // Named by the digest of the lines read, as a loaded session's events are (exports.ts): an export of the same again may take the kept bundle, unless `built`.
    const eventsDigest = parsed.content!.digest('hex');
    const sessions = [{ sessionId: a.id, events: parsed.events, sessionDir: a.dir, eventsDigest, fold, ...(textKeys ? { textKeys } : {}) }];
    // `planned`: as in the app, whose export dialog shows the plan (exports.ts planExport: the bundle's own dry run) before its Export button starts the export.
    let planMs = 0;
    if (a.planned) {
      const p0 = performance.now();
      await exportBundle({ home: '', sessions, outDir: '', formats: a.formats, secrets: [], appVersion: 'bench', dryRun: true, keepPlan: true });
      planMs = performance.now() - p0;
    }
    const rss0 = rss();
    const t0 = performance.now();
    // Every thread's CPU (the recording worker's too): on a shared machine the steadier figure.
    const c0 = process.cpuUsage();
    const r = await exportBundle({
      home: a.home, sessions, outDir: a.out, formats: a.formats, secrets: [], appVersion: 'bench',
      ...(a.inThread ? { castWorker: false as const } : {}), ...(a.built ? { bundleCache: false } : {}),
    });
    const elapsed = performance.now() - t0;
    const cpu = process.cpuUsage(c0);
    const peakRssMb = processPeakRssMb();
    const out: ExportResult = { ms: elapsed, cpuMs: (cpu.user + cpu.system) / 1e3, peakRssMb, addedRssMb: peakRssMb - rss0, examples: r.manifest.counts.trajectories, tokens: r.manifest.counts.tokens.total, reused: !!r.reused, notedMs, planMs };
    console.log(JSON.stringify(out));
    return;
  }
  if (task === 'warm') {
    // What the host does as the session is recorded (token-warmer.ts), all at once: its CPU is the cost moved out of the first export.
    const parsed = await readEventLog(join(a.dir, 'events.jsonl'));
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    // The longest turn this thread took meanwhile: the host's other work waits that long.
    let last = performance.now();
    let longest = 0;
    let ticking = true;
    const tick = (): void => {
      const t = performance.now();
      longest = Math.max(longest, t - last);
      last = t;
      if (ticking) setImmediate(tick);
    };
    setImmediate(tick);
    const warmer = new TokenWarmer(a.dir);
    for (const ev of parsed.events) warmer.take(ev);
    await warmer.close();
    ticking = false;
    const cpu = process.cpuUsage(c0);
    console.log(JSON.stringify({ ms: performance.now() - t0, cpuMs: (cpu.user + cpu.system) / 1e3, longestTurnMs: longest }));
    return;
  }
  throw new Error(`unknown bench child task ${task}`);
}

/** `cat` of files to /dev/null, timed. */
function cat(files: string[]): number {
  const devnull = openSync('/dev/null', 'w');
  try {
    const t0 = performance.now();
    const r = spawnSync('cat', files, { stdio: ['ignore', devnull, 'inherit'] });
    if (r.status !== 0) throw new Error('cat failed');
    return performance.now() - t0;
  } finally {
    closeSync(devnull);
  }
}

interface Prepared { home: string; id: string; dir: string; train: [string, { timingBytes: number }] }

/** The generated session, made (or reused) and checked against its claims. */
async function prepareSession(scratch: string): Promise<Prepared> {
  const home = process.env.BENCH_SESSION_HOME ?? join(scratch, 'generated');
  const claims: GenerateClaims = { steps: STEPS, hours: HOURS, terminalBytes: Math.round(TERMINAL_MB * 1e6) };
  const id = `bench-${STEPS}-steps-${HOURS}h`;
  const dir = join(home, 'sessions', id);
  console.log(`\nA generated ${STEPS.toLocaleString('en')}-step session over ${HOURS} h with ${TERMINAL_MB} MB of terminal output${full ? ' (full size)' : ` (BENCH_FULL=1 for ${FULL_SIZE.steps.toLocaleString('en')} steps, ${FULL_SIZE.hours} h, ${FULL_SIZE.terminalMb} MB)`}`);
  if (!(await stat(join(dir, 'events.jsonl')).then(() => true, () => false))) {
    const t0 = performance.now();
    await generateSession({ home, steps: STEPS, hours: HOURS, terminalMb: TERMINAL_MB, id });
    console.log(`  generated in ${ms(performance.now() - t0)} into ${home}`);
  } else console.log(`  reusing ${dir}`);
  const v = await verifyGenerated(dir, claims);
  // Index it once, as the first open after copying a session in does: the row below is a reviewer's next open.
  // Its log loaded once too, so the view sessions.open answers from is kept beside it (open-view.ts).
  const core = await ApolloCore.open({ home, resourcesDir: resourcesDir(), host: 'web', samples: false });
  await core.session(id);
  await core.close();
  const train = Object.entries(v.terminals).sort((a, b) => b[1].timingBytes - a[1].timingBytes)[0]!;
  console.log(`  verified: ${v.steps.toLocaleString('en')} steps, ${v.hours.toFixed(1)} h, ${v.branches} branches, ${v.guidance} guidance; events.jsonl ${(v.eventBytes / 1e6).toFixed(1)} MB, `
    + `terminals ${(v.terminalBytes / 1e6).toFixed(0)} MB (${Object.entries(v.terminals).map(([t, x]) => `${t} ${(x.bytes / 1e6).toFixed(1)}`).join(', ')}), largest timing index ${(train[1].timingBytes / 1e6).toFixed(1)} MB`);
  return { home, id, dir, train };
}

/** A port nothing listens on now, for the servers of the returning annotator's visits. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

const OPEN_RUNS = Number(process.env.BENCH_OPEN_RUNS ?? 3);
/** Another build's CLI to open with (`apollo serve` serves its own renderer): before and after on the same machine. */
const OPEN_CLI = process.env.BENCH_OPEN_CLI;

/** The open and memory rows: in Node (the page simulated), then in Chromium, each run with a fresh server. */
async function benchOpen({ home, id, dir }: Prepared, scratch: string): Promise<void> {
  const b0 = performance.now();
  const text = await readFile(join(dir, 'events.jsonl'), 'utf8');
  for (const l of text.split('\n')) if (l) JSON.parse(l);
  const parseMs = performance.now() - b0;
  const first = await child<OpenResult>('open', { home, id, dir, firstOpen: true });
  const o = await child<OpenResult>('open', { home, id, dir });
  const openMs = (r: OpenResult) => r.serverMs + r.wireMs + r.foldMs;
  const parts = (r: OpenResult, server: string) => `server ${ms(r.serverMs)} (${server}) + a paged open (the tree and the newest steps' details), one ${(r.wireChars / 1e6).toFixed(1)} M-character message (of a ${(r.logBytes / 1e6).toFixed(1)} MB log) ${ms(r.wireMs)} + parse and fold ${ms(r.foldMs)}`;
  line('open, server + page simulated in Node', ms(openMs(o)), ms(parseMs), `${(openMs(o) / parseMs).toFixed(1)}× (goal ≤ 2×)`,
    parts(o, 'the workspace opened, sessions.open answered from the view kept when the session last closed'));
  line('first open, server + page simulated in Node', ms(openMs(first)), ms(parseMs), `${(openMs(first) / parseMs).toFixed(1)}×`,
    parts(first, 'the workspace opened, the log read, decoded, folded and compacted: no view kept yet, as after an import or a crash'));
  line('memory, server + renderer simulated in Node', `${(o.serverRssMb + o.rendererRssMb).toFixed(0)} MB`, '—', '(goal < 400 MB)', `server +${o.serverRssMb.toFixed(0)} MB, the page's copy +${o.rendererRssMb.toFixed(0)} MB`);
  // The real page: apollo serve (the CLI built beside this script) and the built renderer in Chromium;
  // with BENCH_OPEN_AB=1, this build and BENCH_OPEN_CLI's taking turns, run by run (the same load for both).
  const own = join(dirname(process.argv[1]!), 'cli.js');
  const clis = OPEN_CLI ? (process.env.BENCH_OPEN_AB === '1' ? [own, OPEN_CLI] : [OPEN_CLI]) : [own];
  const runs = clis.map(() => [] as PageOpenResult[]);
  // A returning annotator's browser beside each first visit (BENCH_OPEN_WARM=0 leaves it out):
  // a profile of its own per run, that loaded the page twice before from a server on the same port.
  const warmRuns = clis.map(() => [] as PageOpenResult[]);
  const warm = process.env.BENCH_OPEN_WARM !== '0';
  const port = warm ? await freePort() : 0;
  const baselines: number[] = [];
  for (let k = 0; k < OPEN_RUNS; k++) {
    for (const [b, cli] of clis.entries()) {
      const n = k * clis.length + b;
      runs[b]!.push(await openInPage(cli, dirname(dirname(dirname(cli))), home, id, o.leafId, n));
      if (warm) warmRuns[b]!.push(await openInPage(cli, dirname(dirname(dirname(cli))), home, id, o.leafId, n, { dir: join(scratch, `profile-${n}`), port }));
    }
    // The baseline again beside each run: on a shared machine both move with the load.
    const r0 = performance.now();
    for (const l of (await readFile(join(dir, 'events.jsonl'), 'utf8')).split('\n')) if (l) JSON.parse(l);
    baselines.push(performance.now() - r0);
  }
  const base = median(baselines);
  for (const [b, cli] of clis.entries()) {
    const these = runs[b]!;
    // Timed by the first frame that has the step on screen (a frame callback in the page), not
    // by when playwright saw it: its waits poll, at intervals that grow to 500 ms.
    const mid = [...these].sort((a, b) => a.frameMs - b.frameMs)[Math.floor(these.length / 2)]!;
    const range = (f: (r: PageOpenResult) => number, rs = these) => `${ms(Math.min(...rs.map(f)))}–${ms(Math.max(...rs.map(f)))}`;
    const cpu = (f: (r: PageOpenResult) => number, rs = these) => `${ms(median(rs.map((r) => f(r) * 1000)))} (${ms(Math.min(...rs.map(f)) * 1000)}–${ms(Math.max(...rs.map(f)) * 1000)})`;
    line('open until the latest step is visible', ms(mid.frameMs), ms(base), `${(mid.frameMs / base).toFixed(1)}× (goal ≤ 2×)`,
      `in Chromium${cli !== own ? ` with the build of ${cli}` : ''}, the first frame with it on screen (timed in the page), median of ${these.length} (${range((r) => r.frameMs)}; baseline ${ms(Math.min(...baselines))}–${ms(Math.max(...baselines))}), each with a fresh apollo serve: `
      + `click to the reply in the page ${ms(mid.replyMs)}, fold ${ms(mid.foldMs)}, render to the frame ${ms(mid.renderMs)}; every step's details in (the last page folded) ${ms(mid.completeMs)} after the click (${range((r) => r.completeMs)}); playwright, polling, saw the step ${ms(mid.ms)} after its click began (${range((r) => r.ms)}; its checks before the click's event ${ms(mid.dispatchMs)}); `
      + `CPU from the click to the step visible: apollo serve ${cpu((r) => r.serverCpu)}, Chromium ${cpu((r) => r.browserCpu)} (medians)`);
    const loads = (rs: PageOpenResult[]) => `${ms(median(rs.map((r) => r.loadMs)))} (${range((r) => r.loadMs, rs)}), DOMContentLoaded (the bundle fetched, compiled and run) ${ms(median(rs.map((r) => r.dclMs)))} (${range((r) => r.dclMs, rs)}), Chromium CPU ${cpu((r) => r.loadCpu, rs)}`;
    line('page load to the session list, first visit', ms(median(these.map((r) => r.loadMs))), '—', '',
      `in Chromium${cli !== own ? ` with the build of ${cli}` : ''}, a fresh profile: ${loads(these)} (medians)`);
    const w = warmRuns[b]!;
    if (w.length) {
      const wmid = [...w].sort((a, b) => a.frameMs - b.frameMs)[Math.floor(w.length / 2)]!;
      line('page load to the session list, returning', ms(median(w.map((r) => r.loadMs))), ms(median(these.map((r) => r.loadMs))), `${(median(w.map((r) => r.loadMs)) / median(these.map((r) => r.loadMs))).toFixed(2)}× the first visit`,
        `the same${cli !== own ? ` (${cli})` : ''} with a profile that loaded the page twice before (same port: its HTTP cache and V8's code cache): ${loads(w)}; the bundle from the browser's cache in ${w.filter((r) => r.bundleCached).length} of ${w.length}, V8's code cache on disk ${median(w.map((r) => r.codeCacheKb)).toFixed(0)} kB (medians)`);
      line('open until the latest step is visible, returning', ms(wmid.frameMs), ms(mid.frameMs), `${(wmid.frameMs / mid.frameMs).toFixed(2)}× the first visit`,
        `the same profile, the first frame with the step ${range((r) => r.frameMs, w)}; playwright saw it ${ms(wmid.ms)} (${range((r) => r.ms, w)}); CPU apollo serve ${cpu((r) => r.serverCpu, w)}, Chromium ${cpu((r) => r.browserCpu, w)}; baseline: the first visit's median`);
    }
    const total = mid.server.pssMb + mid.renderer.pssMb;
    line('memory with it open, server + renderer', `${total.toFixed(0)} MB`, '—', '(goal < 400 MB)',
      `PSS: apollo serve ${mid.server.pssMb.toFixed(0)} MB + Chromium's ${mid.renderer.processes} renderer process(es) ${mid.renderer.pssMb.toFixed(0)} MB `
      + `(private ${mid.server.privateMb.toFixed(0)} + ${mid.renderer.privateMb.toFixed(0)} MB; RSS ${mid.server.rssMb.toFixed(0)} + ${mid.renderer.rssMb.toFixed(0)} MB, shared pages counted in each; page JS heap ${mid.rendererHeapMb.toFixed(0)} MB)`);
  }
  const sc = describeScroll(await scrollInPage(own, dirname(dirname(dirname(own))), home, id, o.leafId), o.steps);
  line('scroll the trajectory, a jump to two frames on', ms(sc.value), ms(sc.baseline), `${(sc.value / sc.baseline).toFixed(1)}× (goal median < ${SCROLL_GOAL_MS} ms)`, sc.note);
  // The large-log row takes a while and does not change with the page: BENCH_OPEN_LARGE=0 leaves it out.
  if (process.env.BENCH_OPEN_LARGE === '0') return;
  await benchLargeLog(dir, scratch);
}

const LARGE_EXTRA = 200;

/**
 * A log larger than memory (issue 10, bad input): the generated log with 200 action
 * results of 1 MB added, opened as the Node row does by a process whose V8 heap is
 * capped at 64 MB; beside read + JSON.parse of it in this process (uncapped).
 */
async function benchLargeLog(dir: string, scratch: string): Promise<void> {
  const home = join(scratch, 'large-log');
  const id = 'large-log';
  await mkdir(join(home, 'sessions', id), { recursive: true });
  const path = join(home, 'sessions', id, 'events.jsonl');
  const text = await readFile(join(dir, 'events.jsonl'), 'utf8');
  const events = text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as SessionEvent);
  let seq = events.at(-1)!.seq;
  const results = events.filter((e) => e.type === 'action.result');
  const lines = [text];
  for (let i = 0; i < LARGE_EXTRA; i++) {
    const r = results[i % results.length]!;
    lines.push(JSON.stringify({ ...r, seq: ++seq, toolCallId: `${r.toolCallId}-large-${i}`, observation: `${i} `.repeat(1 << 19).slice(0, 1 << 20) }) + '\n');
  }
  await writeFile(path, lines.join(''), { mode: 0o600 });
  const b0 = performance.now();
  for (const l of (await readFile(path, 'utf8')).split('\n')) if (l) JSON.parse(l);
  const parseMs = performance.now() - b0;
  const o = await child<OpenResult>('open', { home, id, dir: join(home, 'sessions', id), firstOpen: true }, ['--max-old-space-size=64']);
  line('open a log larger than memory, 64 MB heap', ms(o.serverMs + o.wireMs + o.foldMs), ms(parseMs), `${((o.serverMs + o.wireMs + o.foldMs) / parseMs).toFixed(1)}×`,
    `a ${(o.logBytes / 1e6).toFixed(0)} MB log (${LARGE_EXTRA} observations of 1 MB added): server ${ms(o.serverMs)} (its first open: checked and stamped), a ${(o.wireChars / 1e6).toFixed(1)} M-character message, peak RSS ${o.peakRssMb.toFixed(0)} MB; baseline uncapped`);
  await rm(home, { recursive: true, force: true });
}

/**
 * The export rows, each in a fresh process: OpenAI with no token counts kept beside the
 * log (the first export of a session) and again with them, all formats from scratch,
 * and the recordings converted in the exporter's thread (the worker's baseline).
 */
async function benchExport({ home, id, dir }: Prepared, scratch: string, catMs: number, catLog: number): Promise<void> {
  let n = 0;
  // cold: nothing kept beside the session from an earlier export (token counts, texts found clean, conversions, bundles);
  // freshCasts: the recordings converted again (no bundle kept either); built: every file built, none taken from a kept bundle.
  // inApp: as the app exports a session it recorded: the host noted the keys of its texts as they came, and the export
  // dialog's plan ran before its Export button (else a fresh process that read the log from disk, as `apollo export`).
  const run = async (name: string, formats: ExportFormat[], o: { cold: boolean; freshCasts?: boolean; inThread?: boolean; built?: boolean; reused?: boolean; inApp?: boolean }): Promise<ExportResult> => {
    if (o.cold) await Promise.all([TOKEN_STORE_FILE, REDACTION_MEMO_FILE].map((f) => rm(join(dir, f), { force: true })));
    if (o.cold || o.freshCasts) await rm(join(dir, CAST_CACHE_DIR), { recursive: true, force: true });
    const r = await child<ExportResult>('export', { home, id, dir, out: join(scratch, `bundle-${++n}`), formats, ...(o.inThread ? { inThread: true } : {}), ...(o.built ? { built: true } : {}), ...(o.inApp ? { recorded: true, planned: true } : {}) });
    if (r.reused !== !!o.reused) throw new Error(`bench row "${name}": the export ${r.reused ? 'took a kept bundle' : 'built its files'}, which the row does not measure`);
    const goal = formats.length === 1 ? 2 : 10;
    line(`${name}, ms`, ms(r.ms), ms(catMs), `${(r.ms / catMs).toFixed(1)}× cat (goal ≤ ${goal}×)`,
      `${ms(r.cpuMs)} CPU (all threads)${o.inApp ? ` after the dialog's plan (${ms(r.planMs)}; the host noted the keys of the session's texts as they were recorded, ${ms(r.notedMs)} CPU in all)` : ''}, peak RSS ${r.peakRssMb.toFixed(0)} MB (+${r.addedRssMb.toFixed(0)} MB over the loaded log; goal < ${formats.length === 1 ? 200 : 300} MB), ${r.examples} examples, ${r.tokens.toLocaleString('en')} tokens; cat of events.jsonl alone ${ms(catLog)}`);
    return r;
  };
  await run('export openai, first (tokens counted)', ['openai'], { cold: true });
  await run('export openai, again, built (token counts, clean texts kept)', ['openai'], { cold: false, built: true });
  await run('export openai, again (the bundle kept)', ['openai'], { cold: false, reused: true });
  // As recorded: counted by the host, but never exported (so no text is known clean, no bundle kept).
  await Promise.all([TOKEN_STORE_FILE, REDACTION_MEMO_FILE].map((f) => rm(join(dir, f), { force: true })));
  await rm(join(dir, CAST_CACHE_DIR), { recursive: true, force: true });
  const warm = await child<{ ms: number; cpuMs: number; longestTurnMs: number }>('warm', { home, id, dir });
  line('tokens counted as recorded (whole session)', ms(warm.cpuMs), '—', 'CPU, at record time', `the host counts each step's new texts a second after it is recorded, in its counting worker (${ms(warm.ms)} wall here, all at once; the host thread's longest turn meanwhile ${ms(warm.longestTurnMs)})`);
  await run('export openai, first after recording, in the app', ['openai'], { cold: false, inApp: true });
  // The same files beside the log, exported by a fresh process (as `apollo export`, its log already read): its code not yet optimized, and it hashes every text.
  await run('export openai, first after recording, fresh process', ['openai'], { cold: false, freshCasts: true });
  await run('export all formats, first', [...EXPORT_FORMATS], { cold: true });
  // A recorded session's first export: its token counts made as it was recorded (above), its recordings converted now, beside the training files.
  await run('export all formats, first after recording', [...EXPORT_FORMATS], { cold: false, freshCasts: true, inApp: true });
  await run('export all formats, again, built (conversions kept)', [...EXPORT_FORMATS], { cold: false, built: true });
  const kept = await run('export all formats, again (the bundle kept)', [...EXPORT_FORMATS], { cold: false, reused: true });
  // What the disk itself takes to write those bytes durably: the bundle copied by cp, its files fsync'd by sync.
  const bundle = join(scratch, `bundle-${n}`);
  const copies = [1, 2, 3].map((k) => {
    const to = join(scratch, `bundle-${n}-cp-${k}`);
    const t0 = performance.now();
    const r = spawnSync('sh', ['-c', 'cp -r "$1" "$2" && find "$2" -type f -exec sync {} +', 'sh', bundle, to], { stdio: 'inherit' });
    if (r.status !== 0) throw new Error('cp failed');
    return performance.now() - t0;
  });
  await Promise.all([1, 2, 3].map((k) => rm(join(scratch, `bundle-${n}-cp-${k}`), { recursive: true, force: true })));
  const cpMs = median(copies);
  line('  the same bytes copied by cp and fsync\'d, ms', ms(cpMs), ms(catMs), `${(cpMs / catMs).toFixed(1)}× cat`, `the bundle just written (${kept.examples} examples), copied and made durable by the disk alone: the kept export is ${(kept.ms / cpMs).toFixed(2)}× it`);
  // The baseline of the worker: the recordings converted in the exporter's thread, whose
  // heap also holds the log, so V8 let their garbage pile up to ~4× it before collecting.
  await run('export all formats, recordings in this thread', [...EXPORT_FORMATS], { cold: false, freshCasts: true, inThread: true });
}

/** `bench.js --export`: only the export rows. */
export async function benchExportOnly(scratch: string): Promise<void> {
  const prepared = await prepareSession(scratch);
  const files = [join(prepared.dir, 'events.jsonl'), ...(await readdir(join(prepared.dir, 'terminals'))).map((f) => join(prepared.dir, 'terminals', f))];
  cat(files);
  await benchExport(prepared, scratch, median([cat(files), cat(files), cat(files)]), median([cat([files[0]!]), cat([files[0]!]), cat([files[0]!])]));
}

/** `bench.js --open`: only the open and memory rows. */
export async function benchOpenOnly(scratch: string): Promise<void> {
  await benchOpen(await prepareSession(scratch), scratch);
}

export async function benchSession(scratch: string): Promise<void> {
  const prepared = await prepareSession(scratch);
  const { home, id, dir, train } = prepared;
  const files = [join(dir, 'events.jsonl'), ...(await readdir(join(dir, 'terminals'))).map((f) => join(dir, 'terminals', f))];
  cat(files); // warm the page cache: every row reads from memory, as the baselines do
  const catMs = median([cat(files), cat(files), cat(files)]);
  const catLog = median([cat([files[0]!]), cat([files[0]!]), cat([files[0]!])]);

  await benchOpen(prepared, scratch);
  await benchExport(prepared, scratch, catMs, catLog);

  // ---- get_session_output(since_timestamp): the lookup of the start offset
  const tdir = join(dir, 'terminals');
  const timingPath = join(tdir, `${train[0]}.timing.jsonl`);
  const oldTimes: number[] = [];
  let entries: TimingEntry[] = [];
  let parseRss = 0;
  for (let k = 0; k < 5; k++) {
    const rss0 = process.memoryUsage().rss;
    const t0 = performance.now();
    // What tools.ts did per call: the whole JSONL parsed, then scanned.
    entries = parseTiming(await readFile(timingPath, 'utf8'));
    const since = entries[Math.floor((entries.length * (k + 0.5)) / 5)]!.ts;
    let off = -1;
    for (const e of entries) if (e.ts >= since) {
      off = e.offset;
      break;
    }
    if (off < 0) throw new Error('lookup found nothing');
    oldTimes.push(performance.now() - t0);
    parseRss = Math.max(parseRss, (process.memoryUsage().rss - rss0) / 1e6);
  }
  // The searched index: converted once (as on the first open of an old session), then searched.
  await rm(timingIndexPath(tdir, train[0]), { force: true });
  const c0 = performance.now();
  const idx = await TimingIndex.open(tdir, train[0], { write: true });
  const convertMs = performance.now() - c0;
  const newTimes: number[] = [];
  for (let k = 0; k < 200; k++) {
    const want = entries[Math.floor((entries.length * (k + 0.5)) / 200)]!;
    const t0 = performance.now();
    const hit = await idx.firstAtOrAfter(want.ts);
    newTimes.push(performance.now() - t0);
    // Fails loudly rather than report the speed of a wrong answer.
    if (!hit || hit.offset > want.offset) throw new Error(`timing index lookup of ${want.ts} gave ${hit?.offset}, expected at most ${want.offset}`);
  }
  await idx.close();
  const o0 = performance.now();
  const cold = await TimingIndex.open(tdir, train[0]);
  await cold.firstAtOrAfter(entries[Math.floor(entries.length / 3)]!.ts);
  const coldMs = performance.now() - o0;
  await cold.close();
  const lookup = median(newTimes);
  const old = median(oldTimes);
  line('get_session_output(since) offset lookup', ms(lookup), ms(old), `${(old / lookup).toFixed(0)}× faster (goal < 5 ms)`,
    `binary search of ${entries.length.toLocaleString('en')} records (p95 ${ms(percentile(newTimes, 0.95))}, open + lookup ${ms(coldMs)}); baseline: full parse of the ${(train[1].timingBytes / 1e6).toFixed(1)} MB JSONL per call, +${parseRss.toFixed(0)} MB RSS`);
  line('timing index: convert an old session on open', ms(convertMs), ms(old), `${(convertMs / old).toFixed(1)}× one parse`, 'once per terminal, written beside the JSONL and renamed into place');
  // ---- search across the session (terminal output through the index beside each recording)
  const log = await readEventLog(join(dir, 'events.jsonl'));
  const search = new SessionSearch(dir, log);
  await Promise.all((await readdir(tdir)).filter((f) => f.endsWith('.search.idx')).map((f) => rm(join(tdir, f), { force: true })));
  const s0 = performance.now();
  await search.search('zzz-index-build', { limit: 1 });
  const buildMs = performance.now() - s0;
  const queries = ['CUDA out of memory', 'bf16', 'Traceback', 'val_loss', 'Epoch 7/20', 'PASSED', 'zzzqqq', 'ckpt/epoch_3', 'hf_', 'nvidia-smi', 'loss=9.99', 'guidance'];
  const qTimes: number[] = [];
  const wireTimes: number[] = [];
  for (const q of queries) {
    const t0 = performance.now();
    const res = await search.search(q, { limit: 200 });
    qTimes.push(performance.now() - t0);
    // The search box's path adds the reply's trip: encoded and decoded as the transport does.
    JSON.parse(JSON.stringify({ kind: 'res', id: 1, ok: true, result: res }));
    wireTimes.push(performance.now() - t0);
  }
  line('search as the search box gets it, per query', ms(median(wireTimes)), ms(median(qTimes)), `+${ms(median(wireTimes) - median(qTimes))}`,
    `the reply JSON-encoded and decoded as the transport does (max ${ms(Math.max(...wireTimes))}); the page then lists the results`);
  // Baseline: grep -i -F -c over the session folder, one query (the same files, read from the page cache).
  const g0 = performance.now();
  spawnSync('grep', ['-r', '-i', '-F', '-c', 'Traceback', dir], { stdio: 'ignore' });
  const grepMs = performance.now() - g0;
  line('search across the session, per query', ms(median(qTimes)), ms(grepMs), `${(grepMs / median(qTimes)).toFixed(0)}× faster than grep (goal < 200 ms)`,
    `${queries.length} queries, max ${ms(Math.max(...qTimes))}, up to 200 results each; the index built once in ${ms(buildMs)} (then kept beside each recording)`);
  await benchReplay(home, id, dir);
  console.log('  not measured here: keyboard echo during a flood and flood throughput with the UI attached (they need the renderer in Chromium); see the terminal rows below for the flood without UI');
}
