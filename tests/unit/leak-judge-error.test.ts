// A judge endpoint's error can echo the request: the key it was sent (in the
// Authorization header, in the URL) or a prompt. The error the caller gets (the
// window's judge.run answer, the CLI's stderr line from runJudge) and what is logged
// must hold none of it.
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestOnce } from '../fixtures/core-client';
import type { SessionEvent } from '../../shared/events';
import { ApolloCore } from '../../electron/core/app';
import { runJudge } from '../../electron/core/handlers/labels';
import { judgeBranch, judgeErrorText } from '../../electron/core/labels/judge';
import { foldTrajectory } from '../../shared/trajectory';
import { ok, run, SessionBuilder } from '../fixtures/sessions';
import { startFakeLlm, status, type FakeLlm, type FakeRequest } from '../fixtures/fake-llm-server';

// A configured key that no pattern recognises: only the configured secrets catch it.
const KEY = ['judge', '-key-', 'Zq81xwPlainValue'].join('');
const OTHER = ['ghp_', 'EchoedTok3nFromTheProxy0123456789ab'].join('');

let root: string;
let home: string;
let core: ApolloCore;
let llm: FakeLlm;

/** An endpoint that refuses the request and quotes it back, as some proxies do. */
function echoError(req: FakeRequest) {
  const user = (req.body.messages as Array<{ role: string; content: string }>).find((m) => m.role === 'user')!.content;
  return status(401, { message: `invalid credentials: Authorization: ${String(req.headers.authorization)}; upstream said token=${OTHER}; key ${KEY} rejected for prompt ${user.slice(0, 80)}` });
}

function session(): SessionEvent[] {
  const b = new SessionBuilder({ name: 'Judge leak' });
  b.rollout({ task: 'List the files.' });
  b.step({ calls: [run('ls')], results: [ok()] });
  b.step({ calls: [{ name: 'finish', args: { summary: 'done' } }], results: [ok()] });
  return b.events;
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'apollo-leak-judge-'));
  home = join(root, 'home');
  const dir = join(home, 'sessions', 'J1');
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'events.jsonl'), session().map((e) => `${JSON.stringify(e)}\n`).join(''));
  llm = await startFakeLlm(echoError);
  core = await ApolloCore.open({ home, resourcesDir: resolve(__dirname, '../../resources'), host: 'web' });
  await core.profiles.save({ name: 'judge', baseUrl: llm.url, model: 'judge-model' });
  await core.profiles.setKey('judge', KEY);
});

afterAll(async () => {
  await core?.close();
  await llm?.close();
  await rm(root, { recursive: true, force: true });
});

const call = (cmd: string, args: unknown) => requestOnce(core, cmd, args);

describe('judge errors are redacted', () => {
  it('judge.run (the window) and runJudge (the CLI) report the endpoint error without the key', async () => {
    const r = await call('judge.run', { sessionId: 'J1', branchId: 'main', profile: 'judge' });
    expect(r.ok).toBe(true);
    const error = (r.result as { error?: string }).error!;
    // The endpoint did answer with the key: the test would pass vacuously otherwise.
    expect(llm.requests.at(-1)!.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(error).toMatch(/HTTP 401/);
    expect(error).toContain('[REDACTED:');
    expect(error).not.toContain(KEY);
    expect(error).not.toContain(OTHER);

    const ep = await core.profiles.resolve('judge');
    const cli = await runJudge(core, { sessionId: 'J1', branchId: 'main', endpoint: { baseURL: ep.baseUrl, apiKey: ep.apiKey, model: ep.model } });
    expect(cli.error).toBeDefined();
    expect(cli.error).not.toContain(KEY);
    expect(cli.error).not.toContain(OTHER);

    // Nothing the runs logged holds either.
    const log = await readFile(join(home, 'sessions', 'J1', 'events.jsonl'), 'utf8');
    expect(log).not.toContain(KEY);
    expect(log).not.toContain(OTHER);
  });

  it('judgeBranch redacts its own error with the endpoint key even when no secrets are given', async () => {
    const traj = foldTrajectory(session());
    const r = await judgeBranch({ baseURL: llm.url, apiKey: KEY, model: 'm', traj, branchId: 'main', maxRetries: 0 });
    expect(r.error?.message).toMatch(/HTTP 401/);
    expect(r.error?.message).not.toContain(KEY);
    expect(r.error?.message).not.toContain(OTHER);
    expect(r.remaining.length).toBeGreaterThan(0);
  });

  it('judgeErrorText takes the credentials of the endpoint URL too', () => {
    const pw = ['pw', '-Qm3', 'plainpass'].join('');
    const qk = ['qk', 'Plain', 'Value77'].join('');
    const url = `https://judge:${pw}@llm.example/v1?api-key=${qk}`;
    const t = judgeErrorText(`fetch failed for https://llm.example/v1?api-key=${qk} (auth ${pw})`, { baseURL: url });
    expect(t).not.toContain(pw);
    expect(t).not.toContain(qk);
    expect(t).toContain('fetch failed');
  });
});
