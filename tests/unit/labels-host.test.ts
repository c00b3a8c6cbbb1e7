// Labels, rules, the judge and export jobs through the contract, as a window or a
// browser tab drives them: label.set/cleared events with source and author, the
// annotator > judge > rule precedence, rule previews that match what applying
// appends, a resumable judge, and background exports that report progress, publish
// a bundle, and leave nothing behind when cancelled.
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HostMessage } from '../../shared/contract/index';
import type { AnnotatePushEvents } from '../../shared/contract/annotate';
import type { EventOf, SessionEvent, SessionEventType } from '../../shared/events';
import { effectiveLabel, foldTrajectory } from '../../shared/trajectory';
import { ApolloCore } from '../../electron/core/app';
import { ExportManager, type ExportProgress } from '../../electron/core/exports';
import { failed, ok, output, run, SessionBuilder } from '../fixtures/sessions';
import { startFakeLlm, status, text, type FakeLlm, type FakeRequest } from '../fixtures/fake-llm-server';

type Progress = AnnotatePushEvents['export.progress'];
interface Reply { ok: boolean; result?: unknown; error?: { code: string; message: string } }

let root: string;
let home: string;
let core: ApolloCore;
let llm: FakeLlm;
/** Steps the fake judge must fail on (answer HTTP 400) while set. */
let failOn: string | null = null;
const KEY = ['sk-', 'proj-', 'HostLabelTestKey0123456789abcdefXYZ'].join('');

/** S1: ten actions, a failed command retried, a repeated check. */
function session1(): { events: SessionEvent[]; s: string[] } {
  const b = new SessionBuilder({ name: 'Labels host' });
  b.rollout({ task: 'Train and evaluate the model.' });
  const s = [
    b.step({ calls: [run('ls -la')], results: [ok()] }),
    b.step({ calls: [run('python train.py --epochs 3')], results: [failed("ModuleNotFoundError: No module named 'peft'")] }),
    b.step({ calls: [run('python train.py --epochs 3 --lr 1e-4')], results: [ok()] }),
    b.step({ calls: [output()], results: [ok('epoch 1 loss 2.0')] }),
    b.step({ calls: [output()], results: [ok('epoch 1 loss 2.0')] }),
    b.step({ calls: [run('python eval.py')], results: [ok()] }),
    b.step({ calls: [run('cat results.json')], results: [ok()] }),
    b.step({ calls: [run('du -sh out')], results: [ok()] }),
    b.step({ calls: [run('git status')], results: [ok()] }),
    b.step({ calls: [{ name: 'finish', args: { summary: 'done' } }], results: [ok()] }),
  ];
  return { events: b.events, s };
}

/** S2: the same shape, with a configured key pasted into guidance. */
function session2(): SessionEvent[] {
  const b = new SessionBuilder({ name: 'Export host' });
  b.rollout({ task: 'Summarise the logs.' });
  const a = b.step({ calls: [run('ls logs')], results: [ok()] });
  b.guidance(`use the key ${KEY} for the hub`, { after: a });
  b.step({ calls: [run('cat logs/a.txt')], results: [ok()] });
  b.step({ calls: [run('cat logs/a.txt')], results: [ok()] });
  b.step({ calls: [{ name: 'finish', args: { summary: 'done' } }], results: [ok()] });
  return b.events;
}

let S1: ReturnType<typeof session1>;

async function writeSession(id: string, events: SessionEvent[]): Promise<void> {
  const dir = join(home, 'sessions', id);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'events.jsonl'), events.map((e) => `${JSON.stringify(e)}\n`).join(''));
}

/** The fake judge: keeps every action it is shown (fails while `failOn` is among them). */
function judgeReply(req: FakeRequest) {
  const user = (req.body.messages as Array<{ role: string; content: string }>).find((m) => m.role === 'user')!.content;
  const ids = [...user.matchAll(/^### Action (\S+)$/gm)].map((m) => m[1]!);
  if (failOn && ids.includes(failOn)) return status(400, { message: 'bad request' });
  return text(JSON.stringify({ results: ids.map((stepId) => ({ stepId, label: 'keep', tags: [], rationale: 'fine' })) }), { usage: { prompt_tokens: 100, completion_tokens: 10 } });
}

/** A client connection: commands by request id, push events collected (and seen by `onPush` as they come). */
function client(onPush?: (name: string, payload: unknown, call: (cmd: string, args: unknown) => Promise<Reply>) => void) {
  const pending = new Map<number, (r: Reply) => void>();
  const pushes: Array<{ name: string; payload: unknown }> = [];
  let n = 0;
  const call = (cmd: string, args: unknown): Promise<Reply> => {
    const id = ++n;
    const p = new Promise<Reply>((r) => pending.set(id, r));
    void c.receive({ kind: 'req', id, cmd, args });
    return p;
  };
  const c = core.connect((m: HostMessage) => {
    if (m.kind === 'res') pending.get(m.id)?.(m as Reply);
    else {
      pushes.push({ name: m.name, payload: m.payload });
      onPush?.(m.name, m.payload, call);
    }
  });
  return {
    pushes,
    progress: () => pushes.filter((p) => p.name === 'export.progress').map((p) => p.payload as Progress),
    call,
    close: c.close,
  };
}

async function until(cond: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function eventsOf(id: string): Promise<SessionEvent[]> {
  return (await core.session(id)).events;
}

function ofType<T extends SessionEventType>(events: readonly SessionEvent[], type: T): EventOf<T>[] {
  return events.filter((e): e is EventOf<T> => e.type === type);
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'apollo-labels-host-'));
  home = join(root, 'home');
  S1 = session1();
  await writeSession('S1', S1.events);
  await writeSession('S2', session2());
  llm = await startFakeLlm(judgeReply);
  core = await ApolloCore.open({ home, resourcesDir: resolve(__dirname, '../../resources'), host: 'web' });
  await core.ws.setSetting('annotator', 'carol');
  await core.profiles.save({ name: 'judge', baseUrl: llm.url, model: 'judge-model' });
  await core.profiles.setKey('judge', KEY);
});

afterAll(async () => {
  await core?.close();
  await llm?.close();
  await rm(root, { recursive: true, force: true });
});

describe('labels.set / labels.clear', () => {
  it('writes one annotator label per step with the configured author, and rejects unknown steps', async () => {
    const c = client();
    const before = (await eventsOf('S1')).length;
    const r = await c.call('labels.set', { sessionId: 'S1', stepIds: [S1.s[6], S1.s[7], S1.s[6]], label: 'mask', tags: ['redundant'], note: 'not needed' });
    expect(r).toMatchObject({ ok: true, result: { count: 2 } });
    const added = ofType((await eventsOf('S1')).slice(before), 'label.set');
    expect(added.map((e) => e.stepId)).toEqual([S1.s[6], S1.s[7]]);
    for (const e of added) expect(e).toMatchObject({ source: 'annotator', author: 'carol', label: 'mask', tags: ['redundant'], note: 'not needed' });
    // Every client sees the new events.
    expect(c.pushes.filter((p) => p.name === 'session.event').length).toBeGreaterThanOrEqual(2);

    const bad = await c.call('labels.set', { sessionId: 'S1', stepIds: [S1.s[8], 'no-such-step'], label: 'keep' });
    expect(bad.error?.code).toBe('NOT_FOUND');
    expect(bad.error?.message).toContain('no-such-step');
    expect(ofType(await eventsOf('S1'), 'label.set').some((e) => e.stepId === S1.s[8])).toBe(false);
    expect((await c.call('labels.set', { sessionId: 'nope', stepIds: [S1.s[0]], label: 'keep' })).error?.code).toBe('NOT_FOUND');
    expect((await c.call('labels.set', { sessionId: 'S1', stepIds: [], label: 'keep' })).error?.code).toBe('BAD_REQUEST');

    const cleared = await c.call('labels.clear', { sessionId: 'S1', stepIds: [S1.s[6], S1.s[7], S1.s[8]] });
    expect(cleared).toMatchObject({ ok: true, result: { count: 2 } });
    const ev = ofType(await eventsOf('S1'), 'label.cleared');
    expect(ev.map((e) => [e.stepId, e.source, e.author])).toEqual([[S1.s[6], 'annotator', 'carol'], [S1.s[7], 'annotator', 'carol']]);
    const t = foldTrajectory(await eventsOf('S1'));
    expect(effectiveLabel(t.steps.get(S1.s[6]!)!)).toBeNull();
    c.close();
  });
});

describe('rules', () => {
  it('lists the rules; preview counts are what apply appends; applying again appends nothing', async () => {
    const c = client();
    const list = (await c.call('rules.list', {})).result as Array<{ name: string }>;
    expect(list.map((r) => r.name)).toEqual(expect.arrayContaining(['failed-retry', 'repeated-action', 'malformed-call']));

    const rules = ['failed-retry', 'repeated-action', 'malformed-call'];
    const preview = await c.call('rules.preview', { sessionId: 'S1', branchId: 'main', rules });
    expect(preview.ok).toBe(true);
    const rows = preview.result as Array<{ rule: string; count: number; stepIds: string[] }>;
    expect(rows).toEqual([
      { rule: 'failed-retry', count: 1, stepIds: [S1.s[1]] },
      { rule: 'repeated-action', count: 1, stepIds: [S1.s[4]] },
      { rule: 'malformed-call', count: 0, stepIds: [] },
    ]);
    const before = (await eventsOf('S1')).length;
    const applied = await c.call('rules.apply', { sessionId: 'S1', branchId: 'main', rules });
    const added = ofType((await eventsOf('S1')).slice(before), 'label.set');
    expect((applied.result as { count: number }).count).toBe(rows.reduce((n, r) => n + r.count, 0));
    expect(added.map((e) => [e.stepId, e.rule, e.source])).toEqual([[S1.s[1], 'failed-retry', 'rule'], [S1.s[4], 'repeated-action', 'rule']]);

    expect((await c.call('rules.apply', { sessionId: 'S1', branchId: 'main', rules })).result).toEqual({ count: 0, stepIds: [] });
    expect((await eventsOf('S1')).length).toBe(before + added.length);

    expect((await c.call('rules.preview', { sessionId: 'S1', branchId: 'nope', rules })).error?.code).toBe('NOT_FOUND');
    expect((await c.call('rules.apply', { sessionId: 'S1', branchId: 'main', rules: ['bogus'] })).error?.code).toBe('BAD_REQUEST');
    expect((await c.call('rules.preview', { sessionId: 'S1', branchId: 'main', rules, params: { 'failed-retry': { lookahead: 'x' } } })).error?.code).toBe('BAD_REQUEST');
    c.close();
  });
});

describe('judge.run', () => {
  it('labels through a profile, resumes after an error, and loses to the annotator', async () => {
    const c = client();
    // Fails on the second request (the second batch of four).
    failOn = S1.s[5]!;
    const first = await c.call('judge.run', { sessionId: 'S1', branchId: 'main', profile: 'judge' });
    expect(first.ok).toBe(true);
    const r1 = first.result as { labelled: number; tokens: number; error?: string };
    expect(r1.labelled).toBe(4);
    expect(r1.tokens).toBe(110);
    expect(r1.error).toMatch(/400.*6 actions left/);
    let judged = ofType(await eventsOf('S1'), 'label.set').filter((e) => e.source === 'judge');
    expect(judged.map((e) => e.stepId)).toEqual(S1.s.slice(0, 4));
    expect(judged[0]).toMatchObject({ author: 'judge:judge-model', rationale: 'fine' });
    // The configured key went to the endpoint as auth, never into a prompt.
    expect(JSON.stringify(llm.requests.map((r) => r.body))).not.toContain(KEY);

    failOn = null;
    const asked = llm.requests.length;
    const second = await c.call('judge.run', { sessionId: 'S1', branchId: 'main', profile: 'judge' });
    expect(second.result).toMatchObject({ labelled: 6 });
    expect((second.result as { error?: string }).error).toBeUndefined();
    const resumed = llm.requests.slice(asked).flatMap((r) => [...JSON.stringify(r.body).matchAll(/### Action (\S+?)\\n/g)].map((m) => m[1]));
    expect(resumed.sort()).toEqual(S1.s.slice(4).sort());
    judged = ofType(await eventsOf('S1'), 'label.set').filter((e) => e.source === 'judge');
    expect(new Set(judged.map((e) => e.stepId)).size).toBe(10);

    // Precedence on the failed step: rule mask < judge keep < annotator mask.
    const failedStep = S1.s[1]!;
    let t = foldTrajectory(await eventsOf('S1'));
    expect(t.steps.get(failedStep)!.labelHistory.map((l) => l.source)).toEqual(['rule', 'judge']);
    expect(effectiveLabel(t.steps.get(failedStep)!)).toMatchObject({ source: 'judge', label: 'keep' });
    await c.call('labels.set', { sessionId: 'S1', stepIds: [failedStep], label: 'mask', tags: ['error'] });
    t = foldTrajectory(await eventsOf('S1'));
    expect(effectiveLabel(t.steps.get(failedStep)!)).toMatchObject({ source: 'annotator', label: 'mask', author: 'carol' });
    await c.call('labels.clear', { sessionId: 'S1', stepIds: [failedStep] });
    t = foldTrajectory(await eventsOf('S1'));
    expect(effectiveLabel(t.steps.get(failedStep)!)).toMatchObject({ source: 'judge', label: 'keep' });

    expect((await c.call('judge.run', { sessionId: 'S1', branchId: 'main', profile: 'missing' })).error?.code).toBe('NOT_FOUND');
    c.close();
  });
});

describe('export.start / export.cancel', () => {
  it('reports progress, publishes the bundle, records export.made and redacts configured keys', async () => {
    const c = client();
    const outDir = join(root, 'bundles', 'one');
    // S1 has rule masks overridden by the judge's keeps; the annotator masks the last action.
    await c.call('labels.set', { sessionId: 'S1', stepIds: [S1.s[9]], label: 'mask' });
    const r = await c.call('export.start', { sessionIds: ['S1', 'S2'], formats: ['openai', 'sharegpt', 'trajectory'], outDir });
    expect(r.ok).toBe(true);
    const { exportId } = r.result as { exportId: string };
    await until(() => c.progress().some((p) => p.exportId === exportId && p.state !== 'running'));
    const mine = c.progress().filter((p) => p.exportId === exportId);
    expect(mine.length).toBeGreaterThanOrEqual(2);
    expect(mine.slice(0, -1).every((p) => p.state === 'running')).toBe(true);
    expect(mine.at(-1)).toMatchObject({ state: 'done', dir: outDir });
    expect(existsSync(join(outDir, 'manifest.json'))).toBe(true);
    const manifest = JSON.parse(await readFile(join(outDir, 'manifest.json'), 'utf8')) as { counts: { trajectories: number; masked: number } };
    expect(manifest.counts.trajectories).toBe(2);
    expect(manifest.counts.masked).toBe(1);
    for (const id of ['S1', 'S2']) {
      const made = ofType(await eventsOf(id), 'export.made');
      expect(made.at(-1)).toMatchObject({ bundle: outDir, formats: ['openai', 'sharegpt', 'trajectory'], branchIds: ['main'] });
    }
    const all = await Promise.all((await readdir(outDir)).map((f) => readFile(join(outDir, f), 'utf8')));
    expect(all.join('\n')).not.toContain(KEY);
    expect(await readFile(join(outDir, 'redactions.json'), 'utf8')).toMatch(/openai\.jsonl/);

    // The same folder again: the job fails with a clear conflict.
    const again = await c.call('export.start', { sessionIds: ['S2'], formats: ['openai'], outDir });
    const againId = (again.result as { exportId: string }).exportId;
    await until(() => c.progress().some((p) => p.exportId === againId && p.state !== 'running'));
    expect(c.progress().filter((p) => p.exportId === againId).at(-1)).toMatchObject({ state: 'failed', error: expect.stringMatching(/already exists/) });

    // Bad requests are refused up front.
    expect((await c.call('export.start', { sessionIds: ['nope'], formats: ['openai'], outDir: join(root, 'x') })).error?.code).toBe('NOT_FOUND');
    expect((await c.call('export.start', { sessionIds: ['S1'], formats: ['openai'], outDir: 'relative/dir' })).error?.code).toBe('BAD_REQUEST');
    expect((await c.call('export.start', { sessionIds: ['S1'], branchIds: ['nope'], formats: ['openai'], outDir: join(root, 'x') })).error?.code).toBe('NOT_FOUND');
    expect((await c.call('export.cancel', { exportId: 'nope' })).error?.code).toBe('NOT_FOUND');
    c.close();
  });

  it('cancelled through the contract: state cancelled, no bundle, no temporary folder', async () => {
    const outDir = join(root, 'bundles', 'cancelled');
    let cancelReply: Promise<Reply> | null = null;
    // Cancel as soon as the job reports it is running (the push arrives after the reply with the id).
    const c = client((name, payload, call) => {
      const p = payload as Progress;
      if (name === 'export.progress' && p.state === 'running' && !cancelReply) cancelReply = call('export.cancel', { exportId: p.exportId });
    });
    const r = await c.call('export.start', { sessionIds: ['S1', 'S2'], formats: ['openai', 'sharegpt', 'trajectory', 'asciicast'], outDir });
    const { exportId } = r.result as { exportId: string };
    await until(() => cancelReply !== null);
    expect((await cancelReply!).ok).toBe(true);
    await until(() => c.progress().some((p) => p.exportId === exportId && p.state !== 'running'));
    expect(c.progress().filter((p) => p.exportId === exportId).at(-1)).toMatchObject({ state: 'cancelled' });
    expect(existsSync(outDir)).toBe(false);
    expect((await readdir(dirname(outDir))).filter((f) => f.startsWith('cancelled'))).toEqual([]);
    c.close();
  });

  it('cancelled mid-way, after files were written: the temporary folder is removed', async () => {
    const outDir = join(root, 'bundles', 'midway');
    const seen: ExportProgress[] = [];
    let sawTmpFiles = false;
    const manager: ExportManager = new ExportManager(core, {
      throttleMs: 0,
      sink: (p) => {
        seen.push(p);
        // The training files (one streaming pass over the examples) are written; the trajectories are under way.
        if (p.state === 'running' && p.stage.startsWith('trajectory')) {
          const tmp = readdirSync(dirname(outDir)).filter((f) => f.startsWith('midway.tmp-'));
          const files = tmp.length === 1 ? readdirSync(join(dirname(outDir), tmp[0]!)) : [];
          sawTmpFiles = files.includes('openai.jsonl') && files.includes('sharegpt.jsonl');
          manager.cancel(p.exportId);
        }
      },
    });
    // Inputs no export had before: the same ones again would take the files an earlier export kept, with no stages to cancel in.
    await (await core.session('S1')).append({ type: 'warning', message: 'inputs not exported before' });
    const { finished } = await manager.start({ sessionIds: ['S1', 'S2'], formats: ['openai', 'sharegpt', 'trajectory'], outDir });
    const out = await finished;
    expect(out.state).toBe('cancelled');
    expect(sawTmpFiles).toBe(true);
    expect(seen.at(-1)).toMatchObject({ state: 'cancelled' });
    expect(seen.some((p) => p.state === 'running' && p.stage.startsWith('examples'))).toBe(true);
    expect(existsSync(outDir)).toBe(false);
    expect((await readdir(dirname(outDir))).filter((f) => f.startsWith('midway'))).toEqual([]);
    expect(manager.cancel(out.exportId)).toBe(false);
  });
});
