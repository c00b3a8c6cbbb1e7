import { describe, expect, it } from 'vitest';
import { toAsciicast } from '../../electron/core/dataset/asciicast';
import { Redactor, RedactionLog, StreamRedactor, redactString, type SecretHit } from '../../electron/core/dataset/redact';
import { SessionBuilder } from '../fixtures/sessions';

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

  it('keeps its memory bounded by the window when the text goes back and forth between Latin-1 and wide', () => {
    // Each return to wide text doubled the window's buffer: 4.5 GB was asked for at 21% of a 160 MB recording.
    const r = new Redactor([]);
    let out = '';
    const s = new StreamRedactor<number>(r, (d) => void (out += d), 64, 32);
    let text = '';
    for (let i = 0; i < 200; i++) {
      // Longer than the context kept between windows (1,024), so the text held goes back to Latin-1.
      const part = i % 2 ? `wide █▉ ${i} `.repeat(200) : `latin ${i} `.repeat(200);
      text += part;
      s.push(part, i);
    }
    s.end();
    expect(out).toBe(text);
  });

  it('gives back every segment as it came, through windows of Latin-1 text, wide text and both', () => {
    // The window is kept outside the heap, one byte a character until one is past U+00FF.
    const r = new Redactor([SECRETS.configured]);
    const kinds = ['plain ascii ', 'lätïn-1 ÿ ', '█▉▊ wide ', '🔑 pair ', '\ud800 lone \udfff ', `${SECRETS.hf} `, `PASSWORD=${SECRETS.envPassword} `, `x${SECRETS.configured}ü `];
    for (const order of [[0, 1, 2, 0, 3, 1], [2, 2, 0, 0, 0, 0, 4, 0], [0, 5, 2, 6, 1, 7, 3, 0]]) {
      let text = '';
      for (let i = 0; i < 300; i++) text += kinds[order[Math.floor(i / 50) % order.length]!]!.repeat(1 + (i % 3));
      for (const [window, overlap] of [[64, 128], [500, 256], [1 << 20, 1 << 16]] as const) {
        const out: Array<[string, number]> = [];
        const s = new StreamRedactor<number>(r, (d, m) => void out.push([d, m]), window, overlap);
        const cuts: number[] = [];
        for (let i = 0; i < text.length; i += 29) {
          s.push(text.slice(i, i + 29), i);
          cuts.push(i);
        }
        s.end();
        expect(out.map((o) => o[0]).join(''), `${order} / ${window}`).toBe(r.redact(text).text);
        // Unredacted segments come back whole and in order, each with its metadata.
        expect([...new Set(out.map((o) => o[1]))]).toEqual(cuts.filter((c) => out.some((o) => o[1] === c)));
      }
    }
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

  it('records trained turns masked or left out because of a secret, one entry per turn', () => {
    const l = new RedactionLog();
    l.add('openai.jsonl', 1, '/messages/2/tool_calls/0/function/arguments', 'openai-key');
    l.addMasked('openai.jsonl', 1, '/messages/2', 'openai-key');
    l.addMasked('openai.jsonl', 1, '/messages/2', 'github-token');
    l.addMasked('openai.jsonl', 1, '/messages/2', 'openai-key');
    l.addMasked('sharegpt.jsonl', 0, '/conversations/1', 'hf-token', 'dropped');
    expect(l.masked()).toEqual([
      { file: 'openai.jsonl', line: 1, path: '/messages/2', kinds: ['github-token', 'openai-key'], action: 'masked' },
      { file: 'sharegpt.jsonl', line: 0, path: '/conversations/1', kinds: ['hf-token'], action: 'dropped' },
    ]);
    expect(l.summary()).toEqual({ total: 1, byKind: { 'openai-key': 1 }, byFile: { 'openai.jsonl': 1 }, secretTurns: { masked: 1, dropped: 1 } });
  });
});

// ---- redaction on decoded values (issue 9.5) ----------------------------------------

const PEM_BODY = ['MIIEowIBAAKCAQEA1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6q7r8s9t0u1v2w3x4y5z', 'AbCdEfGhIjKlMnOpQrStUvWxYz0123456789+/AbCdEfGhIjKlMnOpQrStUvWxYz01'];
/** One planted secret per kind in the file header: the text planted, the parts that must not survive, what it becomes (default `[REDACTED:<kind>]`). */
const PLANTS: Array<{ kind: string; text: string; secrets: string[]; redacted?: string }> = [
  { kind: 'configured-secret', text: SECRETS.configured, secrets: [SECRETS.configured] },
  { kind: 'private-key', text: ['-----BEGIN OPENSSH PRIVATE KEY-----', ...PEM_BODY, '-----END OPENSSH PRIVATE KEY-----'].join('\n'), secrets: PEM_BODY },
  { kind: 'anthropic-key', text: SECRETS.anthropic, secrets: [SECRETS.anthropic] },
  { kind: 'openai-key', text: SECRETS.openai, secrets: [SECRETS.openai] },
  { kind: 'github-token', text: SECRETS.github, secrets: [SECRETS.github] },
  { kind: 'github-token', text: SECRETS.githubPat, secrets: [SECRETS.githubPat] },
  { kind: 'aws-access-key', text: SECRETS.aws, secrets: [SECRETS.aws] },
  { kind: 'slack-token', text: SECRETS.slack, secrets: [SECRETS.slack] },
  { kind: 'slack-webhook', text: j('https://hooks.slack.com/', 'services/', 'T0AAAAAAA/B0BBBBBBB/cCcCcCcCcCcCcCcCcCcCcCcC'), secrets: ['T0AAAAAAA/B0BBBBBBB/cCcCcCcCcCcCcCcCcCcCcCcC'] },
  { kind: 'hf-token', text: SECRETS.hf, secrets: [SECRETS.hf] },
  { kind: 'google-api-key', text: j('AI', 'za', 'SyD-1a2B3c4D5e6F7g8H9i0J1k2L3m4N5o6'), secrets: [j('AI', 'za', 'SyD-1a2B3c4D5e6F7g8H9i0J1k2L3m4N5o6')] },
  { kind: 'stripe-key', text: j('sk', '_live_', '4eC39HqLyjWDarjtT1zdp7dc9Z'), secrets: [j('sk', '_live_', '4eC39HqLyjWDarjtT1zdp7dc9Z')] },
  { kind: 'jwt', text: j('eyJhbGciOiJIUzI1NiJ9', '.eyJzdWIiOiIxMjM0NTY3ODkwIn0', '.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c'), secrets: ['SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c', 'eyJzdWIiOiIxMjM0NTY3ODkwIn0'] },
  { kind: 'bearer', text: `Authorization: Bearer ${SECRETS.bearer}`, secrets: [SECRETS.bearer], redacted: 'Authorization: Bearer [REDACTED:bearer]' },
  { kind: 'url-password', text: `postgres://admin:${SECRETS.urlPassword}@db.internal:5432/x`, secrets: [SECRETS.urlPassword], redacted: 'postgres://admin:[REDACTED:url-password]@db.internal:5432/x' },
  { kind: 'assignment', text: `DB_PASSWORD=${SECRETS.envPassword}`, secrets: [SECRETS.envPassword], redacted: 'DB_PASSWORD=[REDACTED:assignment]' },
  { kind: 'assignment', text: `--api-key ${j('Zq8sL2mN', '4pR6tV8x')}`, secrets: [j('Zq8sL2mN', '4pR6tV8x')], redacted: '--api-key [REDACTED:assignment]' },
];
const SEPARATORS = ['\n', '\t', '"', "'", '\r\n'];

/** Every form a planted value could take in serialised output: as is, JSON-escaped once and twice. */
function forms(secret: string): string[] {
  const once = JSON.stringify(secret).slice(1, -1);
  return [...new Set([secret, once, JSON.stringify(once).slice(1, -1)])];
}

function expectGone(out: unknown, secrets: readonly string[], what: string): void {
  const text = JSON.stringify(out);
  for (const s of secrets) for (const f of forms(s)) expect(text.includes(f), `${what}: ${f.slice(0, 24)}… survived`).toBe(false);
}

describe('Redactor on decoded values', () => {
  const r = new Redactor([SECRETS.configured]);

  describe.each(SEPARATORS.map((sep) => [JSON.stringify(sep), sep] as const))('after %s', (_name, sep) => {
    it.each(PLANTS.map((p) => [p.kind, p] as const))('%s in content, arguments, observations, double-encoded JSON', (_k, p) => {
      const planted = `before${sep}${p.text}${sep}after`;
      const redacted = p.redacted ?? `[REDACTED:${p.kind}]`;
      const args = JSON.stringify({ path: 'notes.txt', content: `A${sep}${p.text}${sep}B` });
      const message = {
        role: 'assistant',
        content: planted,
        tool_calls: [
          { id: 'c1', type: 'function', function: { name: 'create_file', arguments: args } },
          { id: 'c2', type: 'function', function: { name: 'run_command', arguments: JSON.stringify(JSON.stringify({ command: `echo${sep}${p.text}` })) } },
        ],
      };
      const observation = { role: 'tool', tool_call_id: 'c1', content: JSON.stringify({ success: true, output: `$ cat notes.txt\n${planted}\n`, exit_code: 0 }) };
      const { value, hits } = r.scan({ message, observation });
      expectGone(value, p.secrets, p.kind);
      const at = (pointer: string): string[] => hits.filter((h) => h.pointer === pointer).map((h) => h.kind);
      expect(at('/message/content')).toEqual([p.kind]);
      expect(at('/message/tool_calls/0/function/arguments/content')).toEqual([p.kind]);
      expect(at('/message/tool_calls/1/function/arguments/command')).toEqual([p.kind]);
      expect(at('/observation/content/output')).toEqual([p.kind]);
      expect(hits).toHaveLength(4);
      expect(hits.find((h) => h.pointer.endsWith('/arguments/content'))!.field).toBe('/message/tool_calls/0/function/arguments');
      // Re-encoded JSON still parses, other members are the same bytes.
      const out = value.message.tool_calls[0]!.function.arguments;
      expect(out.startsWith('{"path":"notes.txt","content":"A')).toBe(true);
      expect((JSON.parse(out) as { content: string }).content).toBe(`A${sep}${redacted}${sep}B`);
      const twice = JSON.parse(JSON.parse(value.message.tool_calls[1]!.function.arguments) as string) as { command: string };
      expect(twice.command).toBe(`echo${sep}${redacted}`);
      expect(JSON.parse(value.observation.content) as unknown).toMatchObject({ success: true, exit_code: 0 });
    });
  });

  it.each(PLANTS.map((p) => [p.kind, p] as const))('%s escaped inside text that is not JSON (truncated observation, printed JSON)', (_k, p) => {
    const json = JSON.stringify({ output: `line 1\n${p.text}\nline 3` });
    for (const text of [json.slice(0, -3), `HTTP/1.1 200 OK\r\n\r\n${json}`, JSON.stringify(json).slice(0, -2)]) {
      const out = r.redact(text);
      expectGone(out.text, p.secrets, p.kind);
      expect(out.kinds).toEqual([p.kind]);
      // the replacement never cuts an escape in half
      expect(out.text).not.toMatch(/\\\[REDACTED|\\$/);
    }
  });

  it('private-key cut off before its END line (capped output), inside a JSON observation', () => {
    const output = `$ cat id_rsa\n-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n${PEM_BODY.join('\n')}\n[... 1200 characters omitted; the full output is in the terminal recording ...]\n`;
    const { value, hits } = r.scan({ content: JSON.stringify({ output, exit_code: 0 }) });
    expectGone(value, PEM_BODY, 'truncated key');
    expect(hits).toEqual([{ pointer: '/content/output', field: '/content', kind: 'private-key' }]);
    expect((JSON.parse(value.content) as { output: string }).output).toBe('$ cat id_rsa\n[REDACTED:private-key]\n[... 1200 characters omitted; the full output is in the terminal recording ...]\n');
  });

  it('sensitive-field: a secret-named key inside tool-call arguments and observations', () => {
    const token = j('q1w2e3r4', 't5y6u7i8');
    const args = JSON.stringify({ name: 'deploy', env: { SERVICE_TOKEN: token, PATH: '/usr/bin' }, headers: { Authorization: `Basic ${token}` } });
    const { value, hits } = r.scan({ arguments: args, observation: JSON.stringify({ output: JSON.stringify({ client_secret: token }) }) });
    expectGone(value, [token], 'sensitive-field');
    expect(hits.map((h) => `${h.pointer} ${h.kind}`)).toEqual([
      '/arguments/env/SERVICE_TOKEN sensitive-field',
      '/arguments/headers/Authorization sensitive-field',
      '/observation/output/client_secret sensitive-field',
    ]);
  });

  it('create_file with one token per line: all 12 redacted, each reported at the content', () => {
    const tokens = [SECRETS.openai, SECRETS.anthropic, SECRETS.github, SECRETS.githubPat, SECRETS.aws, SECRETS.slack, SECRETS.hf, PLANTS[10]!.text, PLANTS[11]!.text, PLANTS[12]!.text, `PASSWORD=${SECRETS.envPassword}`, SECRETS.configured];
    const content = tokens.map((t, i) => (i % 3 === 0 ? `export K${i}=${t}` : t)).join('\n');
    const args = JSON.stringify({ path: '.env', content });
    const { value, hits } = r.scan({ tool_calls: [{ function: { name: 'create_file', arguments: args } }] });
    expectGone(value, [...tokens.slice(0, 10), SECRETS.envPassword, SECRETS.configured], 'create_file');
    expect(hits).toHaveLength(12);
    expect(new Set(hits.map((h) => h.pointer))).toEqual(new Set(['/tool_calls/0/function/arguments/content']));
    expect(hits.map((h) => h.kind)).toEqual(['openai-key', 'anthropic-key', 'github-token', 'github-token', 'aws-access-key', 'slack-token', 'hf-token', 'google-api-key', 'stripe-key', 'jwt', 'assignment', 'configured-secret']);
    const lines = (JSON.parse(value.tool_calls[0]!.function.arguments) as { content: string }).content.split('\n');
    expect(lines).toHaveLength(12);
    expect(lines[0]).toBe('export K0=[REDACTED:openai-key]');
  });

  it('printenv: every value of the observation, the command itself untouched', () => {
    const command = JSON.stringify({ session_id: 'main', command: 'printenv GITHUB_TOKEN HF_TOKEN OPENAI_API_KEY', wait_for_completion: true });
    const output = `${SECRETS.github}\n${SECRETS.hf}\n${SECRETS.openai}\n`;
    const obs = JSON.stringify({ success: true, message: 'Command `printenv GITHUB_TOKEN HF_TOKEN OPENAI_API_KEY` executed in 0.01 seconds.', exit_code: 0, output });
    const msgs = [
      { role: 'assistant', content: '', tool_calls: [{ id: 'a', type: 'function', function: { name: 'run_command', arguments: command } }] },
      { role: 'tool', tool_call_id: 'a', content: obs },
    ];
    const { value, hits } = r.scan(msgs);
    expectGone(value, [SECRETS.github, SECRETS.hf, SECRETS.openai], 'printenv');
    expect(value[0]!.tool_calls![0]!.function.arguments).toBe(command);
    expect(hits).toEqual([
      { pointer: '/1/content/output', field: '/1/content', kind: 'github-token' },
      { pointer: '/1/content/output', field: '/1/content', kind: 'hf-token' },
      { pointer: '/1/content/output', field: '/1/content', kind: 'openai-key' },
    ]);
    // an exporter can tell a trained assistant turn held none
    expect(hits.some((h) => h.pointer.startsWith('/0/'))).toBe(false);
    expect((JSON.parse(value[1]!.content) as { output: string }).output).toBe('[REDACTED:github-token]\n[REDACTED:hf-token]\n[REDACTED:openai-key]\n');
  });

  it('keeps untouched text byte-identical, and the rest of a redacted JSON text too', () => {
    const args = '{ "path" : "caf\\u00e9.txt",\n  "content": "a\\/b\\tc" , "n": [1, 2.5e3, true, null] }';
    expect(r.scan({ args }).value.args).toBe(args);
    expect(r.redact(args)).toEqual({ text: args, kinds: [] });
    const withSecret = args.replace('a\\/b', `a\\/b\\n${SECRETS.hf}`);
    const out = r.redact(withSecret).text;
    expect(out).toBe('{ "path" : "caf\\u00e9.txt",\n  "content": "a/b\\n[REDACTED:hf-token]\\tc" , "n": [1, 2.5e3, true, null] }');
    const v = { a: 'plain', b: ['x', { c: JSON.stringify({ d: 'e' }) }], n: 3, z: null };
    const s = r.scan(v);
    expect(s.value).toEqual(v);
    expect(s.hits).toEqual([]);
  });

  it('redacts secrets in object keys and never puts them in a pointer', () => {
    const { value, hits } = r.scan({ env: { [SECRETS.github]: 'x' }, args: JSON.stringify({ [SECRETS.hf]: 1 }) });
    expectGone(value, [SECRETS.github, SECRETS.hf], 'keys');
    expectGone(hits, [SECRETS.github, SECRETS.hf], 'pointers');
    expect(hits.map((h) => h.pointer)).toEqual(['/env/[REDACTED:github-token]', '/args/[REDACTED:hf-token]']);
  });

  it('redactValue reports the pointer of the string in the value, plus the decoded hit', () => {
    const got: Array<[string, string, SecretHit]> = [];
    const v = r.redactValue({ messages: [{ tool_calls: [{ function: { arguments: JSON.stringify({ command: `huggingface-cli login --token ${SECRETS.hf}` }) } }] }] }, (p, k, h) => got.push([p, k, h]));
    expectGone(v, [SECRETS.hf], 'redactValue');
    expect(got).toEqual([['/messages/0/tool_calls/0/function/arguments', 'hf-token', { pointer: '/messages/0/tool_calls/0/function/arguments/command', field: '/messages/0/tool_calls/0/function/arguments', kind: 'hf-token' }]]);
  });

  it('finds a token highlighted by grep --color and split by colour codes', () => {
    const hl = (s: string): string => `\x1b[01;31m\x1b[K${s}\x1b[m\x1b[K`;
    const text = `.env:GH=${hl(SECRETS.github.slice(0, 4))}${SECRETS.github.slice(4)}\r\nconfig:${hl(SECRETS.hf)}\r\n`;
    const out = r.redact(text);
    expect(out.kinds).toEqual(['github-token', 'hf-token']);
    expect(out.text).toBe(`.env:GH=\x1b[01;31m\x1b[K[REDACTED:github-token]\r\nconfig:\x1b[01;31m\x1b[K[REDACTED:hf-token]\x1b[m\x1b[K\r\n`);
  });

  it('leaves common non-secrets alone', () => {
    let seed = 7;
    const rand = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const png = Buffer.from(Array.from({ length: 60_000 }, () => Math.floor(rand() * 256))).toString('base64');
    const texts = [
      'commit 3f2c1a9e8b7d6c5f4e3a2b1c0d9e8f7a6b5c4d3e\nAuthor: A <a@b.c>',
      'id 123e4567-e89b-12d3-a456-426614174000 and 550e8400-e29b-41d4-a716-446655440000',
      `<img src="data:image/png;base64,${png}">`,
      `{"image": "${Buffer.from(png).toString('base64url')}"}`,
      '"integrity": "sha512-Xo3mNn1Lh1vV7m5y0n7uW8bq2b9G1q3Zq4d8l5o6p7r8s9t0u1v2w3x4y5z6A7B8C9D0E1F2G3H4I5J6K7L8M9N0=="',
      'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7vbqajDhA8j5tXlWp7h0y0W9z2Q user@host',
      'token = get_token()\nkey = os.environ["OPENAI_API_KEY"]\napi_key = os.environ["OPENAI_API_KEY"]\nlogin(password=password)\nself.api_key = api_key_value\npassword=self.password',
      'TOKEN_URL = "https://oauth2.googleapis.com/token"\npassword_file: "/run/secrets/db_password"',
      '{"special_tokens_map_file": "/models/llama/special_tokens_map.json", "tokenizer_class": "LlamaTokenizerFast", "max_tokens": 4096}',
      'postgres://user:password@localhost/db and f"postgres://{user}:{password}@{host}/x" and mysql://root:${DB_PASS}@h/d',
      'echo "$GITHUB_TOKEN" && printenv GITHUB_TOKEN HF_TOKEN OPENAI_API_KEY',
      'PASSWORD=******** API_TOKEN=xxxxxxxxxxxx',
      'C:\\Users\\new\\tokens\\table.txt and "C:\\\\temp\\\\x"',
      '\x1b[0m\x1b[01;34mnode_modules\x1b[0m  \x1b[01;32mtrain.sh\x1b[0m\r\n\x1b]0;user@host: ~\x07$ ',
      'See `API_TOKEN=$(cat token.txt)` in the docs',
    ];
    for (const t of texts) {
      expect(r.redact(t).kinds, t.slice(0, 60)).toEqual([]);
      expect(r.scan({ content: t, arguments: JSON.stringify({ command: t }) }).hits, t.slice(0, 60)).toEqual([]);
    }
  });

  it('stays bounded on 1 MB of decoded and escaped text with no secret', () => {
    const line = 'epoch 1 step 12 loss=2.31 lr=3e-4 \x1b[32mok\x1b[0m path=/home/u/x.py sha=3f2c1a9e8b7d tokens/s 4512 "quoted" \\n escaped\t\n';
    const output = line.repeat(Math.ceil((1 << 20) / line.length));
    const obs = JSON.stringify({ success: true, output, exit_code: 0 });
    const cases: Array<[string, () => unknown]> = [
      ['1 MB observation (scan)', () => r.scan({ role: 'tool', content: obs })],
      ['1 MB observation double-encoded', () => r.redact(JSON.stringify(obs))],
      ['1 MB observation truncated (text)', () => r.redact(obs.slice(0, -10))],
      ['1 MB backslashes', () => r.find('\\'.repeat(1 << 20))],
      ['1 MB of ESC[', () => r.find('\x1b[1;'.repeat(1 << 18))],
      ['nesting 100k deep', () => r.redact(`${'['.repeat(100_000)}"${SECRETS.hf}"${']'.repeat(100_000)}`)],
    ];
    for (const [name, f] of cases) {
      const t = performance.now();
      const res = f();
      const ms = performance.now() - t;
      console.log(`redaction: ${name}: ${ms.toFixed(0)} ms`);
      if (name.startsWith('1 MB observation (scan)')) expect((res as { hits: unknown[] }).hits).toEqual([]);
    }
    // the over-deep text is still redacted, as text
    expect(r.redact(`${'['.repeat(100_000)}"${SECRETS.hf}"${']'.repeat(100_000)}`).kinds).toEqual(['hf-token']);
  });

  it('is idempotent on decoded values', () => {
    const v = { a: JSON.stringify({ content: `x\n${SECRETS.github}\ty ${SECRETS.configured}` }), b: `PASSWORD=${SECRETS.envPassword}\n` };
    const once = r.scan(v).value;
    expect(r.scan(once)).toEqual({ value: once, hits: [] });
  });
});

describe('terminal text (asciicast)', () => {
  it('finds secrets after newlines and colour codes, split across output batches', () => {
    const out: string[] = [];
    const s = new StreamRedactor<number>(new Redactor([]), (d) => out.push(d), 16, 64);
    const text = `$ printenv\r\nGH=\x1b[1m${SECRETS.github}\x1b[0m\r\n\t${SECRETS.hf}\r\n{"t":"a\\n${SECRETS.openai}"}\r\n`;
    for (let i = 0; i < text.length; i += 7) s.push(text.slice(i, i + 7), i);
    s.end();
    const joined = out.join('');
    expectGone(joined, [SECRETS.github, SECRETS.hf, SECRETS.openai], 'stream');
    expect(joined).toBe(`$ printenv\r\nGH=\x1b[1m[REDACTED:github-token]\x1b[0m\r\n\t[REDACTED:hf-token]\r\n{"t":"a\\n[REDACTED:openai-key]"}\r\n`);
  });

  it('writes the cast with every secret gone, also from its JSON-escaped lines', () => {
    const b = new SessionBuilder({ startTs: 1_700_000_000_000 });
    b.terminal('main');
    const t0 = 1_700_000_002_000;
    const chunks = [`$ cat .env\r\nA=1\r\nGITHUB_TOKEN=${SECRETS.github.slice(0, 10)}`, `${SECRETS.github.slice(10)}\r\n\t${SECRETS.aws}\r\n`, `"${SECRETS.slack}"\r\n$ `];
    const data = chunks.map((c) => Buffer.from(c));
    let offset = 0;
    const timing = data.map((d, i) => {
      const e = { ts: t0 + 100 * i, offset, length: d.length };
      offset += d.length;
      return e;
    });
    const cast = toAsciicast({ output: Buffer.concat(data), timing, events: b.events, terminalId: 'main', title: 't', redactor: new Redactor([]) });
    expectGone(cast, [SECRETS.github, SECRETS.github.slice(10), SECRETS.aws, SECRETS.slack], 'cast');
    const shown = cast.trimEnd().split('\n').slice(1).map((l) => (JSON.parse(l) as [number, string, string])[2]).join('');
    expect(shown).toBe('$ cat .env\r\nA=1\r\nGITHUB_TOKEN=[REDACTED:github-token]\r\n\t[REDACTED:aws-access-key]\r\n"[REDACTED:slack-token]"\r\n$ ');
  });
});
