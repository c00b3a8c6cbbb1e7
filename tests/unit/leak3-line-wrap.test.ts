// A secret typed or pasted at a real shell, on a line longer than the terminal is wide:
// bash's readline and zsh's ZLE draw the line past the right margin by writing one
// character on the next row and a carriage return back over it (`AbC \rdEf`, `AbCd\rdEf`,
// zsh `AbC \r\e[Kd\rdEf`), which cut the key in two in the recorded bytes. The exported
// recording and training files must hold no piece of it.
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { exportBundle } from '../../electron/core/dataset/bundle';
import { Redactor } from '../../electron/core/dataset/redact';
import type { LiveTerminal } from '../../electron/core/pty/types';
import { ptyWorkspace, typeLine, until } from '../fixtures/shell-home';

const fx = ptyWorkspace('apollo-line-wrap-', { '.bashrc': 'PS1="$ "\n', '.zshrc': 'PS1="$ "\n' });

// A key of the built-in pattern, and a value known only as configured (no pattern takes it).
const OPENAI = 'sk-proj-Zq7Wm2Kx9Lp4Rt6Vb8Nc3Hd5Jf1Gs0QaYeUoIuPlMkNjBhVgCfXdEsWaQz';
const CONFIGURED = 'corgiLanternVelvetQuasarMaple42Bramble77Thistle';


/** Pieces of `secret` that would still tell it: every run of 8 of its characters. */
function pieces(secret: string): string[] {
  const out: string[] = [];
  for (let i = 0; i + 8 <= secret.length; i++) out.push(secret.slice(i, i + 8));
  return out;
}

/** Echoes of `echo <secret>` and `echo pasted <secret>` in which a carriage return cuts the secret. */
function cutEchoes(recorded: string, secret: string): number {
  let n = 0;
  for (const start of ['echo ', 'echo pasted ']) {
    for (let i = recorded.indexOf(start + secret.slice(0, 4)); i >= 0; i = recorded.indexOf(start + secret.slice(0, 4), i + 1)) {
      const rest = recorded.slice(i + start.length, i + start.length + secret.length + 16);
      if (!rest.startsWith(secret) && /\r[^\n]/.test(rest)) n++;
    }
  }
  return n;
}

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) if (e.isFile()) out.push(join(e.parentPath, e.name));
  return out;
}

describe.each([['/bin/bash'], ['/usr/bin/zsh']])('%s: a secret on a line wider than the terminal', (shell) => {
  it('leaves no piece of it in the exported recording or training files, typed key by key or pasted', async () => {
    const session = await fx.ws.create({ cwd: await mkdtemp(join(fx.root, 'w-')) });
    const host = fx.host({ events: { data: () => undefined, changed: () => undefined }, env: { ...process.env, HOME: fx.userHome, ZDOTDIR: fx.userHome, SHELL: shell, HISTFILE: '/dev/null' } });
    // 37 columns: the prompt and `echo ` put each key's cut at a different place than 40 would.
    const t: LiveTerminal = await host.create(session, { id: 'main', cols: 37, rows: 12 });
    const raw = () => readFile(join(session.dir, 'terminals', 'main.out'), 'utf8');
    await until(async () => /133;B|\$ /.test(await raw()), 'the prompt');
    const ran = () => session.events.filter((e) => e.type === 'terminal.command' && e.phase === 'end').length;
    // Typed one key at a time, each echoed before the next, as a person types.
    for (const line of [`echo ${OPENAI}`, `echo ${CONFIGURED}`]) await typeLine(t, line, ran);
    // Pasted: the whole line in one write.
    for (const line of [`echo pasted ${OPENAI}`, `echo pasted ${CONFIGURED}`]) {
      const before = ran();
      t.write(`${line}\r`, 'human');
      await until(() => ran() > before, 'the pasted command to end');
    }
    // The recording writes in groups: the file holds the last command's output only once its group is on disk.
    await until(async () => Buffer.byteLength(await raw()) >= t.recordedBytes(), 'the recording on disk');
    const recorded = await raw();
    // The shell did cut the keys in its echo of the typed lines (else this test shows nothing);
    // a paste is echoed in one write, which the terminal wraps by itself (bash) or not (zsh).
    for (const secret of [OPENAI, CONFIGURED]) expect(cutEchoes(recorded, secret), secret).toBeGreaterThanOrEqual(1);
    // What the redactor reads, and the pieces it must not leave.
    const red = new Redactor([CONFIGURED]);
    for (const p of [...pieces(OPENAI), ...pieces(CONFIGURED)]) expect(red.redact(recorded).text).not.toContain(p);

    const outDir = join(fx.root, `out-${shell.replace(/\W/g, '')}`);
    await exportBundle({
      home: join(fx.root, 'ws'), sessions: [{ sessionId: session.id, events: session.events.slice(), sessionDir: session.dir }], outDir,
      formats: ['openai', 'sharegpt', 'trajectory', 'asciicast'], secrets: [CONFIGURED], appVersion: 'test', castWorker: false, castCache: false, bundleCache: false,
    });
    const files = await filesUnder(outDir);
    const cast = files.find((f) => f.endsWith('main.cast'));
    expect(cast, files.join(', ')).toBeDefined();
    const shownOut = (await readFile(cast!, 'utf8')).trim().split('\n').slice(1).map((l) => JSON.parse(l) as [number, string, string]).filter((e) => e[1] === 'o').map((e) => e[2]).join('');
    expect(shownOut).toContain('echo ');
    for (const f of files) {
      const text = await readFile(f, 'utf8');
      for (const p of [...pieces(OPENAI), ...pieces(CONFIGURED)]) expect(text.includes(p), `${p} in ${f}`).toBe(false);
    }
  });
});
