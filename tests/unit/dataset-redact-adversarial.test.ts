// Secrets built to slip past the redaction prefilter (the combined anchor scan that
// lets JSON text whose only escapes are \n \t \r \" through unparsed): each built-in
// pattern's secret and configured secrets holding `\`, `"`, `/`, non-ASCII, emoji
// (surrogate pairs) and whitespace, written into text as JSON.stringify writes it, with
// `\/` and `\uXXXX` escapes (some characters or all, ASCII-only JSON), JSON inside
// JSON, as a member name and printf-escaped. The prefilter redacts exactly what running
// every pattern on the decoded strings does, and no decoded form of the output holds
// the secret; in a stream, a secret across a window boundary is redacted as in one text.
import { describe, expect, it } from 'vitest';
import { Redactor, StreamRedactor } from '../../electron/core/dataset/redact';

const j = (...p: string[]): string => p.join('');
/** [the text holding it, the secret part that must not survive]. */
const BUILTIN: Array<[string, string]> = [
  ['-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n-----END OPENSSH PRIVATE KEY-----', 'b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ'],
  [j('sk-', 'ant-', 'api03-AbCdEfGhIjKlMnOpQrStUv0123456789'), 'AbCdEfGhIjKlMnOpQrStUv0123456789'],
  [j('sk-', 'proj-', 'Guid4nce5ecret6Key7890abcdefGHIJKL'), 'Guid4nce5ecret6Key7890abcdefGHIJKL'],
  [j('gh', 'p_', 'Zz9Yy8Xx7Ww6Vv5Uu4Tt3Ss2Rr1Qq0Pp9Oo8'), 'Zz9Yy8Xx7Ww6Vv5Uu4Tt3Ss2Rr1Qq0Pp9Oo8'],
  [j('AKIA', 'ZZZZYYYYXXXX1234'), 'ZZZZYYYYXXXX1234'],
  [j('https://hooks.slack.com/services/', 'T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX'), 'XXXXXXXXXXXXXXXXXXXXXXXX'],
  [j('xox', 'b-', '99887766554-33221100998-AbCdEfGhIjKl'), '33221100998-AbCdEfGhIjKl'],
  [j('hf', '_', 'QwErTyUiOpAsDfGhJkLzXcVbNm12345678'), 'QwErTyUiOpAsDfGhJkLzXcVbNm12345678'],
  [j('AIza', 'SyA-1234567890abcdefghijklmnopqrstu'), 'SyA-1234567890abcdefghijklmnopqrstu'],
  [j('sk_', 'live_', '4eC39HqLyjWDarjtT1zdp7dc'), '4eC39HqLyjWDarjtT1zdp7dc'],
  [j('eyJ', 'hbGciOiJIUzI1NiJ9', '.eyJ', 'zdWIiOiIxMjM0NTY3ODkwIn0', '.SflKxwRJSMeKKF2QT4fwpM'), 'SflKxwRJSMeKKF2QT4fwpM'],
  ['Authorization: Bearer abcdefgh12345678zz', 'abcdefgh12345678zz'],
  ['curl -H "X: Bearer abcdefgh12345678zz"', 'abcdefgh12345678zz'],
  ['postgres://admin:pa55w0rdXYZ@db.example.com/x', 'pa55w0rdXYZ'],
  ['DB_PASSWORD=hunter2hunter2', 'hunter2hunter2'],
  ['--api-key s3cr3tT0ken99xx', 's3cr3tT0ken99xx'],
  // the forms a review found unredacted (dataset-redact-forms.test.ts)
  [j('MISTRAL_KEY=', '9f8e7d6c5b4a3928', '1706f5e4d3c2b1a0'), '9f8e7d6c5b4a39281706f5e4d3c2b1a0'],
  ['db_password: Xy7-secret-pw', 'Xy7-secret-pw'],
  ['> x-api-key: 0a1b2c3d4e5f60718293a4b5c6d7e8f9', '0a1b2c3d4e5f60718293a4b5c6d7e8f9'],
  ['machine api.example.com login bob password N3trcPassw0rd', 'N3trcPassw0rd'],
  [j('"auth": "', 'Ym9iOnMzY3Iz', 'dHBhc3N3b3Jk', '"'), 'Ym9iOnMzY3IzdHBhc3N3b3Jk'],
  [j('client-key-data: ', 'LS0tLS1CRUdJTiBSU0Eg', 'UFJJVkFURSBLRVktLS0tLQ=='), 'LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQ=='],
  ['mysql -uroot -pMyS3cr3tPw prod', 'MyS3cr3tPw'],
  ['sshpass -p Ss4Pass-w0rd ssh host', 'Ss4Pass-w0rd'],
  ['https://1a2b3c4d5e6f7a8b9c0d1e2f@git.example.com/a', '1a2b3c4d5e6f7a8b9c0d1e2f'],
  ['https://api.example.com/v2?q=x&key=5f4e3d2c1b0a99887766aabbccddeeff', '5f4e3d2c1b0a99887766aabbccddeeff'],
  ['DATABASE_URL=postgres%3A//app%3APctPassw0rd-4242%40db.internal%3A5432/prod', 'PctPassw0rd-4242'],
];
const CONFIGURED = ['back\\slash-secret', 'quote"secret-99', 'slash/secret/77', 'üñíçødé-sécret', 'white space secret', 'tab\tsecret-1', 'nl\nsecret-22', '🔑emoji-secret🔑'];
const PLAIN = CONFIGURED.filter((c) => !/["\\\n\r\t]/.test(c));

/** `\uXXXX` for every UTF-16 unit of `s` (all) or every third character. */
function uEscaped(s: string, all: boolean): string {
  let k = 0;
  return [...s].map((c) => (all || k++ % 3 === 1
    ? [...Array(c.length).keys()].map((i) => `\\u${c.charCodeAt(i).toString(16).padStart(4, '0')}`).join('')
    : JSON.stringify(c).slice(1, -1))).join('');
}
const ENCODINGS: Array<[string, (s: string) => string]> = [
  ['JSON.stringify', (s) => JSON.stringify({ output: `line\n${s}\n"done"`, exit_code: 0 })],
  ['tabs', (s) => JSON.stringify({ output: `\t${s}\t` })],
  ['\\/ escaped', (s) => JSON.stringify({ output: `\n${s}` }).replace(/\//g, '\\/')],
  ['some \\u', (s) => `{"output": "\\n${uEscaped(s, false)}"}`],
  ['all \\u', (s) => `{"output": "${uEscaped(s, true)}"}`],
  ['ASCII-only JSON', (s) => JSON.stringify({ output: `\n${s}` }).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)],
  ['JSON in JSON', (s) => JSON.stringify({ arguments: JSON.stringify({ command: `echo\n${s}` }) })],
  ['member name', (s) => JSON.stringify({ [s]: 'x' })],
  ['surrogate pairs around', (s) => JSON.stringify({ output: `😀\n${s}😀` })],
  ['truncated JSON', (s) => JSON.stringify({ output: `\n${s}\nmore` }).slice(0, -3)],
  ['plain text', (s) => `text\n${s}\n`],
  ['printf', (s) => `printf '${JSON.stringify(s).slice(1, -1)}\\n'`],
];

/** The output and what it reads as once decoded: each JSON string in it, to three levels. */
function readings(out: string): string[] {
  const seen: string[] = [out];
  const walk = (v: unknown, level: number): void => {
    if (typeof v === 'string') {
      seen.push(v);
      if (level < 3) try { walk(JSON.parse(v), level + 1); } catch { /* not JSON */ }
    } else if (Array.isArray(v)) v.forEach((x) => walk(x, level));
    else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) { seen.push(k); walk(x, level); }
  };
  try { walk(JSON.parse(out), 1); } catch { /* not JSON */ }
  return seen;
}

describe('secrets built to slip past the redaction prefilter', () => {
  for (const [label, secrets, cases] of [
    ['built-in patterns', [] as string[], BUILTIN],
    ['configured secrets', CONFIGURED, CONFIGURED.map((s) => [s, s] as [string, string])],
    // None holding a character JSON escapes as \n \t \r \": the prefilter's shortcut stays on for these.
    ['configured secrets JSON writes as they are', PLAIN, PLAIN.map((s) => [s, s] as [string, string])],
  ] as const) {
    it(`are redacted as every pattern redacts them, and leave no decoded trace: ${label}`, () => {
      const fast = new Redactor(secrets);
      const full = new Redactor(secrets, false);
      for (const [secret, part] of cases) {
        for (const [how, encode] of ENCODINGS) {
          const text = encode(secret);
          const got = fast.redact(text);
          expect(got, `${how}: ${JSON.stringify(secret)}`).toEqual(full.redact(text));
          for (const r of readings(got.text)) {
            for (const form of [part, JSON.stringify(part).slice(1, -1)]) expect(r.includes(form), `${how}: ${JSON.stringify(part)} survived in ${JSON.stringify(r).slice(0, 120)}`).toBe(false);
          }
        }
      }
    });
  }

  it('behind shell escapes and terminal controls are found as every pattern on the decoded view finds them', () => {
    // With the prefilter, terminal controls are read through native replaces and the view's
    // index maps built only once something may match: it must find what the full view finds.
    const fast = new Redactor(CONFIGURED);
    const full = new Redactor(CONFIGURED, false);
    const ESC = '\x1b';
    const wraps: Array<(s: string) => string> = [
      (s) => `printf '\\033[31m${s}\\033[0m\\n'`,
      (s) => `echo -e "\\e[1m${s.slice(0, 4)}\\x1b[K${s.slice(4)}"`,
      (s) => `${ESC}[32m${s.slice(0, 3)}${ESC}[0m${s.slice(3)}\\\\n`,
      (s) => `\\\\\\n${s}\\777 \\x4 \\u12 \\`,
      (s) => `\u009b1m${s}\u009bK \\0\\00\\000${s.slice(0, 5)}\\101KIA`,
      (s) => `${s.slice(0, 2)}\\x${s.charCodeAt(2).toString(16)}${s.slice(3)} ${ESC}${ESC}[ \\u0041KIA0123456789ABCDEF`,
      (s) => `\\\\\\\\${s}\\\\\\`,
    ];
    for (const [secret] of [...BUILTIN, ...CONFIGURED.map((c) => [c, c] as const)]) {
      for (const wrap of wraps) {
        const text = wrap(secret);
        expect(fast.findWithContext(text), JSON.stringify(text)).toEqual(full.findWithContext(text));
      }
    }
    // And text made at random of the characters that change a reading, around secrets.
    let seed = 7;
    const rnd = (n: number): number => (seed = (seed * 1103515245 + 12345) % 2147483648) % n;
    const bits = ['\\', '\\', 'n', 'x', 'u', '0', '3', '7', '4', '1', 'b', 'e', 'F', '[', 'm', 'K', ';', '31', ESC, '\u009b', '\x07', '\x7f', ' ', '=', 'TOKEN', 'AKIA', 'gh', 'p_', 'hf_', 'sk-', '"', "'", 'A', 'Z9', '_KEY', 'machine ', 'password ', 'auth', ': ', 'mysql -p', '%3A//', '?key=', '\r', ' \r', '\r\n'];
    for (let k = 0; k < 3000; k++) {
      let text = '';
      const n = 5 + rnd(40);
      for (let i = 0; i < n; i++) text += rnd(12) === 0 ? BUILTIN[rnd(BUILTIN.length)]![0] : bits[rnd(bits.length)];
      expect(fast.findWithContext(text), JSON.stringify(text)).toEqual(full.findWithContext(text));
    }
  });

  it('cut by a line editor drawing past the right margin are found, in text and in JSON', () => {
    // Bash's readline typed (`AbC \rdEf`) and pasted (`AbCd\rdEf`), zsh's ZLE (`AbC \r\e[Kd\rdEf`):
    // the screen shows the key whole, the bytes hold it cut at every column a terminal may have.
    const fast = new Redactor(CONFIGURED);
    const full = new Redactor(CONFIGURED, false);
    const cuts: Array<[string, (s: string, k: number) => string]> = [
      ['typed', (s, k) => `${s.slice(0, k)} \r${s.slice(k)}`],
      ['pasted', (s, k) => `${s.slice(0, k + 1)}\r${s.slice(k)}`],
      ['zsh', (s, k) => `${s.slice(0, k)} \r\x1b[K${s[k]}\r${s.slice(k)}`],
    ];
    for (const [secret, part] of [...BUILTIN, ...CONFIGURED.map((c) => [c, c] as const)]) {
      const at = secret.indexOf(part);
      const pieces = part.length <= 8 ? [part] : [...Array(part.length - 7).keys()].map((i) => part.slice(i, i + 8));
      for (let k = at + 1; k < at + part.length - 1; k++) {
        if (/\s/.test(secret[k - 1]! + secret[k]!)) continue; // a space there reads as a progress line's redraw
        for (const [how, cut] of cuts) {
          const line = `$ echo ${cut(secret, k)}\r\n`;
          for (const text of [line, JSON.stringify({ output: line })]) {
            const got = fast.redact(text);
            expect(got, `${how} at ${k}: ${JSON.stringify(text)}`).toEqual(full.redact(text));
            for (const r of readings(got.text)) {
              const joined = r.replace(/ \r(?:\x1b\[K.\r)?|.\r/gs, '');
              for (const p of pieces) expect(joined.includes(p), `${how} at ${k}: ${JSON.stringify(p)} in ${JSON.stringify(r)}`).toBe(false);
            }
          }
        }
      }
    }
  });

  it('across a stream window boundary are redacted as in one text', () => {
    const red = new Redactor(CONFIGURED);
    for (const secret of [...BUILTIN.map(([s]) => s), ...CONFIGURED]) {
      for (const window of [300, 401]) {
        for (let shift = 0; shift < secret.length + 2; shift += 3) {
          const text = `${'x '.repeat(Math.floor((window - shift) / 2))} ${secret} tail ${'y '.repeat(200)}`;
          const out: string[] = [];
          const stream = new StreamRedactor<number>(red, (d) => void out.push(d), window, 256);
          for (let i = 0; i < text.length; i += 7) stream.push(text.slice(i, i + 7), i);
          stream.end();
          expect(out.join(''), `${JSON.stringify(secret)} at ${shift} before ${window}`).toBe(red.redact(text).text);
        }
      }
    }
  });
});
