// Terminals kept in tmux on an SSH host (env/tmux.ts), against a real sshd and the real
// tmux: the shell integration works inside, a killed connection leaves the job running,
// the terminal re-attaches with what the job printed meanwhile (each byte once, its end
// mark included), closing the terminal ends the shell; and a rollout re-attaches by
// itself when the connection is back.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventOf, SessionEvent, SessionEventType } from '../../shared/events';
import { ApolloCore } from '../../electron/core/app';
import { PtyHost } from '../../electron/core/pty/pty-host';
import { DEFAULT_TOOL_OPTIONS, executeTool, reattachTerminals, type ToolContext } from '../../electron/core/rollout/tools';
import { Workspace, type SessionLog } from '../../electron/core/store/workspace';
import { environmentFor } from '../../electron/core/env/registry';
import type { SshEnvironment } from '../../electron/core/env/ssh';
import { tmuxSessionName } from '../../electron/core/env/tmux';
import { startFakeLlm, tool } from '../fixtures/fake-llm-server';
import { sshdUnavailable, startSshd, type Sshd } from '../fixtures/sshd';

const noSshd = await sshdUnavailable();
const noTmux = await promisify(execFile)('tmux', ['-V']).then(() => null, () => 'no tmux');
const why = noSshd ?? noTmux;
if (why) console.log(`skipped: ${noSshd ? `no sshd (${noSshd})` : 'no tmux'}`);

function events<T extends SessionEventType>(s: SessionLog, type: T): EventOf<T>[] {
  return s.events.filter((e): e is EventOf<T> => e.type === type);
}

function nextEvent(s: SessionLog, match: (e: SessionEvent) => boolean): Promise<SessionEvent> {
  const seen = s.events.find(match);
  if (seen) return Promise.resolve(seen);
  return new Promise((resolve) => {
    const off = s.subscribe((e) => {
      if (match(e)) {
        off();
        resolve(e);
      }
    });
  });
}

async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const count = (text: string, s: string) => text.split(s).length - 1;

describe.skipIf(!!why)('ssh terminals kept in tmux', () => {
  let sshd: Sshd;
  let wsHome: string;
  let ws: Workspace;
  let pty: PtyHost;

  beforeAll(async () => {
    sshd = await startSshd();
    wsHome = await mkdtemp(join(tmpdir(), 'apollo-env-tmux-'));
    ws = await Workspace.open(wsHome);
    pty = new PtyHost({ resourcesDir: resolve('resources'), events: { data: () => undefined, changed: () => undefined } });
  });
  let holder: string | null = null;
  afterAll(async () => {
    if (holder) await promisify(execFile)('tmux', ['-L', 'apollo', 'kill-session', '-t', `=${holder}`]).catch(() => undefined);
    await pty?.dispose();
    await ws?.close();
    await sshd?.close();
    await rm(wsHome, { recursive: true, force: true });
  });

  it('a killed connection leaves the job running; the terminal re-attaches with its output, and closing it ends the shell', async () => {
    const work = join(sshd.home, 'kept');
    await mkdir(work);
    const session = await ws.create({ name: 'kept', cwd: work, environment: sshd.spec('gpu') });
    const ctx: ToolContext = { session, pty, cwd: work, options: { ...DEFAULT_TOOL_OPTIONS, settleMs: 500 } };
    const run = async (name: string, args: Record<string, unknown>) => JSON.parse((await executeTool(name, args, ctx)).observation) as Record<string, unknown>;
    const env = environmentFor(session) as SshEnvironment;
    expect((await env.describe()).tmux).toBe(true);

    // The shell runs in tmux; its marks (exit code, directory) still reach the terminal.
    // Its environment is this connection's, not that of whichever connection started the
    // tmux server (here: one with another HOME, still running).
    await promisify(execFile)('tmux', ['-L', 'apollo', '-f', '/dev/null', 'new-session', '-d', '-s', `holder-${process.pid}`, 'sleep 120'], { env: { ...process.env, HOME: '/nonexistent' } });
    holder = `holder-${process.pid}`;
    const first = await run('run_command', { session_id: 'main', command: 'echo "in tmux: ${TMUX:+yes} $HOME"; mkdir -p sub; cd sub; (exit 4)' });
    expect(first).toMatchObject({ exit_code: 4, output: `in tmux: yes ${sshd.home}` });
    const t1 = pty.get(session.id, 'main');
    expect(t1.shellCwd()).toBe(join(work, 'sub'));
    const name = tmuxSessionName(session.id, 'main');
    expect((await env.exec(`tmux -L apollo has-session -t =${name}; echo $?`)).stdout.toString().trim()).toBe('0');
    expect(env.keepsTerminal('main')).toBe(true);

    // A job that prints, then waits for a file of the test.
    // One child process of the shell all along (check_session_idle lists it).
    const job = "sh -c 'for i in 1 2 3; do echo tick-$i; sleep 0.3; done; until [ -f ../go ]; do sleep 0.1; done'; echo job-$((40+2))";
    expect(await run('run_command', { session_id: 'main', command: job, wait_for_completion: false })).toMatchObject({ async_execution: true });
    await until(async () => (await t1.readText(0)).includes('tick-1'), 'tick-1');
    // Seen lost before waiting to be connected again: the terminal's ssh client can end
    // before the master's exit is noticed, and until then the connection still reads as up.
    const lost = new Promise<void>((r) => {
      const off = env.onLost(() => (off(), r()));
    });
    process.kill(env.masterPid()!, 'SIGKILL');
    await t1.exited;
    await lost;
    await env.waitConnected();

    // A terminal that cannot be opened again says why (here its host refuses it), and stays closed.
    const refusing: ToolContext = { ...ctx, pty: { ...pty, get: (s, t) => pty.get(s, t), list: (s) => pty.list(s), create: () => Promise.reject(new Error('no terminal for you')) } };
    expect(await reattachTerminals(refusing)).toEqual({ back: [], failed: ['main (no terminal for you)'] });
    // The same terminal comes back, the job still running in it.
    expect(await reattachTerminals(ctx)).toEqual({ back: ['main'], failed: [] });
    const t2 = pty.get(session.id, 'main');
    expect(t2).not.toBe(t1);
    expect(t2.info()).toMatchObject({ status: 'running', integrated: true });
    expect(await run('check_session_idle', { session_id: 'main' })).toMatchObject({ is_idle: false, message: expect.stringMatching(/running command `sh -c for i in 1 2 3; do echo tick-\$i; .*`/) });
    await writeFile(join(work, 'go'), '');
    await until(() => t2.isIdle(), 'the job to end');
    const text = await t2.readText(0);
    expect(['tick-1', 'tick-2', 'tick-3', 'job-42'].map((s) => count(text, s))).toEqual([1, 1, 1, 1]);
    // The job's end mark came through the log, signed with the nonce of the first terminal.
    const ends = events(session, 'terminal.command').filter((e) => e.phase === 'end');
    expect(ends.at(-1)).toMatchObject({ exitCode: 0 });
    expect(events(session, 'terminal.started').filter((e) => e.terminalId === 'main')).toHaveLength(2);
    // It goes on as an ordinary integrated terminal.
    expect(await run('run_command', { session_id: 'main', command: 'echo "after $PWD"' })).toMatchObject({ exit_code: 0, output: `after ${join(work, 'sub')}` });
    expect(await run('input_in_session', { session_id: 'main', input_text: 'echo typed-$((6*7))\n' })).toMatchObject({ output: expect.stringContaining('typed-42') });

    // Closing the terminal ends the tmux session and removes its log.
    expect(await run('close_session', { session_id: 'main' })).toMatchObject({ success: true });
    expect((await env.exec(`tmux -L apollo has-session -t =${name} 2>/dev/null; echo $?`)).stdout.toString().trim()).toBe('1');
    await until(async () => !(await readdir(join(sshd.home, '.apollo-workstation', 'run'))).some((f) => f.startsWith(name)), 'the log to be removed', 5_000);
    expect(await reattachTerminals(ctx)).toEqual({ back: [], failed: [] });
  }, 60_000);

  it('a profile with tmux off runs plain shells', async () => {
    const work = join(sshd.home, 'plain');
    await mkdir(work);
    const session = await ws.create({ name: 'plain', cwd: work, environment: sshd.spec('plain', { tmux: false }) });
    const ctx: ToolContext = { session, pty, cwd: work, options: { ...DEFAULT_TOOL_OPTIONS, settleMs: 500 } };
    const r = JSON.parse((await executeTool('run_command', { session_id: 'main', command: 'echo "tmux:${TMUX:-none}"' }, ctx)).observation);
    expect(r).toMatchObject({ exit_code: 0, output: 'tmux:none' });
    expect(environmentFor(session).keepsTerminal('main')).toBe(false);
    expect((await environmentFor(session).describe()).tmux).toBe(false);
  });

  it('a rollout whose connection drops re-attaches to its terminal when it is back', async () => {
    const root = await mkdtemp(join(tmpdir(), 'apollo-env-tmux-core-'));
    const core = await ApolloCore.open({ home: join(root, 'ws'), resourcesDir: resolve('resources'), host: 'web' });
    const work = join(sshd.home, 'rollout');
    await mkdir(work);
    const server = await startFakeLlm([
      tool('run_command', { session_id: 'main', command: 'echo started; while [ ! -f go ]; do sleep 0.1; done; echo job-finished' }),
      tool('get_session_output', { session_id: 'main', start_lines: 5 }),
      tool('finish', { message: 'done' }),
    ]);
    try {
      const session = await core.ws.create({ name: 'rollout', cwd: work, environment: sshd.spec('far') });
      const { done } = core.rollouts.start({
        session, task: 't', endpoint: { profile: 'fake', baseUrl: server.url, model: 'm', apiKey: 'k', toolMode: 'tools' }, policy: 'model', maxSteps: 5, cwd: work,
        tuning: { llm: { retry: { baseDelayMs: 5, maxDelayMs: 50, maxRetries: 1, jitter: 0 }, timeoutMs: 10_000, idleTimeoutMs: 5_000 }, tools: { commandTimeoutMs: 60_000, settleMs: 300 } },
      });
      await nextEvent(session, (e) => e.type === 'terminal.command' && e.phase === 'start');
      const t1 = core.pty.get(session.id, 'main');
      await until(async () => (await t1.readText(0)).includes('started'), 'started');
      process.kill((environmentFor(session) as SshEnvironment).masterPid()!, 'SIGKILL');
      expect(await done).toBe('finished');
      const states = events(session, 'rollout.state');
      expect(states.map((e) => e.state)).toEqual(['paused', 'running', 'finished']);
      expect(states[1]!.reason).toBe('the connection to environment far is back; re-attached to main (kept in tmux there)');
      const results = events(session, 'action.result');
      expect(JSON.parse(results[0]!.observation).message).toMatch(/runs in tmux on the host, so what it was running goes on there/);
      // The agent's next look at the terminal sees the job, still running, in the re-attached terminal.
      expect(JSON.parse(results[1]!.observation)).toMatchObject({ success: true, is_alive: true, is_idle: false, output: expect.stringContaining('started') });
      await writeFile(join(work, 'go'), '');
      const t2 = core.pty.get(session.id, 'main');
      await until(async () => (await t2.readText(0)).includes('job-finished'), 'job-finished');
    } finally {
      await server.close();
      // Kept terminals outlive the app by design: end this one's tmux session, so the test leaves no shell behind.
      const ids = core.ws.list().map((e) => e.id);
      await core.close();
      for (const id of ids) await promisify(execFile)('tmux', ['-L', 'apollo', 'kill-session', '-t', `=${tmuxSessionName(id, 'main')}`]).catch(() => undefined);
      await rm(root, { recursive: true, force: true });
    }
    expect(existsSync(join(sshd.home, '.apollo-workstation', 'run'))).toBe(true);
  }, 60_000);
});
