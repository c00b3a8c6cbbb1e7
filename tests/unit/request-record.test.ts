// The request record against the wire: for every request the scripted endpoint
// received, the session log rebuilds exactly that body (messages, tools, tool mode,
// sampling), and each step's requestForStep is the request its reply came from.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EventOf, SessionEventType } from '../../shared/events';
import { foldTrajectory, ownedRequestMessages } from '../../shared/trajectory';
import { PtyHost } from '../../electron/core/pty/pty-host';
import { Workspace, type SessionLog } from '../../electron/core/store/workspace';
import { Rollout, type RolloutOptions } from '../../electron/core/rollout/engine';
import { rebuildRequest, requestForStep } from '../../electron/core/rollout/request-record';
import { parseEventLog } from '../../electron/core/store/event-log';
import { startFakeLlm, status, text, tool, type FakeLlm, type FakeReply, type FakeRequest } from '../fixtures/fake-llm-server';

let home: string;
let cwd: string;
let ws: Workspace;
let session: SessionLog;
let pty: PtyHost;
let server: FakeLlm | null = null;

beforeEach(async () => {
  home = await mkdtemp(join(tmpdir(), 'apollo-req-'));
  cwd = await mkdtemp(join(tmpdir(), 'apollo-req-cwd-'));
  ws = await Workspace.open(home);
  session = await ws.create({ cwd, name: 'request record' });
  pty = new PtyHost({
    resourcesDir: resolve('resources'),
    events: { data: () => undefined, changed: () => undefined },
    env: { ...process.env, SHELL: '/bin/bash', HISTFILE: '/dev/null' },
  });
});
afterEach(async () => {
  await server?.close();
  server = null;
  await pty.dispose();
  await ws.close();
  await rm(home, { recursive: true, force: true });
  await rm(cwd, { recursive: true, force: true });
});

function rollout(over: Partial<RolloutOptions> & { toolMode?: 'tools' | 'text' } = {}): Rollout {
  const { toolMode, ...rest } = over;
  return new Rollout({
    session, pty,
    endpoint: { profile: 'fake', baseURL: server!.url, apiKey: 'sk-test-record', model: 'fake-model', temperature: 0.3, topP: 0.9, maxTokens: 512, toolMode },
    policy: 'model',
    task: 'Make some files.',
    maxSteps: 30,
    cwd,
    llm: { retry: { baseDelayMs: 5, maxDelayMs: 20, maxRetries: 3, jitter: 0 }, timeoutMs: 5_000, idleTimeoutMs: 2_000 },
    tools: { commandTimeoutMs: 10_000, settleMs: 300 },
    ...rest,
  });
}

function events<T extends SessionEventType>(type: T): EventOf<T>[] {
  return session.events.filter((e): e is EventOf<T> => e.type === type);
}

const isSummary = (q: FakeRequest) => JSON.stringify(q.body.messages.at(-1) ?? {}).includes('state_snapshot');

/**
 * The core assertion: the log, re-read from disk and folded, rebuilds every
 * answered request byte for byte, in order.
 */
async function expectWireMatches(answered: FakeRequest[]): Promise<void> {
  const parsed = parseEventLog(await readFile(join(session.dir, 'events.jsonl')));
  expect(parsed.report.corruptLines).toEqual([]);
  const t = foldTrajectory(parsed.events);
  const recorded = parsed.events.filter((e): e is EventOf<'model.request'> => e.type === 'model.request');
  expect(recorded).toHaveLength(answered.length);
  recorded.forEach((r, i) => {
    const rebuilt = rebuildRequest(t, r.requestId);
    expect(rebuilt, `request ${i}`).not.toBeNull();
    expect(rebuilt!.body, `request ${i}`).toEqual(answered[i]!.body);
  });
  // Every model step's context is the recorded request that produced its reply.
  for (const step of t.steps.values()) {
    if (!step.response) continue;
    const req = requestForStep(t, step.id);
    expect(req?.source).toBe('recorded');
    const i = recorded.findIndex((r) => r.requestId === step.response!.requestId);
    expect(i).toBeGreaterThanOrEqual(0);
    expect(req!.body).toEqual(answered[i]!.body);
    expect(recorded[i]!.purpose).toBe('step');
  }
}

describe('request record', () => {
  it('tool mode: guidance mid-run, an invalid call and a reply without a tool call are rebuilt exactly', async () => {
    const holder: { r?: Rollout } = {};
    let n = 0;
    server = await startFakeLlm(async (): Promise<FakeReply> => {
      n++;
      if (n === 2) await holder.r!.queueGuidance('use the folder work/', 'ann');
      if (n === 1) return tool('run_command', { session_id: 'main', command: 'mkdir -p work && echo made' });
      if (n === 2) return tool('create_file', '{"path": "work/a.txt", "content": "broken'); // invalid JSON
      if (n === 3) return text('I think I am done, maybe.'); // no tool call
      if (n === 4) return tool('create_file', { path: 'work/a.txt', content: 'hello\n' });
      return tool('finish', { message: 'files made' });
    });
    const r = (holder.r = rollout());
    expect(await r.run()).toBe('finished');
    await expectWireMatches(server.requests);
    // The feedback turns are what the model was sent, not a renamed copy.
    const last = server.requests.at(-1)!.body;
    const wire = JSON.stringify(last.messages);
    expect(wire).toContain('invalid_arguments');
    expect(wire).toContain('<real_user>use the folder work/</real_user>');
    expect(wire).toMatch(/your reply contained no tool call/);
    expect(last.messages[1].content).toBe('\n<task_description>\nMake some files.\n</task_description>\n');
    // Each message names the step it came from: the assistant turns are the path's steps in order.
    const t = foldTrajectory(session.events);
    const lastStep = [...t.steps.values()].at(-1)!;
    const owned = ownedRequestMessages(t, lastStep.requestId!)!;
    const stepIds = [...t.steps.keys()];
    const asstOwners = owned.messages.flatMap((m, i) => (m.role === 'assistant' ? [owned.owners[i]] : []));
    expect(asstOwners).toEqual(stepIds.slice(0, -1));
    owned.messages.forEach((m, i) => {
      if (m.role === 'assistant' && Array.isArray(m.tool_calls)) {
        const step = t.steps.get(owned.owners[i]!)!;
        expect((m.tool_calls as { id: string }[]).map((c) => c.id)).toEqual(step.response!.toolCalls.map((c) => c.id));
      }
    });
    expect(owned.owners.slice(0, 2)).toEqual([null, null]);
    expect(last.tools.length).toBeGreaterThan(5);
  });

  it('stores the config once and each step only what it added', async () => {
    server = await startFakeLlm([], { fallback: tool('think', { thought: 'pondering' }) });
    const r = rollout({ maxSteps: 6 });
    expect(await r.run()).toBe('stopped');
    await expectWireMatches(server.requests);
    expect(events('request.config')).toHaveLength(1);
    const reqs = events('model.request');
    // After the first request each appends one assistant turn and one tool turn.
    for (const q of reqs.slice(1)) {
      expect(q.base).not.toBeNull();
      expect(q.append.map((m) => m.role)).toEqual(['assistant', 'tool']);
    }
    expect(reqs[0]!.append.map((m) => m.role)).toEqual(['system', 'user']);
  });

  it('text-action mode: no tools on the wire, observations as user turns, rebuilt exactly', async () => {
    let n = 0;
    server = await startFakeLlm(async (): Promise<FakeReply> => {
      n++;
      if (n === 1) return text('Listing.\n```bash\necho text-mode-$((40+2))\n```');
      if (n === 2) return text('No block here.');
      return text('Done.\n```json\n{"name": "finish", "arguments": {"message": "ok"}}\n```');
    });
    const r = rollout({ toolMode: 'text' });
    expect(await r.run()).toBe('finished');
    await expectWireMatches(server.requests);
    for (const q of server.requests) expect(q.body.tools).toBeUndefined();
    const t = foldTrajectory(session.events);
    const steps = [...t.steps.values()];
    expect(steps[0]!.response!.toolMode).toBe('text');
    const lastMsgs = server.requests.at(-1)!.body.messages as { role: string; content: string }[];
    expect(lastMsgs.every((m) => m.role !== 'tool')).toBe(true);
    expect(JSON.stringify(lastMsgs)).toContain('text-mode-42');
  });

  it('across several summaries, summary requests included; guidance survives', async () => {
    let n = 0;
    const holder: { r?: Rollout } = {};
    server = await startFakeLlm(async (req): Promise<FakeReply> => {
      if (isSummary(req)) return text(`<state_snapshot>S${n}</state_snapshot>`);
      n++;
      if (n === 2) await holder.r!.queueGuidance('GUIDE keep it short', 'ann');
      if (n >= 20) return tool('finish', { message: 'done' });
      return tool('think', { thought: `T${n} ${'pad '.repeat(300)}` });
    });
    const r = (holder.r = rollout({ summarizeAtTokens: 4_000, keepRecentSteps: 2, systemPrompt: 'Test agent.' }));
    expect(await r.run()).toBe('finished');
    const sums = events('summary.created');
    expect(sums.length).toBeGreaterThanOrEqual(2);
    await expectWireMatches(server.requests);
    const t = foldTrajectory(session.events);
    for (const s of sums) {
      const q = rebuildRequest(t, s.requestId!);
      expect(q?.body.tool_choice).toBe('none');
    }
    expect(JSON.stringify(server.requests.at(-1)!.body.messages)).toContain('GUIDE keep it short');
  });

  it('a retried request is recorded once; a resumed step records the request it was resent with', async () => {
    let n = 0;
    const holder: { r?: Rollout } = {};
    server = await startFakeLlm(async (): Promise<FakeReply> => {
      n++;
      if (n === 1) return tool('think', { thought: 'one' });
      if (n === 2) return status(503);
      if (n === 3) return status(401); // pauses the rollout
      if (n === 4) return tool('finish', { message: 'ok' });
      throw new Error('unexpected');
    });
    const r = (holder.r = rollout());
    expect(await r.run()).toBe('paused');
    await r.queueGuidance('after the pause', 'ann');
    expect(await r.resume()).toBe('finished');
    // The endpoint received 4 bodies; 2 and 3 are the same request (a retry).
    expect(server.requests[1]!.body).toEqual(server.requests[2]!.body);
    const answered = [server.requests[0]!, server.requests[2]!, server.requests[3]!];
    await expectWireMatches(answered);
    expect(JSON.stringify(server.requests[3]!.body.messages)).toContain('<real_user>after the pause</real_user>');
    const t = foldTrajectory(session.events);
    const second = [...t.steps.values()][1]!;
    expect(second.finishedAt! - second.startedAt).toBeGreaterThanOrEqual(second.pausedMs!);
    expect(second.pausedMs).toBeGreaterThanOrEqual(0);
    expect(second.modelMs).toBeGreaterThan(0);
  });

  it('an old log without the record says its context is reconstructed', async () => {
    server = await startFakeLlm([tool('think', { thought: 'a' }), tool('finish', { message: 'b' })]);
    expect(await rollout().run()).toBe('finished');
    const stripped = session.events
      .filter((e) => e.type !== 'model.request' && e.type !== 'request.config')
      .map((e) => (e.type === 'model.response' ? { ...e, requestId: undefined } : e));
    const t = foldTrajectory(stripped);
    const step = [...t.steps.values()][1]!;
    const req = requestForStep(t, step.id, { cwd });
    expect(req?.source).toBe('reconstructed');
    expect(req?.note).toMatch(/rebuilt/);
    expect(req!.body.messages.at(-2)!.role).toBe('assistant');
  });
});
