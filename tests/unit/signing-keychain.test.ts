// The signing key in the OS keychain (issue 12, item 3). The stores are plain Node
// (electron/core/dataset/signing.ts) and tested here with a fake cipher standing in for
// Electron's safeStorage; how the desktop app picks one (keychain only where
// chooseKeyStore says it really encrypts, else the 0600 file) is read from the sources,
// as tests/unit/electron-security.test.ts does: there is no Electron binary here.
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ts from 'typescript';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fileKeyStore, keychainKeyStore, loadSigningKey, type KeyCipher } from '../../electron/core/dataset/signing';

const ROOT = join(import.meta.dirname, '../..');

/** Reversible and visibly not the PEM (a real keychain's output is opaque too). */
function fakeCipher(): KeyCipher & { calls: number } {
  const c = {
    calls: 0,
    encrypt: (text: string) => {
      c.calls++;
      return Buffer.from(`SEALED:${Buffer.from(text).reverse().toString('base64')}`);
    },
    decrypt: (data: Buffer) => {
      const t = data.toString();
      if (!t.startsWith('SEALED:')) throw new Error('not sealed by this keychain');
      return Buffer.from(t.slice(7), 'base64').reverse().toString();
    },
  };
  return c;
}

let home: string;
const files = () => ({ plain: join(home, 'signing', 'ed25519.pem'), sealed: join(home, 'signing', 'ed25519.pem.enc') });
const exists = (p: string) => stat(p).then(() => true, () => false);

beforeEach(async () => {
  home = await mkdtemp(join(tmpdir(), 'apollo-keychain-'));
});
afterEach(async () => {
  await rm(home, { recursive: true, force: true });
});

describe('the keychain key store', () => {
  it('creates the key encrypted (0600, folder 0700) and never as a plain file', async () => {
    const store = keychainKeyStore(home, fakeCipher());
    const a = (await loadSigningKey(store, 'alice', { create: true }))!;
    const f = files();
    expect(await exists(f.plain)).toBe(false);
    const sealed = await readFile(f.sealed, 'utf8');
    expect(sealed).toMatch(/^SEALED:/);
    expect(sealed).not.toContain('PRIVATE KEY');
    expect((await stat(f.sealed)).mode & 0o777).toBe(0o600);
    expect((await stat(join(home, 'signing'))).mode & 0o777).toBe(0o700);
    // The same key every time it is loaded.
    const b = (await loadSigningKey(keychainKeyStore(home, fakeCipher()), 'alice', { create: true }))!;
    expect(b.fingerprint).toBe(a.fingerprint);
  });

  it('moves a plain key file into the keychain, the same key, and removes the plain file', async () => {
    const before = (await loadSigningKey(fileKeyStore(home), 'alice', { create: true }))!;
    const f = files();
    expect(await exists(f.plain)).toBe(true);
    const after = (await loadSigningKey(keychainKeyStore(home, fakeCipher()), 'alice', { create: true }))!;
    expect(after.fingerprint).toBe(before.fingerprint);
    expect(await exists(f.plain)).toBe(false);
    expect(await exists(f.sealed)).toBe(true);
  });

  it('finishes an interrupted move: the plain copy goes once the encrypted one reads back', async () => {
    const key = (await loadSigningKey(fileKeyStore(home), 'alice', { create: true }))!;
    const f = files();
    const cipher = fakeCipher();
    await writeFile(f.sealed, cipher.encrypt(readFileSync(f.plain, 'utf8')), { mode: 0o600 });
    expect((await loadSigningKey(keychainKeyStore(home, cipher), 'alice', { create: false }))!.fingerprint).toBe(key.fingerprint);
    expect(await exists(f.plain)).toBe(false);
  });

  it('the 0600 file store refuses a key the app sealed, instead of making a second key', async () => {
    await loadSigningKey(keychainKeyStore(home, fakeCipher()), 'alice', { create: true });
    await expect(loadSigningKey(fileKeyStore(home), 'alice', { create: true })).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    expect(await exists(files().plain)).toBe(false);
  });

  it('a keychain that cannot decrypt is an error naming the file, and nothing is replaced', async () => {
    await loadSigningKey(keychainKeyStore(home, fakeCipher()), 'alice', { create: true });
    const body = await readFile(files().sealed);
    const other: KeyCipher = { encrypt: () => Buffer.from('x'), decrypt: () => { throw new Error('wrong keyring'); } };
    await expect(loadSigningKey(keychainKeyStore(home, other), 'alice', { create: true })).rejects.toThrow(/could not decrypt the signing key .*ed25519\.pem\.enc.*wrong keyring/);
    expect(await readFile(files().sealed)).toEqual(body);
  });
});

// ---- the desktop app's wiring, read from the sources

function parse(rel: string): ts.SourceFile {
  return ts.createSourceFile(rel, readFileSync(join(ROOT, rel), 'utf8'), ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
}

function find<T extends ts.Node>(root: ts.Node, pick: (n: ts.Node) => n is T, where: (n: T) => boolean): T | undefined {
  let hit: T | undefined;
  const walk = (n: ts.Node): void => {
    if (!hit && pick(n) && where(n)) hit = n;
    n.forEachChild(walk);
  };
  walk(root);
  return hit;
}

describe('the desktop app keeps the signing key in the keychain where it really encrypts', () => {
  it('keychainSigningStore: the keychain store with safeStorage when chooseKeyStore says keychain, else the file store', () => {
    const sf = parse('electron/main/keychain.ts');
    const fn = find(sf, ts.isFunctionDeclaration, (f) => f.name?.text === 'keychainSigningStore');
    expect(fn).toBeDefined();
    const body = fn!.body!.getText(sf);
    expect(body).toMatch(/if \(keychainChoice\(\)\.use !== 'keychain'\) return fileKeyStore\(home\);/);
    expect(body).toMatch(/keychainKeyStore\(home, \{ encrypt: \(text\) => safeStorage\.encryptString\(text\), decrypt: \(data\) => safeStorage\.decryptString\(data\) \}\)/);
    // The same choice as the API keys': basic_text on Linux is not a keychain.
    const choice = find(sf, ts.isFunctionDeclaration, (f) => f.name?.text === 'keychainChoice')!.body!.getText(sf);
    expect(choice).toContain('chooseKeyStore(');
    expect(choice).toContain('safeStorage.getSelectedStorageBackend()');
  });

  it('the main process hands it to the core, whose signingKey() uses it', () => {
    const main = parse('electron/main/index.ts');
    const open = find(main, ts.isCallExpression, (c) => c.expression.getText(main) === 'ApolloCore.open');
    expect(open).toBeDefined();
    const arg = open!.arguments[0]!;
    expect(ts.isObjectLiteralExpression(arg)).toBe(true);
    const p = (arg as ts.ObjectLiteralExpression).properties.find((x) => x.name?.getText(main) === 'signingKeys');
    expect(p && ts.isPropertyAssignment(p) ? p.initializer.getText(main) : null).toBe('keychainSigningStore(home)');
    const app = parse('electron/core/app.ts');
    const m = find(app, ts.isMethodDeclaration, (d) => d.name.getText(app) === 'signingKey')!.body!.getText(app);
    expect(m).toContain('this.opts.signingKeys ?? fileKeyStore(this.opts.home)');
  });
});
