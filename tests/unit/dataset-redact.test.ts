import { describe, expect, it } from 'vitest';
import { Redactor, RedactionLog, StreamRedactor, redactString } from '../../electron/core/dataset/redact';

// Test secrets are assembled at run time so no scanner mistakes this file for a leak.
const j = (...p: string[]): string => p.join('');
export const SECRETS = {
  openai: j('sk-', 'proj-', 'Abc123def456GHI789jkl012MNO345pqr678'),
  anthropic: j('sk-', 'ant-', 'api03-', 'Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0FeDcBa'),
  github: j('gh', 'p_', 'A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8'),
  githubPat: j('github', '_pat_', '11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRS'),
  aws: j('AKIA', 'IOSFODNN7EXAMPLE'),
  slack: j('xox', 'b-', '1234567890-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx'),
  hf: j('hf', '_', 'AbCdEfGhIjKlMnOpQrStUvWxYz01234567'),
  bearer: j('eyJhbGciOi', 'JIUzI1NiJ9x', 'abc.def123456'),
  urlPassword: j('S3cr3t', 'P4ss'),
  envPassword: j('hunter2', 'hunter2', 'X'),
  configured: j('my-endpoint-', 'key-7f3a9c'),
};
const PRIVATE_KEY = ['-----BEGIN RSA PRIVATE KEY-----', 'MIIEowIBAAKCAQEA1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6q7r8s9t0u1v2w3x4y5z', 'AbCdEfGhIjKlMnOpQrStUvWxYz0123456789+/AbCdEfGhIjKlMnOpQrStUvWxYz01', '-----END RSA PRIVATE KEY-----'].join('\n');

describe('Redactor', () => {
  const r = new Redactor([SECRETS.configured]);

  it.each([
    ['openai-key', `export OPENAI_KEY_VALUE ${SECRETS.openai} done`, SECRETS.openai],
    ['anthropic-key', `key=${SECRETS.anthropic}`, SECRETS.anthropic],
    ['github-token', `git clone https://x:${SECRETS.github}@github.com/a/b`, SECRETS.github],
    ['github-token', `token ${SECRETS.githubPat}`, SECRETS.githubPat],
    ['aws-access-key', `aws_access_key_id ${SECRETS.aws}`, SECRETS.aws],
    ['slack-token', `SLACK ${SECRETS.slack}`, SECRETS.slack],
    ['hf-token', `login ${SECRETS.hf} ok`, SECRETS.hf],
    ['bearer', `curl -H "Authorization: Bearer ${SECRETS.bearer}" https://api`, SECRETS.bearer],
    ['url-password', `postgres://admin:${SECRETS.urlPassword}@db.internal:5432/x`, SECRETS.urlPassword],
    ['assignment', `DB_PASSWORD=${SECRETS.envPassword} ./run`, SECRETS.envPassword],
    ['configured-secret', `the key is ${SECRETS.configured}.`, SECRETS.configured],
    ['private-key', `cat id_rsa\n${PRIVATE_KEY}\n$ `, 'MIIEowIBAAKCAQEA1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6q7r8s9t0u1v2w3x4y5z'],
  ])('finds %s', (kind, text, secret) => {
    const out = r.redact(text);
    expect(out.text).not.toContain(secret);
    expect(out.text).toContain(`[REDACTED:${kind}]`);
    expect(out.kinds).toContain(kind);
  });

  it('keeps the context around a credential', () => {
    expect(r.redact(`Authorization: Bearer ${SECRETS.bearer}`).text).toBe('Authorization: Bearer [REDACTED:bearer]');
    expect(r.redact(`DB_PASSWORD=${SECRETS.envPassword}`).text).toBe('DB_PASSWORD=[REDACTED:assignment]');
    expect(r.redact(`https://bob:${SECRETS.urlPassword}@host/`).text).toBe('https://bob:[REDACTED:url-password]@host/');
  });

  it('leaves ordinary text alone', () => {
    for (const s of [
      'max_new_tokens=4096 TOKENIZERS_PARALLELISM=false',
      'python train.py --tokenizer=meta-llama/Llama-3.1-8B --lr 3e-4',
      'the task-management-service-long-name is fine',
      'PWD=/home/alice/projects/apollo',
      'password: required',
      'https://github.com/hiyouga/LLaMA-Factory',
      'epoch 2/3 loss 1.98 bearer of news',
    ]) expect(r.redact(s).text, s).toBe(s);
  });

  it('keeps JSON text valid when it redacts inside it', () => {
    const args = JSON.stringify({ command: `export HF_TOKEN=${SECRETS.hf}; curl -u u:p https://x`, env: { password: SECRETS.envPassword } });
    const out = r.redact(args).text;
    expect(() => JSON.parse(out)).not.toThrow();
    expect(out).not.toContain(SECRETS.hf);
    expect(out).not.toContain(SECRETS.envPassword);
  });

  it('is idempotent', () => {
    const once = r.redact(`A=${SECRETS.openai} PASSWORD=${SECRETS.envPassword} https://u:${SECRETS.urlPassword}@h`).text;
    expect(r.redact(once)).toEqual({ text: once, kinds: [] });
  });

  it('redacts JSON values with pointers, and whole values under secret-named keys', () => {
    const hits: string[] = [];
    const v = r.redactValue({ a: [{ b: `x ${SECRETS.aws}` }], env: { HF_TOKEN: 'abcdefgh12345', PATH: '/usr/bin', 'a/b': SECRETS.configured } }, (p, k) => hits.push(`${p} ${k}`));
    expect(v).toEqual({ a: [{ b: 'x [REDACTED:aws-access-key]' }], env: { HF_TOKEN: '[REDACTED:sensitive-field]', PATH: '/usr/bin', 'a/b': '[REDACTED:configured-secret]' } });
    expect(hits).toEqual(['/a/0/b aws-access-key', '/env/HF_TOKEN sensitive-field', '/env/a~1b configured-secret']);
  });

  it('stays linear on long runs of dashes, base64 and quotes (terminal output)', () => {
    for (const text of ['-'.repeat(1 << 20), 'a-'.repeat(1 << 19), 'Ab-_9z.'.repeat(150_000), '"'.repeat(1 << 20), '--'.repeat(1 << 19)]) {
      const t = performance.now();
      r.find(text);
      expect(performance.now() - t).toBeLessThan(2000);
    }
  });

  it('ignores configured secrets too short to be safe', () => {
    expect(redactString('the word abc stays', ['abc']).text).toBe('the word abc stays');
  });
});

describe('StreamRedactor', () => {
  it('finds a secret split across segments and keeps segment metadata', () => {
    const out: Array<[string, number, string[]]> = [];
    const s = new StreamRedactor<number>(new Redactor([]), (d, m, k) => out.push([d, m, k]), 16, 64);
    const secret = SECRETS.github;
    s.push(`abc ${secret.slice(0, 10)}`, 1);
    s.push(secret.slice(10, 20), 2);
    s.push(`${secret.slice(20)} tail`, 3);
    s.push('x'.repeat(200), 4);
    s.end();
    const text = out.map((o) => o[0]).join('');
    expect(text).toBe(`abc [REDACTED:github-token] tail${'x'.repeat(200)}`);
    expect(out[0]).toEqual(['abc [REDACTED:github-token]', 1, ['github-token']]);
    expect([...new Set(out.map((o) => o[1]))]).toEqual([1, 3, 4]);
  });

  it('matches a one-shot redaction on long random-ish text with many window cuts', () => {
    const r = new Redactor([SECRETS.configured]);
    let text = '';
    for (let i = 0; i < 400; i++) text += `line ${i} ${i % 7 === 0 ? SECRETS.hf : ''} ${i % 11 === 0 ? SECRETS.configured : ''} ${i % 13 === 0 ? `PASSWORD=${SECRETS.envPassword}` : 'ok'}\n`;
    const pieces: string[] = [];
    const s = new StreamRedactor<number>(r, (d) => pieces.push(d), 300, 200);
    for (let i = 0; i < text.length; i += 37) s.push(text.slice(i, i + 37), i);
    s.end();
    expect(pieces.join('')).toBe(r.redact(text).text);
  });
});

describe('RedactionLog', () => {
  it('merges repeats and summarises', () => {
    const l = new RedactionLog();
    l.add('a.jsonl', 1, '/x', 'hf-token');
    l.add('a.jsonl', 1, '/x', 'hf-token');
    l.add('b.cast', 3, '/2', 'openai-key');
    expect(l.list()).toEqual([{ file: 'a.jsonl', line: 1, path: '/x', kind: 'hf-token', count: 2 }, { file: 'b.cast', line: 3, path: '/2', kind: 'openai-key', count: 1 }]);
    expect(l.summary()).toEqual({ total: 3, byKind: { 'hf-token': 2, 'openai-key': 1 }, byFile: { 'a.jsonl': 2, 'b.cast': 1 } });
  });
});
