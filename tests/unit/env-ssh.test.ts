// Every tool through an SSH environment, against a real sshd (tests/fixtures/sshd.ts):
// terminals are ssh clients with the shell integration sent over the connection,
// file tools read and write on the host (its ~ is not this machine's), one
// multiplexed connection carries everything, and each action says where it ran.
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_TOOL_OPTIONS, executeTool, type ToolContext } from '../../electron/core/rollout/tools';
import { PtyHost } from '../../electron/core/pty/pty-host';
import { Workspace, type SessionLog } from '../../electron/core/store/workspace';
import { environmentFor } from '../../electron/core/env/registry';
import { SshEnvironment } from '../../electron/core/env/ssh';
import { sshdUnavailable, startSshd, type Sshd } from '../fixtures/sshd';

const why = await sshdUnavailable();
if (why) console.log(`skipped: no sshd (${why})`);

describe.skipIf(!!why)('ssh environment: every tool', () => {
  let sshd: Sshd;
  let wsHome: string;
  let ws: Workspace;
  let session: SessionLog;
  let pty: PtyHost;
  let ctx: ToolContext;
  let work: string;

  beforeAll(async () => {
    sshd = await startSshd();
    wsHome = await mkdtemp(join(tmpdir(), 'apollo-env-ssh-'));
    ws = await Workspace.open(wsHome);
    work = join(sshd.home, 'proj');
    session = await ws.create({ name: 'ssh tools', cwd: work, environment: sshd.spec('gpu') });
    await environmentFor(session).mkdirp(work);
    pty = new PtyHost({ resourcesDir: resolve('resources'), events: { data: () => undefined, changed: () => undefined } });
    ctx = { session, pty, cwd: work, options: { ...DEFAULT_TOOL_OPTIONS, settleMs: 800 } };
  });
  afterAll(async () => {
    await pty?.dispose();
    await ws?.close();
    await sshd?.close();
    await rm(wsHome, { recursive: true, force: true });
  });

  const run = async (name: string, args: Record<string, unknown>) => {
    const o = await executeTool(name, args, ctx);
    return { ...o, obs: JSON.parse(o.observation) as Record<string, unknown> };
  };

  it('describes the host: its home, git, the login shell', async () => {
    const d = await environmentFor(session).describe();
    expect(d).toMatchObject({ name: 'gpu', kind: 'ssh', target: `ssh ${sshd.spec().user}@127.0.0.1:${sshd.port}`, home: sshd.home, shell: '/bin/bash' });
    expect(d.git).toMatch(/^git version/);
  });

  it('run_command runs in an integrated remote shell: exit codes, directory, environment marks', async () => {
    const a = await run('run_command', { session_id: 'main', command: 'echo "on $APOLLO_TERMINAL_ID in $PWD"; false' });
    expect(a.obs.exit_code).toBe(1);
    expect(a.obs.output).toBe(`on main in ${work}`);
    expect(a.isError).toBe(true);
    expect(a.env).toEqual({ name: 'gpu', kind: 'ssh', target: `ssh ${sshd.spec().user}@127.0.0.1:${sshd.port}` });
    const started = session.events.find((e) => e.type === 'terminal.started');
    expect(started).toMatchObject({ terminalId: 'main', command: '/bin/bash', cwd: work, integrated: true, env: { name: 'gpu', kind: 'ssh' } });
    expect(started?.type === 'terminal.started' && started.command).toBe('/bin/bash');
    // The shell was started by ssh on this machine, the integration sent over the connection.
    const t = pty.get(session.id, 'main');
    expect(t.info().integrated).toBe(true);
    await run('run_command', { session_id: 'main', command: 'mkdir -p sub && cd sub && export VIRTUAL_ENV=/opt/venv' });
    expect(t.shellCwd()).toBe(join(work, 'sub'));
    expect(t.shellEnv()?.VIRTUAL_ENV).toBe('/opt/venv');
    const ls = await run('list_sessions', {});
    expect((ls.obs.sessions as Array<{ cwd: string }>)[0]?.cwd).toBe(join(work, 'sub'));
  });

  it('file tools act on the host: relative to the working folder, ~ is the host home', async () => {
    const c = await run('create_file', { filename: 'src/app.py', content: 'print(1)\nprint(2)\n' });
    expect(c.obs.message).toBe(`File ${join(work, 'src/app.py')} created successfully`);
    expect(c.env?.name).toBe('gpu');
    const e = await run('edit_file', { path: 'src/app.py', start: 2, end: 2, content: 'print("two")' });
    expect(e.obs.removed_context).toBe('2|print(2)');
    const o = await run('open_file', { path: 'src/app.py' });
    expect(o.obs.output).toBe(`[File: ${join(work, 'src/app.py')} (2 lines total)]\n1|print(1)\n2|print("two")`);
    const l = await run('list_files', { path: '.' });
    expect(l.obs.output).toBe('src/\nsub/');
    const l2 = await run('list_files', { path: 'src' });
    expect(l2.obs.output).toBe('app.py (22 bytes)');
    const home = await run('create_file', { filename: '~/notes.txt', content: 'remote home\n' });
    expect(home.obs.file_path).toBe(join(sshd.home, 'notes.txt'));
    expect(await readFile(join(sshd.home, 'notes.txt'), 'utf8')).toBe('remote home\n');
    expect(await stat(join(process.env.HOME!, 'notes.txt')).catch(() => null)).toBeNull();
    const missing = await run('open_file', { path: 'nope.txt' });
    expect(missing.obs.message).toBe(`open_file failed: No such file or folder: ${join(work, 'nope.txt')}`);
    // The shell sees what the file tools wrote.
    const cat = await run('run_command', { session_id: 'main', command: `cat ${join(work, 'src/app.py')}` });
    expect(cat.obs.output).toBe('print(1)\nprint("two")');
  });

  it('search and exec go through the same connection', async () => {
    const env = environmentFor(session);
    expect(await env.search(work, 'two')).toEqual([{ path: 'src/app.py', line: 2, text: 'print("two")' }]);
    expect((await env.exec('printf %s "$HOME"')).stdout.toString()).toBe(sshd.home);
  });

  it('output, idle checks, input, interrupt and close in a remote terminal', async () => {
    const bg = await run('run_command', { session_id: 'main', command: 'sleep 30', wait_for_completion: false });
    expect(bg.obs.async_execution).toBe(true);
    const busy = await run('check_session_idle', { session_id: 'main' });
    expect(busy.obs.is_idle).toBe(false);
    // The processes are listed from the host, where they run.
    expect(busy.obs.message).toMatch(/active child processes:\n- Process \d+ is in \S+ status, running command `sleep 30`/);
    const k = await run('kill_session_processes', { session_id: 'main' });
    expect(k.obs.is_idle).toBe(true);
    const i = await run('input_in_session', { session_id: 'main', input_text: 'echo typed-$((6*7))\n' });
    expect(i.obs.output).toContain('typed-42');
    const out = await run('get_session_output', { session_id: 'main', start_lines: 3 });
    expect(out.obs.output).toContain('typed-42');
    expect(out.obs.is_alive).toBe(true);
    const c = await run('close_session', { session_id: 'main' });
    expect(c.obs.success).toBe(true);
  });

  it('kill_session_processes stops a remote job that lived through the first Ctrl-C', async () => {
    // As a job does whose Ctrl-C reached the remote shell while it was starting the job
    // (only the host sees which process group holds its terminal): the first SIGINT is
    // spent, the job runs on. It is sent again while the command has not ended.
    const bg = await run('run_command', { session_id: 'k', command: `bash -c 'trap "trap - INT" INT; while :; do sleep 0.1; done'`, wait_for_completion: false });
    expect(bg.obs.async_execution).toBe(true);
    expect((await run('check_session_idle', { session_id: 'k' })).obs.is_idle).toBe(false);
    const k = await run('kill_session_processes', { session_id: 'k' });
    expect(k.obs.is_idle).toBe(true);
    // The keys typed next reach the prompt drawn after the last Ctrl-C, whole.
    const i = await run('input_in_session', { session_id: 'k', input_text: 'echo after-$((6*7))\n' });
    expect(i.obs.output).toContain('after-42');
    await run('close_session', { session_id: 'k' });
  });

  it('a remote zsh gets the integration too (its ZDOTDIR sent over the connection)', async () => {
    const t = await pty.create(session, { id: 'z', command: 'zsh', cwd: work });
    const r = await t.runCommand('cd src && (exit 3)', { wait: true, timeoutMs: 10_000 });
    expect(t.info().integrated).toBe(true);
    expect(r.exitCode).toBe(3);
    expect(t.shellCwd()).toBe(join(work, 'src'));
    await pty.close(session, 'z');
  });

  it('everything went over one connection (ControlMaster)', async () => {
    const env = environmentFor(session) as SshEnvironment;
    expect(env.masterPid()).toBeGreaterThan(0);
    // One per-connection sshd process: the master's; the terminals and commands were channels in it.
    expect(await sshd.dropConnections()).toBe(1);
  });
});
