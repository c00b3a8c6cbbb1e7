// The PTY host: no terminal process may outlive the host or its
// session (dispose or delete while a terminal is starting, delete while one is live).
import { describe, expect, it } from 'vitest';
import { mkdtemp, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { LiveTerminal } from '../../electron/core/pty/types';
import { isSecretPrompt } from '../../electron/core/pty/terminal';
import { ptyWorkspace } from '../fixtures/shell-home';

const fx = ptyWorkspace('apollo-pty-lifecycle-', { '.bashrc': 'PS1="$ "\n' });

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Wait for `cond`: true once it holds, false when `ms` passed first (callers assert it). */
async function until(cond: () => boolean | Promise<boolean>, ms = 5000): Promise<boolean> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 25));
  }
  return true;
}

function newHost() {
  return fx.host({ events: { data: () => {}, changed: () => {} }, env: { ...process.env, HOME: fx.userHome, SHELL: '/bin/bash' } });
}

/** Settle a create: the terminal it made, or the error. */
async function settle(p: Promise<LiveTerminal>): Promise<{ t?: LiveTerminal; e?: unknown }> {
  return p.then((t) => ({ t }), (e: unknown) => ({ e }));
}

/** Children of this process that were not in `before`. */
async function newChildren(before: ReadonlySet<number>): Promise<number[]> {
  return (await childPids()).filter((p) => !before.has(p));
}

/** Pids of the processes whose parent is this process (the pty children). */
async function childPids(): Promise<number[]> {
  const { readdir, readFile } = await import('node:fs/promises');
  const out: number[] = [];
  for (const d of await readdir('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const st = await readFile(`/proc/${d}/stat`, 'utf8').catch(() => '');
    const rest = st.slice(st.lastIndexOf(')') + 2).split(' ');
    if (Number(rest[1]) === process.pid && rest[0] !== 'Z') out.push(Number(d));
  }
  return out;
}

describe.skipIf(process.platform !== 'linux')('terminal processes end with their host and session', () => {
  it('a terminal still starting when the host is disposed does not keep running', async () => {
    const cwd = await mkdtemp(join(fx.root, 'w-'));
    const session = await fx.ws.create({ cwd });
    const host = newHost();
    const before = new Set(await childPids());
    const creating = settle(host.create(session, { id: 'main', command: 'sleep', args: ['300'] }));
    // Once the process has spawned, dispose while the start-up probe still runs.
    expect(await until(async () => (await newChildren(before)).length > 0)).toBe(true);
    await host.dispose();
    const r = await creating;
    if (r.t) expect(alive(r.t.info().pid!)).toBe(false);
    else expect(r.e).toMatchObject({ code: 'UNAVAILABLE' });
    // Every process it started ends (reaped); one that lives on fails the wait.
    expect(await until(async () => (await newChildren(before)).length === 0)).toBe(true);
  });

  it('deleting a session ends its live terminals, even without closing them first', async () => {
    const cwd = await mkdtemp(join(fx.root, 'w-'));
    const session = await fx.ws.create({ cwd });
    const host = newHost();
    const t = await host.create(session, { id: 'main', command: 'sleep', args: ['300'] });
    const pid = t.info().pid!;
    expect(alive(pid)).toBe(true);
    await fx.ws.remove(session.id);
    expect(await until(() => !alive(pid))).toBe(true);
    expect(host.list(session.id)).toEqual([]);
    // Nothing recreated the deleted folder.
    await expect(stat(session.dir)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('a terminal started while its session is being deleted does not keep running', async () => {
    const cwd = await mkdtemp(join(fx.root, 'w-'));
    const session = await fx.ws.create({ cwd });
    const host = newHost();
    const before = new Set(await childPids());
    const creating = settle(host.create(session, { id: 'late', command: 'sleep', args: ['300'] }));
    expect(await until(async () => (await newChildren(before)).length > 0)).toBe(true);
    await fx.ws.remove(session.id);
    const r = await creating;
    if (r.t) expect(await until(() => !alive(r.t!.info().pid!))).toBe(true);
    expect(await until(async () => (await newChildren(before)).length === 0)).toBe(true);
    await expect(stat(session.dir)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe.skipIf(process.platform !== 'linux')('shell-integration marks in program output', () => {
  for (const shell of ['/bin/bash', '/usr/bin/zsh']) {
    it(`cannot end a command early or set the recorded environment (${shell})`, async (ctx) => {
      const { existsSync } = await import('node:fs');
      if (!existsSync(shell)) return ctx.skip();
      const cwd = await mkdtemp(join(fx.root, 'w-'));
      const session = await fx.ws.create({ cwd });
      const host = fx.host({ events: { data: () => {}, changed: () => {} }, env: { ...process.env, HOME: fx.userHome, SHELL: shell, ZDOTDIR: '' } });
      const t = await host.create(session, { id: 'main' });
      expect(t.info().integrated).toBe(true);
      // What `cat` of a recording, or a nested shell, would print.
      const r = await t.runCommand("printf '\\033]133;D;0\\007\\033]1337;ApolloEnv;PATH=/evil\\007'; sleep 0.5; echo done", { wait: true, timeoutMs: 10_000 }).catch((e: unknown) => e);
      expect(r).toMatchObject({ output: expect.stringContaining('done') });
      expect(t.shellEnv()?.PATH).not.toBe('/evil');
      // The real marks still work, and the secret did not reach the shell's environment.
      const env = await t.runCommand('echo "nonce=${APOLLO_MARK_NONCE-unset}"; false', { wait: true, timeoutMs: 10_000 });
      expect(env).toMatchObject({ exitCode: 1, output: 'nonce=unset' });
    });
  }
});

describe('plain text of terminal output', () => {
  it('handles a long spinner line drawn with backspaces in linear time', async () => {
    const { terminalText } = await import('../../electron/core/pty/strip-ansi');
    const started = Date.now();
    expect(terminalText('ab\b'.repeat(400_000))).toBe('a'.repeat(400_000));
    expect(Date.now() - started).toBeLessThan(2000);
    // A backspace removes a whole character, never half of one.
    expect(terminalText('x😀\by')).toBe('xy');
  });
});

describe('a secret prompt', () => {
  it('is a program asking for a secret, not a shell prompt that names one', () => {
    for (const p of ['[sudo] password for me: ', 'Enter PEM pass phrase:', 'Enter your token (input will not be visible): ', '? Paste your authentication token: ', 'Password: ***']) expect(isSecretPrompt(p), p).toBe(true);
    for (const p of ['me@box ~/src/token-bucket> ', '~/k8s/secret-operator> ', 'PS C:\\work\\api-key-rotation> ', 'Do you want to save credentials? ', '$ ', 'password reset sent']) expect(isSecretPrompt(p), p).toBe(false);
  });
});

describe.skipIf(process.platform !== 'linux')('human input at a password prompt', () => {
  /** A shell of its own session, and `screen`: its text once `re` matches it (or after 5 s). */
  const shell = async () => {
    const session = await fx.ws.create({ cwd: await mkdtemp(join(fx.root, 'w-')) });
    const t = await newHost().create(session, { id: 'main' });
    const screen = async (re: RegExp) => {
      for (let i = 0; i < 200 && !re.test(await t.readText(0)); i++) await new Promise((r) => setTimeout(r, 25));
      return t.readText(0);
    };
    return { session, t, screen };
  };

  it('is recorded masked (the log is exported and quoted to the model), other input as typed', async () => {
    const { session, t, screen } = await shell();
    await t.runCommand('read -rs -p "[sudo] password for me: " x; echo; echo "got ${#x}"', { wait: false, timeoutMs: 0 });
    await screen(/password for me: $/);
    t.write('hunter2\r', 'human');
    expect(await screen(/got 7/)).toMatch(/got 7/);
    for (let i = 0; i < 200 && !t.isIdle(); i++) await new Promise((r) => setTimeout(r, 25));
    t.write('echo visible\r', 'human');
    await until(() => session.events.some((e) => e.type === 'terminal.input' && e.data === 'echo visible\r'), 2000);
    const human = session.events.filter((e) => e.type === 'terminal.input' && e.source === 'human').map((e) => (e as { data: string }).data);
    expect(human).toEqual(['*******\r', 'echo visible\r']);
    expect(JSON.stringify(session.events)).not.toContain('hunter2');
  });

  it('is masked key by key at the prompts of openssl, huggingface-cli and wandb, and under echoed stars', async () => {
    const { session, t, screen } = await shell();
    const idle = async () => {
      for (let i = 0; i < 200 && !t.isIdle(); i++) await new Promise((r) => setTimeout(r, 25));
    };
    // Typed one key at a time, as xterm sends them; each entry ends with Enter.
    const type = async (keys: string, echoed: RegExp) => {
      for (const k of keys) {
        const before = session.events.length;
        t.write(k, 'human');
        await until(() => session.events.length > before, 2000);
      }
      return screen(echoed);
    };
    const prompts: Array<[string, RegExp]> = [
      ['Enter PEM pass phrase:', /got-1 14/],
      ['Enter your token (input will not be visible): ', /got-2 14/],
      ['wandb: Paste an API key from your profile and hit enter, or press ctrl+c to quit: ', /got-3 14/],
    ];
    for (const [i, [prompt, done]] of prompts.entries()) {
      await t.runCommand(`read -rs -p "${prompt}" x; echo; echo "got-${i + 1} \${#x}"`, { wait: false, timeoutMs: 0 });
      const tail = prompt.trimEnd().slice(-8);
      for (let k = 0; k < 200 && !(await t.readText(0)).trimEnd().endsWith(tail); k++) await new Promise((r) => setTimeout(r, 25));
      await type('hunter2hunter2\r', done);
      await idle();
    }
    // A program that echoes a star per key: its line ends in stars, not in the prompt, after the first key.
    await t.runCommand(`python3 -c "import sys,tty,termios
fd=sys.stdin.fileno(); old=termios.tcgetattr(fd)
sys.stdout.write('[sudo] password for me: '); sys.stdout.flush(); tty.setraw(fd)
n=0
while True:
  c=sys.stdin.read(1)
  if c in '\\r\\n': break
  n+=1; sys.stdout.write('*'); sys.stdout.flush()
termios.tcsetattr(fd, termios.TCSADRAIN, old); print(); print('stars', n)"`, { wait: false, timeoutMs: 0 });
    await screen(/password for me: $/);
    await type('hunter2hunter2\r', /stars 14/);
    await idle();
    t.write('echo visible\r', 'human');
    await until(() => session.events.some((e) => e.type === 'terminal.input' && e.data === 'echo visible\r'), 2000);
    const human = session.events.filter((e) => e.type === 'terminal.input' && e.source === 'human').map((e) => (e as { data: string }).data).join('');
    expect(human).toBe(`${'**************\r'.repeat(4)}echo visible\r`);
    expect(JSON.stringify(session.events)).not.toContain('hunter2');
  });
});
