// The command lines each environment hands to its engine (ssh, docker, podman,
// kubectl), checked everywhere, also where no engine runs; and the POSIX scripts
// behind remote file operations, run by this machine's sh.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtemp, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ContainerEnvironment } from '../../electron/core/env/container';
import { KubectlEnvironment } from '../../electron/core/env/kubectl';
import { LOCAL } from '../../electron/core/env/local';
import { SshEnvironment } from '../../electron/core/env/ssh';
import { listScript, parseList, parseProbe, PROBE_SCRIPT, resolvePosix, shq, statScript } from '../../electron/core/env/posix';
import { parsePersistStart, persistPaths, persistStartScript, sendKeysCommands, TMUX_SOCKET, tmuxSessionName, tmuxUsable } from '../../electron/core/env/tmux';
import { describeEnvTarget, parseEnvSpec, type ContainerEnvSpec, type KubectlEnvSpec, type SshEnvSpec } from '../../shared/environments';

const ctx = { sessionId: '2026-12-01-abcdef12', sessionDir: '/ws/sessions/2026-12-01-abcdef12' };

describe('ssh command lines', () => {
  const spec: SshEnvSpec = { kind: 'ssh', name: 'gpu', host: 'gpu-box', user: 'ann', port: 2222, identity: '/home/ann/.ssh/id_ed25519', options: ['UserKnownHostsFile=/k'] };
  const env = new SshEnvironment(spec, ctx);
  const shared = ['-o', `ControlPath=${env.controlPath}`, '-p', '2222', '-l', 'ann', '-i', '/home/ann/.ssh/id_ed25519', '-o', 'UserKnownHostsFile=/k'];

  it('one master holds the connection: ControlMaster, no command, no prompts, keep-alives', () => {
    expect(env.masterArgs()).toEqual([
      '-M', '-N', '-o', 'ControlMaster=yes', '-o', 'ControlPersist=no', '-o', 'BatchMode=yes',
      '-o', 'ServerAliveInterval=15', '-o', 'ServerAliveCountMax=3', '-o', 'ConnectTimeout=30', ...shared, 'gpu-box',
    ]);
  });

  it('commands and terminals are clients of that master, BatchMode for commands, a tty for terminals', () => {
    expect(env.execArgs("echo 'hi'")).toEqual(['-T', '-o', 'ControlMaster=no', '-o', 'BatchMode=yes', ...shared, 'gpu-box', '--', `sh -c 'echo '\\''hi'\\'''`]);
    expect(env.terminalArgs('/home/ann/.apollo-workstation/run/x.sh')).toEqual([
      '-tt', '-o', 'ControlMaster=no', '-o', 'BatchMode=yes', ...shared, 'gpu-box', '--', "sh '/home/ann/.apollo-workstation/run/x.sh'",
    ]);
    expect(env.checkArgs()).toEqual(['-O', 'check', ...shared, 'gpu-box']);
  });

  it('our options come first: ssh keeps the first value of each option, so a user option cannot move the control socket', () => {
    const args = new SshEnvironment({ ...spec, options: ['ControlPath=/tmp/x'] }, ctx).execArgs('true');
    expect(args.indexOf(`ControlPath=${env.controlPath}`)).toBeLessThan(args.indexOf('ControlPath=/tmp/x'));
  });

  it('a minimal profile is just the host', () => {
    const e = new SshEnvironment({ kind: 'ssh', name: 'h', host: 'h' }, ctx);
    expect(e.execArgs('true')).toEqual(['-T', '-o', 'ControlMaster=no', '-o', 'BatchMode=yes', '-o', `ControlPath=${e.controlPath}`, 'h', '--', "sh -c 'true'"]);
  });
});

describe('docker and podman command lines', () => {
  it('exec -i into a running container, exec -it for terminals', () => {
    const env = new ContainerEnvironment({ kind: 'docker', name: 'box', container: 'trainer', user: 'dev' }, ctx);
    expect(env.execArgs('ls')).toEqual(['exec', '-i', '-u', 'dev', 'trainer', 'sh', '-c', 'ls']);
    expect(env.terminalArgs('/root/.apollo-workstation/run/a.sh')).toEqual(['exec', '-it', '-u', 'dev', 'trainer', 'sh', '/root/.apollo-workstation/run/a.sh']);
    expect(env.inspectArgs()).toEqual(['inspect', '--format', '{{.State.Running}}', 'trainer']);
  });

  it('an image is started once per session with the work folder mounted and the state in the session folder', () => {
    const spec: ContainerEnvSpec = { kind: 'podman', name: 'py', image: 'python:3.12', mount: '/home/ann/proj' };
    const env = new ContainerEnvironment(spec, ctx);
    expect(env.container).toBe('apollo-2026-12-01-a-py');
    expect(env.spec.workdir).toBe('/work');
    expect(env.spec.stateDir).toBe('/.apollo-workstation');
    expect(env.runArgs()).toEqual([
      'run', '-d', '--name', 'apollo-2026-12-01-a-py', '--label', 'apollo-workstation=1',
      '-v', '/home/ann/proj:/work', '-v', '/ws/sessions/2026-12-01-abcdef12/container-state:/.apollo-workstation', '-w', '/work',
      '--entrypoint', 'sh', 'python:3.12', '-c', 'trap "exit 0" TERM INT; while :; do sleep 3600 & wait $!; done',
    ]);
    expect(env.execArgs('true')).toEqual(['exec', '-i', 'apollo-2026-12-01-a-py', 'sh', '-c', 'true']);
  });
});

describe('kubectl command lines', () => {
  it('exec into the pod with the context and namespace, -- before the command', () => {
    const spec: KubectlEnvSpec = { kind: 'kubectl', name: 'k', pod: 'train-0', namespace: 'ml', context: 'prod', container: 'main' };
    const env = new KubectlEnvironment(spec, ctx);
    expect(env.execArgs('id')).toEqual(['--context', 'prod', '--namespace', 'ml', 'exec', '-i', 'train-0', '-c', 'main', '--', 'sh', '-c', 'id']);
    expect(env.terminalArgs('/r.sh')).toEqual(['--context', 'prod', '--namespace', 'ml', 'exec', '-it', 'train-0', '-c', 'main', '--', 'sh', '/r.sh']);
    expect(env.phaseArgs()).toEqual(['--context', 'prod', '--namespace', 'ml', 'get', 'pod', 'train-0', '-o', 'jsonpath={.status.phase}']);
    expect(new KubectlEnvironment({ kind: 'kubectl', name: 'k', pod: 'p' }, ctx).execArgs('id')).toEqual(['exec', '-i', 'p', '--', 'sh', '-c', 'id']);
  });
});

describe('environment profiles', () => {
  it('parse and describe each kind; refuse what an engine would take for an option', () => {
    expect(parseEnvSpec({ kind: 'ssh', name: 'gpu', host: 'box', port: 22 }).ok).toBe(true);
    expect(parseEnvSpec({ kind: 'ssh', name: 'gpu', host: '-oProxyCommand=x' })).toMatchObject({ ok: false, error: expect.stringMatching(/^host: /) });
    expect(parseEnvSpec({ kind: 'docker', name: 'd' })).toMatchObject({ ok: false, error: expect.stringMatching(/either a container or an image/) });
    expect(parseEnvSpec({ kind: 'docker', name: 'd', container: 'c', image: 'i' }).ok).toBe(false);
    expect(parseEnvSpec({ kind: 'kubectl', name: 'k', pod: 'p', workdir: 'relative' })).toMatchObject({ ok: false, error: expect.stringMatching(/^workdir: /) });
    expect(parseEnvSpec({ kind: 'telnet', name: 'x' }).ok).toBe(false);
    expect(describeEnvTarget({ kind: 'ssh', name: 'g', host: 'box', user: 'u', port: 2 })).toBe('ssh u@box:2');
    expect(describeEnvTarget({ kind: 'kubectl', name: 'k', pod: 'p', namespace: 'n', context: 'c' })).toBe('kubectl pod n/p (context c)');
  });
});

describe('POSIX building blocks', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'apollo-posix-'));
    await writeFile(join(dir, "it's a file"), 'abc');
    await writeFile(join(dir, '.hidden'), '12345');
    await writeFile(join(dir, 'new\nline'), 'xy');
    await mkdir(join(dir, 'sub'));
    await symlink('sub', join(dir, 'link'));
    await symlink('missing', join(dir, 'dangling'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));
  const sh = (script: string): Buffer => execFileSync('/bin/sh', ['-c', script]);

  it('shq quotes any bytes for sh', () => {
    for (const s of ["a'b", '$(rm -rf /)', 'back\\slash "q"', 'tab\tnew\nline', '']) expect(sh(`printf '%s' ${shq(s)}`).toString()).toBe(s);
    expect(() => shq('a\0b')).toThrow();
  });

  it('lists a folder with kinds and sizes (one wc for all files, odd names too)', () => {
    const rows = parseList(sh(listScript(dir))).sort((a, b) => a.name.localeCompare(b.name));
    expect(rows).toEqual([
      { name: '.hidden', kind: 'file', size: 5 },
      { name: 'dangling', kind: 'link', size: null },
      { name: "it's a file", kind: 'file', size: 3 },
      { name: 'link', kind: 'link', size: null },
      { name: 'new\nline', kind: 'file', size: 2 },
      { name: 'sub', kind: 'dir', size: null },
    ]);
  });

  it('stats with symlinks followed, exit 2 for nothing there', () => {
    expect(sh(statScript(join(dir, "it's a file"))).toString()).toBe('file 3');
    expect(sh(statScript(join(dir, 'link'))).toString()).toBe('dir 0');
    expect(() => sh(statScript(join(dir, 'dangling')))).toThrow();
  });

  it('probes the facts the environment needs', () => {
    const p = parseProbe(sh(PROBE_SCRIPT).toString());
    expect(p.home).toBe(process.env.HOME);
    expect(p.git).toMatch(/^git version/);
  });

  it('resolves paths the POSIX way, ~ being the environment home', () => {
    expect(resolvePosix('/home/u', '/work/p', 'a/../b')).toBe('/work/p/b');
    expect(resolvePosix('/home/u', '/work/p', '~/x')).toBe('/home/u/x');
    expect(resolvePosix('/home/u', '~/p', 'x')).toBe('/home/u/p/x');
    expect(resolvePosix('/home/u', '/w', '/abs//y/')).toBe('/abs/y/');
  });
});

describe('terminals kept in tmux: names, versions and the control commands', () => {
  it('names a terminal tmux session by session and terminal, hashing ids tmux would refuse', () => {
    expect(tmuxSessionName('2026-12-01-abcdef12', 'main')).toBe('apollo-2026-12-01-abcdef12-main');
    const dotted = tmuxSessionName('2026-12-01-abcdef12', 'a.b');
    expect(dotted).toMatch(/^apollo-2026-12-01-abcdef12-a_b-[0-9a-f]{6}$/);
    expect(dotted).not.toBe(tmuxSessionName('2026-12-01-abcdef12', 'a:b'));
  });

  it('needs tmux 3.0+ (send-keys -H) and a tail with --pid', () => {
    expect(tmuxUsable('tmux 3.3a', true)).toBe(true);
    expect(tmuxUsable('tmux 3.0a', true)).toBe(true);
    expect(tmuxUsable('tmux next-3.5', true)).toBe(true);
    expect(tmuxUsable('tmux 2.9', true)).toBe(false);
    expect(tmuxUsable('tmux 3.3a', false)).toBe(false);
    expect(tmuxUsable('', true)).toBe(false);
  });

  it('types bytes as they are (hex, in lines of 512 bytes) into the session pane', () => {
    expect(sendKeysCommands('apollo-x-main', Buffer.from('é\x03\r'))).toBe("send-keys -t '=apollo-x-main:' -H c3 a9 03 0d\n");
    const lines = sendKeysCommands('n', Buffer.alloc(1100, 0x61)).split('\n').filter(Boolean);
    expect(lines.map((l) => l.split(' ').length - 4)).toEqual([512, 512, 76]);
  });

  it('reads what the start script found', () => {
    expect(parsePersistStart('new\nab12\n')).toEqual({ kind: 'new', nonce: 'ab12' });
    expect(parsePersistStart('attach\nab12\n4096\nbusy\n')).toEqual({ kind: 'attach', nonce: 'ab12', logBytes: 4096, busy: true });
    expect(parsePersistStart('attach\nab12\n\nidle\n')).toEqual({ kind: 'attach', nonce: 'ab12', logBytes: 0, busy: false });
    expect(parsePersistStart('')).toBeNull();
    expect(parsePersistStart('attach\n$(x)\n1\nidle')).toBeNull();
  });

  // The state a re-attached terminal starts in comes from the shell's own marks in the
  // pane log, not from the pane's foreground program: a loop of the shell's own
  // (`while ...; do sleep 0.1; done`) has the shell in front between two sleeps.
  it('a re-attached pane is busy or idle as the last mark of its shell in the log says', async () => {
    const run = await mkdtemp(join(tmpdir(), 'apollo-persist-'));
    const name = tmuxSessionName(`t${process.pid}-${Date.now()}`, 'main');
    const paths = persistPaths(run, name);
    const nonce = 'ab12cd34';
    const tmux = (...args: string[]) => execFileSync('tmux', ['-L', TMUX_SOCKET, ...args], { stdio: ['ignore', 'pipe', 'ignore'] });
    // The pane's foreground program is the shell itself, as between two sleeps of such a loop.
    tmux('-f', '/dev/null', 'new-session', '-d', '-s', name, '-x', '80', '-y', '24', 'sh');
    const state = async (log: string) => {
      await writeFile(paths.log, log, 'latin1');
      const out = execFileSync('sh', ['-c', persistStartScript(paths, join(run, 'launcher'), 'ffff', 'sh')]).toString();
      return parsePersistStart(out);
    };
    try {
      await writeFile(paths.nonceFile, nonce);
      const prompt = '\x1b]133;A\x07$ \x1b]133;B\x07';
      const started = `${prompt}while [ ! -f go ]; do sleep 0.1; done\r\n\x1b]133;C\x07started\r\n`;
      expect(await state(started)).toMatchObject({ kind: 'attach', nonce, busy: true });
      // A program's output that looks like an end mark, without the shell's nonce, is not one.
      expect(await state(`${started}\x1b]133;D;0\x07`)).toMatchObject({ busy: true });
      const ended = `${started}\x1b]133;D;0;apollo-nonce=${nonce}\x07`;
      expect(await state(ended)).toMatchObject({ busy: false, logBytes: Buffer.byteLength(ended, 'latin1') });
      expect(await state(`${ended}${prompt}`)).toMatchObject({ busy: false });
      // No mark at all (a shell without integration): the foreground program decides, here the shell.
      expect(await state('plain output\r\n')).toMatchObject({ busy: false });
    } finally {
      try { tmux('kill-session', '-t', `=${name}`); } catch { /* already gone */ }
      await rm(run, { recursive: true, force: true });
    }
  });
});

describe('the processes of a terminal', () => {
  it('lists the children of the shell, as check_session_idle says them', async () => {
    const shell = spawn('sh', ['-c', 'sleep 7 & wait'], { stdio: 'ignore', detached: true });
    try {
      let procs: string[] = [];
      for (let i = 0; i < 50 && !procs.length; i++) {
        procs = await LOCAL.terminalProcesses({ id: 'main', pid: shell.pid });
        if (!procs.length) await new Promise((r) => setTimeout(r, 50));
      }
      expect(procs).toEqual([expect.stringMatching(/^Process \d+ is in \S+ status, running command `sleep 7`$/)]);
      expect(await LOCAL.terminalProcesses({ id: 'main', pid: undefined })).toEqual([]);
    } finally {
      process.kill(-shell.pid!, 'SIGKILL'); // the shell and its sleep
    }
  });
});
