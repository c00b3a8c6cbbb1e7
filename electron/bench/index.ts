// `npm run bench`: throughput of the session store and of terminal recording, each
// beside a raw `fs` baseline measured in the same run on the same disk; then open,
// memory, export and timing-index lookups on a generated long session (session.ts);
// imports (import.ts) and merging many bundles (merge.ts) beside reading the same bytes;
// last the terminal rows that need a real renderer, in Chromium (terminal-ui.ts).
// `node out/main/bench.js --terminal-ui` runs only those, `--merge` only the merge row, `--open` only
// the open and memory rows.
import { closeSync, fdatasyncSync, openSync, writeSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { EventLog } from '../core/store/event-log';
import { ApolloCore } from '../core/app';
import { resourcesDir } from '../core/paths';
import type { SessionEventBody } from '../../shared/events';
import { benchChild, benchExportOnly, benchOpenOnly, benchSession } from './session';
import { benchImport } from './import';
import { benchMerge } from './merge';
import { benchTerminalUi } from './terminal-ui';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 200_000);
const FLOOD_BYTES = Number(process.env.BENCH_FLOOD_BYTES ?? 200_000_000);

const body: SessionEventBody = {
  type: 'action.result', stepId: 'step-000123', toolCallId: 'call_abc', name: 'run_command',
  observation: 'x'.repeat(180), isError: false, durationMs: 12,
};

function rate(n: number, ms: number): number {
  return (n / ms) * 1000;
}

function fmt(n: number, unit: string): string {
  return `${n >= 1e6 ? (n / 1e6).toFixed(2) + ' M' : n >= 1e3 ? (n / 1e3).toFixed(1) + ' k' : n.toFixed(0) + ' '}${unit}`;
}

function row(name: string, value: number, baseline: number, unit: string): void {
  console.log(`${name.padEnd(46)} ${fmt(value, unit).padStart(14)}   baseline ${fmt(baseline, unit).padStart(14)}   ratio ${(value / baseline).toFixed(2)}`);
}

/** Raw fs: the same lines written in batches of `batch`, optionally fdatasync'd per batch. */
function rawAppend(path: string, lines: string[], batch: number, sync: boolean): number {
  const fd = openSync(path, 'a');
  const t0 = performance.now();
  for (let i = 0; i < lines.length; i += batch) {
    writeSync(fd, lines.slice(i, i + batch).join(''));
    if (sync) fdatasyncSync(fd);
  }
  if (!sync) fdatasyncSync(fd);
  const ms = performance.now() - t0;
  closeSync(fd);
  return ms;
}

async function storeAppend(path: string, durable: boolean): Promise<{ ms: number }> {
  const { log } = await EventLog.open(path, { durable });
  const t0 = performance.now();
  // Callers arrive in bursts as they would from a busy session; each awaits its ack.
  const acks: Promise<void>[] = [];
  for (let i = 0; i < EVENTS; i++) {
    acks.push(log.append(body).durable);
    if (i % 1000 === 999) await Promise.all(acks.splice(0));
  }
  await Promise.all(acks);
  const ms = performance.now() - t0;
  await log.close();
  return { ms };
}

async function benchEvents(dir: string): Promise<void> {
  const line = JSON.stringify({ seq: 123456, ts: Date.now(), ...body }) + '\n';
  const lines = Array.from({ length: EVENTS }, () => line);
  console.log(`\nEvent log: ${EVENTS.toLocaleString()} events of ${line.length} bytes`);
  const durable = await storeAppend(join(dir, 'durable.jsonl'), true);
  // Baseline for durable: the same bytes, written and fdatasync'd in the same bursts of 1,000.
  const rawDurable = rawAppend(join(dir, 'raw-durable.jsonl'), lines, 1000, true);
  row('events/s, durable (fsync per group)', rate(EVENTS, durable.ms), rate(EVENTS, rawDurable), 'ev/s');
  const loose = await storeAppend(join(dir, 'loose.jsonl'), false);
  const rawLoose = rawAppend(join(dir, 'raw-loose.jsonl'), lines, 1000, false);
  row('events/s, not durable (page cache)', rate(EVENTS, loose.ms), rate(EVENTS, rawLoose), 'ev/s');
  // What a naive durable logger would do: one fdatasync per event (measured on a sample).
  const sample = lines.slice(0, 2000);
  const perEvent = rawAppend(join(dir, 'raw-per-event.jsonl'), sample, 1, true);
  row('events/s, durable vs fsync-per-event logger', rate(EVENTS, durable.ms), rate(sample.length, perEvent), 'ev/s');
}

async function benchPty(dir: string): Promise<void> {
  const cmd = `head -c ${FLOOD_BYTES} /dev/zero | tr '\\0' 'a'`;
  console.log(`\nTerminal: ${(FLOOD_BYTES / 1e6).toFixed(0)} MB flood (${cmd})`);

  const basePath = join(dir, 'raw-flood.out');
  const fd = openSync(basePath, 'w');
  const t0 = performance.now();
  await new Promise<void>((resolve, reject) => {
    const p = spawn('sh', ['-c', cmd], { stdio: ['ignore', fd, 'ignore'] });
    p.on('exit', () => resolve());
    p.on('error', reject);
  });
  const baseMs = performance.now() - t0;
  closeSync(fd);

  // The hosts' core, as the app records a terminal (lock, key-free environment, recording).
  const core = await ApolloCore.open({ home: join(dir, 'ws'), resourcesDir: resourcesDir(), host: 'web', samples: false });
  const session = await core.ws.create({ name: 'bench', cwd: dir });
  await core.session(session.id);
  const t1 = performance.now();
  const term = await core.pty.create(session, { id: 'flood', command: 'sh', args: ['-c', cmd] });
  await term.exited;
  const rec = await session.recording('flood');
  await rec.flush();
  const ptyMs = performance.now() - t1;
  const recorded = rec.size;
  await core.close();
  const baseBytes = statSync(basePath).size;
  row('terminal bytes/s, PTY flood → recording', rate(recorded, ptyMs), rate(baseBytes, baseMs), 'B/s');
  console.log(`  recorded ${recorded.toLocaleString()} bytes (the pty turns \\n into \\r\\n; baseline wrote ${baseBytes.toLocaleString()})`);
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'apollo-bench-'));
  console.log(`Apollo Workstation benchmark — scratch folder ${dir} (${process.platform}, node ${process.version})`);
  try {
    await benchEvents(dir);
    await benchSession(dir);
    await benchImport(dir);
    await benchMerge(dir);
    await benchPty(dir);
    await benchTerminalUi(dirname(resourcesDir()));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** One group of rows alone (`--merge`, `--open`, `--export`), in a scratch folder of its own. */
async function only(prefix: string, rows: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  try {
    await rows(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// The session rows measure memory and export in fresh processes of this same script.
const run = process.argv[2] === '--child' ? benchChild(process.argv.slice(3))
  : process.argv[2] === '--terminal-ui' ? benchTerminalUi(dirname(resourcesDir()))
  : process.argv[2] === '--merge' ? only('apollo-bench-merge-', benchMerge)
  // The open and memory rows of the generated session (BENCH_OPEN_RUNS runs in Chromium, default 3).
  : process.argv[2] === '--open' ? only('apollo-bench-', benchOpenOnly)
  : process.argv[2] === '--export' ? only('apollo-bench-', benchExportOnly)
  : main();
run.catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
