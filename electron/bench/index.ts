// `npm run bench`: throughput of the session store and of terminal recording, each
// beside a raw `fs` baseline measured in the same run on the same disk.
import { closeSync, fdatasyncSync, openSync, writeSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventLog } from '../core/store/event-log';
import { Workspace } from '../core/store/workspace';
import { PtyHost } from '../core/pty/pty-host';
import { resourcesDir } from '../core/paths';
import type { SessionEvent, SessionEventBody } from '../../shared/events';
import { applyEvent, emptyTrajectory, foldTrajectory } from '../../shared/trajectory';
import { readFile, writeFile } from 'node:fs/promises';
import { exportBundle } from '../core/dataset/bundle';
import { buildOwnedMessages } from '../core/rollout/context';
import { RequestRecorder } from '../core/rollout/request-record';
import { TOOL_SCHEMAS } from '../core/rollout/tools';
import type { SessionLog } from '../core/store/workspace';
import { benchImport } from './import';

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

  const ws = await Workspace.open(join(dir, 'ws'));
  const session = await ws.create({ name: 'bench', cwd: dir });
  const host = new PtyHost({ resourcesDir: resourcesDir(), events: { data: () => {}, changed: () => {} } });
  const t1 = performance.now();
  const term = await host.create(session, { id: 'flood', command: 'sh', args: ['-c', cmd] });
  await term.exited;
  const rec = await session.recording('flood');
  await rec.flush();
  const ptyMs = performance.now() - t1;
  const recorded = rec.size;
  await host.dispose();
  await ws.close();
  const baseBytes = statSync(basePath).size;
  row('terminal bytes/s, PTY flood → recording', rate(recorded, ptyMs), rate(baseBytes, baseMs), 'B/s');
  console.log(`  recorded ${recorded.toLocaleString()} bytes (the pty turns \\n into \\r\\n; baseline wrote ${baseBytes.toLocaleString()})`);
}

/** A long session the size of a real 2,523-step run: how fast does it open? */
async function benchOpen(dir: string): Promise<void> {
  const steps = Number(process.env.BENCH_STEPS ?? 2523);
  const path = join(dir, 'long.jsonl');
  const { log } = await EventLog.open(path, { durable: false });
  let parent: string | null = null;
  const obs = 'line of command output\n'.repeat(80);
  for (let i = 0; i < steps; i++) {
    const stepId = `step-${i}`;
    log.append({ type: 'step.started', stepId, parentId: parent, branchId: 'main', depth: i + 1, rolloutId: 'r' });
    log.append({ type: 'model.response', stepId, content: 'Checking the training log.', reasoning: 'r'.repeat(400), toolCalls: [{ id: `c${i}`, name: 'run_command', arguments: '{"session_id":"main","command":"tail -n 30 train.log","wait_for_completion":true}' }], usage: { promptTokens: 90000, completionTokens: 120, totalTokens: 90120 }, finishReason: 'tool_calls', durationMs: 3000 });
    log.append({ type: 'action.result', stepId, toolCallId: `c${i}`, name: 'run_command', observation: obs, isError: false, durationMs: 800, terminalId: 'main', range: [i * 2000, i * 2000 + 1900] });
    log.append({ type: 'terminal.command', terminalId: 'main', phase: 'end', offset: i * 2000 + 1900, exitCode: 0 });
    log.append({ type: 'step.finished', stepId, promptTokens: 90000 });
    log.append({ type: 'checkpoint.taken', stepId, commit: 'a'.repeat(40), cwd: '/work' });
    parent = stepId;
  }
  await log.close();
  const bytes = statSync(path).size;
  const t0 = performance.now();
  await readFile(path);
  const baseMs = performance.now() - t0;
  const t1 = performance.now();
  const opened = await EventLog.open(path);
  const traj = foldTrajectory(opened.events);
  const openMs = performance.now() - t1;
  await opened.log.close();
  console.log(`\nOpening a ${steps.toLocaleString()}-step session (${(bytes / 1e6).toFixed(1)} MB of events, ${traj.steps.size} steps folded)`);
  console.log(`${'open + parse + fold, ms'.padEnd(46)} ${openMs.toFixed(0).padStart(12)} ms   baseline ${baseMs.toFixed(0).padStart(12)} ms   ratio ${(baseMs / openMs).toFixed(2)} (raw readFile / open)`);
}

/**
 * Export of a long recorded session: 2,523 steps with the request record a real
 * rollout writes (a summary every 200 steps), against `cat` of its event log.
 */
async function benchExport(dir: string): Promise<void> {
  const steps = Number(process.env.BENCH_STEPS ?? 2523);
  const events: SessionEvent[] = [];
  const t = emptyTrajectory();
  let seq = 0;
  const session = {
    id: 'bench', dir: join(dir, 'export-session'), events,
    append: async (b: SessionEventBody) => {
      const ev = { seq: ++seq, ts: 1_700_000_000_000 + seq, ...b } as SessionEvent;
      events.push(ev);
      applyEvent(t, ev);
      return ev;
    },
  } as unknown as SessionLog;
  const rec = new RequestRecorder(session, () => t);
  const obs = JSON.stringify({ success: true, output: 'epoch 3 step 1200 loss 0.4312\n'.repeat(60), exit_code: 0 });
  await session.append({ type: 'session.created', name: 'bench', cwd: '/work', appVersion: 'bench' });
  await session.append({ type: 'rollout.started', rolloutId: 'r', branchId: 'main', task: 'Train the model.', endpoint: { profile: 'p', baseUrl: 'http://x', model: 'm' }, policy: 'model', maxSteps: steps, parentStepId: null });
  let parent: string | null = null;
  const covered: string[] = [];
  for (let i = 0; i < steps; i++) {
    const stepId = `step-${i}`;
    await session.append({ type: 'step.started', stepId, parentId: parent, branchId: 'main', depth: i + 1, rolloutId: 'r' });
    if (i > 0 && i % 200 === 0) {
      covered.push(...[...t.steps.keys()].filter((id) => id !== stepId && !covered.includes(id)).slice(0, -4));
      await session.append({ type: 'summary.created', stepId, summary: '<state_snapshot>progress so far</state_snapshot>', coveredStepIds: [...covered] });
    }
    const owned = buildOwnedMessages(t, stepId, { task: 'Train the model.', cwd: '/work', branchId: 'main' });
    const sent = await rec.record(stepId, 'step', { model: 'm', messages: owned.messages, tools: TOOL_SCHEMAS, stream: true }, owned.owners);
    await session.append({ type: 'model.response', stepId, content: 'Checking the training log.', reasoning: '', toolCalls: [{ id: `c${i}`, name: 'run_command', arguments: '{"session_id":"main","command":"tail -n 30 train.log"}' }], usage: null, finishReason: 'tool_calls', durationMs: 3000, requestId: sent.requestId, toolMode: 'tools', origin: 'model' });
    await session.append({ type: 'action.result', stepId, toolCallId: `c${i}`, name: 'run_command', observation: obs, isError: false, durationMs: 800 });
    await session.append({ type: 'step.finished', stepId, promptTokens: 0 });
    if (i % 3) await session.append({ type: 'label.set', stepId, label: i % 7 ? 'keep' : 'mask', tags: [], note: '', source: 'annotator', author: 'bench' });
    parent = stepId;
  }
  const logPath = join(dir, 'export-events.jsonl');
  await writeFile(logPath, events.map((e) => JSON.stringify(e)).join('\n') + '\n');
  const bytes = statSync(logPath).size;
  const c0 = performance.now();
  await readFile(logPath);
  const catMs = performance.now() - c0;
  console.log(`\nExporting a ${steps.toLocaleString()}-step recorded session (${(bytes / 1e6).toFixed(1)} MB of events, a summary every 200 steps)`);
  for (const formats of [['openai'], ['openai', 'sharegpt', 'mistral', 'trajectory']] as const) {
    const rss0 = process.memoryUsage().rss;
    const e0 = performance.now();
    const r = await exportBundle({ home: dir, sessions: [{ sessionId: 'bench', events, sessionDir: session.dir }], outDir: join(dir, `bundle-${formats.length}`), formats: [...formats], secrets: [], appVersion: 'bench' });
    const ms = performance.now() - e0;
    const rss = (process.memoryUsage().rss - rss0) / 1e6;
    console.log(`${`export ${formats.join('+')}, ms`.padEnd(46)} ${ms.toFixed(0).padStart(12)} ms   baseline ${catMs.toFixed(0).padStart(12)} ms   ratio ${(ms / catMs).toFixed(1)}× cat   (+${rss.toFixed(0)} MB RSS, ${r.manifest.counts.trajectories} examples, ${r.manifest.counts.tokens.total.toLocaleString()} tokens)`);
  }
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'apollo-bench-'));
  console.log(`Apollo Workstation benchmark — scratch folder ${dir} (${process.platform}, node ${process.version})`);
  try {
    await benchEvents(dir);
    await benchOpen(dir);
    await benchExport(dir);
    await benchImport(dir);
    await benchPty(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
