// `apollo branch` and `apollo rewind` end to end: the built CLI (out/main/cli.js,
// build with `npx electron-vite build`) on a session recorded in-process.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SessionEvent } from '../../shared/events';
import { foldTrajectory, type Trajectory } from '../../shared/trajectory';
import { ApolloCore } from '../../electron/core/app';
import { startFakeLlm, status, tool, type FakeLlm } from '../fixtures/fake-llm-server';

const ROOT = resolve(__dirname, '../..');
const CLI = join(ROOT, 'out/main/cli.js');

let root: string;
let home: string;
let cwd: string;
let sessionId: string;
let stepIds: string[];
let childEnv: NodeJS.ProcessEnv;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], timeoutMs = 60_000): Promise<Run> {
  return new Promise((res, rej) => {
    const p = spawn(process.execPath, [CLI, ...args, '--home', home], { cwd: ROOT, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      p.kill('SIGKILL');
      rej(new Error(`apollo ${args.join(' ')} timed out\n${stdout}\n${stderr}`));
    }, timeoutMs);
    p.on('exit', (code) => {
      clearTimeout(timer);
      res({ code, stdout, stderr });
    });
  });
}

async function trajectory(): Promise<{ events: SessionEvent[]; t: Trajectory }> {
  const text = await readFile(join(home, 'sessions', sessionId, 'events.jsonl'), 'utf8');
  const events = text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as SessionEvent);
  return { events, t: foldTrajectory(events) };
}

const branchIdOf = (r: Run): string => /^branch (\S+)$/m.exec(r.stdout)?.[1] ?? '';

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error('out/main/cli.js is missing: build it first with `npx electron-vite build`.');
  root = await mkdtemp(join(tmpdir(), 'apollo-annotate-cli-'));
  const userHome = join(root, 'userhome');
  await mkdir(userHome);
  await writeFile(join(userHome, '.bashrc'), 'PS1="$ "\n');
  childEnv = { ...process.env, HOME: userHome, SHELL: '/bin/bash', HISTFILE: '/dev/null', OPENAI_API_KEY: 'sk-cli-test' };
  Object.assign(process.env, { HOME: userHome, SHELL: '/bin/bash', HISTFILE: '/dev/null' });
  home = join(root, 'ws');
  cwd = join(root, 'work');
  await mkdir(cwd);

  const core = await ApolloCore.open({ home, resourcesDir: resolve('resources'), host: 'web' });
  const server = await startFakeLlm([
    tool('create_file', { filename: 'a.txt', content: 'one\n' }),
    tool('run_command', { session_id: 'main', command: 'echo two >> a.txt && mkdir -p d && echo x > d/x.txt' }),
    tool('finish', { message: 'ok' }),
  ]);
  try {
    const session = await core.ws.create({ name: 'cli', cwd });
    const { done } = core.rollouts.start({
      session, task: 'Write a.txt.', policy: 'model', maxSteps: 10, cwd,
      endpoint: { profile: 'fake', baseUrl: server.url, model: 'm', apiKey: 'k', toolMode: 'tools' },
      tuning: { tools: { commandTimeoutMs: 10_000, settleMs: 300 } },
    });
    expect(await done).toBe('finished');
    sessionId = session.id;
    stepIds = session.events.filter((e) => e.type === 'step.started').map((e) => (e as { stepId: string }).stepId);
  } finally {
    await server.close();
    await core.close();
  }
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('apollo branch / apollo rewind (built CLI)', () => {
  it('records a hand-written branch and runs its action (step by number)', async () => {
    const action = JSON.stringify({ name: 'run_command', arguments: { session_id: 'main', command: 'echo by-hand > hand.txt && cat a.txt' } });
    const r = await cli(['branch', sessionId, '--from', '1', '--action', action, '--name', 'hand']);
    expect(r.stderr).toBe('');
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    const branchId = branchIdOf(r);
    expect(branchId).toMatch(/^b-/);
    expect(r.stdout).toContain('hand-written run_command');
    // It ran on step 1's checkpoint: a.txt as step 1 left it, not as step 2 did.
    expect(r.stdout).toMatch(/on the checkpoint of step 1 \([0-9a-f]{12}\)/);
    expect(r.stdout).toContain('one');
    expect(r.stdout).not.toContain('two');
    expect(await readFile(join(cwd, 'hand.txt'), 'utf8')).toBe('by-hand\n');
    expect(existsSync(join(cwd, 'd'))).toBe(false);
    const { t } = await trajectory();
    expect(t.branches.get(branchId)).toMatchObject({ name: 'hand', fromStepId: stepIds[0], reason: 'branch' });
    const step = [...t.steps.values()].find((s) => s.branchId === branchId)!;
    expect(step).toMatchObject({ parentId: stepIds[0], depth: 2 });
    expect(step.response).toMatchObject({ humanAuthored: true });
    expect(step.results[0]).toMatchObject({ name: 'run_command', isError: false });
    expect(step.finishedAt).toBeDefined();
    expect(step.checkpoint).toBeDefined();
    expect(step.world).toEqual({ kind: 'checkpoint', stepId: stepIds[0], commit: t.steps.get(stepIds[0]!)!.checkpoint!.commit });
  });

  it('continues a branch with the agent headless (step by id prefix), guidance first', async () => {
    const server: FakeLlm = await startFakeLlm([tool('finish', { message: 'wrapped up' })]);
    try {
      const r = await cli(['branch', sessionId, '--from', stepIds[1]!.slice(0, 8), '--guidance', 'Wrap up now.', '--base-url', server.url, '--model', 'm', '--max-steps', '3']);
      expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
      expect(r.stdout).toMatch(/finished after 1 steps/);
      const branchId = branchIdOf(r);
      const { t } = await trajectory();
      const own = [...t.steps.values()].filter((s) => s.branchId === branchId);
      expect(own).toHaveLength(1);
      expect(own[0]!.parentId).toBe(stepIds[1]);
      // The hand-written branch ran last (on step 1's files): the agent acts in those, not step 2's, and says so.
      expect(r.stdout).toMatch(/the agent continues in the current state: Branched from step 2, but the files and shells were as they were after step 2 of branch "hand"/);
      expect(own[0]!.world).toMatchObject({ kind: 'current' });
      const msgs = server.requests[0]!.body.messages as { role: string; content: string }[];
      expect(msgs.at(-1)!.content).toContain('Wrap up now.');
      expect(server.requests[0]!.headers.authorization).toBe('Bearer sk-cli-test');
    } finally {
      await server.close();
    }
  });

  it('rewinds the files to a step and records the branch', async () => {
    const r = await cli(['rewind', sessionId, '--to', '1']);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toContain('restored');
    expect(await readFile(join(cwd, 'a.txt'), 'utf8')).toBe('one\n');
    expect(existsSync(join(cwd, 'd'))).toBe(false);
    expect(existsSync(join(cwd, 'hand.txt'))).toBe(false);
    const { t } = await trajectory();
    expect(t.branches.get(branchIdOf(r))).toMatchObject({ reason: 'rewind', fromStepId: stepIds[0] });
  });

  it('exits like apollo rollout: paused on an endpoint error (4), errors (1), usage (2)', async () => {
    const server = await startFakeLlm([], { fallback: status(400, { message: 'bad request' }) });
    try {
      const r = await cli(['rewind', sessionId, '--to', '2', '--base-url', server.url, '--model', 'm']);
      expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(4);
      expect(r.stderr).toContain('rollout paused');
      expect(await readFile(join(cwd, 'a.txt'), 'utf8')).toBe('one\ntwo\n');
    } finally {
      await server.close();
    }
    const missing = await cli(['rewind', sessionId, '--to', '99']);
    expect(missing.code, `${missing.stdout}\n${missing.stderr}`).toBe(1);
    expect(missing.stderr).toMatch(/no step 99/);
    const usage = await cli(['branch', sessionId]);
    expect(usage.code, `${usage.stdout}\n${usage.stderr}`).toBe(2);
    expect(usage.stderr).toContain('--from STEP');
    const badAction = await cli(['branch', sessionId, '--from', '1', '--action', '{not json']);
    expect(badAction.code, `${badAction.stdout}\n${badAction.stderr}`).toBe(2);
    const unknownTool = await cli(['branch', sessionId, '--from', '1', '--action', '{"name":"nope","arguments":{}}']);
    expect(unknownTool.code, `${unknownTool.stdout}\n${unknownTool.stderr}`).toBe(1);
    expect(unknownTool.stderr).toContain('unknown tool');
  });

  it('refuses a hand-written action without a checkpoint to run on (exit 1, nothing recorded); --current-state runs it, marked', async () => {
    const action = JSON.stringify({ name: 'run_command', arguments: { session_id: 'main', command: 'ls' } });
    const before = await readFile(join(home, 'sessions', sessionId, 'events.jsonl'));
    const refused = await cli(['branch', sessionId, '--from', '0', '--action', action]);
    expect(refused.code, `${refused.stdout}\n${refused.stderr}`).toBe(1);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toMatch(/no checkpoint of the start.*Nothing was recorded\. Pass --current-state to run it in the working directory as it is now/);
    expect((await readFile(join(home, 'sessions', sessionId, 'events.jsonl'))).equals(before)).toBe(true);

    const alone = await cli(['branch', sessionId, '--from', '1', '--current-state']);
    expect(alone.code, `${alone.stdout}\n${alone.stderr}`).toBe(2);
    expect(alone.stderr).toContain('--current-state goes with --action');

    await writeFile(join(cwd, 'present.txt'), 'now\n');
    const r = await cli(['branch', sessionId, '--from', '0', '--action', action, '--current-state']);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toMatch(/in the current state, not the start's: There is no checkpoint of the start/);
    expect(r.stdout).toContain('present.txt');
    const { t } = await trajectory();
    const step = [...t.steps.values()].find((s) => s.branchId === branchIdOf(r))!;
    expect(step).toMatchObject({ parentId: null, depth: 1 });
    expect(step.world).toMatchObject({ kind: 'current' });
    expect(step.response).toMatchObject({ humanAuthored: true, origin: 'hand' });
  });
});
