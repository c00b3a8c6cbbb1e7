// The judge is shown each action in the context the model answered: the tail of the
// request the scripted endpoint received for that step (summaries included), not a
// conversation rebuilt from the trajectory.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { foldTrajectory, branchPath } from '../../shared/trajectory';
import { PtyHost } from '../../electron/core/pty/pty-host';
import { Workspace, type SessionLog } from '../../electron/core/store/workspace';
import { Rollout } from '../../electron/core/rollout/engine';
import { judgeBranch } from '../../electron/core/labels/judge';
import { startFakeLlm, text, tool, type FakeLlm, type FakeReply, type FakeRequest } from '../fixtures/fake-llm-server';

let home: string;
let cwd: string;
let ws: Workspace;
let session: SessionLog;
let pty: PtyHost;
const servers: FakeLlm[] = [];

beforeEach(async () => {
  home = await mkdtemp(join(tmpdir(), 'apollo-judge-ctx-'));
  cwd = await mkdtemp(join(tmpdir(), 'apollo-judge-ctx-cwd-'));
  ws = await Workspace.open(home);
  session = await ws.create({ cwd, name: 'judge context' });
  pty = new PtyHost({
    resourcesDir: resolve('resources'),
    events: { data: () => undefined, changed: () => undefined },
    env: { ...process.env, SHELL: '/bin/bash', HISTFILE: '/dev/null' },
  });
});
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
  await pty.dispose();
  await ws.close();
  await rm(home, { recursive: true, force: true });
  await rm(cwd, { recursive: true, force: true });
});

const isSummary = (q: FakeRequest) => JSON.stringify(q.body.messages.at(-1) ?? {}).includes('state_snapshot');
type Msg = { role: string; content?: string | null; tool_calls?: Array<{ function: { name: string; arguments: string } }> };

describe('LLM judge context', () => {
  it('shows each action with the tail of the request the model answered, summaries included', async () => {
    let n = 0;
    const agent = await startFakeLlm(async (req): Promise<FakeReply> => {
      if (isSummary(req)) return text(`<state_snapshot>SNAPSHOT-${n}</state_snapshot>`);
      n++;
      if (n >= 12) return tool('finish', { message: 'done' });
      return tool('think', { thought: `T${n} ${'pad '.repeat(300)}` });
    });
    servers.push(agent);
    const r = new Rollout({
      session, pty,
      endpoint: { profile: 'fake', baseURL: agent.url, apiKey: 'sk-test-judge', model: 'fake-model' },
      policy: 'model', task: 'Think a lot.', maxSteps: 30, cwd, systemPrompt: 'Test agent.',
      summarizeAtTokens: 4_000, keepRecentSteps: 2,
      llm: { retry: { baseDelayMs: 5, maxDelayMs: 20, maxRetries: 3, jitter: 0 }, timeoutMs: 5_000, idleTimeoutMs: 2_000 },
      tools: { commandTimeoutMs: 10_000, settleMs: 300 },
    });
    expect(await r.run()).toBe('finished');
    const stepRequests = agent.requests.filter((q) => !isSummary(q));
    const t = foldTrajectory(session.events);
    const path = branchPath(t, 'main').filter((s) => s.response);
    expect(path).toHaveLength(stepRequests.length);

    const judge = await startFakeLlm((req) => {
      const user = String((req.body.messages as Msg[]).find((m) => m.role === 'user')!.content);
      const ids = [...user.matchAll(/^### Action (\S+)$/gm)].map((m) => m[1]!);
      return text(JSON.stringify({ results: ids.map((stepId) => ({ stepId, label: 'keep', tags: [], rationale: 'ok' })) }));
    });
    servers.push(judge);
    const judgeLate = async (contextTurns: number): Promise<string> => {
      const before = judge.requests.length;
      const res = await judgeBranch({ traj: t, branchId: 'main', baseURL: judge.url, apiKey: 'k', model: 'judge', batchSize: 1, contextTurns, maxChars: 100_000 });
      expect(res.error).toBeUndefined();
      expect(res.labels).toHaveLength(path.length);
      return String((judge.requests[before + path.length - 1]!.body.messages as Msg[])[1]!.content);
    };

    // A late step's model context held a summary instead of the early steps: the judge sees the same.
    const late = path.length - 1;
    const wire = stepRequests[late]!.body.messages as Msg[];
    const shownText = (m: Msg) => m.tool_calls?.[0]?.function.arguments ?? String(m.content);
    expect(JSON.stringify(wire)).toContain('SNAPSHOT-');
    expect(JSON.stringify(wire)).not.toContain('T1 pad');
    const whole = await judgeLate(100);
    expect(whole).toContain(`### Action ${path[late]!.id}`);
    expect(whole).toContain('as the model saw it');
    expect(whole).toContain('SNAPSHOT-');
    expect(whole).not.toContain('T1 pad');
    for (const m of wire.slice(2)) expect(whole).toContain(shownText(m));

    // With a window of 3, exactly the request's last 3 messages are shown.
    const windowed = await judgeLate(3);
    for (const m of wire.slice(-3)) expect(windowed).toContain(shownText(m));
    expect(windowed.includes(shownText(wire.at(-4)!))).toBe(false);
  });
});
