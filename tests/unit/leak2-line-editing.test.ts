// A secret typed with a correction (a typo taken back with DEL, echoed by the shell as
// backspace + erase) reads whole to the redactor, in the typed keys and in their echo,
// so an exported recording holds no piece of it.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportBundle } from '../../electron/core/dataset/bundle';
import { Redactor } from '../../electron/core/dataset/redact';
import { SessionBuilder, writeRecording } from '../fixtures/sessions';

const TEAM = 'corgi-Lantern-51-velvetQz';
let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'apollo-line-edit-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('line editing inside a secret', () => {
  it('a DEL or backspace takes back the character before it, for matching', () => {
    const r = new Redactor([TEAM]);
    for (const text of ['echo corgi-Lantern-5x\x7f1-velvetQz', 'echo corgi-Lantern-5x\b\x1b[K1-velvetQz\r\n', 'corgi-Lantern-51-vv\b \belvetQz']) {
      const out = r.redact(text).text;
      expect(out, JSON.stringify(text)).not.toMatch(/velvet|Lantern/);
      expect(out.startsWith('echo ') || out.startsWith('[REDACTED')).toBe(true);
    }
    // A backspace at the start of a line takes nothing from the line before.
    expect(r.redact(`${TEAM.slice(0, 10)}\n\b${TEAM.slice(10)}`).text).toBe(`${TEAM.slice(0, 10)}\n\b${TEAM.slice(10)}`);
    // Text with no secret is left exactly as it was.
    expect(r.redact('progress |\b/\b-\b\\').text).toBe('progress |\b/\b-\b\\');
  });

  it('an exported recording holds no piece of a secret typed key by key with a correction', async () => {
    const b = new SessionBuilder({ name: 'typed' });
    b.terminal('main', { cols: 80, rows: 24 });
    const t0 = b.ts;
    [...'echo corgi-Lantern-5x\x7f1-velvetQz\r'].forEach((c, i) => b.input('main', c, 0, 'human', t0 + 100 + i));
    const dir = join(root, 'sessions', 'S1');
    await writeRecording(dir, 'main', [
      { ts: t0 + 10, data: '$ ' },
      { ts: t0 + 120, data: 'echo corgi-Lantern-5x' },
      { ts: t0 + 125, data: '\b\x1b[K1-velvetQz\r\n' },
      { ts: t0 + 130, data: `${TEAM}\r\n$ ` },
    ]);
    const outDir = join(root, 'out');
    await exportBundle({ home: root, sessions: [{ sessionId: 'S1', events: b.events, sessionDir: dir }], outDir, formats: ['asciicast'], secrets: [TEAM], appVersion: 'test', castCache: false, bundleCache: false });
    const events = (await readFile(join(outDir, 'terminals/S1/main.cast'), 'utf8')).trim().split('\n').slice(1).map((l) => JSON.parse(l) as [number, string, string]);
    const typed = events.filter((e) => e[1] === 'i').map((e) => e[2]).join('');
    const shown = events.filter((e) => e[1] === 'o').map((e) => e[2]).join('');
    expect(typed).toContain('echo ');
    expect(shown).toContain('$ ');
    for (const piece of ['velvetQz', 'Lantern', 'corgi-']) {
      expect(typed).not.toContain(piece);
      expect(shown).not.toContain(piece);
    }
  });
});
