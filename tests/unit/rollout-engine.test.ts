import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EventOf, SessionEvent, SessionEventType } from '../../shared/events';
import { foldTrajectory } from '../../shared/trajectory';
import { PtyHost } from '../../electron/core/pty/pty-host';
import { Workspace, type SessionLog } from '../../electron/core/store/workspace';
import { Rollout, type RolloutOptions } from '../../electron/core/rollout/engine';
import { INVALID_TOOL_CALL } from '../../electron/core/rollout/tools';
import { urlCredentials, withoutCredentials, type ChatMessage } from '../../electron/core/rollout/llm';
import { cut, noChoices, startFakeLlm, status, text, tool, type FakeLlm, type FakeReply, type FakeRequest } from '../fixtures/fake-llm-server';

const KEY = 'sk-apollo-test-KEY-9f8e7d6c5b4a';

interface Env {
  home: string;
  cwd: string;
  ws: Workspace;
  session: SessionLog;
  pty: PtyHost;
}

async function makeEnv(): Promise<Env> {
  const home = await mkdtemp(join(tmpdir(), 'apollo-rollout-'));
  const cwd = await mkdtemp(join(tmpdir(), 'apollo-rollout-cwd-'));
  const ws = await Workspace.open(home);
  const session = await ws.create({ cwd, name: 'rollout test' });
  const pty = new PtyHost({
    resourcesDir: resolve('resources'),
    events: { data: () => undefined, changed: () => undefined },
    env: { ...process.env, SHELL: '/bin/bash', HISTFILE: '/dev/null' },
  });
  return { home, cwd, ws, session, pty };
}

async function disposeEnv(e: Env): Promise<void> {
  await e.pty.dispose();
  await e.ws.close();
  await rm(e.home, { recursive: true, force: true });
  await rm(e.cwd, { recursive: true, force: true });
}

let env: Env;
let server: FakeLlm | null = null;
const extra: Env[] = [];

beforeEach(async () => {
  env = await makeEnv();
});
afterEach(async () => {
  await server?.close();
  server = null;
  for (const e of [env, ...extra.splice(0)]) {
    // The key must never be written anywhere in the session folder.
    const log = await readFile(join(e.session.dir, 'events.jsonl'), 'utf8');
    expect(log).not.toContain(KEY);
    expect(log).not.toContain('KEY-9f8e');
    await disposeEnv(e);
  }
});

function rollout(over: Partial<RolloutOptions> = {}): Rollout {
  return new Rollout({
    session: env.session,
    pty: env.pty,
    endpoint: server ? { profile: 'fake', baseURL: server.url, apiKey: KEY, model: 'fake-model', temperature: 0 } : null,
    policy: 'model',
    task: 'Create a.txt containing hi and show it.',
    maxSteps: 20,
    cwd: env.cwd,
    llm: { retry: { baseDelayMs: 5, maxDelayMs: 50, maxRetries: 2, jitter: 0 }, timeoutMs: 5_000, idleTimeoutMs: 2_000 },
    tools: { commandTimeoutMs: 10_000, settleMs: 500 },
    ...over,
  });
}

function events<T extends SessionEventType>(s: SessionLog, type: T): EventOf<T>[] {
  return s.events.filter((e): e is EventOf<T> => e.type === type);
}

const msgs = (r: FakeRequest): ChatMessage[] => r.body.messages as ChatMessage[];
const isSummaryRequest = (r: FakeRequest) => String(msgs(r).at(-1)?.content ?? '').includes('<state_snapshot>');

describe('Rollout (model policy, real PTY)', () => {
  it('runs real commands and records the step events', async () => {
    server = await startFakeLlm([
      tool('run_command', { session_id: 'main', command: 'echo hi > a.txt', wait_for_completion: true }, { reasoning: 'First create the file.' }),
      tool('run_command', { session_id: 'main', command: 'cat a.txt' }),
      tool('finish', { message: 'a.txt contains hi' }),
    ]);
    const deltas: string[] = [];
    const r = rollout({ onDelta: (_id, d) => d.reasoning && deltas.push(d.reasoning) });
    expect(await r.run()).toBe('finished');
    expect(r.state).toBe('finished');
    expect(await readFile(join(env.cwd, 'a.txt'), 'utf8')).toBe('hi\n');
    expect(deltas.join('')).toBe('First create the file.');

    const types = env.session.events.map((e) => e.type).filter((t) => !t.startsWith('terminal.') && t !== 'session.created');
    expect(types).toEqual([
      'rollout.started',
      'step.started', 'request.config', 'model.request', 'model.response', 'action.result', 'step.finished',
      'step.started', 'model.request', 'model.response', 'action.result', 'step.finished',
      'step.started', 'model.request', 'model.response', 'action.result', 'step.finished',
      'rollout.state',
    ]);
    const started = events(env.session, 'rollout.started')[0]!;
    expect(started.endpoint).toEqual({ profile: 'fake', baseUrl: server.url, model: 'fake-model', temperature: 0 });
    const results = events(env.session, 'action.result');
    const cat = JSON.parse(results[1]!.observation) as { output: string; exit_code: number };
    expect(cat.output).toBe('hi');
    expect(cat.exit_code).toBe(0);
    expect(results[1]!.terminalId).toBe('main');
    expect(results[1]!.range).toBeDefined();
    const responses = events(env.session, 'model.response');
    expect(responses[0]!.reasoning).toBe('First create the file.');
    expect(responses[0]!.usage?.promptTokens).toBeGreaterThan(0);
    const steps = events(env.session, 'step.started');
    expect(steps.map((s) => s.depth)).toEqual([1, 2, 3]);
    expect(steps[1]!.parentId).toBe(steps[0]!.stepId);
    expect(events(env.session, 'rollout.state').at(-1)).toMatchObject({ state: 'finished', reason: 'a.txt contains hi' });

    // The third request carries the whole history, with the real output.
    const m = msgs(server.requests[2]!);
    expect(m.map((x) => x.role)).toEqual(['system', 'user', 'assistant', 'tool', 'assistant', 'tool']);
    expect(m[0]!.content).toContain(env.cwd);
    expect(m[1]!.content).toContain('Create a.txt containing hi');
    expect(JSON.parse(m[5]!.content as string).output).toBe('hi');
    expect(server.requests[0]!.body.tools.map((t: { function: { name: string } }) => t.function.name)).toContain('get_session_output');
    // Fold: the trajectory sees three finished steps.
    const t = foldTrajectory(env.session.events);
    expect(t.order.every((id) => t.steps.get(id)!.finishedAt)).toBe(true);
  });

  it('delivers guidance queued during a request right after that step’s tool result', async () => {
    // The first reply waits until the guidance is queued (a 600 ms delay was waited out, and could end first).
    let answer = (): void => {};
    const answered = new Promise<void>((res) => (answer = res));
    server = await startFakeLlm([
      async () => (await answered, tool('run_command', { session_id: 'main', command: 'echo one' })),
      tool('finish', { message: 'done' }),
    ]);
    const r = rollout();
    const done = r.run();
    await server.waitForRequests(1);
    const gid = await r.queueGuidance('Please also print two.', 'annotator-1');
    answer();
    expect(r.pendingGuidance().map((g) => g.id)).toEqual([gid]);
    expect(await done).toBe('finished');

    const step1 = events(env.session, 'step.started')[0]!.stepId;
    const delivered = events(env.session, 'guidance.delivered');
    expect(delivered).toEqual([expect.objectContaining({ guidanceId: gid, stepId: step1 })]);
    const queued = events(env.session, 'guidance.queued')[0]!;
    expect(queued).toMatchObject({ text: 'Please also print two.', author: 'annotator-1', branchId: 'main' });
    expect(queued.seq).toBeLessThan(events(env.session, 'model.response')[0]!.seq);

    const m = msgs(server.requests[1]!);
    expect(m.at(-2)!.role).toBe('tool');
    expect(m.at(-1)).toEqual({ role: 'user', content: '<real_user>Please also print two.</real_user>' });
    expect(JSON.stringify(msgs(server.requests[0]!))).not.toContain('print two');
    expect(foldTrajectory(env.session.events).guidance.get(gid)!.delivered!.stepId).toBe(step1);
  });

  it('retries 429 then 500 and completes the step', async () => {
    server = await startFakeLlm([
      status(429, { retryAfter: 0.02 }),
      status(500),
      tool('think', { thought: 'plan' }),
      tool('finish', {}),
    ]);
    const resets: string[] = [];
    const r = rollout({ onDelta: (id, d) => d.reset && resets.push(id) });
    expect(await r.run()).toBe('finished');
    const step1 = events(env.session, 'step.started')[0]!.stepId;
    const retries = events(env.session, 'llm.retry');
    expect(retries.map((e) => [e.stepId, e.attempt])).toEqual([[step1, 1], [step1, 2]]);
    expect(retries[0]!.delayMs).toBe(20);
    expect(retries[0]!.error).toMatch(/429/);
    expect(retries[1]!.error).toMatch(/500/);
    expect(resets).toEqual([step1, step1]);
    expect(events(env.session, 'step.started')).toHaveLength(2);
    expect(foldTrajectory(env.session.events).steps.get(step1)!.retries).toBe(2);
  });

  it('pauses on a persistent error without losing steps, and resume() retries the same step', async () => {
    let failing = false;
    const replies: FakeReply[] = [tool('run_command', { session_id: 'main', command: 'echo kept' }), tool('finish', { message: 'ok' })];
    server = await startFakeLlm((): FakeReply => (failing ? status(500, { message: 'upstream down' }) : replies.shift() ?? status(500)));
    const r = rollout({ hooks: { afterStep: async () => { failing = true; } } });
    expect(await r.run()).toBe('paused');
    expect(r.state).toBe('paused');
    expect(r.error).toMatch(/failed after 3 attempts.*upstream down/);
    const paused = events(env.session, 'rollout.state').at(-1)!;
    expect(paused).toMatchObject({ state: 'paused', reason: 'error' });
    expect(paused.error).toMatch(/500/);
    const started = events(env.session, 'step.started');
    expect(started).toHaveLength(2);
    expect(events(env.session, 'model.response')).toHaveLength(1);
    expect(events(env.session, 'step.finished').map((e) => e.stepId)).toEqual([started[0]!.stepId]);
    expect(events(env.session, 'llm.retry').every((e) => e.stepId === started[1]!.stepId)).toBe(true);

    failing = false;
    const before = server.requests.length;
    const guidance = await r.queueGuidance('While paused: be careful.', 'ann');
    expect(await r.resume()).toBe('finished');
    expect(events(env.session, 'step.started')).toHaveLength(2); // no new step: the same one was retried
    const responses = events(env.session, 'model.response');
    expect(responses.map((e) => e.stepId)).toEqual([started[0]!.stepId, started[1]!.stepId]);
    expect(events(env.session, 'rollout.state').map((e) => e.state)).toEqual(['paused', 'running', 'finished']);
    expect(events(env.session, 'guidance.delivered')).toEqual([expect.objectContaining({ guidanceId: guidance, stepId: started[0]!.stepId })]);
    const m = msgs(server.requests[before]!);
    expect(JSON.parse(m.find((x) => x.role === 'tool')!.content as string).output).toBe('kept');
    expect(m.at(-1)!.content).toBe('<real_user>While paused: be careful.</real_user>');
  });

  it('never records a cut-off stream as the model\'s action: it is retried and only the whole reply becomes the step', async () => {
    server = await startFakeLlm([
      // Every argument arrives, but no finish_reason and no [DONE]: the server gave up quietly.
      cut(tool('run_command', { command: 'echo PARTIAL > p.txt', session_id: 'main', wait_for_completion: true })),
      tool('finish', { message: 'done' }),
    ]);
    const r = rollout();
    expect(await r.run()).toBe('finished');
    const started = events(env.session, 'step.started');
    expect(started).toHaveLength(1);
    const responses = events(env.session, 'model.response');
    expect(responses).toHaveLength(1);
    expect(responses[0]!.toolCalls.map((c) => c.name)).toEqual(['finish']);
    const retries = events(env.session, 'llm.retry');
    expect(retries).toEqual([expect.objectContaining({ stepId: started[0]!.stepId, attempt: 1, error: 'the stream ended without a finish reason (cut off)' })]);
    expect(JSON.stringify(env.session.events.filter((e) => e.type !== 'llm.retry'))).not.toContain('PARTIAL');
    expect(JSON.stringify(msgs(server.requests[1]!))).not.toContain('PARTIAL');
    await expect(readFile(join(env.cwd, 'p.txt'), 'utf8')).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('records no credential its base URL carries: not as it starts, not in the errors of its retries', async () => {
    server = await startFakeLlm((): FakeReply => tool('finish', { message: 'ok' }));
    const port = new URL(server.url).port;
    const pw = 'urlPassw0rd-77d1e0';
    // fetch refuses a URL with a user and password in it: the SDK's error quotes the URL, at every retry.
    const withUser = rollout({ endpoint: { profile: 'fake', baseURL: `http://alice:${pw}@127.0.0.1:${port}/v1`, apiKey: KEY, model: 'm' } });
    expect(await withUser.run()).toBe('paused');
    expect(events(env.session, 'llm.retry').length).toBeGreaterThan(0);
    expect(events(env.session, 'rollout.started')[0]!.endpoint?.baseUrl).toBe(`http://***:***@127.0.0.1:${port}/v1`);
    const log = await readFile(join(env.session.dir, 'events.jsonl'), 'utf8');
    expect(log).toMatch(/includes credentials/);
    expect(log).not.toContain(pw);
    expect(withUser.error).not.toContain(pw);
    await withUser.stop();
  });

  it('knows a base URL\'s credentials as written and as decoded, and records a URL without any as it is', () => {
    expect(urlCredentials('https://h.example/v1?sig=abc+def%2Fxyz123&x=1')).toEqual(expect.arrayContaining(['abc+def%2Fxyz123', 'abc def/xyz123']));
    expect(urlCredentials('https://h.example/v1?key=sort')).toEqual([]);
    expect(withoutCredentials('http://localhost:8000')).toBe('http://localhost:8000');
    expect(withoutCredentials('http://[::1]:8000/v1?api_key=S3cretValue99')).toBe('http://[::1]:8000/v1?api_key=***');
  });

  it('pauses when every reply comes back empty, recording no model response', async () => {
    server = await startFakeLlm([], { fallback: noChoices() });
    const r = rollout();
    expect(await r.run()).toBe('paused');
    expect(r.error).toMatch(/failed after 3 attempts: the stream carried no choices/);
    expect(events(env.session, 'model.response')).toHaveLength(0);
    expect(events(env.session, 'llm.retry')).toHaveLength(2);
    expect(events(env.session, 'rollout.state').at(-1)).toMatchObject({ state: 'paused', reason: 'error' });
  });

  it('answers malformed tool calls with an invalid-call observation and continues', async () => {
    server = await startFakeLlm([
      tool('run_command', '{"session_id": "main", "command": "ls"', { id: 'c_badjson' }),
      tool('launch_rockets', { count: 3 }, { id: 'c_unknown' }),
      tool('run_command', { session_id: 'main' }, { id: 'c_missing' }),
      tool('open_file', { path: 'x', line_number: 'ten' }, { id: 'c_type' }),
      text('I think I am done now.'),
      tool('finish', { message: 'recovered' }),
    ]);
    expect(await rollout().run()).toBe('finished');
    const results = events(env.session, 'action.result');
    expect(results).toHaveLength(6);
    for (const res of results.slice(0, 5)) {
      expect(res.observation.startsWith(INVALID_TOOL_CALL)).toBe(true);
      expect(res.isError).toBe(true);
    }
    expect(results[0]!.observation).toMatch(/not valid JSON/);
    expect(results[1]!.observation).toMatch(/unknown tool "launch_rockets"/);
    expect(results[2]!.observation).toMatch(/missing required argument "command"/);
    expect(results[3]!.observation).toMatch(/must be an integer/);
    expect(results[4]!.observation).toMatch(/no tool call/);
    // The model saw each error as the result of its call; the bad JSON was sanitized for strict servers.
    const m = msgs(server.requests[1]!);
    expect(m.at(-1)).toMatchObject({ role: 'tool', tool_call_id: 'c_badjson' });
    expect(m.at(-1)!.content).toMatch(/^Error: invalid tool call/);
    const m6 = msgs(server.requests[5]!);
    expect(m6.at(-1)).toMatchObject({ role: 'user' });
    expect(m6.at(-1)!.content).toMatch(/^Error: invalid tool call: your reply contained no tool call/);
  });

  it('summarizes a long context; later prompts hold the summary, the latest steps and every guidance', async () => {
    let n = 0;
    const holder: { r?: Rollout } = {};
    const guidanceTexts = ['GUIDE-A keep the seed at 42', 'GUIDE-B log every epoch', 'GUIDE-C prefer small batches'];
    server = await startFakeLlm(async (req): Promise<FakeReply> => {
      if (isSummaryRequest(req)) return text(`<state_snapshot>SUMMARY-${n}</state_snapshot>`);
      n++;
      if (n === 1 || n === 3 || n === 6) await holder.r!.queueGuidance(guidanceTexts[[1, 3, 6].indexOf(n)]!, 'ann');
      if (n >= 10) return tool('finish', { message: 'long run done' });
      return tool('think', { thought: `THOUGHT-${n} ${'padding '.repeat(60)}` });
    });
    const r = (holder.r = rollout({ summarizeAtTokens: 1_500, keepRecentSteps: 2, systemPrompt: 'You are a test agent. Follow <real_user> turns.' }));
    expect(await r.run()).toBe('finished');

    const summaries = events(env.session, 'summary.created');
    expect(summaries.length).toBeGreaterThanOrEqual(1);
    const steps = events(env.session, 'step.started').map((e) => e.stepId);
    const first = summaries[0]!;
    expect(first.coveredStepIds[0]).toBe(steps[0]);
    expect(first.coveredStepIds).not.toContain(first.stepId);
    expect(first.summary).toMatch(/^<state_snapshot>SUMMARY-\d+<\/state_snapshot>$/);
    // coverage only grows
    for (let i = 1; i < summaries.length; i++) expect(summaries[i]!.coveredStepIds.slice(0, summaries[i - 1]!.coveredStepIds.length)).toEqual(summaries[i - 1]!.coveredStepIds);

    const modelRequests = server.requests.filter((q) => !isSummaryRequest(q));
    const summaryRequests = server.requests.filter(isSummaryRequest);
    expect(summaryRequests.length).toBe(summaries.length);
    expect(summaryRequests[0]!.body.tool_choice).toBe('none');
    const last = msgs(modelRequests.at(-1)!);
    const lastText = JSON.stringify(last);
    const lastSummary = summaries.at(-1)!;
    expect(lastText).toContain(lastSummary.summary);
    expect(lastText).not.toContain('THOUGHT-1 ');
    for (const g of guidanceTexts) expect(lastText).toContain(`<real_user>${g}</real_user>`);
    // The latest steps are verbatim.
    expect(lastText).toContain('THOUGHT-9 ');
    expect(lastText).toContain('THOUGHT-8 ');
    expect(last[2]!.role).toBe('assistant');
    expect(last[2]!.content).toMatch(/summarized them/);
    expect(last.length).toBeLessThan(2 + 2 + 3 * 4);
    // Every guidance was delivered exactly once.
    expect(events(env.session, 'guidance.delivered')).toHaveLength(3);
  });

  it('a resume or a stop asked while the pause is still being written acts on it, not on the run that paused', async () => {
    // A slow disk: the 'paused' event is held back while the rollout already reads paused.
    const append = env.session.append.bind(env.session);
    let release: (() => void) | null = null;
    env.session.append = (async (body: Parameters<SessionLog['append']>[0]) => {
      if (body.type === 'rollout.state' && body.state === 'paused') await new Promise<void>((r) => (release = r));
      return append(body);
    }) as SessionLog['append'];
    const held = async (r: Rollout): Promise<void> => {
      for (const end = Date.now() + 20_000; !(r.state === 'paused' && release); ) {
        if (Date.now() > end) throw new Error('timed out waiting for the pause to be written');
        await new Promise((res) => setTimeout(res, 10));
      }
    };
    let failing = true;
    server = await startFakeLlm((): FakeReply => (failing ? status(500, { message: 'upstream down' }) : tool('finish', { message: 'ok' })));
    const r = rollout();
    const first = r.run();
    await held(r);
    failing = false;
    const resumed = r.resume();
    release!();
    release = null;
    expect(await first).toBe('paused');
    expect(await resumed).toBe('finished');
    expect(events(env.session, 'rollout.state').map((e) => e.state)).toEqual(['paused', 'running', 'finished']);

    failing = true;
    const r2 = rollout();
    const second = r2.run();
    await held(r2);
    const stopped = r2.stop();
    release!();
    expect(await second).toBe('paused');
    await stopped;
    expect(r2.state).toBe('stopped');
    expect(events(env.session, 'rollout.state').at(-1)).toMatchObject({ state: 'stopped', reason: 'stopped by the user' });
  });

  it('stops at maxSteps, mentions human terminal input, honours pause()', async () => {
    server = await startFakeLlm([], { fallback: tool('run_command', { session_id: 'main', command: 'echo step' }) });
    let typed = false;
    const r = rollout({
      maxSteps: 3,
      hooks: {
        afterStep: async () => {
          if (typed) return;
          typed = true;
          env.pty.get(env.session.id, 'main').write('echo typed-by-human\r', 'human');
          await new Promise((res) => setTimeout(res, 300));
        },
      },
    });
    expect(await r.run()).toBe('stopped');
    expect(events(env.session, 'rollout.state').at(-1)).toMatchObject({ state: 'stopped', reason: 'max steps reached (3)' });
    const results = events(env.session, 'action.result');
    expect(results).toHaveLength(3);
    expect(results[0]!.observation).not.toContain('human');
    const note = JSON.parse(results[1]!.observation).note as string;
    expect(note).toMatch(/A human typed directly into the terminal.*session main: "echo typed-by-human\\r"/);
    expect(JSON.parse(results[2]!.observation).note).toBeUndefined();

    // pause() while a request is in flight: cancelled, and redone on resume.
    server.push({ ...tool('think', { thought: 'slow' }), delayMs: 1_000 }, tool('finish', {}));
    const r2 = rollout({ maxSteps: 5, parentStepId: undefined });
    const p = r2.run();
    const count = server.requests.length;
    await server.waitForRequests(count + 1);
    r2.pause();
    expect(await p).toBe('paused');
    const pausedStep = events(env.session, 'step.started').at(-1)!.stepId;
    expect(events(env.session, 'model.response').some((e) => e.stepId === pausedStep)).toBe(false);
    expect(events(env.session, 'rollout.state').at(-1)).toMatchObject({ state: 'paused', reason: 'paused by the user' });
    // It continued the branch from its last step.
    expect(events(env.session, 'step.started').at(-1)!.parentId).toBe(events(env.session, 'step.finished').at(-1)!.stepId);
    expect(await r2.resume()).toBe('finished');
    expect(events(env.session, 'model.response').filter((e) => e.stepId === pausedStep)).toHaveLength(1);
  });

  it('stop() ends a running rollout, cutting a sleep short', async () => {
    server = await startFakeLlm([tool('sleep', { sleep_time: 60 })], { fallback: tool('think', { thought: 'x' }) });
    const r = rollout();
    const p = r.run();
    await server.waitForRequests(1);
    await new Promise((res) => setTimeout(res, 300));
    const t0 = Date.now();
    await r.stop();
    expect(await p).toBe('stopped');
    expect(Date.now() - t0).toBeLessThan(3_000);
    const res = events(env.session, 'action.result')[0]!;
    expect(JSON.parse(res.observation).message).toMatch(/interrupted/);
    expect(events(env.session, 'step.finished')).toHaveLength(1);
    expect(events(env.session, 'rollout.state').at(-1)).toMatchObject({ state: 'stopped', reason: 'stopped by the user' });
  });

  it('works in text-action mode for models without tool calling', async () => {
    server = await startFakeLlm([
      text('Create it.\n```bash\necho hi > t.txt && cat t.txt\n```'),
      text('Done.\n```json\n{"name": "finish", "arguments": {"message": "ok"}}\n```'),
    ]);
    const r = rollout({ endpoint: { profile: 'fake', baseURL: server.url, apiKey: KEY, model: 'm', toolMode: 'text' } });
    expect(await r.run()).toBe('finished');
    expect(server.requests[0]!.body.tools).toBeUndefined();
    const m = msgs(server.requests[1]!);
    expect(m.map((x) => x.role)).toEqual(['system', 'user', 'assistant', 'user']);
    expect(m[3]!.content).toMatch(/^Observation \(run_command\):\n/);
    expect(m[3]!.content).toContain('"output":"hi"');
    expect(events(env.session, 'model.response')[0]!.toolCalls[0]!.name).toBe('run_command');
  });

  it('replays a recorded trajectory in fresh terminals without a model', async () => {
    server = await startFakeLlm([
      tool('run_command', { session_id: 'work', command: 'echo replayed > r.txt' }),
      tool('run_command', { session_id: 'work', command: 'cat r.txt' }),
      tool('finish', { message: 'fin' }),
    ]);
    const first = rollout({ hooks: { afterStep: async () => undefined } });
    const g = await first.queueGuidance('Use r.txt', 'ann');
    expect(await first.run()).toBe('finished');
    expect(events(env.session, 'guidance.delivered')[0]).toMatchObject({ guidanceId: g, stepId: null });
    await server.close();
    server = null;

    const source: SessionEvent[] = [...env.session.events];
    const target = await makeEnv();
    extra.push(target);
    const hooked: string[] = [];
    const replay = new Rollout({
      session: target.session, pty: target.pty, endpoint: null, policy: 'replay', task: 'replay', maxSteps: 10, replaySource: source, cwd: target.cwd,
      hooks: { afterStep: async (id) => void hooked.push(id) },
    });
    expect(await replay.run()).toBe('finished');
    expect(await readFile(join(target.cwd, 'r.txt'), 'utf8')).toBe('replayed\n');
    const res = target.session.events.filter((e): e is EventOf<'action.result'> => e.type === 'action.result');
    expect(JSON.parse(res[1]!.observation).output).toBe('replayed');
    const steps = target.session.events.filter((e): e is EventOf<'step.started'> => e.type === 'step.started');
    expect(hooked).toEqual(steps.map((s) => s.stepId));
    expect(target.session.events.find((e) => e.type === 'rollout.started')).toMatchObject({ policy: 'replay', endpoint: null });
    const t = foldTrajectory(target.session.events);
    expect([...t.guidance.values()].map((x) => [x.text, x.delivered?.stepId])).toEqual([['Use r.txt', null]]);
    expect(target.session.events.some((e) => e.type === 'terminal.started' && e.terminalId === 'work')).toBe(true);

    // Replaying into the same session maps the names onto fresh terminals.
    const again = new Rollout({ session: env.session, pty: env.pty, endpoint: null, policy: 'replay', task: 'again', maxSteps: 10, replaySource: source, cwd: env.cwd, branchId: 'replay-1', parentStepId: null });
    expect(await again.run()).toBe('finished');
    expect(env.session.events.some((e) => e.type === 'terminal.started' && e.terminalId === 'work-r1')).toBe(true);
  });
});
