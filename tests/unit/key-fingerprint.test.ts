// A key kept in the app's keychain is redacted where the keychain cannot be read (the
// command line, a browser host after a restart): by the fingerprint the app keeps of it.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { appendFile, cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { fingerprintKey, isKeyOf, MIN_FINGERPRINT_LENGTH, type KeyFingerprint } from '../../electron/core/dataset/key-fingerprint';
import { Redactor, StreamRedactor } from '../../electron/core/dataset/redact';
import { keychainKeyFile, memoryVault, Profiles, type KeyVault } from '../../electron/core/profiles';
import { Workspace } from '../../electron/core/store/workspace';
import { ApolloCore } from '../../electron/core/app';
import { until } from '../fixtures/shell-home';

// Of no shape a pattern knows (checked below): only its value, or its fingerprint, finds it.
const KEY = ['Vq3xLm9T', 'Rw2KZp7B', 'Hn4CjY8d'].join('');
const OTHER = ['Vq3xLm9T', 'Rw2KZp7B', 'Hn4CjY8e'].join('');

/** Texts a key is written in: as it is, in JSON, coloured, typed past a line editor's margin, beside a full stop. */
const CASES: Array<[string, string]> = [
  ['sentence', `the team key is ${KEY}. Use it for the eval.`],
  ['json text', JSON.stringify({ note: `pasted ${KEY}`, n: 3 })],
  ['colour codes', `\x1b[32m${KEY}\x1b[0m\r\n`],
  ['line editor wrap', `$ curl -H x:${KEY.slice(0, 10)} \r${KEY.slice(10)} http://h\r\n`],
  ['glued after', `token:${KEY}`],
  ['quoted', `"${KEY}"`],
  ['glued on both sides', `id=x7${KEY}Qz9&next`],
];

describe('a key known by its fingerprint', () => {
  it('is redacted wherever its value would be, and nothing else is', () => {
    const [fp] = fingerprintKey(KEY);
    const byPrint = new Redactor([fp!]);
    const byValue = new Redactor([KEY]);
    const none = new Redactor();
    for (const [name, text] of CASES) {
      // Else the case proves nothing: no pattern finds this key.
      expect(none.redact(text).text, name).toBe(text);
      const got = byPrint.redact(text);
      expect(got.text, name).toBe(byValue.redact(text).text);
      expect(got.text, name).not.toContain(KEY.slice(4, 20));
      expect(got.kinds, name).toEqual(['configured-secret']);
    }
    // Another value of the same length and characters is not the key.
    expect(byPrint.redact(`the team key is ${OTHER}.`).text).toContain(OTHER);
    // Kept work (texts found clean) is not shared with a redactor that does not know the key.
    expect(byPrint.fingerprint.equals(none.fingerprint)).toBe(false);
    expect(new Redactor([fingerprintKey(KEY)[0]!]).fingerprint.equals(byPrint.fingerprint)).toBe(false); // a new salt
  });

  it('is found in a recording streamed in pieces, across every cut', () => {
    const [fp] = fingerprintKey(KEY);
    const text = `${'progress 10%\r'.repeat(400)}export TEAM=${KEY}\r\n${'x'.repeat(300)}`;
    for (const piece of [1, 7, 64, 4096]) {
      let out = '';
      const s = new StreamRedactor<number>(new Redactor([fp!]), (d) => (out += d), 512, 128, 64);
      for (let i = 0; i < text.length; i += piece) s.push(text.slice(i, i + piece), i);
      s.end();
      expect(out, `pieces of ${piece}`).not.toContain(KEY.slice(0, 12));
      expect(out).toContain('[REDACTED:');
    }
  });

  it('is made only of a key long enough, and of each form it is written in', () => {
    expect(fingerprintKey('k'.repeat(MIN_FINGERPRINT_LENGTH - 1))).toEqual([]);
    const quoted = `ab"cd\\ef${KEY}`;
    const forms = fingerprintKey(quoted);
    expect(forms).toHaveLength(2);
    expect(forms.some((f) => isKeyOf(f, quoted))).toBe(true);
    expect(forms.some((f) => isKeyOf(f, JSON.stringify(quoted).slice(1, -1)))).toBe(true);
    const r = new Redactor(forms);
    const json = JSON.stringify({ note: `see ${quoted} here` });
    expect(r.redact(json).text).not.toContain(KEY);
    expect(r.redact(`see ${quoted} here`).text).not.toContain(KEY);
    // The fingerprint holds neither the key nor a piece of it.
    expect(JSON.stringify(forms)).not.toContain(KEY.slice(0, 8));
  });
});

describe('profiles keep a fingerprint of each stored key', () => {
  let dir: string;
  let ws: Workspace;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'apollo-keyprint-'));
    ws = await Workspace.open(dir);
  });
  afterEach(async () => {
    await ws.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('so a process without the vault redacts the key, and says which keys it cannot', async () => {
    const app = new Profiles(ws, memoryVault(), {});
    await app.save({ name: 'team', baseUrl: 'https://api.example/v1', model: 'm' });
    await app.setKey('team', KEY);
    await app.setKey('team', KEY); // once per key
    expect(await app.secrets()).toEqual([KEY]); // the value, where the vault has it
    const settings = await readFile(join(dir, 'workspace.json'), 'utf8');
    expect(settings).not.toContain(KEY.slice(0, 8));

    const cli = new Profiles(ws, memoryVault(), {});
    const secrets = await cli.secrets();
    expect(secrets).toHaveLength(1);
    expect(isKeyOf(secrets[0] as KeyFingerprint, KEY)).toBe(true);
    expect(new Redactor(secrets).redact(`pasted ${KEY} here`).text).toBe('pasted [REDACTED:configured-secret] here');

    // A replaced key and a removed profile's stay matched: what was recorded with them holds them.
    await app.setKey('team', OTHER);
    await app.remove('team');
    const after = await new Profiles(ws, memoryVault(), {}).secrets();
    expect(after.filter((s) => typeof s === 'object')).toHaveLength(2);
    expect(new Redactor(after).redact(`${KEY} and ${OTHER}`).text).toBe('[REDACTED:configured-secret] and [REDACTED:configured-secret]');

    // A keychain file with no fingerprint kept (an earlier version's, a short key): named, not silently missed.
    await mkdir(join(dir, 'keys'));
    await writeFile(keychainKeyFile(dir, 'team'), 'x');
    await writeFile(keychainKeyFile(dir, 'old local/1'), 'x');
    expect(await cli.keysUnknownHere()).toEqual(['old local/1']);
    // A file the app did not name is named as it is, not an error.
    await writeFile(join(dir, 'keys', 'odd%zz.bin'), 'x');
    expect(await cli.keysUnknownHere()).toEqual(['odd%zz', 'old local/1']);
    await rm(join(dir, 'keys', 'odd%zz.bin'));
    expect(await cli.unredactableKeysWarning('the command line')).toMatch(/profile "old local\/1" is in the desktop app's keychain, which the command line cannot read/);
    // A profile whose key was replaced by one too short to fingerprint: its earlier key's fingerprint does not stand for it.
    await app.save({ name: 'team', baseUrl: 'https://api.example/v1', model: 'm' });
    await app.setKey('team', 'short-key');
    expect(await cli.keysUnknownHere()).toEqual(['old local/1', 'team']);
    await app.setKey('team', KEY);
    expect(await cli.keysUnknownHere()).toEqual(['old local/1']);
  });

  it('notes the keys a vault held before fingerprints were kept, and skips an entry that is not one', async () => {
    const keys = new Map([['team', KEY], ['local', 'short-key']]);
    const vault: KeyVault = { kind: 'keychain', get: async (p) => keys.get(p), set: async (p, k) => void keys.set(p, k), delete: async (p) => void keys.delete(p) };
    const app = new Profiles(ws, vault, {});
    await app.save({ name: 'team', baseUrl: 'https://api.example/v1', model: 'm' });
    await app.save({ name: 'local', baseUrl: 'http://127.0.0.1:1/v1', model: 'm' });
    await ws.setSetting('keyFingerprints', [{ profile: 'x', length: 3, alphabet: 'abc', salt: '!', hmac: '?' }]);
    await app.rememberVaultKeys();
    const cli = new Profiles(ws, memoryVault(), {});
    expect(cli.fingerprints().map((f) => f.profile)).toEqual(['team']);
    expect(new Redactor(await cli.secrets()).redact(`k=${KEY}`).text).not.toContain(KEY);
  });
});

describe('the app, opening', () => {
  it('notes the fingerprints of the keys its keychain held before they were kept', async () => {
    const home = await mkdtemp(join(tmpdir(), 'apollo-keyprint-open-'));
    try {
      const before = await Workspace.open(home);
      await new Profiles(before, memoryVault(), {}).save({ name: 'team', baseUrl: 'https://api.example/v1', model: 'm' });
      await before.close();
      const vault: KeyVault = { kind: 'keychain', get: async (p) => (p === 'team' ? KEY : undefined), set: async () => undefined, delete: async () => undefined };
      const core = await ApolloCore.open({ home, resourcesDir: resolve('resources'), host: 'electron', vault, samples: false });
      try {
        const cli = new Profiles(core.ws, memoryVault(), {});
        await until(() => cli.fingerprints().length > 0, 'the fingerprint of the stored key');
        expect(cli.fingerprints().some((fp) => isKeyOf(fp, KEY))).toBe(true);
      } finally {
        await core.close();
      }
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });
});

const CLI = resolve(__dirname, '../../out/main/cli.js');
const SAMPLE = resolve(__dirname, '../../resources/samples/sample-sales-report');

describe('apollo export and merge', () => {
  let root: string;
  let home: string;
  const run = (args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> => {
    const p = spawn(process.execPath, [CLI, ...args, '--home', home], { env: { ...process.env, OPENAI_API_KEY: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    return new Promise((r) => p.on('exit', (code) => r({ code, stdout, stderr })));
  };
  const bundleText = async (dir: string): Promise<string> => {
    let all = '';
    for (const d of await readdir(dir, { withFileTypes: true, recursive: true })) {
      if (d.isFile()) all += `${relative(dir, join(d.parentPath, d.name))}\n${await readFile(join(d.parentPath, d.name), 'utf8')}`;
    }
    return all;
  };

  beforeAll(async () => {
    if (!existsSync(CLI)) throw new Error('run `npm run build` first (npm test does)');
    root = await mkdtemp(join(tmpdir(), 'apollo-keyprint-cli-'));
    home = join(root, 'home');
    await mkdir(join(home, 'sessions'), { recursive: true });
    await cp(SAMPLE, join(home, 'sessions', 'sales'), { recursive: true });
    // The annotator pasted the team key into guidance and a comment (the recorded requests never held it: trajectory.jsonl does).
    const lines = readFileSync(join(SAMPLE, 'events.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { seq: number; ts: number; type: string; stepId?: string });
    const steps = lines.filter((e) => e.type === 'step.started').map((e) => e.stepId!);
    let seq = Math.max(...lines.map((e) => e.seq));
    const ts = lines.at(-1)!.ts;
    const planted = [
      { type: 'guidance.queued', guidanceId: 'g-key', text: `the bucket takes ${KEY} as its token`, author: 'dana', branchId: 'main' },
      { type: 'guidance.delivered', guidanceId: 'g-key', stepId: steps[2] },
      { type: 'comment.added', commentId: 'c-key', stepId: steps[1], text: `oops, pasted ${KEY}`, author: 'dana' },
    ];
    await appendFile(join(home, 'sessions', 'sales', 'events.jsonl'), planted.map((b) => `${JSON.stringify({ seq: ++seq, ts: ts + seq, ...b })}\n`).join(''));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('redact a key the app stored, which they cannot read', async () => {
    // Without the fingerprint the key goes out as typed (so the test can fail).
    const before = await run(['export', 'sales', '--out', join(root, 'before')]);
    expect(before.code, before.stderr).toBe(0);
    expect(await bundleText(join(root, 'before'))).toContain(KEY);

    // The app stores the key (its keychain file beside), as setKey does.
    const ws = await Workspace.open(home);
    const app = new Profiles(ws, memoryVault(), {});
    await app.save({ name: 'team', baseUrl: 'https://api.example/v1', model: 'm' });
    await app.setKey('team', KEY);
    await ws.close();
    await mkdir(join(home, 'keys'), { recursive: true });
    await writeFile(keychainKeyFile(home, 'team'), 'encrypted by the OS keychain');

    const after = await run(['export', 'sales', '--out', join(root, 'after')]);
    expect(after.code, after.stderr).toBe(0);
    expect(after.stderr).not.toMatch(/keychain/);
    const text = await bundleText(join(root, 'after'));
    expect(text).not.toContain(KEY.slice(0, 12));
    expect(text).toContain('the bucket takes [REDACTED:configured-secret]');

    // A merge of the bundle made before (its annotator knew no key) is redacted with the lead's.
    const merged = await run(['merge', join(root, 'before'), '--out', join(root, 'merged')]);
    expect(merged.code, merged.stderr).toBe(0);
    expect(await bundleText(join(root, 'merged'))).not.toContain(KEY.slice(0, 12));

    // A key in the keychain with no fingerprint: the command line says it cannot redact it.
    await writeFile(keychainKeyFile(home, 'legacy'), 'encrypted by the OS keychain');
    const warned = await run(['export', 'sales', '--dry-run']);
    expect(warned.code).toBe(0);
    expect(warned.stderr).toMatch(/apollo export: warning: the endpoint key of profile "legacy" is in the desktop app's keychain, which the command line cannot read/);
    const warnedMerge = await run(['merge', join(root, 'before'), '--out', join(root, 'merged-again')]);
    expect(warnedMerge.code, warnedMerge.stderr).toBe(0);
    expect(warnedMerge.stderr).toMatch(/apollo merge: warning: .*"legacy"/);
  });
});
