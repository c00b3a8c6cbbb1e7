// The shortcuts of the export's speed work give the answers of the long way round:
// the redaction prefilter (patterns whose literal part is absent are not run, terminal
// controls read without the index maps) finds what running every pattern finds; a
// per-action line's planned tokens are those of the line built; token counts cached by
// text equal fresh counts; an export of recordings only builds no example and writes
// the same recordings as a full export.
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countTokens } from 'gpt-tokenizer/encoding/o200k_base';
import { exportBundle } from '../../electron/core/dataset/bundle';
import { Redactor } from '../../electron/core/dataset/redact';
import { validateMistralLine, validateMistralValue, validateOpenAILine, validateOpenAIValue, validateShareGPTLine, validateShareGPTValue } from '../../electron/core/dataset/validate';
import { messageTokens, resetTokenCache } from '../../electron/core/dataset/tokens';
import { perActionPlans, perActionRecords, recordTokenCount, type OpenAIRecord } from '../../electron/core/dataset/trainers';
import { realisticSession, writeRecording } from '../fixtures/sessions';
import { mulberry32 as rng } from '../../shared/random';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'apollo-speed-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});


const j = (...p: string[]): string => p.join('');
// Secrets, near-misses, anchors without a secret, and what decoding does to text.
const PIECES = [
  j('gh', 'p_', 'Zz9Yy8Xx7Ww6Vv5Uu4Tt3Ss2Rr1Qq0Pp9Oo8'), j('hf', '_', 'QwErTyUiOpAsDfGhJkLzXcVbNm12345678'), j('sk-', 'proj-', 'Guid4nce5ecret6Key7890abcdefGHIJKL'),
  j('AKIA', 'ZZZZYYYYXXXX1234'), j('xox', 'p-', '99887766554-33221100998-AbCdEfGhIjKl'), 'PASSWORD=hunter2hunter2', 'api_key: "abcd1234efgh5678"', '--token s3cr3tT0ken99',
  'Authorization: Bearer abcdefgh12345678', 'https://user:pa55w0rd@db.example.com/x', j('eyJ', 'hbGciOiJIUzI1NiJ9', '.eyJ', 'zdWIiOiIxMjM0NTY3ODkwIn0', '.SflKxwRJSMeKKF2QT4fwpM'),
  j('AIza', 'SyA-1234567890abcdefghijklmnopqrstu'), j('sk_', 'live_', '4eC39HqLyjWDarjtT1zdp7dc'), '-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----',
  'tokens/s=51234', 'PASSED', 'token = get_token()', 'key = self.key', 'secret', 'http://x', 'Bearer', 'sk-', 'hf_', 'eyJ',
  '\x1b[32m', '\x1b[0m', '\x1b[K', '\x1b[2J', '\x1b]133;A\x07', '\x9b1m', '\x1b', '\r\n', '\t', '\x00', '\\n', '\\u0041', '\\x41', '\\033[1m', '\\\\', 'é✓', ' ', 'loss=0.4312 lr=2.0e-04 ',
  'configured-value-4242',
];

function randomText(r: () => number, n: number): string {
  let s = '';
  while (s.length < n) {
    const x = r();
    if (x < 0.5) s += 'lorem ipsum dolor '.slice(0, 1 + Math.floor(r() * 17));
    else {
      const p = PIECES[Math.floor(r() * PIECES.length)]!;
      // Cut a piece in two with a colour code now and then: only the decoded view shows it whole.
      if (r() < 0.2 && p.length > 4) {
        const k = 1 + Math.floor(r() * (p.length - 2));
        s += `${p.slice(0, k)}${r() < 0.5 ? '\x1b[1m' : '\x1b[0m'}${p.slice(k)}`;
      } else s += p;
    }
  }
  return s;
}

describe('export speed work, same answers', () => {
  it('the redaction prefilter finds exactly what every pattern finds (randomised)', () => {
    for (const secrets of [[], ['configured-value-4242']]) {
      const fast = new Redactor(secrets);
      const full = new Redactor(secrets, false);
      const r = rng(secrets.length + 1);
      let withHits = 0;
      for (let k = 0; k < 3000; k++) {
        const text = randomText(r, Math.floor(r() * 400));
        const want = full.findWithContext(text);
        expect(fast.findWithContext(text)).toEqual(want);
        if (want.length) withHits++;
      }
      // The comparison is about texts with secrets in them, not only empty answers.
      expect(withHits).toBeGreaterThan(1000);
      // Texts with nothing to find, long (the common case of terminal output).
      const quiet = Array.from({ length: 2000 }, (_, i) => `\rEpoch 3/20: ${i % 100}%|\u2588\u2588\u258c     | ${i}/48698 [01:02<02:10, 6.42it/s, loss=2.4031]\x1b[0m`).join('');
      expect(fast.findWithContext(quiet)).toEqual(full.findWithContext(quiet));
      expect(fast.redact(quiet).text).toBe(quiet);
    }
  });

  it('values and JSON texts skipped by the one combined scan redact as running every pattern does (randomised)', () => {
    for (const secrets of [[], ['configured-value-4242', 'sécret"quoted-99']]) {
      const fast = new Redactor(secrets);
      const full = new Redactor(secrets, false);
      const r = rng(secrets.length + 7);
      let withHits = 0;
      for (let k = 0; k < 1500; k++) {
        const text = randomText(r, Math.floor(r() * 300));
        const quiet = randomText(r, 60).replace(/[^ a-z.=]/g, '');
        // Plain text, a run_command observation, JSON text inside JSON text, a key that names a secret, arguments as the model wrote them.
        const value = {
          content: text,
          observation: JSON.stringify({ output: r() < 0.5 ? text : quiet, exit_code: 0 }),
          nested: JSON.stringify({ arguments: JSON.stringify({ command: text }) }),
          env: { [r() < 0.5 ? 'API_TOKEN' : 'HOME']: quiet },
          tool_calls: [{ function: { name: 'run_command', arguments: `{"command": ${JSON.stringify(quiet)}}` } }],
        };
        const want = full.scan(value);
        expect(fast.scan(value)).toEqual(want);
        if (want.hits.length) withHits++;
      }
      expect(withHits).toBeGreaterThan(500);
    }
  });

  it('JSON text whose escapes hide nothing is done by the combined scan, redacting as every pattern does (randomised)', () => {
    // Anchors cut by what JSON escapes (a newline, a tab, a quote) are no anchors, decoded or not;
    // escapes that can hide one (\u, \\, \x) and configured secrets with a quote take the long way.
    const near = ['gh\np_Zz9Yy8Xx7Ww6Vv5Uu4Tt3Ss2Rr1Qq0Pp9Oo8', 'to\tken=abcdefgh12345678', 'PRIVATE\nKEY', ':/\r/', 'sk"-abcdefghij0123456789xyz', 'pass"word: hunter2hunter2',
      'configured-val\nue-4242', 'with"quote', 'with', 'quote-secret', 'mixed\\"escapes\nvalue-7', '\n', '\t', '\r', '"', '\\', '\\n', '\\u0073k-', 'lorem ipsum '];
    // The last: a secret that reads whole only once a `\\"` beside a real newline is decoded.
    for (const secrets of [[], ['configured-value-4242'], ['with"quote-secret-1'], ['mixed"escapes\nvalue-7']]) {
      const fast = new Redactor(secrets);
      const full = new Redactor(secrets, false);
      const r = rng(secrets.length + 31);
      let skippedShape = 0;
      for (let k = 0; k < 2000; k++) {
        let text = '';
        const n = 1 + Math.floor(r() * 8);
        for (let i = 0; i < n; i++) text += r() < 0.85 ? near[Math.floor(r() * near.length)]! : PIECES[Math.floor(r() * PIECES.length)]!;
        const observation = JSON.stringify({ success: true, output: text, exit_code: 0 });
        if (!/\\(?![ntr"])/.test(observation)) skippedShape++;
        const value = { content: observation, args: JSON.stringify({ command: text, nested: observation }), text };
        expect(fast.scan(value)).toEqual(full.scan(value));
      }
      expect(skippedShape).toBeGreaterThan(500);
    }
  });

  it('training lines checked as the values they were written from give the errors the lines give', async () => {
    const events = realisticSession().events;
    const out = join(root, 'values');
    await exportBundle({ home: join(root, 'home-values'), sessions: [{ sessionId: 'S1', events, sessionDir: join(root, 'none') }], outDir: out, formats: ['openai', 'sharegpt', 'mistral'], secrets: [], appVersion: 'x' });
    const checks = [[validateOpenAILine, validateOpenAIValue, 'openai.jsonl'], [validateShareGPTLine, validateShareGPTValue, 'sharegpt.jsonl'], [validateMistralLine, validateMistralValue, 'mistral.jsonl']] as const;
    const bad: unknown[] = [
      'a string', [1], { messages: [{ role: 'user', content: 'x' }] }, { messages: [{ role: 'assistant', content: 'y', weight: 2 }] },
      { messages: [{ role: 'assistant', tool_calls: [{ id: 'a', type: 'function', function: { name: 'f', arguments: '{' } }] }, { role: 'user', content: 'u' }] },
      { messages: [{ role: 'bot', content: 'x' }], tools: [{ type: 'function', function: { name: 'bad name' } }] },
      { conversations: [{ from: 'gpt', value: 'x' }, { from: 'human', value: 'y' }], mask: [0] }, { conversations: [{ from: 'human', value: 'x' }, { from: 'function_call', value: 'nope' }] },
    ];
    for (const [line, value, file] of checks) {
      const written = (await readFile(join(out, file), 'utf8')).trimEnd().split('\n');
      expect(written.length).toBeGreaterThan(0);
      for (const [i, l] of written.entries()) expect(value(JSON.parse(l), i + 1)).toEqual([]);
      for (const v of bad) expect(value(v, 3), `${file} ${JSON.stringify(v)}`).toEqual(line(JSON.stringify(v), 3));
      expect(bad.some((v) => value(v, 1).length > 0)).toBe(true);
    }
  });

  it("a per-action line's planned tokens are the tokens of the line built", () => {
    const m = (role: string, content: string, weight?: 0 | 1): OpenAIRecord['messages'][number] => (weight === undefined ? { role, content } : { role, content, weight });
    const msgs: OpenAIRecord['messages'] = [m('system', 'You are an agent.'), m('user', 'Train the model.')];
    for (let i = 0; i < 40; i++) {
      msgs.push({ role: 'assistant', tool_calls: [{ id: `c${i}`, type: 'function', function: { name: 'run_command', arguments: `{"command":"tail -n ${i} log"}` } }], weight: i % 3 ? 1 : 0 });
      msgs.push({ role: 'tool', tool_call_id: `c${i}`, content: 'loss 0.43 '.repeat(i * 7) });
      if (i % 5 === 0) msgs.push(m('user', '<real_user>use bf16</real_user>'));
    }
    const rec: OpenAIRecord = { messages: msgs, tools: [{ type: 'function', function: { name: 'run_command' } }] };
    for (const history of [undefined, 200, 1000, 5000]) {
      const plans = perActionPlans(rec, history);
      const built = perActionRecords(rec, history);
      expect(plans.map((p) => p.tokens)).toEqual(built.map(recordTokenCount));
      expect(plans.length).toBe(msgs.filter((x) => x.role === 'assistant' && x.weight === 1).length);
    }
  });

  it('token counts cached by text equal fresh counts, for copies and for changed copies', () => {
    resetTokenCache();
    const long = 'the quick brown fox jumps over the lazy dog '.repeat(50);
    const a = { role: 'tool', content: long };
    const fresh = 3 + countTokens(long);
    expect(messageTokens(a)).toBe(fresh);
    expect(messageTokens({ ...a })).toBe(fresh);
    const changed = { ...a, content: `${long}and more` };
    expect(messageTokens(changed)).toBe(3 + countTokens(changed.content));
  });

  it('text holding a special token is counted as text, so a session that printed one still exports', async () => {
    const special = 'tokenizer_config.json: {"eos_token": "<|endoftext|>", "bos": "<|im_start|>"}';
    expect(() => countTokens(special)).toThrow(/special token/);
    expect(messageTokens({ role: 'tool', content: special })).toBe(3 + countTokens(special, { disallowedSpecial: new Set() }));
    const events = realisticSession({ plant: { output: special } }).events;
    const r = await exportBundle({ home: join(root, 'home-special'), sessions: [{ sessionId: 'S1', events, sessionDir: join(root, 'none') }], outDir: join(root, 'special'), formats: ['openai'], secrets: [], appVersion: 'x' });
    expect(await readFile(join(root, 'special', 'openai.jsonl'), 'utf8')).toContain('<|endoftext|>');
    expect(r.manifest.counts.tokens.total).toBeGreaterThan(0);
  });

  it('an export of recordings only builds no example and writes the recordings a full export writes', async () => {
    const events = realisticSession().events;
    const dir = join(root, 'home', 'sessions', 'S1');
    await mkdir(dir, { recursive: true });
    const t0 = events.find((e) => e.type === 'terminal.started')!.ts;
    await writeRecording(dir, 'main', [{ ts: t0 + 10, data: '$ python train.py\r\n' }, { ts: t0 + 20, data: 'TOKEN=abcdefgh12345678\r\n' }]);
    const base = { home: join(root, 'home'), sessions: [{ sessionId: 'S1', events, sessionDir: dir }], secrets: [], appVersion: 'x' };
    const all = await exportBundle({ ...base, outDir: join(root, 'all'), formats: ['openai', 'sharegpt', 'mistral', 'trajectory', 'asciicast'] });
    const cast = await exportBundle({ ...base, outDir: join(root, 'cast'), formats: ['asciicast'] });
    expect(all.manifest.trajectories.length).toBeGreaterThan(0);
    expect(cast.manifest.trajectories).toEqual([]);
    expect(cast.manifest.actions).toEqual([]);
    expect(cast.manifest.counts.tokens.total).toBe(0);
    expect(cast.manifest.sessions[0]!.branches.filter((b) => b.exported).map((b) => b.branchId)).toEqual(all.manifest.sessions[0]!.branches.filter((b) => b.exported).map((b) => b.branchId));
    const rel = 'terminals/S1/main.cast';
    expect(await readFile(join(root, 'cast', rel), 'utf8')).toBe(await readFile(join(root, 'all', rel), 'utf8'));
    expect(cast.manifest.files.find((f) => f.path === rel)).toEqual(all.manifest.files.find((f) => f.path === rel));
  });
});
