// A command line wider than the terminal, holding wide characters (CJK, emoji) and
// combining marks, typed at real bash and zsh: the agent's reading of the screen
// (terminalText with the width) is the line as typed. The shells count a CJK character
// or an emoji as two columns and wrap a wide character that does not fit in the last
// column to the next row; counted as one column each, the returns they draw the wrap
// with went back to the wrong place and wrote the line over itself.
import { mkdtemp, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { terminalText } from '../../electron/core/pty/strip-ansi';
import type { LiveTerminal } from '../../electron/core/pty/types';
import { ptyWorkspace, typeLine, until } from '../fixtures/shell-home';

const fx = ptyWorkspace('apollo-wide-wrap-', { '.bashrc': 'PS1="$ "\n', '.zshrc': 'PS1="$ "\n' });


// Odd and even offsets of the wide characters against the margin, so one lands in the last column.
const CJK = '训练损失在第三个周期后不再下降请检查学习率';
const LINES = [
  `echo ${CJK}`,
  `echo a${CJK}`,
  // A space typed where a filler would go (the last column, a wide character after it) is kept.
  ...[3, 4, 7, 8, 11, 12].map((i) => `echo ${CJK.slice(0, i)} ${CJK.slice(i)}`),
  'echo 🚀 run 🧪 the evals ✅ then 🎉 report 📊 now',
  'echo café naïve résumé déjà vu über Ångström',
];
/** A combining mark: bash draws it on the letter before; zsh's screen shows it as `<0301>`, as the agent reads it then. */
const COMBINING = 'echo re\u0301sume\u0301 of the run, café crème, naïve\u0308 ok';

describe.each([['/bin/bash'], ['/usr/bin/zsh']])('%s: a wide-character command line wider than the terminal', (shell) => {
  it('reads as typed', async () => {
    const session = await fx.ws.create({ cwd: await mkdtemp(join(fx.root, 'w-')) });
    const host = fx.host({ events: { data: () => undefined, changed: () => undefined }, env: { ...process.env, LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8', HOME: fx.userHome, ZDOTDIR: fx.userHome, SHELL: shell, HISTFILE: '/dev/null' } });
    const cols = 23;
    const t: LiveTerminal = await host.create(session, { id: 'main', cols, rows: 12 });
    const raw = () => readFile(join(session.dir, 'terminals', 'main.out'), 'utf8');
    await until(async () => /133;B|\$ /.test(await raw()), 'the prompt');
    const ran = () => session.events.filter((e) => e.type === 'terminal.command' && e.phase === 'end').length;
    const lines = shell.endsWith('bash') ? [...LINES, COMBINING] : LINES;
    for (const line of lines) await typeLine(t, line, ran);
    // The recording writes in groups: the file holds the last command's output only once its group is on disk.
    await until(async () => Buffer.byteLength(await raw()) >= t.recordedBytes(), 'the recording on disk');
    const recorded = await raw();
    // The shells drew the wraps with returns (else this shows nothing).
    expect(recorded).toMatch(/[^\n]\r[^\n]/);
    const read = terminalText(recorded, cols).split('\n').map((l) => l.trimEnd());
    // After the prompt (the shell integration's own: `user@host:dir# `).
    for (const line of lines) expect(read.filter((l) => l.endsWith(`# ${line}`) || l.endsWith(`$ ${line}`)), `${line}\n${read.join('\n')}`).toHaveLength(1);
  });
});

describe.each([['/bin/bash'], ['/usr/bin/zsh']])('%s: a terminal resized between two long command lines', (shell) => {
  it('reads each at the width it was drawn at', async () => {
    const session = await fx.ws.create({ cwd: await mkdtemp(join(fx.root, 'r-')) });
    const host = fx.host({ events: { data: () => undefined, changed: () => undefined }, env: { ...process.env, LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8', HOME: fx.userHome, ZDOTDIR: fx.userHome, SHELL: shell, HISTFILE: '/dev/null' } });
    const t: LiveTerminal = await host.create(session, { id: 'main', cols: 23, rows: 12 });
    const raw = () => readFile(join(session.dir, 'terminals', 'main.out'), 'utf8');
    await until(async () => /133;B|\$ /.test(await raw()), 'the prompt');
    const ran = () => session.events.filter((e) => e.type === 'terminal.command' && e.phase === 'end').length;
    const narrow = 'echo alpha-bravo-charlie-delta-echo-foxtrot';
    const wide = 'echo one-two-three-four-five-six-seven-eight-nine-ten-eleven-twelve';
    await typeLine(t, narrow, ran);
    t.resize(41, 12);
    await typeLine(t, wide, ran);
    await until(async () => Buffer.byteLength(await raw()) >= t.recordedBytes(), 'the recording on disk');
    const whole = (text: string) => {
      const read = text.split('\n').map((l) => l.trimEnd());
      for (const line of [narrow, wide]) expect(read.filter((l) => l.endsWith(`# ${line}`) || l.endsWith(`$ ${line}`)), `${line}\n${read.join('\n')}`).toHaveLength(1);
    };
    whole(await t.readText(0));
    // The same terminal started again by another host (the app restarted), at another width:
    // what was recorded before reads at the widths its log gives.
    await t.kill();
    await t.exited;
    const again = fx.host({ events: { data: () => undefined, changed: () => undefined }, env: { ...process.env, HOME: fx.userHome, ZDOTDIR: fx.userHome, SHELL: shell, HISTFILE: '/dev/null' } });
    const t2 = await again.create(session, { id: 'main', cols: 60, rows: 12 });
    whole(await t2.readText(0));
  });
});
