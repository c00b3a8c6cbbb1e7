// Recordings converted in the built worker (out/main/cast-worker.js, as the CLI and
// the app run it) give the bundle the exporter's own thread gives, byte for byte, and
// the worker's failures arrive as the same ApolloErrors, or as a clear one when it
// runs out of memory, with the host unharmed. Needs the build (`npx electron-vite build`).
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportBundle, type ExportBundleOptions } from '../../electron/core/dataset/bundle';
import { terminalEventsOf, type CastJob } from '../../electron/core/dataset/cast-job';
import { runCastJob, type CastWorkerOptions } from '../../electron/core/dataset/cast-runner';
import { toApolloError } from '../../electron/core/dataset/files';
import { ApolloError } from '../../shared/errors';
import type { SessionEvent } from '../../shared/events';
import { realisticSession, writeRecording } from '../fixtures/sessions';
import { treeHashes } from '../fixtures/tree-hashes';

const WORKER: CastWorkerOptions = { path: resolve(__dirname, '../../out/main/cast-worker.js') };
const SECRET = ['ghp_', 'Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0FeDcBa'].join('');

let root: string;
let events: SessionEvent[];
let sessionDir: string;

beforeAll(async () => {
  if (!existsSync(WORKER.path)) throw new Error(`${WORKER.path} is missing: run \`npx electron-vite build\` first`);
  root = await mkdtemp(join(tmpdir(), 'apollo-cast-worker-'));
  events = realisticSession().events;
  sessionDir = join(root, 'sessions', 'S1');
  await mkdir(sessionDir, { recursive: true });
  const t0 = events.find((e) => e.type === 'terminal.started')!.ts;
  // Several 1 MB blocks (progress reports), secrets far apart (redactions carried with them), UTF-8 across block edges.
  const chunks: Array<{ ts: number; data: string }> = [];
  for (let i = 0; i < 4000; i++) {
    const secret = i % 997 === 0 ? ` token=${SECRET}` : '';
    chunks.push({ ts: t0 + 10 + i * 50, data: `\r${'█'.repeat(i % 40)} step ${i}/4000 loss ${(2 - i / 4000).toFixed(4)} — ✓${secret}${'.'.repeat(700)}\r\n` });
  }
  await writeRecording(sessionDir, 'main', chunks);
}, 60_000);

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

function job(over: Partial<CastJob> = {}): CastJob {
  return {
    recordingPath: join(sessionDir, 'terminals', 'main.out'),
    timingPath: join(sessionDir, 'terminals', 'main.timing.jsonl'),
    outPath: join(root, `cast-${Math.random().toString(36).slice(2)}.cast`),
    events: terminalEventsOf(events, 'main'),
    terminalId: 'main',
    title: 'S1/main',
    secrets: [],
    ...over,
  };
}

async function rejection(p: Promise<unknown>): Promise<ApolloError> {
  const e = await p.then(() => null, (x: unknown) => x);
  expect(e).toBeInstanceOf(ApolloError);
  return e as ApolloError;
}

describe('recordings converted in the worker', () => {
  it('give the same bundle, redactions and progress as the exporter thread', async () => {
    const run = async (castWorker: ExportBundleOptions['castWorker'], name: string) => {
      const stages: string[] = [];
      const r = await exportBundle({
        home: root, sessions: [{ sessionId: 'S1', events, sessionDir }], outDir: join(root, name), formats: ['openai', 'trajectory', 'asciicast'],
        // Converted each time: the second run must not take the first one's from the cache.
        secrets: [], appVersion: 'test', castWorker, castCache: false, onProgress: (_d, _t, stage) => stages.push(stage),
      });
      return { r, files: await treeHashes(join(root, name)), stages };
    };
    const here = await run(false, 'in-thread');
    const worker = await run(WORKER, 'in-worker');
    expect(worker.files).toEqual(here.files);
    expect(worker.r.manifest).toEqual(here.r.manifest);
    expect(worker.r.redactions).toEqual(here.r.redactions);
    // Five planted secrets found in the recording, each on its own line of the cast.
    const inCast = worker.r.redactions.filter((x) => x.file === 'terminals/S1/main.cast');
    expect(inCast.length).toBeGreaterThanOrEqual(5);
    expect(await readFile(join(root, 'in-worker', 'terminals', 'S1', 'main.cast'), 'utf8')).not.toContain(SECRET);
    expect(worker.stages.filter((s) => s.startsWith('asciicast'))).toEqual(here.stages.filter((s) => s.startsWith('asciicast')));
  }, 60_000);

  it('report failures as the same errors as the exporter thread', async () => {
    const bad = job({ outPath: join(root, 'no-such-folder', 'x.cast') });
    // In its thread the exporter turns what the conversion throws into an ApolloError so.
    const here = await rejection(runCastJob(bad, {}, null).catch((e: unknown) => {
      throw toApolloError(e, 'exporting', 'Export cancelled');
    }));
    const worker = await rejection(runCastJob(bad, {}, WORKER));
    expect(worker.code).toBe('IO');
    expect(worker.message).toBe(here.message);
    expect(worker.message).toContain('ENOENT');
  });

  it('stop when cancelled, leaving the file closed and nothing half-reported', async () => {
    const c = new AbortController();
    c.abort();
    const j = job();
    const e = await rejection(runCastJob(j, { signal: c.signal }, WORKER));
    expect(e.code).toBe('CANCELLED');
    expect(e.message).toBe('Export cancelled');
    // The worker has exited (the promise settles on exit) and abandoned its file, which can go.
    await rm(j.outPath);
  });

  it('end as a clear error, not a crash of the host, when the worker runs out of memory', async () => {
    // More typed input than the worker's heap holds (the terminal's inputs come with the job),
    // in many events: V8 can stop a worker whose heap fills gradually, not one asked for a
    // single object larger than its whole limit (that aborts the process).
    const t = events.find((x) => x.type === 'terminal.started')!.ts;
    const typed = Array.from({ length: 200_000 }, (_, i) => ({ type: 'terminal.input', terminalId: 'main', ts: t + 5, offset: 0, source: 'human', data: `${'y'.repeat(100)}${i}` }) as unknown as SessionEvent);
    const e = await rejection(runCastJob(job({ events: [...terminalEventsOf(events, 'main'), ...typed] }), {}, { ...WORKER, heapMb: 16 }));
    expect(e.code).toBe('INTERNAL');
    expect(e.message).toMatch(/ran out of memory .*limited to 16 MB/);
    // The host goes on: the same job converts with the default limit.
    const ok = await runCastJob(job(), {}, WORKER);
    expect(ok.records).toBeGreaterThan(1000);
  }, 60_000);
});
