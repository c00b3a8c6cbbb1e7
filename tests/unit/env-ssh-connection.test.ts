// A dropped SSH connection during a rollout, against a real sshd: the action it cut
// off says so, the rollout pauses with the reason, nothing recorded is lost, and the
// rollout goes on by itself once the host answers again. These profiles keep their
// shells out of tmux (a host without it): the cut-off job dies with the connection
// (env-ssh-tmux.test.ts has the host with tmux).
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventOf, SessionEvent, SessionEventType } from '../../shared/events';
import { ApolloCore } from '../../electron/core/app';
import type { SessionLog } from '../../electron/core/store/workspace';
import { environmentFor } from '../../electron/core/env/registry';
import type { SshEnvironment } from '../../electron/core/env/ssh';
import { startFakeLlm, tool, type FakeLlm } from '../fixtures/fake-llm-server';
import { sshdUnavailable, startSshd, type Sshd } from '../fixtures/sshd';

const why = await sshdUnavailable();
if (why) console.log(`skipped: no sshd (${why})`);

const TUNING = {
  llm: { retry: { baseDelayMs: 5, maxDelayMs: 50, maxRetries: 1, jitter: 0 }, timeoutMs: 10_000, idleTimeoutMs: 5_000 },
  tools: { commandTimeoutMs: 60_000, settleMs: 300 },
};

function events<T extends SessionEventType>(s: SessionLog, type: T): EventOf<T>[] {
  return s.events.filter((e): e is EventOf<T> => e.type === type);
}

/** Resolves with the first event (already recorded or to come) that `match` accepts. */
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

describe.skipIf(!!why)('a dropped ssh connection', () => {
  let sshd: Sshd;
  let root: string;
  let core: ApolloCore;
  let server: FakeLlm;

  beforeAll(async () => {
    sshd = await startSshd();
    root = await mkdtemp(join(tmpdir(), 'apollo-env-drop-'));
    core = await ApolloCore.open({ home: join(root, 'ws'), resourcesDir: resolve('resources'), host: 'web' });
  });
  afterAll(async () => {
    await server?.close();
    await core?.close();
    await sshd?.close();
    await rm(root, { recursive: true, force: true });
  });

  it('pauses the rollout with the reason, keeps the record, and resumes when the host is back', async () => {
    const work = join(sshd.home, 'job');
    await mkdir(work);
    server = await startFakeLlm([
      tool('run_command', { session_id: 'main', command: 'echo before > a.txt' }),
      // Two calls in one step: the connection drops during the first.
      { toolCalls: [
        { name: 'run_command', arguments: { session_id: 'main', command: 'sleep 30 && echo never' } },
        { name: 'create_file', arguments: { filename: 'b.txt', content: 'not written\n' } },
      ] },
      tool('run_command', { session_id: 'main', command: 'cat a.txt && echo after >> a.txt' }),
      tool('finish', { message: 'done' }),
    ]);
    const session = await core.ws.create({ name: 'drop', cwd: work, environment: sshd.spec('far', { tmux: false }) });
    const { rollout, done } = core.rollouts.start({
      session, task: 'Survive a drop.', endpoint: { profile: 'fake', baseUrl: server.url, model: 'm', apiKey: 'k', toolMode: 'tools' }, policy: 'model', maxSteps: 10, cwd: work, tuning: TUNING,
    });

    // The host goes away while the long command runs (server and connections both).
    await nextEvent(session, (e) => e.type === 'terminal.command' && e.phase === 'start' && (e.command ?? '').startsWith('sleep 30'));
    await sshd.stop();
    const paused = await nextEvent(session, (e) => e.type === 'rollout.state' && e.state === 'paused');
    expect(paused).toMatchObject({ reason: 'connection lost', error: expect.stringMatching(/^The connection to environment far was lost during run_command: .+ The rollout continues when the connection is back/) });
    expect(rollout.state).toBe('paused');
    expect(environmentFor(session).connectionState()).toBe('lost');

    // Everything up to the drop is recorded: the cut-off action says what happened, the next call was not run.
    const results = events(session, 'action.result');
    const cut = results.find((r) => r.name === 'run_command' && JSON.parse(r.observation).message?.includes('was lost'))!;
    expect(cut.isError).toBe(true);
    expect(JSON.parse(cut.observation).message).toMatch(/check the state of the environment/);
    expect(results.at(-1)).toMatchObject({ name: 'create_file', observation: expect.stringMatching(/Not executed: the connection to the environment was lost/) });
    expect(session.events.filter((e) => e.type === 'step.started')).toHaveLength(2);
    expect(events(session, 'step.finished')).toHaveLength(2);

    // Back on the same port: the rollout notices by itself and goes on in a fresh terminal.
    await sshd.start();
    expect(await done).toBe('finished');
    const states = events(session, 'rollout.state').map((e) => `${e.state}${e.reason ? `: ${e.reason}` : ''}`);
    expect(states).toEqual(['paused: connection lost', 'running: the connection to environment far is back', 'finished: done']);
    const last = events(session, 'action.result').filter((r) => r.name === 'run_command').at(-1)!;
    expect(JSON.parse(last.observation)).toMatchObject({ exit_code: 0, output: 'before' });
    expect(await readFile(join(work, 'a.txt'), 'utf8')).toBe('before\nafter\n');
    await expect(readFile(join(work, 'b.txt'))).rejects.toThrow();
    expect(events(session, 'terminal.started').filter((t) => t.terminalId === 'main')).toHaveLength(2);
    // The step after the drop was checkpointed once the host was back.
    const dropStep = events(session, 'step.started')[1]!.stepId;
    expect(events(session, 'checkpoint.taken').some((c) => c.stepId === dropStep)).toBe(true);
  }, 90_000);

  for (const how of ['the sshd child', 'the ssh master'] as const) {
    it(`a killed connection (${how}) pauses the rollout, which comes back as soon as ssh reconnects`, async () => {
      const work = join(sshd.home, `job-${how.replace(/\W/g, '')}`);
      await mkdir(work);
      const s3 = await startFakeLlm([
        tool('run_command', { session_id: 'main', command: 'sleep 30' }),
        tool('run_command', { session_id: 'main', command: 'echo again' }),
        tool('finish', { message: 'ok' }),
      ]);
      try {
        const session = await core.ws.create({ name: how, cwd: work, environment: sshd.spec('near', { tmux: false }) });
        const { done } = core.rollouts.start({
          session, task: 't', endpoint: { profile: 'fake', baseUrl: s3.url, model: 'm', apiKey: 'k', toolMode: 'tools' }, policy: 'model', maxSteps: 5, cwd: work, tuning: TUNING,
        });
        await nextEvent(session, (e) => e.type === 'terminal.command' && e.phase === 'start');
        if (how === 'the sshd child') expect(await sshd.dropConnections()).toBeGreaterThan(0);
        else process.kill((environmentFor(session) as SshEnvironment).masterPid()!, 'SIGKILL');
        expect(await done).toBe('finished');
        const states = events(session, 'rollout.state');
        expect(states.map((e) => e.state)).toEqual(['paused', 'running', 'finished']);
        expect(states[0]!.error).toMatch(/^The connection to environment near was lost during run_command/);
        const last = events(session, 'action.result').filter((r) => r.name === 'run_command').at(-1)!;
        expect(JSON.parse(last.observation)).toMatchObject({ exit_code: 0, output: 'again' });
      } finally {
        await s3.close();
      }
    }, 60_000);
  }

  it('stop ends a rollout that waits for its connection', async () => {
    const work = join(sshd.home, 'job2');
    await mkdir(work);
    const s2 = await startFakeLlm([tool('run_command', { session_id: 'main', command: 'sleep 30' }), tool('finish', { message: 'x' })]);
    try {
      const session = await core.ws.create({ name: 'drop 2', cwd: work, environment: sshd.spec('far2', { tmux: false }) });
      const { rollout, done } = core.rollouts.start({
        session, task: 't', endpoint: { profile: 'fake', baseUrl: s2.url, model: 'm', apiKey: 'k', toolMode: 'tools' }, policy: 'model', maxSteps: 5, cwd: work, tuning: TUNING,
      });
      await nextEvent(session, (e) => e.type === 'terminal.command' && e.phase === 'start');
      await sshd.stop();
      await nextEvent(session, (e) => e.type === 'rollout.state' && e.state === 'paused');
      await rollout.stop();
      expect(await done).toBe('stopped');
      expect(events(session, 'rollout.state').map((e) => e.state)).toEqual(['paused', 'stopped']);
    } finally {
      await sshd.start();
      await s2.close();
    }
  }, 60_000);
});
