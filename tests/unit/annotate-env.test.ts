// Environment capture for checkpoints: the shell integration reports an allowlist of
// variables at each prompt (OSC 1337;ApolloEnv), the PTY host parses it, and a
// rewound terminal gets the recorded values back. Nothing else may be captured.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { OscParser, toShellMark } from '../../electron/core/pty/osc-parser';
import type { LiveTerminal } from '../../electron/core/pty/types';
import { ptyWorkspace } from '../fixtures/shell-home';

const enc = (s: string) => Buffer.from(s, 'utf8');

describe('OSC 1337;ApolloEnv parsing', () => {
  it('decodes the reported variables and drops names that are invalid or look secret', () => {
    const m = toShellMark({ data: '1337;ApolloEnv;PATH=/a%3A/b;FOO=x%20y%3Bz%3D%25;EMPTY=;MY_TOKEN=s;9x=1;=v;noeq;Bad-Name=1;UTF=%C3%A9', start: 0, end: 10 });
    expect(m).toEqual({ kind: 'env', start: 0, end: 10, env: { PATH: '/a:/b', FOO: 'x y;z=%', EMPTY: '', UTF: 'é' } });
    expect(toShellMark({ data: '1337;ApolloEnv', start: 0, end: 1 })).toMatchObject({ kind: 'env', env: {} });
    expect(toShellMark({ data: '1337;File=abc', start: 0, end: 1 })).toBeNull();
  });

  it('accepts a long environment report split anywhere, still drops other long payloads', () => {
    const long = `1337;ApolloEnv;PATH=${'/x'.repeat(10_000)}`;
    const stream = enc(`\x1b]${long}\x07\x1b]1337;File=${'y'.repeat(10_000)}\x07\x1b]133;A\x07`);
    for (const cut of [1, 5, 20, 4_000, 4_100, 15_000]) {
      const p = new OscParser();
      const seqs = [...p.feed(stream.subarray(0, cut), 0), ...p.feed(stream.subarray(cut), cut)];
      expect(seqs.map((s) => s.data.slice(0, 20))).toEqual([long.slice(0, 20), '133;A']);
      expect(toShellMark(seqs[0]!)).toMatchObject({ kind: 'env', env: { PATH: '/x'.repeat(10_000) } });
    }
  });
});

describe('shell integration reports and restores the allowlisted environment', () => {
  // Startup files that reset what a rewind restores: the integration must win.
  const fx = ptyWorkspace('apollo-annotate-env-', {
    '.bashrc': 'PS1="$ "\nexport VIRTUAL_ENV=/from-rc\nexport PATH="/rc/bin:$PATH"\n',
    '.profile': '. "$HOME/.bashrc"\n',
    '.zshrc': 'PS1="%# "\nexport VIRTUAL_ENV=/from-rc\nexport PATH="/rc/bin:$PATH"\n',
  });

  const run = async (t: LiveTerminal, cmd: string) => (await t.runCommand(cmd, { wait: true, timeoutMs: 5_000 })).output;

  for (const shell of ['/bin/bash', '/bin/zsh']) {
    it(`${shell}: reports PATH, VIRTUAL_ENV and $APOLLO_ENV_VARS names, never secrets or unexported variables`, async () => {
      const session = await fx.ws.create({ cwd: fx.root });
      const env: NodeJS.ProcessEnv = {
        PATH: process.env.PATH, HOME: fx.userHome, SHELL: shell, HISTFILE: '/dev/null',
        APOLLO_ENV_VARS: 'FOO, MY_API_KEY BAR;QUX', FOO: 'a b;c=d%é', MY_API_KEY: 'sk-very-secret-123', DB_PASSWORD: 'hunter2',
      };
      const host = fx.host({ events: { data: () => undefined, changed: () => undefined }, env });
      const t = await host.create(session, { id: 'main' });
      await run(t, 'true');
      const first = t.shellEnv()!;
      expect(first.FOO).toBe('a b;c=d%é');
      expect(first.VIRTUAL_ENV).toBe('/from-rc');
      expect(first.PATH?.startsWith('/rc/bin:')).toBe(true);
      expect(Object.keys(first).sort()).toEqual(['FOO', 'PATH', 'VIRTUAL_ENV']);

      await run(t, 'export BAR=1; unset FOO; QUX=not-exported; export CONDA_PREFIX=/c; cd /');
      const second = t.shellEnv()!;
      expect(Object.keys(second).sort()).toEqual(['BAR', 'CONDA_PREFIX', 'PATH', 'VIRTUAL_ENV']);
      expect(second).toMatchObject({ BAR: '1', CONDA_PREFIX: '/c' });
      expect(t.shellCwd()).toBe('/');

      await (await session.recording('main')).flush();
      const raw = await readFile(join(session.dir, 'terminals', 'main.out'), 'utf8');
      expect(raw).toContain('\x1b]1337;ApolloEnv;');
      expect(raw).not.toContain('sk-very-secret');
      expect(raw).not.toContain('hunter2');
    });

    it(`${shell}: a restored environment wins over the startup files; the helpers are gone`, async () => {
      const session = await fx.ws.create({ cwd: fx.root });
      const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: fx.userHome, SHELL: shell, HISTFILE: '/dev/null', CONDA_PREFIX: '/inherited' };
      const host = fx.host({ events: { data: () => undefined, changed: () => undefined }, env });
      const path = `/restored/bin:${process.env.PATH}`;
      const t = await host.create(session, { id: 'main', env: { PATH: path, VIRTUAL_ENV: '/restored venv', CONDA_PREFIX: null } });
      expect(await run(t, 'echo "$VIRTUAL_ENV|${CONDA_PREFIX-unset}|$PATH"')).toBe(`/restored venv|unset|${path}`);
      expect(await run(t, 'env | grep -c APOLLO_RESTORE || true')).toBe('0');
      expect(t.shellEnv()).toEqual({ PATH: path, VIRTUAL_ENV: '/restored venv' });
      await expect(host.create(session, { id: 'bad', env: { 'NOT-A-NAME': 'x' } })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    });
  }
});
