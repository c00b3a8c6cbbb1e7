import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { SessionEvent } from '../../shared/events';
import { effectiveLabel, foldTrajectory } from '../../shared/trajectory';
import { judgeBranch, parseVerdicts, type JudgeLabel } from '../../electron/core/labels/judge';
import { realisticSession } from '../fixtures/sessions';

// A tiny OpenAI-compatible endpoint: masks the actions whose step id is in `maskIds`,
// keeps the others, and can be told to fail or to answer garbage.
interface Fake {
  maskIds: Set<string>;
  failAfter: number | null;
  garbageOnce: boolean;
  requests: Array<{ auth: string | undefined; body: { model: string; messages: Array<{ role: string; content: string }> } }>;
}
const fake: Fake = { maskIds: new Set(), failAfter: null, garbageOnce: false, requests: [] };
let server: Server;
let baseURL: string;
const KEY = 'test-judge-key-123';

beforeAll(async () => {
  server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString('utf8')));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/chat/completions') {
        res.writeHead(404).end();
        return;
      }
      const body = JSON.parse(raw) as Fake['requests'][number]['body'];
      fake.requests.push({ auth: req.headers.authorization, body });
      if (fake.failAfter !== null && fake.requests.length > fake.failAfter) {
        res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: 'boom' } }));
        return;
      }
      const user = body.messages.find((m) => m.role === 'user')!.content;
      const ids = [...user.matchAll(/^### Action (\S+)$/gm)].map((m) => m[1]!);
      let content: string;
      if (fake.garbageOnce) {
        fake.garbageOnce = false;
        content = 'I think they are all fine.';
      } else {
        const results = ids.map((id) => (fake.maskIds.has(id)
          ? { stepId: id, label: 'mask', tags: ['redundant', 'bogus-tag'], rationale: `step ${id} repeats earlier work` }
          : { stepId: id, label: 'keep', tags: [], rationale: `step ${id} is useful` }));
        content = `\`\`\`json\n${JSON.stringify({ results })}\n\`\`\``;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({
        id: 'chatcmpl-1', object: 'chat.completion', created: 0, model: body.model,
        choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant', content } }],
        usage: { prompt_tokens: 100, completion_tokens: 20, total_tokens: 120 },
      }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  baseURL = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
});

afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
});

beforeEach(() => {
  fake.maskIds = new Set();
  fake.failAfter = null;
  fake.garbageOnce = false;
  fake.requests = [];
});

function append(events: SessionEvent[], labels: JudgeLabel[]): SessionEvent[] {
  let seq = events.at(-1)!.seq;
  let ts = events.at(-1)!.ts;
  return [...events, ...labels.map((l) => ({ ...l, seq: ++seq, ts: ++ts }) as SessionEvent)];
}

const HF = ['hf', '_', 'JudgeLeak0123456789abcdefXYZabcdef'].join('');
const CONFIGURED = ['configured-', 'judge-', 'secret-77'].join('');

describe('LLM judge', () => {
  const r = realisticSession({ plant: { output: HF, reasoning: CONFIGURED } });

  it('labels actions in batches over real HTTP and never overrides an annotator label', async () => {
    fake.maskIds = new Set([r.s.out2, r.s.trainFail]);
    const t = foldTrajectory(r.events);
    const progress: Array<[number, number]> = [];
    const res = await judgeBranch({
      traj: t, branchId: 'main', baseURL, apiKey: KEY, model: 'judge-model', batchSize: 3, secrets: [CONFIGURED],
      onProgress: (d, n) => progress.push([d, n]),
    });
    expect(res.error).toBeUndefined();
    // 9 actions on main: trainFail and tune are annotator-labelled, evaluate already has a judge label
    expect(res.skipped).toEqual([
      { stepId: r.s.trainFail, reason: 'annotated' }, { stepId: r.s.tune, reason: 'annotated' }, { stepId: r.s.evaluate, reason: 'judged' },
    ]);
    expect(res.labels.map((l) => l.stepId)).toEqual([r.s.plan, r.s.install, r.s.trainRetry, r.s.out1, r.s.out2, r.s.malformed]);
    expect(res.requests).toBe(2);
    expect(fake.requests).toHaveLength(2);
    expect(fake.requests[0]!.auth).toBe(`Bearer ${KEY}`);
    expect(fake.requests[0]!.body.model).toBe('judge-model');
    const out2 = res.labels.find((l) => l.stepId === r.s.out2)!;
    expect(out2).toEqual({ type: 'label.set', stepId: r.s.out2, label: 'mask', tags: ['redundant'], note: '', source: 'judge', author: 'judge:judge-model', rationale: `step ${r.s.out2} repeats earlier work` });
    expect(res.usage).toEqual({ promptTokens: 200, completionTokens: 40, totalTokens: 240 });
    expect(progress.at(-1)).toEqual([6, 6]);
    // the prompt shows context, the action, its observation and later guidance
    const prompt = fake.requests.map((q) => q.body.messages[1]!.content).join('\n');
    expect(prompt).toContain('call get_session_output({"session_id":"main","start_lines":30})');
    expect(prompt).toContain('[tool result: run_command]');
    expect(prompt).toContain('HF_TOKEN=[REDACTED:hf-token]');
    expect(prompt).toContain('[REDACTED:configured-secret]');
    expect(prompt).not.toContain(HF);
    expect(prompt).not.toContain(CONFIGURED);

    // applied: the annotator's mask on trainFail stays in force even though the fake would mask it
    const t2 = foldTrajectory(append(r.events, res.labels));
    expect(effectiveLabel(t2.steps.get(r.s.trainFail)!)).toMatchObject({ source: 'annotator' });
    expect(effectiveLabel(t2.steps.get(r.s.out2)!)).toMatchObject({ source: 'judge', label: 'mask' });
    // resumable: a second run has nothing left to do
    const again = await judgeBranch({ traj: t2, branchId: 'main', baseURL, apiKey: KEY, model: 'judge-model' });
    expect(again.labels).toEqual([]);
    expect(again.requests).toBe(0);
  });

  it('with skipAnnotated off it still cannot override the annotator', async () => {
    fake.maskIds = new Set([r.s.tune]);
    const t = foldTrajectory(r.events);
    const res = await judgeBranch({ traj: t, branchId: 'main', baseURL, apiKey: KEY, model: 'm', skipAnnotated: false, stepIds: [r.s.tune, r.s.trainFail] });
    expect(res.labels.map((l) => [l.stepId, l.label])).toEqual([[r.s.trainFail, 'keep'], [r.s.tune, 'mask']]);
    const t2 = foldTrajectory(append(r.events, res.labels));
    expect(effectiveLabel(t2.steps.get(r.s.trainFail)!)).toMatchObject({ source: 'annotator', label: 'mask' });
  });

  it('returns what it has plus the error when the endpoint fails, and resumes', async () => {
    fake.failAfter = 1;
    const t = foldTrajectory(r.events);
    const first = await judgeBranch({ traj: t, branchId: 'alt', baseURL, apiKey: KEY, model: 'm', batchSize: 2, maxRetries: 0 });
    expect(first.error).toMatchObject({ code: 'UNAVAILABLE' });
    expect(first.error!.message).toMatch(/HTTP 500/);
    expect(first.labels).toHaveLength(2);
    expect(first.remaining).toEqual([r.s.trainRetry, r.s.alt1, r.s.alt2]);
    fake.failAfter = null;
    const t2 = foldTrajectory(append(r.events, first.labels));
    const second = await judgeBranch({ traj: t2, branchId: 'alt', baseURL, apiKey: KEY, model: 'm', batchSize: 2, maxRetries: 0 });
    expect(second.error).toBeUndefined();
    expect(second.labels.map((l) => l.stepId)).toEqual(first.remaining);
  });

  it('retries an unusable answer, and stops cleanly when aborted', async () => {
    fake.garbageOnce = true;
    const t = foldTrajectory(r.events);
    const res = await judgeBranch({ traj: t, branchId: 'alt', baseURL, apiKey: KEY, model: 'm', stepIds: [r.s.alt1] });
    expect(res.requests).toBe(2);
    expect(res.labels).toHaveLength(1);
    const ctl = new AbortController();
    ctl.abort();
    const aborted = await judgeBranch({ traj: t, branchId: 'alt', baseURL, apiKey: KEY, model: 'm', signal: ctl.signal });
    expect(aborted.error).toMatchObject({ code: 'CANCELLED' });
    expect(aborted.labels).toEqual([]);
  });

  it('parses answers leniently but strictly validates labels', () => {
    const wanted = new Set(['a', 'b', 'c']);
    const v = parseVerdicts('Sure! {"results":[{"stepId":"a","label":"MASK","tags":["error","x"],"rationale":"r"},{"stepId":"b","label":"maybe"},{"stepId":"zz","label":"keep"}]} hope this helps', wanted);
    expect([...v.entries()]).toEqual([['a', { label: 'mask', tags: ['error'], rationale: 'r' }]]);
    expect(parseVerdicts('[{"step_id":"c","label":"keep"}]', wanted).get('c')).toEqual({ label: 'keep', tags: [], rationale: '' });
    expect(parseVerdicts('no json here', wanted).size).toBe(0);
  });
});
