// Branch and rewind on a real rollout: a scripted agent works in real bash through
// node-pty, with real shadow-git checkpoints, in a working directory that is a git
// repository of its own.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventOf, SessionEvent, SessionEventType } from '../../shared/events';
import { ApolloError } from '../../shared/errors';
import { branchPath, foldTrajectory } from '../../shared/trajectory';
import { ApolloCore } from '../../electron/core/app';
import type { ResolvedEndpoint } from '../../electron/core/profiles';
import type { SessionLog } from '../../electron/core/store/workspace';
import { createBranch, rewind } from '../../electron/core/annotate/index';
import type { ChatMessage } from '../../electron/core/rollout/llm';
import { startFakeLlm, tool, type FakeLlm, type FakeReply, type FakeRequest } from '../fixtures/fake-llm-server';
import { useHermeticBash } from '../fixtures/shell-home';

const TUNING = {
  llm: { retry: { baseDelayMs: 5, maxDelayMs: 50, maxRetries: 1, jitter: 0 }, timeoutMs: 10_000, idleTimeoutMs: 5_000 },
  tools: { commandTimeoutMs: 10_000, settleMs: 300 },
};

let root: string;
let core: ApolloCore;
const servers: FakeLlm[] = [];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'apollo-annotate-'));
  // Hermetic shells: bash, a plain prompt, no inherited environment of interest.
  await useHermeticBash(root);
  core = await ApolloCore.open({ home: join(root, 'ws'), resourcesDir: resolve('resources'), host: 'web' });
  await core.ws.setSetting('annotator', 'alice');
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  await core.close();
  await rm(root, { recursive: true, force: true });
});

const endpoint = (s: FakeLlm): ResolvedEndpoint => ({ profile: 'fake', baseUrl: s.url, model: 'fake-model', apiKey: 'sk-test', toolMode: 'tools' });

async function fake(script: Parameters<typeof startFakeLlm>[0]): Promise<FakeLlm> {
  const s = await startFakeLlm(script);
  servers.push(s);
  return s;
}

function events<T extends SessionEventType>(s: SessionLog, type: T): EventOf<T>[] {
  return s.events.filter((e): e is EventOf<T> => e.type === type);
}

/** SHA-256 of every file under `dir` (relative path → hash), `.git` left out unless asked. */
async function hashTree(dir: string, opts: { withGit?: boolean } = {}): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (rel: string): Promise<void> => {
    for (const e of await readdir(join(dir, rel), { withFileTypes: true })) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      if (!opts.withGit && p === '.git') continue;
      if (e.isDirectory()) await walk(p);
      else out[p] = createHash('sha256').update(await readFile(join(dir, p))).digest('hex');
    }
  };
  await walk('');
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)));
}

const msgs = (r: FakeRequest): ChatMessage[] => r.body.messages as ChatMessage[];

/** The events that make up a branch's own history: its rollouts and its steps. */
function branchEvents(all: readonly SessionEvent[], branchId: string): string {
  const t = foldTrajectory(all);
  const stepIds = new Set(branchPath(t, branchId).map((s) => s.id));
  const rolloutIds = new Set([...t.rollouts.values()].filter((r) => r.branchId === branchId).map((r) => r.id));
  // Guidance for another branch may be delivered after a shared step: it is that branch's.
  const foreign = (e: SessionEvent) => e.type === 'guidance.delivered' && t.guidance.get(e.guidanceId)?.branchId !== branchId;
  return all
    .filter((e) => !foreign(e) && (('stepId' in e && stepIds.has(e.stepId as string)) || ('rolloutId' in e && rolloutIds.has(e.rolloutId as string))))
    .map((e) => JSON.stringify(e))
    .join('\n');
}

describe('rewind and branch on a recorded rollout (real PTY, real git)', () => {
  let session: SessionLog;
  let cwd: string;
  let gitBefore: Record<string, string>;
  /** states[i]: the files after step i + 1. */
  const states: Record<string, string>[] = [];
  let stepIds: string[] = [];

  beforeAll(async () => {
    cwd = join(root, 'repo');
    await mkdir(cwd);
    await writeFile(join(cwd, 'README.md'), '# a repository of its own\n');
    const git = (...args: string[]) => execFileSync('git', args, { cwd, env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@x', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@x' } });
    git('init', '-q', '-b', 'main');
    git('add', '-A');
    git('commit', '-q', '-m', 'init');
    gitBefore = await hashTree(join(cwd, '.git'), { withGit: true });

    const capture = (reply: FakeReply) => async () => {
      states.push(await hashTree(cwd));
      return reply;
    };
    const server = await fake([
      tool('run_command', { session_id: 'main', command: 'mkdir -p sub && echo one > a.txt && echo keep > sub/k.txt' }),
      capture(tool('run_command', { session_id: 'main', command: 'cd sub && export VIRTUAL_ENV=/x' })),
      capture(tool('create_file', { filename: 'b.txt', content: 'line1\nline2\n' })),
      capture(tool('edit_file', { path: 'b.txt', start: 2, end: 2, content: 'LINE2' })),
      capture(tool('run_command', { session_id: 'main', command: "rm ../a.txt && echo more >> k.txt && printf '\\000\\001' > bin.dat" })),
      capture(tool('finish', { message: 'done' })),
    ]);
    session = await core.ws.create({ name: 'annotate', cwd });
    const { done } = core.rollouts.start({ session, task: 'Make some files.', endpoint: endpoint(server), policy: 'model', maxSteps: 10, cwd, tuning: TUNING });
    expect(await done).toBe('finished');
    states.push(await hashTree(cwd));
    stepIds = events(session, 'step.started').map((e) => e.stepId);
  });

  it('records a checkpoint with the shell directory and the captured environment after every step', () => {
    expect(stepIds).toHaveLength(6);
    const cps = events(session, 'checkpoint.taken');
    expect(cps.map((c) => c.stepId)).toEqual(stepIds);
    expect(events(session, 'checkpoint.failed')).toEqual([]);
    expect(cps[0]!.shellCwd).toBe(cwd);
    expect(cps[0]!.env?.VIRTUAL_ENV).toBeUndefined();
    // PATH as the login shell set it up (its profile may rewrite it).
    expect(cps[0]!.env?.PATH).toMatch(/\/bin/);
    for (const c of cps.slice(1)) {
      expect(c.shellCwd).toBe(join(cwd, 'sub'));
      expect(c.env?.VIRTUAL_ENV).toBe('/x');
    }
    // Only allowlisted names are ever recorded.
    for (const c of cps) for (const k of Object.keys(c.env ?? {})) expect(['PATH', 'VIRTUAL_ENV', 'CONDA_PREFIX', 'CONDA_DEFAULT_ENV', 'PYTHONPATH']).toContain(k);
    // Each step really changed something that the rewinds will have to undo.
    expect(new Set(states.map((s) => JSON.stringify(s))).size).toBe(4); // steps 2 (cd) and 6 (finish) change no file
  });

  it('rewinds to every step: exact files (SHA-256), untouched .git, shell directory and environment back', async () => {
    const logBefore = await readFile(join(session.dir, 'events.jsonl'));
    const mainBefore = branchEvents(session.events, 'main');
    const seen = new Set<string>();
    for (const i of [2, 0, 4, 1, 5, 3]) {
      const stepId = stepIds[i]!;
      const cp = events(session, 'checkpoint.taken').find((c) => c.stepId === stepId)!;
      const r = await rewind(core, { sessionId: session.id, toStepId: stepId });
      expect(await hashTree(cwd)).toEqual(states[i]);
      expect(await hashTree(join(cwd, '.git'), { withGit: true })).toEqual(gitBefore);

      const live = core.pty.list(session.id);
      expect(live.map((t) => t.id)).toEqual(r.terminalIds);
      const term = live[0]!;
      expect(term.id).toMatch(/^main-r\d+$/);
      expect(seen.has(term.id)).toBe(false);
      seen.add(term.id);
      expect(r.aliases).toEqual({ main: term.id });
      expect((await term.runCommand('pwd', { wait: true, timeoutMs: 5_000 })).output).toBe(cp.shellCwd);
      expect((await term.runCommand('echo "${VIRTUAL_ENV-unset}"', { wait: true, timeoutMs: 5_000 })).output).toBe(i === 0 ? 'unset' : '/x');
      expect(term.shellEnv()?.VIRTUAL_ENV).toBe(i === 0 ? undefined : '/x');

      const b = events(session, 'branch.created').at(-1)!;
      expect(b).toMatchObject({ branchId: r.branchId, fromStepId: stepId, reason: 'rewind', author: 'alice' });
    }
    // The old terminals were closed; only the last rewind's shell is live.
    expect(events(session, 'terminal.closed').map((e) => e.terminalId)).toContain('main');
    // Nothing of the original branch changed, and the log only grew.
    expect(branchEvents(session.events, 'main')).toBe(mainBefore);
    const logAfter = await readFile(join(session.dir, 'events.jsonl'));
    expect(logAfter.length).toBeGreaterThan(logBefore.length);
    expect(logAfter.subarray(0, logBefore.length).equals(logBefore)).toBe(true);
  });

  it('continues with the agent after a rewind, in the restored shell, with guidance first', async () => {
    const server = await fake([
      tool('run_command', { session_id: 'main', command: 'pwd; echo "env=$VIRTUAL_ENV"; ls' }),
      tool('finish', { message: 'checked' }),
    ]);
    const r = await rewind(core, { sessionId: session.id, toStepId: stepIds[2]!, endpoint: endpoint(server), guidance: 'Check where you are first.', tuning: TUNING, maxSteps: 5 });
    expect(r.rolloutId).toBeTruthy();
    expect(await r.done).toBe('finished');
    expect(await hashTree(cwd)).toEqual(states[2]);

    const t = foldTrajectory(session.events);
    const path = branchPath(t, r.branchId);
    expect(path.slice(0, 3).map((s) => s.id)).toEqual(stepIds.slice(0, 3));
    const own = path.slice(3);
    expect(own).toHaveLength(2);
    expect(own[0]!.parentId).toBe(stepIds[2]);
    expect(own.every((s) => s.branchId === r.branchId && s.checkpoint)).toBe(true);
    const obs = JSON.parse(own[0]!.results[0]!.observation) as { output: string };
    expect(obs.output).toContain(join(cwd, 'sub'));
    expect(obs.output).toContain('env=/x');
    expect(obs.output).toContain('k.txt');
    expect(own[0]!.results[0]!.terminalId).toBe(r.aliases.main);
    // The first request: the path up to step 3, then the guidance.
    const first = msgs(server.requests[0]!);
    expect(first.map((m) => m.role)).toEqual(['system', 'user', 'assistant', 'tool', 'assistant', 'tool', 'assistant', 'tool', 'user']);
    expect(String(first.at(-1)!.content)).toContain('Check where you are first.');
  });

  it('branches from a step with guidance and the agent; the original branch stays byte-for-byte', async () => {
    const mainBefore = branchEvents(session.events, 'main');
    const logBefore = await readFile(join(session.dir, 'events.jsonl'));
    const server = await fake([tool('finish', { message: 'nothing more to do' })]);
    const r = await createBranch(core, { sessionId: session.id, fromStepId: stepIds[1]!, guidance: 'Stop here.', endpoint: endpoint(server), tuning: TUNING, maxSteps: 3, name: 'stop early' });
    expect(await r.done).toBe('finished');
    const t = foldTrajectory(session.events);
    expect(t.branches.get(r.branchId)).toMatchObject({ name: 'stop early', fromStepId: stepIds[1], reason: 'branch', author: 'alice' });
    const own = branchPath(t, r.branchId).slice(2);
    expect(own).toHaveLength(1);
    expect(own[0]!.parentId).toBe(stepIds[1]);
    expect(t.rollouts.get(r.rolloutId!)).toMatchObject({ branchId: r.branchId, parentStepId: stepIds[1], task: 'Make some files.', state: 'finished' });
    const first = msgs(server.requests[0]!);
    expect(first.map((m) => m.role)).toEqual(['system', 'user', 'assistant', 'tool', 'assistant', 'tool', 'user']);
    expect(String(first.at(-1)!.content)).toContain('Stop here.');
    expect(branchEvents(session.events, 'main')).toBe(mainBefore);
    const logAfter = await readFile(join(session.dir, 'events.jsonl'));
    expect(logAfter.subarray(0, logBefore.length).equals(logBefore)).toBe(true);
  });

  it('refuses to rewind while a rollout is active, and to a step that does not exist', async () => {
    await expect(rewind(core, { sessionId: session.id, toStepId: 'nope' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    const server = await fake([(): Promise<FakeReply> => new Promise((r) => setTimeout(() => r(tool('finish', {})), 1_500))]);
    const r = await createBranch(core, { sessionId: session.id, fromStepId: stepIds[0]!, endpoint: endpoint(server), tuning: TUNING, maxSteps: 2 });
    const err = await rewind(core, { sessionId: session.id, toStepId: stepIds[0]! }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApolloError);
    expect(err).toMatchObject({ code: 'CONFLICT' });
    expect(await r.done).toBe('finished');
  });
});
