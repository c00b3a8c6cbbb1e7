// Shell integration reports the command line a shell is about to run (OSC 133;E,
// signed with the terminal's nonce), recorded on its terminal.command start event:
// what a human typed becomes a step with the exact command, whatever editing keys
// produced the line.
import { describe, expect, it } from 'vitest';
import { mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import type { SessionEvent } from '../../shared/events';
import { OscParser, toShellMark } from '../../electron/core/pty/osc-parser';
import type { LiveTerminal } from '../../electron/core/pty/types';
import type { SessionLog } from '../../electron/core/store/workspace';
import { ptyWorkspace } from '../fixtures/shell-home';

const fx = ptyWorkspace('apollo-cmdline-', { '.bashrc': 'PS1="$ "\n', '.zshrc': 'PS1="%# "\n' });

type CommandEvent = Extract<SessionEvent, { type: 'terminal.command' }>;
const starts = (s: SessionLog): CommandEvent[] => s.events.filter((e): e is CommandEvent => e.type === 'terminal.command' && e.phase === 'start');

async function until(cond: () => boolean, ms = 8000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Type a line as a human would and wait for its command to end. */
async function typeLine(s: SessionLog, t: LiveTerminal, keys: string): Promise<CommandEvent> {
  const ends = () => s.events.filter((e) => e.type === 'terminal.command' && e.phase === 'end').length;
  const before = ends();
  const n = starts(s).length;
  t.write(keys, 'human');
  await until(() => ends() > before && starts(s).length > n, 8000, `the command of ${JSON.stringify(keys)}`);
  return starts(s).at(-1)!;
}

describe('OSC 133;E', () => {
  it('parses the %-encoded command line and its nonce', () => {
    const p = new OscParser();
    const seqs = p.feed(Buffer.from('\x1b]133;E;echo a%3Bb %25 x%0Ay;apollo-nonce=n1\x07'), 10);
    expect(toShellMark(seqs[0]!)).toEqual({ kind: 'commandLine', start: 10, end: 10 + seqs[0]!.end - 10, command: 'echo a;b % x\ny', nonce: 'n1' });
  });

  it('keeps a command line longer than ordinary OSC payloads', () => {
    const long = 'x'.repeat(10_000);
    const seqs = new OscParser().feed(Buffer.from(`\x1b]133;E;${long};apollo-nonce=n\x07`), 0);
    expect(seqs).toHaveLength(1);
    expect(toShellMark(seqs[0]!)).toMatchObject({ kind: 'commandLine', command: long });
  });
});

describe.each([['/bin/bash'], ['/usr/bin/zsh']])('%s reports the command line', (shell) => {
  it('records the line as run, edited or not, and never a forged one', async () => {
    const session = await fx.ws.create({ cwd: await mkdtemp(join(fx.root, 'w-')) });
    const host = fx.host({ events: { data: () => undefined, changed: () => undefined }, env: { ...process.env, HOME: fx.userHome, ZDOTDIR: fx.userHome, SHELL: shell, HISTFILE: '/dev/null' } });
    const t = await host.create(session, { id: 'main' });
    // The agent's commands too.
    await t.runCommand('echo "a;b%c" $((1+1))', { wait: true, timeoutMs: 8000 });
    expect(starts(session).at(-1)!.command).toBe('echo "a;b%c" $((1+1))');
    // Typed with a typo fixed by backspace: the line the shell read.
    expect((await typeLine(session, t, 'echo humX\x7fan-$((1+1))\r')).command).toBe('echo human-$((1+1))');
    // A program printing an unsigned E mark does not set the next command's line.
    expect((await typeLine(session, t, "printf '\\033]133;E;rm -rf /;apollo-nonce=forged\\007'\r")).command).toContain('printf');
    expect((await typeLine(session, t, 'false\r')).command).toBe('false');
  });
});
