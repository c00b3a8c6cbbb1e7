// Real node-pty + real bash: spawning, shell integration, runCommand, recording,
// flow control, failures.
import { describe, expect, it } from 'vitest';
import { chmod, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { SessionLog } from '../../electron/core/store/workspace';
import type { PtyHost, TerminalLimits } from '../../electron/core/pty/pty-host';
import type { PtyTerminal } from '../../electron/core/pty/terminal';
import type { LiveTerminal, PtyHostEvents } from '../../electron/core/pty/types';
import { ApolloError } from '../../shared/errors';
import type { SessionEvent } from '../../shared/events';
import { ptyWorkspace } from '../fixtures/shell-home';

type DataEvent = Parameters<PtyHostEvents['data']>[0];
type ChangedEvent = Parameters<PtyHostEvents['changed']>[0];

interface Ctx {
  session: SessionLog;
  cwd: string;
  host: PtyHost;
  data: DataEvent[];
  changed: ChangedEvent[];
}

// Hermetic user startup files: prove they are loaded, keep the prompt simple.
const fx = ptyWorkspace('apollo-pty-', {
  '.bashrc': 'export APOLLO_TEST_RC=bashrc\nPS1="$ "\n',
  '.profile': 'export APOLLO_TEST_PROFILE=profile\n. "$HOME/.bashrc"\n',
  '.zshrc': 'export APOLLO_TEST_RC=zshrc\nPS1="%# "\n',
});

async function setup(limits?: Partial<TerminalLimits>): Promise<Ctx> {
  const cwd = await mkdtemp(join(fx.root, 'work-'));
  const session = await fx.ws.create({ cwd });
  const data: DataEvent[] = [];
  const changed: ChangedEvent[] = [];
  const host = fx.host({
    events: { data: (e) => data.push(e), changed: (e) => changed.push(e) },
    env: { ...process.env, HOME: fx.userHome, SHELL: '/bin/bash', PS1: '$ ' },
    ...(limits ? { limits } : {}),
  });
  return { session, cwd, host, data, changed };
}

function eventsOf<T extends SessionEvent['type']>(s: SessionLog, type: T): Extract<SessionEvent, { type: T }>[] {
  return s.events.filter((e): e is Extract<SessionEvent, { type: T }> => e.type === type);
}

async function until(cond: () => boolean | Promise<boolean>, ms = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const run = (t: LiveTerminal, cmd: string, timeoutMs = 5000) => t.runCommand(cmd, { wait: true, timeoutMs });

describe('PtyHost with bash and shell integration', () => {
  it('runs a command: output in data events, recording and runCommand; events recorded', async () => {
    const { host, session, cwd, data } = await setup();
    const t = await host.create(session, { id: 'main' });
    expect(t.info()).toMatchObject({ id: 'main', status: 'running', integrated: true, cwd });
    const { offset } = host.attach(session.id, 'main');
    expect(offset).toBeGreaterThanOrEqual(0);

    const r = await run(t, 'echo hello');
    expect(r).toMatchObject({ exitCode: 0, timedOut: false, output: 'hello' });
    expect(r.range[1]).toBeGreaterThan(r.range[0]);
    await until(() => data.map((d) => d.data).join('').includes('hello'), 2000, 'hello in data events');

    // data events are contiguous from the attach offset and their bytes add up
    let next = offset;
    for (const d of data) {
      expect(d.offset).toBe(next);
      next += d.bytes;
    }
    // the recording holds the raw bytes, marks included
    expect(await t.readText(r.range[0], r.range[1])).toContain('hello');
    await (await session.recording('main')).flush();
    const raw = await readFile(join(session.dir, 'terminals', 'main.out'), 'utf8');
    expect(raw).toContain('hello');
    expect(raw).toContain('\x1b]133;D;0');

    const started = eventsOf(session, 'terminal.started');
    expect(started).toHaveLength(1);
    expect(started[0]).toMatchObject({ terminalId: 'main', integrated: true, offset: 0, cwd, command: '/bin/bash' });
    const cmds = eventsOf(session, 'terminal.command');
    expect(cmds.map((c) => c.phase)).toEqual(['start', 'end']);
    expect(cmds[0]!.offset).toBe(r.range[0]);
    expect(cmds[0]!.cwd).toBe(cwd);
    expect(cmds[1]).toMatchObject({ exitCode: 0, offset: r.range[1] });
    expect(eventsOf(session, 'terminal.input').some((e) => e.source === 'agent' && e.data === 'echo hello\r')).toBe(true);
    // the login shell loaded the user's profile (which loads .bashrc)
    expect((await run(t, 'echo "$APOLLO_TEST_PROFILE/$APOLLO_TEST_RC"')).output).toBe('profile/bashrc');
  });

  it('reports exit codes, multi-line output, multi-line commands and the cwd', async () => {
    const { host, session, cwd } = await setup();
    const t = await host.create(session, { id: 'sh', command: 'bash' });
    expect((await run(t, 'echo "$APOLLO_TEST_RC"')).output).toBe('bashrc');
    expect(await run(t, '(exit 3)')).toMatchObject({ exitCode: 3, timedOut: false });
    expect(await run(t, 'false')).toMatchObject({ exitCode: 1 });
    expect(await run(t, "printf 'a\\nb\\n'")).toMatchObject({ exitCode: 0, output: 'a\nb' });
    expect(await run(t, 'echo one\necho two\n(exit 4)')).toMatchObject({ exitCode: 4, output: 'one\ntwo' });
    // a syntax error never starts (no C mark) but still ends with its status
    expect(await run(t, 'echo (')).toMatchObject({ exitCode: 2 });
    await mkdir(join(cwd, 'sub dir'));
    await run(t, "cd 'sub dir'");
    expect(t.shellCwd()).toBe(join(cwd, 'sub dir'));
    const ends = eventsOf(session, 'terminal.command').filter((e) => e.phase === 'end');
    expect(ends.map((e) => e.exitCode)).toEqual([0, 3, 1, 0, 4, 0]);
    expect(t.isIdle()).toBe(true);
  });

  it('times out on a long command, reports it running, interrupts it', async () => {
    const { host, session } = await setup();
    const t = await host.create(session, { id: 'main' });
    await run(t, 'true');
    const started = Date.now();
    const r = await t.runCommand('echo begin; sleep 5', { wait: true, timeoutMs: 300 });
    // Returned at the timeout, not when the command ended (5 s): a bound with room for a loaded machine.
    expect(Date.now() - started).toBeLessThan(4000);
    expect(r).toMatchObject({ timedOut: true, exitCode: null, output: 'begin' });
    expect(t.isIdle()).toBe(false);
    await expect(run(t, 'echo no')).rejects.toMatchObject({ code: 'CONFLICT' });
    await t.interrupt();
    await until(() => t.isIdle(), 3000, 'idle after Ctrl-C');
    await (t as PtyTerminal).settled();
    const ends = eventsOf(session, 'terminal.command').filter((e) => e.phase === 'end');
    expect(ends.at(-1)!.exitCode).toBe(130);
    expect((await run(t, 'echo after')).output).toBe('after');

    // a job that ignores Ctrl-C is terminated with its process group
    const stubborn = await t.runCommand(`bash -c "trap '' INT; sleep 5"`, { wait: true, timeoutMs: 300 });
    expect(stubborn.timedOut).toBe(true);
    await t.interrupt();
    await until(() => t.isIdle(), 4000, 'idle after escalation');
    await (t as PtyTerminal).settled();
    expect(eventsOf(session, 'terminal.command').filter((e) => e.phase === 'end').at(-1)!.exitCode).toBe(143);
  });

  it('runs in the background with wait=false and tracks idleness from the marks', async () => {
    const { host, session } = await setup();
    const t = await host.create(session, { id: 'bg' });
    const r = await t.runCommand('sleep 0.4; echo done', { wait: false, timeoutMs: 1000 });
    expect(r).toMatchObject({ exitCode: null, timedOut: false });
    expect(t.isIdle()).toBe(false);
    await until(() => t.isIdle(), 3000, 'background command to finish');
    expect(await t.readText(r.range[0])).toContain('done');
  });

  it('records human input, resize, and the exit of the shell', async () => {
    const { host, session, changed } = await setup();
    const t = await host.create(session, { id: 'main' });
    await run(t, 'true');
    t.resize(100, 40);
    expect(t.info()).toMatchObject({ cols: 100, rows: 40 });
    expect((await run(t, 'stty size')).output).toBe('40 100');
    await (t as PtyTerminal).settled();
    expect(eventsOf(session, 'terminal.resized')).toMatchObject([{ terminalId: 'main', cols: 100, rows: 40 }]);
    expect(() => t.resize(0, 10)).toThrow(ApolloError);

    t.write('exit 7\r', 'human');
    expect(await t.exited).toEqual({ exitCode: 7, signal: null });
    expect(eventsOf(session, 'terminal.input').some((e) => e.source === 'human' && e.data === 'exit 7\r')).toBe(true);
    expect(eventsOf(session, 'terminal.exited')).toMatchObject([{ terminalId: 'main', exitCode: 7 }]);
    expect(t.info().status).toBe('exited');
    expect(changed.at(-1)!.terminal).toMatchObject({ id: 'main', status: 'exited', exitCode: 7 });
    expect(() => t.write('x', 'human')).toThrow(/not running/);
    // the id can be reused once exited; the recording continues after the old output
    const before = t.recordedBytes();
    const t2 = await host.create(session, { id: 'main' });
    expect(eventsOf(session, 'terminal.started').at(-1)!.offset).toBe(before);
    await t2.kill();
    const exited = eventsOf(session, 'terminal.exited');
    expect(exited).toHaveLength(2);
    expect(exited[1]!.signal).not.toBeNull();
  });

  it('refuses a duplicate live id; closeSession kills everything', async () => {
    const { host, session } = await setup();
    const a = await host.create(session, { id: 'a' });
    await expect(host.create(session, { id: 'a' })).rejects.toMatchObject({ code: 'CONFLICT' });
    await expect(host.create(session, { id: '../x' })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    await host.create(session, { id: 'b', command: 'sleep', args: ['30'] });
    expect(host.list(session.id).map((t) => t.id).sort()).toEqual(['a', 'b']);
    await host.closeSession(session.id);
    expect(host.list(session.id)).toEqual([]);
    expect(a.info().status).toBe('exited');
    expect(eventsOf(session, 'terminal.exited')).toHaveLength(2);
    expect(() => host.get(session.id, 'a')).toThrow(/No terminal/);
  });

  it('fails cleanly for a missing command, a bad interpreter and a missing folder', async () => {
    const { host, session, cwd } = await setup();
    const cases: Array<[string, Parameters<PtyHost['create']>[1], RegExp]> = [
      ['missing', { id: 'x1', command: 'definitely-not-a-command-apollo' }, /not found/],
      ['path', { id: 'x2', command: '/nonexistent/bin/tool' }, /no such file/],
      ['cwd', { id: 'x3', cwd: join(cwd, 'nope') }, /does not exist/],
    ];
    // passes the PATH check, then exec fails inside the child (node-pty reports it as text)
    const script = join(cwd, 'bad-interp');
    await writeFile(script, '#!/nonexistent/interpreter\n');
    await chmod(script, 0o755);
    cases.push(['exec', { id: 'x4', command: script }, /No such file/]);
    for (const [, spec, msg] of cases) {
      const err = await host.create(session, spec).then(() => null, (e: unknown) => e);
      expect(err).toBeInstanceOf(ApolloError);
      expect((err as ApolloError).code).toBe('SPAWN_FAILED');
      expect((err as ApolloError).message).toMatch(msg);
    }
    const failed = eventsOf(session, 'terminal.failed');
    expect(failed.map((f) => f.terminalId)).toEqual(['x1', 'x2', 'x3', 'x4']);
    expect(failed[0]!.error).toMatch(/definitely-not-a-command-apollo/);
    expect(host.list(session.id)).toEqual([]);
    // the session stays usable, and the failed id is free
    const t = await host.create(session, { id: 'x1' });
    expect((await run(t, 'echo ok')).output).toBe('ok');
  });

  it('falls back to output quiescence without shell integration', async () => {
    const { host, session } = await setup();
    const t = await host.create(session, { id: 'plain', command: 'sh' });
    expect(t.info().integrated).toBe(false);
    const r = await run(t, 'echo fallback; echo two');
    expect(r).toMatchObject({ exitCode: null, timedOut: false, output: 'fallback\ntwo' });
    const slow = await t.runCommand('for i in 1 2 3 4 5 6 7 8 9 10; do echo tick; sleep 0.1; done', { wait: true, timeoutMs: 300 });
    expect(slow.timedOut).toBe(true);
  });

  it.skipIf(!existsSync('/bin/zsh') && !existsSync('/usr/bin/zsh'))('integrates zsh through ZDOTDIR and keeps the user files', async () => {
    const { host, session } = await setup();
    const t = await host.create(session, { id: 'z', command: 'zsh' });
    expect(t.info().integrated).toBe(true);
    expect(await run(t, 'echo "$APOLLO_TEST_RC"')).toMatchObject({ exitCode: 0, output: 'zshrc' });
    expect(await run(t, '(exit 3)')).toMatchObject({ exitCode: 3 });
    expect((await run(t, 'echo "${ZDOTDIR-unset}"')).output).toBe('unset');
  });
});

describe('PtyHost flow control', () => {
  // Well past what the four ack rounds below let through (about 5 × the high watermark), so it is still running when the UI detaches.
  const FLOOD_BYTES = 3_000_000;
  const FLOOD = `yes | head -c ${FLOOD_BYTES}`;
  const limits = { highWatermark: 256 * 1024, lowWatermark: 64 * 1024, batchBytes: 64 * 1024, stallMs: 60_000 };

  it('pauses the pty when the UI does not ack, resumes on ack, stops buffering when detached', async () => {
    const { host, session, data } = await setup(limits);
    const t = (await host.create(session, { id: 'flood' })) as PtyTerminal;
    await run(t, 'true');
    host.attach(session.id, 'flood');
    await t.runCommand(FLOOD, { wait: false, timeoutMs: 0 });
    await until(() => t.flowState().ptyPaused, 5000, 'the pty to pause');
    const emitted = () => data.reduce((n, d) => n + d.bytes, 0);
    // while paused the recording does not grow and the UI is owed at most one batch past the mark
    const s1 = t.recordedBytes();
    await new Promise((r) => setTimeout(r, 300));
    expect(t.recordedBytes() - s1).toBeLessThan(128 * 1024);
    expect(t.flowState().ptyPaused).toBe(true);
    expect(emitted()).toBeLessThanOrEqual(limits.highWatermark + limits.batchBytes + 64 * 1024);
    expect(t.isIdle()).toBe(false);

    // each ack lets about one watermark more through, then it pauses again
    let acked = 0;
    for (let i = 0; i < 4; i++) {
      const before = t.recordedBytes();
      host.ack(session.id, 'flood', emitted() - acked);
      acked = emitted();
      expect(t.flowState().ptyPaused).toBe(false);
      await until(() => t.recordedBytes() > before + limits.highWatermark - limits.lowWatermark, 3000, 'output to resume after ack');
      await until(() => t.flowState().ptyPaused, 3000, 'the pty to pause again');
      expect(emitted() - acked).toBeLessThanOrEqual(limits.highWatermark + limits.batchBytes + 64 * 1024);
    }

    // detached: no more UI events, nothing buffered, the flood runs to the end
    host.detach(session.id, 'flood');
    const count = data.length;
    expect(t.flowState().unacked).toBe(0);
    await until(() => t.isIdle(), 20_000, 'the flood to finish');
    expect(t.recordedBytes()).toBeGreaterThan(FLOOD_BYTES);
    await new Promise((r) => setTimeout(r, 50));
    expect(data.length).toBe(count);
  });

  it('does not let a UI that never acks stall the terminal (stall guard)', async () => {
    const { host, session, data } = await setup({ ...limits, stallMs: 200, rejoinMs: 0 });
    const t = (await host.create(session, { id: 'stuck' })) as PtyTerminal;
    await run(t, 'true');
    host.attach(session.id, 'stuck');
    const r = await t.runCommand('yes | head -c 5000000; echo END', { wait: true, timeoutMs: 15_000 });
    expect(r.timedOut).toBe(false);
    expect(r.exitCode).toBe(0);
    expect(t.recordedBytes()).toBeGreaterThan(5_000_000);
    const emitted = data.reduce((n, d) => n + d.bytes, 0);
    expect(emitted).toBeLessThanOrEqual(limits.highWatermark + limits.batchBytes + 64 * 1024);
    expect(t.flowState().lagging).toBe(true);
    // once the UI catches up it gets live output again, after a visible gap in offsets:
    // at once an empty batch at the end of the output (the program may print no more)
    const n = data.length;
    host.ack(session.id, 'stuck', emitted);
    const last = data[n - 1]!;
    expect(data[n]).toMatchObject({ data: '', bytes: 0, offset: t.recordedBytes() });
    expect(data[n]!.offset).toBeGreaterThan(last.offset + last.bytes);
    await run(t, 'echo caught-up');
    await until(() => data.slice(n).some((d) => d.data.includes('caught-up')), 2000, 'live output after catching up');
  });

  it('emits nothing and buffers nothing for the UI when none is attached', async () => {
    const { host, session, data } = await setup(limits);
    const t = (await host.create(session, { id: 'headless' })) as PtyTerminal;
    const r = await run(t, 'yes | head -c 3000000', 15_000);
    expect(r.exitCode).toBe(0);
    expect(r.range[1] - r.range[0]).toBeGreaterThanOrEqual(3_000_000);
    expect(data).toHaveLength(0);
    expect(t.flowState()).toMatchObject({ ptyPaused: false, unacked: 0, emitted: 0 });
  });
});
