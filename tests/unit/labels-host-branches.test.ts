// export.start with a branch choice per session: branch ids such as `main` repeat
// across sessions, so `branches` (sessionId → branch ids) picks them session by
// session; `branchIds` still applies to every session; an unknown branch for a
// session is NOT_FOUND before anything is written.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HostMessage } from '../../shared/contract/index';
import type { AnnotatePushEvents } from '../../shared/contract/annotate';
import type { SessionEvent } from '../../shared/events';
import { ApolloCore } from '../../electron/core/app';
import { ok, run, SessionBuilder } from '../fixtures/sessions';

type Progress = AnnotatePushEvents['export.progress'];
interface Reply { ok: boolean; result?: unknown; error?: { code: string; message: string } }
interface Manifest { sessions: Array<{ sessionId: string; branches: Array<{ branchId: string; exported: boolean }> }> }

let root: string;
let home: string;
let core: ApolloCore;

/** A session with `main` (two steps) and `alt` forked from its first step (one step). */
function twoBranches(name: string): SessionEvent[] {
  const b = new SessionBuilder({ name });
  b.rollout({ task: `Task of ${name}.` });
  const first = b.step({ calls: [run('ls')], results: [ok()] });
  b.step({ calls: [run('cat a.txt')], results: [ok()] });
  b.branch({ branchId: 'alt', from: first, name: 'alt' });
  b.step({ branchId: 'alt', calls: [run('cat b.txt')], results: [ok()] });
  return b.events;
}

async function writeSession(id: string, events: SessionEvent[]): Promise<void> {
  const dir = join(home, 'sessions', id);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'events.jsonl'), events.map((e) => `${JSON.stringify(e)}\n`).join(''));
}

function client() {
  const pending = new Map<number, (r: Reply) => void>();
  const progress: Progress[] = [];
  let n = 0;
  const c = core.connect((m: HostMessage) => {
    if (m.kind === 'res') pending.get(m.id)?.(m as Reply);
    else if (m.name === 'export.progress') progress.push(m.payload as Progress);
  });
  const call = (cmd: string, args: unknown): Promise<Reply> => {
    const id = ++n;
    const p = new Promise<Reply>((r) => pending.set(id, r));
    void c.receive({ kind: 'req', id, cmd, args });
    return p;
  };
  return { call, progress, close: c.close };
}

async function until(cond: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function exported(c: ReturnType<typeof client>, args: Record<string, unknown>): Promise<Record<string, string[]>> {
  const r = await c.call('export.start', args);
  expect(r.error).toBeUndefined();
  const { exportId } = r.result as { exportId: string };
  await until(() => c.progress.some((p) => p.exportId === exportId && p.state !== 'running'));
  expect(c.progress.filter((p) => p.exportId === exportId).at(-1)).toMatchObject({ state: 'done' });
  const manifest = JSON.parse(await readFile(join(args.outDir as string, 'manifest.json'), 'utf8')) as Manifest;
  return Object.fromEntries(manifest.sessions.map((s) => [s.sessionId, s.branches.filter((b) => b.exported).map((b) => b.branchId).sort()]));
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'apollo-labels-branches-'));
  home = join(root, 'home');
  await writeSession('A', twoBranches('Session A'));
  await writeSession('B', twoBranches('Session B'));
  core = await ApolloCore.open({ home, resourcesDir: resolve(__dirname, '../../resources'), host: 'web' });
});

afterAll(async () => {
  await core?.close();
  await rm(root, { recursive: true, force: true });
});

describe('export.start with branches per session', () => {
  it('exports each session with its own branches', async () => {
    const c = client();
    const outDir = join(root, 'bundles', 'per-session');
    expect(await exported(c, { sessionIds: ['A', 'B'], branches: { A: ['alt'], B: ['main'] }, formats: ['trajectory'], outDir })).toEqual({ A: ['alt'], B: ['main'] });
    const made = (id: string) => core.session(id).then((s) => s.events.filter((e) => e.type === 'export.made').at(-1));
    expect(await made('A')).toMatchObject({ bundle: outDir, branchIds: ['alt'] });
    expect(await made('B')).toMatchObject({ bundle: outDir, branchIds: ['main'] });
    c.close();
  });

  it('lets sessions not named in branches follow branchIds, or the default', async () => {
    const c = client();
    expect(await exported(c, { sessionIds: ['A', 'B'], branches: { A: ['main', 'alt'] }, branchIds: ['alt'], formats: ['trajectory'], outDir: join(root, 'bundles', 'mixed') }))
      .toEqual({ A: ['alt', 'main'], B: ['alt'] });
    expect(await exported(c, { sessionIds: ['A', 'B'], branches: { B: ['alt'] }, formats: ['trajectory'], outDir: join(root, 'bundles', 'default') }))
      .toEqual({ A: ['alt', 'main'], B: ['alt'] });
    // branchIds alone still applies to every session.
    expect(await exported(c, { sessionIds: ['A', 'B'], branchIds: ['main'], formats: ['trajectory'], outDir: join(root, 'bundles', 'flat') }))
      .toEqual({ A: ['main'], B: ['main'] });
    c.close();
  });

  it('refuses an unknown branch of a session, or a session not exported, before writing anything', async () => {
    const c = client();
    const outDir = join(root, 'bundles', 'refused');
    const unknown = await c.call('export.start', { sessionIds: ['A', 'B'], branches: { A: ['alt'], B: ['main', 'nope'] }, formats: ['trajectory'], outDir });
    expect(unknown.error?.code).toBe('NOT_FOUND');
    expect(unknown.error?.message).toMatch(/nope/);
    expect((await c.call('export.start', { sessionIds: ['A'], branches: { B: ['main'] }, formats: ['trajectory'], outDir })).error?.code).toBe('BAD_REQUEST');
    expect((await c.call('export.start', { sessionIds: ['A'], branches: { A: [] }, formats: ['trajectory'], outDir })).error?.code).toBe('BAD_REQUEST');
    expect(existsSync(outDir)).toBe(false);
    expect(c.progress).toEqual([]);
    const events = (await core.session('A')).events.concat((await core.session('B')).events);
    expect(events.filter((e) => e.type === 'export.made')).toHaveLength(8); // four earlier exports of two sessions each
    c.close();
  });
});
