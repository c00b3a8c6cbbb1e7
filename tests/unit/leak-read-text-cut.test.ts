// A terminal's text over its cap (readText: 8 MB by default) is its head and tail
// around a note. A cut through a secret left a piece of it that no rule finds (the
// redactor matches neither part of a key nor a value whose name went with the other
// side): the cuts must fall outside every secret and the word it begins in.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { recordedText } from '../../electron/core/pty/terminal';
import { terminalText } from '../../electron/core/pty/strip-ansi';
import { PtyHost } from '../../electron/core/pty/pty-host';
import { Workspace } from '../../electron/core/store/workspace';

const GHP = ['ghp_', 'R3adT3xtCutT0kenAbCdEfGhIjKlMnOpQr12'].join('');
const CONFIGURED = ['plain', 'configured', 'value', 'nopattern'].join('-');
const PASSWORD_VALUE = ['hunter2', 'Secret', 'Value9'].join('');

/** The text as bytes, read back by offset like a recording. */
function recording(text: string): { buf: Buffer; read: (a: number, b: number) => Promise<Buffer> } {
  const buf = Buffer.from(text, 'utf8');
  return { buf, read: async (a, b) => buf.subarray(a, b) };
}

const filler = (n: number, c = 'x'): string => `${`${c.repeat(79)}\n`.repeat(Math.ceil(n / 80))}`.slice(0, n);

/** `secret` is nowhere in `out` in part: each piece of it at least 6 long goes with the rest. */
function noFragment(out: string, secret: string): void {
  const whole = out.split(secret).length - 1;
  for (let i = 0; i + 6 <= secret.length; i++) {
    for (const piece of [secret.slice(0, i + 6), secret.slice(i)]) {
      expect(out.split(piece).length - 1, `a piece of the secret: ${piece}`).toBeLessThanOrEqual(whole);
    }
  }
}

/** What the note says was left out, and the text on each side of it. */
function parts(out: string): { head: string; tail: string; a: number; b: number } {
  const m = /\n\[… (\d+) bytes omitted \(recording bytes (\d+)-(\d+)\) …\]\n/.exec(out)!;
  expect(m).not.toBeNull();
  expect(Number(m[1])).toBe(Number(m[3]) - Number(m[2]));
  return { head: out.slice(0, m.index), tail: out.slice(m.index + m[0].length), a: Number(m[2]), b: Number(m[3]) };
}

describe('recordedText cuts outside secrets', () => {
  const MAX = 4000;
  const HEAD = MAX / 4;

  it('moves the head cut to before a token that crosses it, and the note stays exact', async () => {
    // The head cut (byte 1000) falls 10 characters into the token.
    const text = `${filler(HEAD - 10 - 'token '.length)}token ${GHP} after\n${filler(20_000, 'y')}`;
    const { buf, read } = recording(text);
    const out = await recordedText(read, 0, buf.length, MAX);
    noFragment(out, GHP);
    const { head, tail, a, b } = parts(out);
    expect(head.endsWith('token ')).toBe(true);
    expect(head).toBe(terminalText(buf.subarray(0, a).toString('utf8')));
    expect(tail).toBe(terminalText(buf.subarray(b).toString('utf8')));
  });

  it('moves the tail cut past a configured secret and past a value whose name it would have cut off', async () => {
    const TOTAL = 30_000;
    const TAIL = MAX - HEAD;
    /** `TOTAL` bytes where the tail's cut (TOTAL - TAIL) falls `into` characters into `word`. */
    const crossingTail = (word: string, into: number): string => {
      // On a line that runs on past the reach of the tail's move to the next line.
      const line = `${'q'.repeat(TOTAL - TAIL - into - 1)} ${word} ${'z'.repeat(2000)}\n`;
      return `${line}${filler(TOTAL - line.length, 'z')}`;
    };
    const configured = crossingTail(CONFIGURED, 12);
    expect(configured.length).toBe(TOTAL);
    const c = recording(configured);
    const outC = await recordedText(c.read, 0, c.buf.length, MAX, [CONFIGURED]);
    noFragment(outC, CONFIGURED);
    // The patterns alone see nothing there (this is what `secrets` is for): the cut stays, in the value.
    expect(await recordedText(c.read, 0, c.buf.length, MAX)).toContain(`\n${CONFIGURED.slice(12)} `);

    // The cut falls in the name (DB_PASSW|ORD=…): the tail must not begin with the bare value.
    const n = recording(crossingTail(`DB_PASSWORD=${PASSWORD_VALUE}`, 8));
    const outN = await recordedText(n.read, 0, n.buf.length, MAX);
    expect(outN).not.toContain(PASSWORD_VALUE);
    const { tail, b } = parts(outN);
    expect(tail).toBe(terminalText(n.buf.subarray(b).toString('utf8')));
  });

  it('reads a secret through colours and cuts nothing without one as before', async () => {
    const coloured = `${filler(HEAD - 30)}TOKEN=\x1b[1m${GHP}\x1b[0m ok\n${filler(20_000, 'y')}`;
    const c = recording(coloured);
    noFragment(await recordedText(c.read, 0, c.buf.length, MAX), GHP);

    const plain = `${filler(10_000, 'a')}${filler(10_000, 'b')}`;
    const p = recording(plain);
    const out = await recordedText(p.read, 0, p.buf.length, MAX);
    // The old cut: the first quarter and the last three quarters of the cap, by bytes, the
    // tail from the start of the line after its cut.
    const tailAt = plain.indexOf('\n', 20_000 - (MAX - HEAD)) + 1;
    expect(tailAt - (20_000 - (MAX - HEAD))).toBe(40);
    expect(out).toBe(`${plain.slice(0, HEAD)}\n[… ${tailAt - HEAD} bytes omitted (recording bytes ${HEAD}-${tailAt}) …]\n${plain.slice(tailAt)}`);
  });

  it('starts the tail at a line, which it reads at the terminal\'s width', async () => {
    // The tail's cut falls inside a line; the next is a command wider than the terminal (10 columns).
    const typed = '$ echo abc \rdefghijklm \rnop\r\n';
    const text = `${filler(20_000, 'q')}${typed}${filler(MAX - HEAD - 30 - typed.length, 'z')}`;
    expect(text[text.length - (MAX - HEAD) + 29]).toBe('\n');
    const r = recording(text);
    const out = await recordedText(r.read, 0, r.buf.length, MAX, [], 10);
    const { tail, b } = parts(out);
    expect(tail.startsWith('$ echo abcdefghijklmnop\n')).toBe(true);
    expect(r.buf.subarray(b).toString('utf8').startsWith(typed)).toBe(true);
    // A line longer than the reach is cut inside, and read without the width.
    const long = recording(`${'w'.repeat(30_000)}\n`);
    const { tail: t2, b: b2 } = parts(await recordedText(long.read, 0, long.buf.length, MAX, [], 10));
    expect(t2).toBe(terminalText(long.buf.subarray(b2).toString('utf8')));
    expect(b2).toBe(30_001 - (MAX - HEAD));
  });

  it('a live terminal over a small cap cuts no token in half', async () => {
    const home = await mkdtemp(join(tmpdir(), 'apollo-leak-read-'));
    const cwd = await mkdtemp(join(tmpdir(), 'apollo-leak-read-cwd-'));
    const ws = await Workspace.open(home);
    const pty = new PtyHost({
      resourcesDir: resolve('resources'),
      events: { data: () => undefined, changed: () => undefined },
      env: { ...process.env, SHELL: '/bin/bash', HISTFILE: '/dev/null' },
      limits: { maxTextBytes: 3_000 },
    });
    try {
      const session = await ws.create({ cwd, name: 'read text cut' });
      const term = await pty.create(session, { id: 'main', cwd });
      // 400 tokens of 41 bytes, a space after each: any cut lands in one but for 1 in 41.
      const r = await term.runCommand(`for i in $(seq 400); do printf '%s ' "${GHP}"; done; echo`, { wait: true, timeoutMs: 15_000 });
      expect(r.output).toContain('bytes omitted');
      for (const word of r.output.split(/\s+/)) {
        if (word && GHP.includes(word)) expect(word).toBe(GHP);
      }
    } finally {
      await pty.dispose();
      await ws.close();
      await rm(home, { recursive: true, force: true });
      await rm(cwd, { recursive: true, force: true });
    }
  });
});
