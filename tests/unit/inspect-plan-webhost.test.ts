// The step inspector's "what the model saw" (steps.request) and the export dialog's
// plan (export.plan), driven over the web host's WebSocket as the browser drives them:
// a recorded request comes back exactly as it was sent, an old log says its context is
// reconstructed, a step with no model reply has none; the plan gives the bundle's
// numbers per session and in total for each unreviewed-actions policy, writes nothing,
// and export.start writes what the plan said (new options passed through).
import { existsSync } from 'node:fs';
import { cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { HostMessage } from '../../shared/contract/index';
import type { ExportPlan, StepRequestView } from '../../shared/contract/annotate';
import type { SessionEvent, WireMessage } from '../../shared/events';
import { configHash } from '../../electron/core/rollout/request-record';
import { keychainKeyFile } from '../../electron/core/profiles';
import { startTestHost, type TestHost } from '../fixtures/web-host';
import { ok, run, SessionBuilder } from '../fixtures/sessions';

interface Reply { ok: boolean; result?: unknown; error?: { code: string; message: string } }

let testHost: TestHost;
let ws: WebSocket;
const pushes: Array<{ name: string; payload: unknown }> = [];

// ---- a session whose requests were recorded (the request record, written as the engine writes it)

const TASK_TURN = '\n<task_description>\nMake some files.\n</task_description>\n';
const CONFIG = { model: 'glm-4.5', temperature: 0.3, top_p: 0.9, stream: true, tools: [{ type: 'function', function: { name: 'run_command', description: 'Run a command.', parameters: { type: 'object', properties: {} } } }] };
const HASH = configHash(CONFIG);
const M1: WireMessage[] = [
  { role: 'system', content: 'You are an agent working in a real shell.' },
  { role: 'user', content: TASK_TURN },
];
const A1: WireMessage = { role: 'assistant', content: '', tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'run_command', arguments: '{"session_id":"main","command":"touch a"}' } }] };
const T1: WireMessage = { role: 'tool', tool_call_id: 'call_1', content: '{"success": true, "exit_code": 0, "output": ""}' };
const NO_CALL: WireMessage = { role: 'user', content: 'Error: invalid tool call: your reply contained no tool call.' };

function recordedSession(): SessionEvent[] {
  const b = new SessionBuilder({ name: 'Recorded', cwd: '/work/rec' });
  b.rollout({ task: 'Make some files.' });
  b.add({ type: 'request.config', hash: HASH, config: CONFIG });
  b.add({ type: 'step.started', stepId: 'r1', parentId: null, branchId: 'main', depth: 1, rolloutId: 'r1' });
  b.add({ type: 'model.request', requestId: 'q1', stepId: 'r1', purpose: 'step', base: null, keep: 0, append: M1, config: HASH, owners: [null, null] });
  b.add({
    type: 'model.response', stepId: 'r1', content: '', reasoning: '', toolCalls: [{ id: 'call_1', name: 'run_command', arguments: '{"session_id":"main","command":"touch a"}' }],
    usage: null, finishReason: 'tool_calls', durationMs: 900, requestId: 'q1', toolMode: 'tools', origin: 'model',
  });
  b.add({ type: 'action.result', stepId: 'r1', toolCallId: 'call_1', name: 'run_command', observation: T1.content as string, isError: false, durationMs: 30 });
  b.add({ type: 'step.finished', stepId: 'r1', promptTokens: 100, pausedMs: 161_000, modelMs: 12_000 });
  // Step 2's request: step 1's messages kept, its reply, result and a feedback turn appended.
  b.add({ type: 'step.started', stepId: 'r2', parentId: 'r1', branchId: 'main', depth: 2, rolloutId: 'r1' });
  b.add({ type: 'model.request', requestId: 'q2', stepId: 'r2', purpose: 'step', base: 'q1', keep: 2, append: [A1, T1, NO_CALL], config: HASH, owners: ['r1', 'r1', 'r1'] });
  b.add({
    type: 'model.response', stepId: 'r2', content: 'Done.', reasoning: '', toolCalls: [{ id: 'call_2', name: 'finish', arguments: '{}' }],
    usage: null, finishReason: 'tool_calls', durationMs: 700, requestId: 'q2', toolMode: 'tools', origin: 'model',
  });
  b.add({ type: 'action.result', stepId: 'r2', toolCallId: 'call_2', name: 'finish', observation: '{"success": true}', isError: false, durationMs: 1 });
  b.add({ type: 'step.finished', stepId: 'r2', promptTokens: 120 });
  // A hand-written step: no model request.
  b.step({ id: 'h3', calls: [run('ls')], results: [ok()], humanAuthored: true, author: 'alice' });
  return b.events;
}

/** Four actions: one kept and one masked by the annotator, two unreviewed. */
function reviewSession(prefix: string, name: string): SessionEvent[] {
  const b = new SessionBuilder({ name });
  b.rollout({ task: 'Train and evaluate the model.' });
  const s = [
    b.step({ id: `${prefix}1`, calls: [run('ls -la')], results: [ok()] }),
    b.step({ id: `${prefix}2`, calls: [run('python train.py')], results: [ok()] }),
    b.step({ id: `${prefix}3`, calls: [run('python eval.py')], results: [ok()] }),
    b.step({ id: `${prefix}4`, calls: [{ name: 'finish', args: { summary: 'done' } }], results: [ok()] }),
  ];
  b.label(s[0]!, 'keep');
  b.label(s[1]!, 'mask', { tags: ['error'] });
  return b.events;
}

async function seed(workspace: string, id: string, events: SessionEvent[]): Promise<void> {
  const dir = join(workspace, 'sessions', id);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'events.jsonl'), events.map((e) => `${JSON.stringify(e)}\n`).join(''));
}

let nextId = 0;
function call<T>(cmd: string, args: unknown): Promise<Reply & { result?: T }> {
  const id = ++nextId;
  return new Promise((res) => {
    const on = (d: WebSocket.RawData) => {
      const m = JSON.parse(d.toString()) as HostMessage;
      if (m.kind === 'res' && m.id === id) {
        ws.off('message', on);
        res(m as Reply & { result?: T });
      }
    };
    ws.on('message', on);
    ws.send(JSON.stringify({ kind: 'req', id, cmd, args }));
  });
}

async function result<T>(cmd: string, args: unknown): Promise<T> {
  const r = await call<T>(cmd, args);
  if (!r.ok) throw new Error(`${cmd} failed: ${r.error?.code} ${r.error?.message}`);
  return r.result as T;
}

async function until(cond: () => boolean, what: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

beforeAll(async () => {
  testHost = await startTestHost('apollo-inspect-plan-', {
    seed: async (w) => {
      await seed(w, 'REC', recordedSession());
      await seed(w, 'A', reviewSession('a', 'Review A'));
      await seed(w, 'B', reviewSession('b', 'Review B'));
      await cp(join(__dirname, '../fixtures/legacy-sample/legacy-sales-report'), join(w, 'sessions', 'legacy-sales-report'), { recursive: true });
    },
  });
  ws = new WebSocket(`ws://127.0.0.1:${testHost.host.port}/ws?token=${testHost.host.token}`);
  await new Promise<void>((res, rej) => {
    ws.once('open', () => res());
    ws.once('error', rej);
  });
  ws.on('message', (d) => {
    const m = JSON.parse(d.toString()) as HostMessage;
    if (m.kind === 'evt') pushes.push({ name: m.name, payload: m.payload });
  });
});
afterAll(async () => {
  ws?.close();
  await testHost?.close();
});

describe('steps.request over the web host', () => {
  it('returns a recorded request exactly as it was sent: config once, messages rebuilt from the base', async () => {
    const r1 = await result<StepRequestView>('steps.request', { sessionId: 'REC', stepId: 'r1' });
    expect(r1).toEqual({ body: { ...CONFIG, messages: M1 }, source: 'recorded', requestId: 'q1' });
    const r2 = await result<StepRequestView>('steps.request', { sessionId: 'REC', stepId: 'r2' });
    expect(r2.source).toBe('recorded');
    expect(r2.note).toBeUndefined();
    expect(r2.body.messages).toEqual([...M1, A1, T1, NO_CALL]);
    // The task turn is the wrapper the model received, not the task as typed.
    expect(r2.body.messages[1]!.content).toBe(TASK_TURN);
    expect(r2.body.model).toBe('glm-4.5');
    expect(r2.body.tools).toEqual(CONFIG.tools);
  });

  it('has no request for a hand-written step, and refuses unknown steps and sessions', async () => {
    expect(await result('steps.request', { sessionId: 'REC', stepId: 'h3' })).toBeNull();
    const unknownStep = await call('steps.request', { sessionId: 'REC', stepId: 'nope' });
    expect(unknownStep.ok).toBe(false);
    expect(unknownStep.error?.code).toBe('NOT_FOUND');
    const unknownSession = await call('steps.request', { sessionId: 'no-such-session', stepId: 'r1' });
    expect(unknownSession.ok).toBe(false);
    const bad = await call('steps.request', { sessionId: 'REC' });
    expect(bad.error?.code).toBe('BAD_REQUEST');
  });

  it('says that the context of a session recorded before the request record is reconstructed', async () => {
    const opened = await result<{ events: SessionEvent[] }>('sessions.open', { sessionId: 'legacy-sales-report' });
    const first = opened.events.find((e) => e.type === 'step.started');
    expect(first).toBeDefined();
    const r = await result<StepRequestView>('steps.request', { sessionId: 'legacy-sales-report', stepId: (first as { stepId: string }).stepId });
    expect(r.source).toBe('reconstructed');
    expect(r.requestId).toBeUndefined();
    expect(r.note).toMatch(/recorded before requests were logged/);
    const task = r.body.messages.find((m) => m.role === 'user');
    expect(task?.content).toContain('<task_description>');
    expect(task?.content).toContain('Create sales.csv');
    expect(r.body.model).toBe('scripted-demo');
  });
});

describe('export.plan over the web host', () => {
  const base = { sessionIds: ['A'], formats: ['openai', 'sharegpt', 'mistral'] };

  it('plans every policy for unreviewed actions: train, skip or refuse', async () => {
    const keep = await result<ExportPlan>('export.plan', base);
    expect(keep.policy).toBe('keep');
    expect(keep.refused).toBe(false);
    expect(keep.total).toMatchObject({ examples: 1, actions: 4, kept: 3, masked: 1, unlabelled: 2 });
    expect(keep.total.maskedBy.annotator).toBe(1);
    expect(keep.total.actionLines).toBe(3);
    expect(keep.total.tokens.total).toBeGreaterThan(0);
    expect(keep.total.tokens.longest).toBe(keep.total.tokens.total);
    expect(keep.warnings.some((w) => /2 action\(s\) are unreviewed.*trained by the policy/.test(w))).toBe(true);
    expect(keep.sessions).toHaveLength(1);
    expect(keep.sessions[0]).toMatchObject({ sessionId: 'A', name: 'Review A', counts: keep.total });
    expect(keep.sessions[0]!.branches).toEqual([{ branchId: 'main', name: 'main', exported: true, skipped: null }]);

    const skip = await result<ExportPlan>('export.plan', { ...base, labelPolicy: { unlabelled: 'mask' } });
    expect(skip.total).toMatchObject({ actions: 4, kept: 1, masked: 3, unlabelled: 2, actionLines: 1 });
    expect(skip.total.maskedBy.unlabelled).toBe(2);

    const refuse = await result<ExportPlan>('export.plan', { ...base, labelPolicy: { unlabelled: 'refuse' } });
    expect(refuse.policy).toBe('refuse');
    expect(refuse.refused).toBe(true);
    expect(refuse.total.unlabelled).toBe(2);
  });

  it('says which keys in the app\'s keychain this host cannot redact, before anything is written', async () => {
    expect((await result<ExportPlan>('export.plan', base)).warnings.some((w) => /keychain/.test(w))).toBe(false);
    // The workspace the host serves (`<home>/ws`): its keychain folder, as the desktop app left it.
    const workspace = join(testHost.home, 'ws');
    await mkdir(join(workspace, 'keys'), { recursive: true });
    await writeFile(keychainKeyFile(workspace, 'team'), 'encrypted by the OS keychain');
    try {
      const plan = await result<ExportPlan>('export.plan', base);
      expect(plan.warnings[0]).toMatch(/^the endpoint key of profile "team" is in the desktop app's keychain, which browser mode cannot read/);
    } finally {
      await rm(join(workspace, 'keys'), { recursive: true, force: true });
    }
  });

  it('gives per-session numbers that add up to the total, and splits with maxTokens', async () => {
    const both = await result<ExportPlan>('export.plan', { ...base, sessionIds: ['A', 'B'] });
    expect(both.sessions.map((s) => s.sessionId)).toEqual(['A', 'B']);
    for (const k of ['examples', 'actions', 'kept', 'masked', 'unlabelled'] as const) {
      expect(both.sessions[0]!.counts[k] + both.sessions[1]!.counts[k]).toBe(both.total[k]);
    }
    expect(both.total).toMatchObject({ examples: 2, actions: 8, kept: 6, masked: 2, unlabelled: 4 });
    expect(both.total.tokens.total).toBe(both.sessions[0]!.counts.tokens.total + both.sessions[1]!.counts.tokens.total);

    const whole = await result<ExportPlan>('export.plan', base);
    const split = await result<ExportPlan>('export.plan', { ...base, maxTokens: 64 });
    expect(split.total.tokens.limit).toBe(64);
    expect(split.total.examples).toBeGreaterThan(whole.total.examples);
  });

  it('refuses what export.start refuses: bad options, unknown sessions and branches', async () => {
    expect((await call('export.plan', { ...base, maxTokens: 10 })).error?.code).toBe('BAD_REQUEST');
    expect((await call('export.plan', { ...base, formats: [] })).error?.code).toBe('BAD_REQUEST');
    expect((await call('export.plan', { ...base, labelPolicy: { unlabelled: 'sometimes' } })).error?.code).toBe('BAD_REQUEST');
    expect((await call('export.plan', { ...base, branches: { A: ['nope'] } })).error?.code).toBe('NOT_FOUND');
    expect((await call('export.plan', { ...base, sessionIds: ['missing'] })).ok).toBe(false);
  });

  it('writes nothing; export.start then writes what the plan said, with the policy and mistral passed through', async () => {
    const outDir = join(testHost.home, 'exports', 'planned');
    const args = { ...base, labelPolicy: { unlabelled: 'mask' as const } };
    const plan = await result<ExportPlan>('export.plan', args);
    expect(existsSync(join(testHost.home, 'exports'))).toBe(false);

    const { exportId } = await result<{ exportId: string }>('export.start', { ...args, outDir });
    const done = () => pushes.find((p) => p.name === 'export.progress' && (p.payload as { exportId: string; state: string }).exportId === exportId && (p.payload as { state: string }).state !== 'running');
    await until(() => !!done(), 'the export to end');
    const last = done()!.payload as { state: string; counts?: ExportPlan['total']; error?: string };
    expect(last.error).toBeUndefined();
    expect(last.state).toBe('done');
    expect(last.counts).toEqual(plan.total);
    const manifest = JSON.parse(await readFile(join(outDir, 'manifest.json'), 'utf8')) as { labelPolicy: { unlabelled: string }; formats: string[]; counts: { kept: number; masked: number } };
    expect(manifest.labelPolicy.unlabelled).toBe('mask');
    expect(manifest.formats).toContain('mistral');
    expect(manifest.counts).toMatchObject({ kept: plan.total.kept, masked: plan.total.masked });
    const mistral = (await readFile(join(outDir, 'mistral.jsonl'), 'utf8')).trim().split('\n');
    expect(mistral).toHaveLength(plan.total.actionLines);
  });

  it('fails an export the refuse policy forbids, and leaves nothing behind', async () => {
    const outDir = join(testHost.home, 'exports', 'refused');
    const { exportId } = await result<{ exportId: string }>('export.start', { ...base, labelPolicy: { unlabelled: 'refuse' }, outDir });
    const end = () => pushes.find((p) => p.name === 'export.progress' && (p.payload as { exportId: string }).exportId === exportId && (p.payload as { state: string }).state !== 'running');
    await until(() => !!end(), 'the export to end');
    const last = end()!.payload as { state: string; error?: string };
    expect(last.state).toBe('failed');
    expect(last.error).toMatch(/2 action\(s\) are unreviewed/);
    expect(existsSync(outDir)).toBe(false);
  });
});
