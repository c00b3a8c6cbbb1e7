// Signed bundles: an annotator's ed25519 key signs the manifest (which lists every
// file's SHA-256); merge names the signer, refuses a bundle changed after signing
// (even with its hashes recomputed), a key the lead does not trust, or no signature
// (every export is signed) unless unsigned bundles are allowed, then flagged; and
// writes nothing when it refuses.
import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApolloError } from '../../shared/errors';
import type { SessionEvent } from '../../shared/events';
import { exportBundle, type Manifest } from '../../electron/core/dataset/bundle';
import { mergeBundles, type MergeBundlesOptions } from '../../electron/core/dataset/merge';
import { fileKeyStore, loadSigningKey, parseTrustedKeys, publicKeyLine, signBundle, type SigningKey } from '../../electron/core/dataset/signing';
import { ok, run, SessionBuilder } from '../fixtures/sessions';

const CLI = resolve(__dirname, '../../out/main/cli.js');

let root: string;
let alice: SigningKey;
let mallory: SigningKey;
let signedA: string;
let unsignedB: string;

function session(author: string, label: 'keep' | 'mask'): SessionEvent[] {
  const b = new SessionBuilder({ name: 'Signed' });
  b.rollout({ task: 'Sign things' });
  const s1 = b.step({ content: 'First MARK-1.', calls: [run('echo MARK-1')], results: [ok()] });
  b.step({ calls: [{ name: 'finish', args: { summary: 'MARK-2 done' } }], results: [ok()] });
  b.label(s1, label, { author });
  return b.events;
}

async function exportTo(name: string, events: SessionEvent[]): Promise<string> {
  const outDir = join(root, 'bundles', name);
  await exportBundle({
    home: join(root, 'home'), sessions: [{ sessionId: 'signed', events, sessionDir: join(root, 'nowhere') }], outDir,
    formats: ['openai', 'sharegpt', 'mistral', 'trajectory'], secrets: [], appVersion: '0.1.0-test',
  });
  return outDir;
}

const exists = (p: string): Promise<boolean> => stat(p).then(() => true, () => false);
const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'apollo-sign-'));
  alice = (await loadSigningKey(fileKeyStore(join(root, 'alice-home')), 'alice', { create: true }))!;
  mallory = (await loadSigningKey(fileKeyStore(join(root, 'mallory-home')), 'alice', { create: true }))!;
  signedA = await exportTo('alice', session('alice', 'keep'));
  await signBundle(signedA, alice);
  unsignedB = await exportTo('bob', session('bob', 'mask'));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

let n = 0;
const merge = (inputs: string[], over: Partial<MergeBundlesOptions> = {}) => mergeBundles({ inputs, outDir: join(root, 'merged', `m${++n}`), appVersion: '0.1.0-test', ...over });

async function expectRefused(inputs: string[], over: Partial<MergeBundlesOptions>, pattern: RegExp): Promise<void> {
  const outDir = join(root, 'merged', `refused-${++n}`);
  const err = await mergeBundles({ inputs, outDir, ...over }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ApolloError);
  expect((err as ApolloError).message).toMatch(pattern);
  expect(await exists(outDir)).toBe(false);
  expect((await readdir(join(root, 'merged')).catch(() => [] as string[])).filter((x) => x.includes('.tmp-'))).toEqual([]);
}

describe('signing keys', () => {
  it('are created once, kept owner-only, and the same on the next load', async () => {
    const home = join(root, 'alice-home');
    const again = (await loadSigningKey(fileKeyStore(home), 'alice', { create: false }))!;
    expect(again.fingerprint).toBe(alice.fingerprint);
    expect(alice.fingerprint).toMatch(/^ed25519:[0-9a-f]{32}$/);
    expect(mallory.fingerprint).not.toBe(alice.fingerprint);
    if (process.platform !== 'win32') expect((await stat(join(home, 'signing', 'ed25519.pem'))).mode & 0o077).toBe(0);
    expect(await loadSigningKey(fileKeyStore(join(root, 'nobody')), 'x', { create: false })).toBeNull();
    // A trust file line round-trips; a fingerprint that is not the key's is refused.
    expect(parseTrustedKeys(publicKeyLine(alice), 'trust')).toEqual([{ name: 'alice', fingerprint: alice.fingerprint, publicKey: alice.publicKey }]);
    expect(() => parseTrustedKeys(JSON.stringify({ name: 'x', publicKey: alice.publicKey, fingerprint: mallory.fingerprint }), 'trust')).toThrow(/does not belong/);
  });
});

describe('merge with signatures', () => {
  it('names the signer of each input, by the lead\'s name for a trusted key; an unsigned one allowed is flagged', async () => {
    const r = await merge([signedA, unsignedB], { allowUnsigned: true });
    expect(r.report.bundles.map((b) => ({ bundle: b.path, signer: b.signer }))).toEqual([
      { bundle: signedA, signer: { name: 'alice', fingerprint: alice.fingerprint, trusted: false } },
      { bundle: unsignedB, signer: null },
    ]);
    expect(r.manifest.merge.origins.map((o) => o.signer?.name ?? null)).toEqual(['alice', null]);
    expect(r.manifest.warnings).toContain(`${unsignedB} is not signed: accepted because unsigned bundles were allowed; who made it cannot be verified`);
    expect(r.report.warnings).toEqual(r.manifest.warnings);
    const trusted = await merge([signedA], { trustedKeys: [{ name: 'Alice A.', fingerprint: alice.fingerprint }] });
    expect(trusted.manifest.mergedFrom[0]!.signer).toEqual({ name: 'Alice A.', fingerprint: alice.fingerprint, trusted: true });
  });

  it('refuses a bundle changed after signing, even with its hashes recomputed', async () => {
    const forged = join(root, 'bundles', 'forged');
    await cp(signedA, forged, { recursive: true });
    const openai = (await readFile(join(forged, 'openai.jsonl'), 'utf8')).replace('First MARK-1.', 'First MARK-9.');
    await writeFile(join(forged, 'openai.jsonl'), openai);
    const m = JSON.parse(await readFile(join(forged, 'manifest.json'), 'utf8')) as Manifest;
    const f = m.files.find((x) => x.path === 'openai.jsonl')!;
    f.sha256 = sha256(openai);
    f.bytes = Buffer.byteLength(openai);
    await writeFile(join(forged, 'manifest.json'), `${JSON.stringify(m, null, 2)}\n`);
    await expectRefused([forged], {}, /forged: the signature in manifest\.sig does not match manifest\.json \(the bundle was changed after it was signed\)/);
  });

  it('refuses a key the lead does not trust, and unsigned bundles unless allowed', async () => {
    const impostor = join(root, 'bundles', 'impostor');
    await cp(unsignedB, impostor, { recursive: true });
    await signBundle(impostor, mallory);
    const trustedKeys = [{ name: 'alice', fingerprint: alice.fingerprint }];
    await expectRefused([signedA, impostor], { trustedKeys }, new RegExp(`impostor: is signed by alice with a key that is not trusted \\(${mallory.fingerprint}\\)`));
    await expectRefused([signedA, unsignedB], {}, /bob: is not signed \(no manifest\.sig\); unsigned bundles are refused: sign it \(apollo sign\), or allow unsigned bundles/);
    // A signed bundle whose signature was taken away is unsigned: refused the same way.
    const stripped = join(root, 'bundles', 'stripped');
    await cp(signedA, stripped, { recursive: true });
    await rm(join(stripped, 'manifest.sig'));
    await expectRefused([stripped], {}, /stripped: is not signed/);
  });

  it('signs the merged bundle, which merges again under the same trust', async () => {
    const lead = (await loadSigningKey(fileKeyStore(join(root, 'lead-home')), 'lead', { create: true }))!;
    const r = await merge([signedA], { signWith: lead });
    expect(await exists(join(r.dir, 'manifest.sig'))).toBe(true);
    const again = await merge([r.dir], { trustedKeys: [{ name: 'lead', fingerprint: lead.fingerprint }] });
    expect(again.manifest.mergedFrom[0]!.signer).toMatchObject({ name: 'lead', trusted: true });
    // The exports behind it keep the signer its merge verified.
    expect(again.manifest.merge.origins[0]!.signer).toMatchObject({ name: 'alice', fingerprint: alice.fingerprint });
  });
});

describe('apollo keys, sign and merge --trust', () => {
  function apollo(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const p = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    return new Promise((r) => p.on('exit', (code) => r({ code, stdout, stderr })));
  }

  beforeAll(() => {
    if (!existsSync(CLI)) throw new Error('run `npm run build` first (npm test does)');
  });

  it('exports the public key, signs a bundle, and a merge trusting it names the signer', async () => {
    const home = join(root, 'cli-carol');
    const show = await apollo(['keys', 'show', '--home', home], { APOLLO_ANNOTATOR: 'carol' });
    expect(show.code).toBe(0);
    const fp = /fingerprint (ed25519:[0-9a-f]{32})/.exec(show.stdout)?.[1];
    expect(fp).toBeDefined();
    const trust = join(root, 'trust.jsonl');
    expect((await apollo(['keys', 'export-public', '--home', home, '--annotator', 'carol', '--out', trust])).code).toBe(0);
    expect(parseTrustedKeys(await readFile(trust, 'utf8'), trust)[0]!.fingerprint).toBe(fp);
    const bundle = join(root, 'bundles', 'cli-carol');
    await cp(unsignedB, bundle, { recursive: true });
    const signed = await apollo(['sign', bundle, '--home', home, '--annotator', 'carol']);
    expect(signed.code).toBe(0);
    expect(signed.stdout).toContain(`signed ${bundle} as carol (${fp})`);
    const out = join(root, 'cli-merged');
    // --require-signed is the default now, still accepted.
    const r = await apollo(['merge', bundle, '--out', out, '--trust', trust, '--require-signed']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`${bundle}: signed by carol (${fp}, trusted)`);
    const unsigned = await apollo(['merge', unsignedB, '--out', join(root, 'cli-unsigned')]);
    expect(unsigned.code).toBe(1);
    expect(unsigned.stderr).toMatch(/bob: is not signed \(no manifest\.sig\); unsigned bundles are refused/);
    const allowed = await apollo(['merge', unsignedB, '--out', join(root, 'cli-unsigned'), '--allow-unsigned']);
    expect(allowed.code).toBe(0);
    expect(allowed.stdout).toContain(`${unsignedB}: UNSIGNED (accepted with --allow-unsigned)`);
    expect(allowed.stdout).toMatch(/warning: .*bob is not signed: accepted because unsigned bundles were allowed/);
    expect((await apollo(['merge', unsignedB, '--out', join(root, 'cli-both'), '--allow-unsigned', '--require-signed'])).code).toBe(2);
    const refused = await apollo(['merge', bundle, signedA, '--out', join(root, 'cli-refused'), '--trust', trust]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/alice: is signed by alice with a key that is not trusted/);
    expect((await apollo(['keys', 'show', '--home', home], { APOLLO_ANNOTATOR: '' })).code).toBe(2);
  });

  it('a key the desktop app sealed: export, sign, keys and merge --sign refuse naming the fix, and never make a second key', async () => {
    // What the app leaves where safeStorage encrypts: only the keychain-sealed file (opaque bytes to plain Node).
    const home = join(root, 'cli-sealed');
    await mkdir(join(home, 'signing'), { recursive: true, mode: 0o700 });
    const sealed = join(home, 'signing', 'ed25519.pem.enc');
    await writeFile(sealed, Buffer.from('v10 sealed by the OS keychain, not a PEM'), { mode: 0o600 });
    const fix = /encrypted by the desktop app's OS keychain \(.*ed25519\.pem\.enc\), which only the app can open; no second key is made for the same person\. Export, sign and merge with --sign from the desktop app/;
    const bundle = join(root, 'bundles', 'cli-sealed');
    await cp(unsignedB, bundle, { recursive: true });
    const out = join(root, 'cli-sealed-out');
    const runs = {
      show: await apollo(['keys', 'show', '--home', home, '--annotator', 'carol']),
      exportPublic: await apollo(['keys', 'export-public', '--home', home, '--annotator', 'carol']),
      sign: await apollo(['sign', bundle, '--home', home, '--annotator', 'carol']),
      export: await apollo(['export', 'sample-sales-report', '--out', join(out, 'export'), '--home', home]),
      merge: await apollo(['merge', signedA, '--out', join(out, 'merge'), '--sign', '--home', home, '--annotator', 'carol']),
    };
    for (const [what, r] of Object.entries(runs)) {
      expect(r.code, `${what}: ${r.stderr}`).toBe(1);
      expect(r.stderr, what).toMatch(fix);
    }
    // Nothing signed or written, the sealed key untouched, no plain key beside it.
    expect(await readdir(join(home, 'signing'))).toEqual(['ed25519.pem.enc']);
    expect(await readFile(sealed, 'utf8')).toBe('v10 sealed by the OS keychain, not a PEM');
    expect(await exists(join(bundle, 'manifest.sig'))).toBe(false);
    expect(await exists(out)).toBe(false);
    // The way the message names for the public key: read it from a bundle the app signed.
    const from = await apollo(['keys', 'export-public', '--from', signedA]);
    expect(from.code, from.stderr).toBe(0);
    expect(parseTrustedKeys(from.stdout, 'stdout')).toEqual([{ name: 'alice', fingerprint: alice.fingerprint, publicKey: alice.publicKey }]);
    expect((await apollo(['keys', 'show', '--from', signedA])).stdout).toContain(`fingerprint ${alice.fingerprint}`);
    const unsigned = await apollo(['keys', 'show', '--from', unsignedB]);
    expect([unsigned.code, unsigned.stderr]).toEqual([1, expect.stringMatching(/is not signed \(no manifest\.sig\)/)]);
  });
});
