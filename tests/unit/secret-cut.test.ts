// A long observation (or the judge's view of one) is cut to a head and a tail; a cut
// through a secret left a piece of it that no rule finds, which the export then carried
// into openai.jsonl and trajectory.jsonl unreported (secret-cut.ts). The cut now moves to
// the secret's edge: the secret is whole on one side, and redacted there, or left out.
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { capText } from '../../electron/core/rollout/tools';
import { renderAction } from '../../electron/core/labels/judge';
import { exportBundle } from '../../electron/core/dataset/bundle';
import { Redactor } from '../../electron/core/dataset/redact';
import { foldTrajectory } from '../../shared/trajectory';
import { ok, run, SessionBuilder } from '../fixtures/sessions';

const CAP = 8_000;
const HEAD = Math.floor(CAP * 0.3);
const TAIL = CAP - HEAD;
/** The longest piece of `secret` (at least 6 characters) found in `text`, or ''. */
function pieceOf(secret: string, text: string): string {
  for (let n = secret.length; n >= 6; n--) {
    for (let i = 0; i + n <= secret.length; i++) if (text.includes(secret.slice(i, i + n))) return secret.slice(i, i + n);
  }
  return '';
}

const roots: string[] = [];
afterAll(async () => {
  for (const r of roots) await rm(r, { recursive: true, force: true });
});

describe('capText', () => {
  it('cuts text without secrets where it always did', () => {
    const s = Array.from({ length: 2_000 }, (_, i) => `line ${i}`).join('\n');
    const out = capText(s, CAP);
    expect(out).toBe(`${s.slice(0, HEAD)}\n[... ${s.length - CAP} characters omitted; the full output is in the terminal recording ...]\n${s.slice(s.length - TAIL)}`);
    expect(capText('short', CAP)).toBe('short');
  });

  it('never leaves a piece of a key the tail cut went through, nor a value cut from its name', () => {
    // A key no pattern knows, configured (the endpoint's), across the head's end.
    const key = 'team-vllm-key-7f3a9c2e5b81d4aa0c';
    const a = `${'a'.repeat(HEAD - 10)}${key}${'b'.repeat(12_000)}`;
    const capA = capText(a, CAP, undefined, [key]);
    expect(pieceOf(key, capA)).toBe('');
    // An OpenAI key after its name, across the tail's start: the name would be left out, the key's end kept.
    const sk = `sk-proj-${'Ab1Cd2Ef3Gh4Ij5Kl6Mn7Op8Qr9St0Uv1Wx2Yz3'.repeat(3)}ZZtail9`;
    const tailStart = 12_000 - TAIL;
    const prefix = `${'a'.repeat(tailStart - 30)}\nOPENAI_KEY=`;
    const b = `${prefix}${sk}\n${'b'.repeat(12_000 - prefix.length - sk.length - 1)}`;
    expect(b.length).toBe(12_000);
    const capB = capText(b, CAP);
    // The tail starts after it: left out whole (the head keeps its name, which says nothing).
    expect(pieceOf(sk, capB)).toBe('');
    // A name and its value (PASSWORD=...) across the head's end: the value is never kept without its name.
    const pw = 'Xq7-not-a-pattern-Zr9-pw';
    const c = `${'a'.repeat(HEAD - 12)}DB_PASSWORD=${pw}${'b'.repeat(12_000)}`;
    const capC = capText(c, CAP);
    expect(pieceOf(pw, new Redactor().redact(capC).text)).toBe('');
  });

  it('never starts a tail between a secret and the name or scheme a rule finds it by', () => {
    const gen = 'a1B2c3D4e5F6g7H8i9J0k1L2';
    const cases: Array<[string, string]> = [
      [`export MISTRAL_KEY=${gen}`, '_KEY'],
      [`git clone https://${gen}@github.com/o/r.git`, 's://'],
      [`git clone https://${gen}@github.com/o/r.git`, '://'],
      ['DATABASE_URL=postgres%3A//app%3AS3cr3tPassw0rd%40db%3A5432/prod', 's%3A//'],
    ];
    for (const [line, cutBefore] of cases) {
      const text = `${'x'.repeat(3000)}\n${line}\n`;
      const at = text.indexOf(cutBefore, 3001);
      // The cap whose tail starts right at `cutBefore`.
      const cap = [...Array(3000).keys()].find((c) => text.length - (c - Math.floor(c * 0.3)) === at)!;
      const out = new Redactor().redact(capText(text, cap)).text;
      for (const secret of [gen, 'S3cr3tPassw0rd']) expect(pieceOf(secret, out), `${line} cut before ${cutBefore}`).toBe('');
    }
  });

  it('gives the export an observation whose secret it redacts whole', async () => {
    const key = 'team-vllm-key-7f3a9c2e5b81d4aa0c';
    // The tail's start half-way through the key.
    const full = `${'a'.repeat(6_000)}${key}${'b'.repeat(TAIL - key.length / 2)}`;
    const capped = capText(full, CAP, undefined, [key]);
    const builder = new SessionBuilder({ name: 's' });
    builder.rollout({ task: 't' });
    builder.step({ calls: [run('cat big.log')], results: [ok(JSON.stringify({ success: true, output: capped, exit_code: 0 }))] });
    builder.step({ content: 'done', calls: [run('echo ok')], results: [ok()] });
    const root = await mkdtemp(join(tmpdir(), 'apollo-secret-cut-'));
    roots.push(root);
    const dir = join(root, 'sessions', 'S1');
    await mkdir(dir, { recursive: true });
    const outDir = join(root, 'out');
    await exportBundle({ home: root, sessions: [{ sessionId: 'S1', events: builder.events, sessionDir: dir }], outDir, formats: ['openai', 'trajectory'], secrets: [key], appVersion: 't', castWorker: false });
    for (const f of ['openai.jsonl', 'trajectory.jsonl']) expect(pieceOf(key, await readFile(join(outDir, f), 'utf8')), f).toBe('');
  });
});

describe("the judge's view", () => {
  it('never cuts an observation through a configured secret', () => {
    const key = 'team-vllm-key-7f3a9c2e5b81d4aa';
    // clip(…, 3000) keeps the first 1,800 characters: the key began 26 characters before that.
    const obs = `${'a'.repeat(1774)}${key}${'b'.repeat(3000)}`;
    const b = new SessionBuilder();
    b.rollout({ task: 't' });
    const step = b.step({ content: 'x', calls: [run('cat f')], results: [ok(obs)] });
    const shown = new Redactor([key]).redact(renderAction(foldTrajectory(b.events), 'main', step, 6, 3000, [key])).text;
    expect(pieceOf(key, shown)).toBe('');
    // Without the secret named, the cut falls where it did, through it.
    expect(pieceOf(key, new Redactor([key]).redact(renderAction(foldTrajectory(b.events), 'main', step, 6, 3000)).text)).not.toBe('');
  });
});
