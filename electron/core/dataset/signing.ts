// Signed bundles. A bundle's manifest lists the size and SHA-256 of every file, so a
// signature over manifest.json's exact bytes covers the whole bundle: a changed file
// no longer matches its hash, and a manifest re-hashed to match no longer matches
// the signature. The signature sits beside the manifest in `manifest.sig`:
//
//   {"format":"apollo-bundle-signature","version":1,"algorithm":"ed25519",
//    "signer":"alice","publicKey":"<base64 SPKI DER>","manifestSha256":"<hex>",
//    "signature":"<base64>"}
//
// The signer's name is what they call themselves; trust is in the key: a lead lists
// the public keys (or fingerprints) they trust, and merge names each input's signer
// from that list. Each person has one ed25519 key pair per workspace, created on
// first use; the private key is a PKCS#8 PEM in `<home>/signing/` (folder 0700):
// `ed25519.pem` (file 0600) from the command line and the browser host, or, in the
// desktop app where the OS keychain really encrypts (electron/main/keychain.ts),
// `ed25519.pem.enc`, encrypted by the keychain (the plain file is moved into it).
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { ApolloError } from '../../../shared/errors';
import { mkdirPrivate, replaceFile } from '../store/private-files';

export const SIGNATURE_FILE = 'manifest.sig';

const signatureSchema = z.object({
  format: z.literal('apollo-bundle-signature'),
  version: z.literal(1),
  algorithm: z.literal('ed25519'),
  signer: z.string().min(1),
  publicKey: z.string().min(1),
  manifestSha256: z.string().regex(/^[0-9a-f]{64}$/),
  signature: z.string().min(1),
});
export type BundleSignature = z.infer<typeof signatureSchema>;

export interface SigningKey {
  signer: string;
  privateKey: KeyObject;
  /** Base64 of the SPKI DER encoding. */
  publicKey: string;
  fingerprint: string;
}

/** Where a private key is kept. */
export interface SigningKeyStore {
  read(): Promise<string | null>;
  write(pkcs8Pem: string): Promise<void>;
}

/** Encrypts with a key the OS keychain holds (Electron's safeStorage in the app; a fake in tests). */
export interface KeyCipher {
  encrypt(text: string): Buffer;
  decrypt(data: Buffer): string;
}

const keyFiles = (home: string) => {
  const dir = join(home, 'signing');
  return { dir, plain: join(dir, 'ed25519.pem'), sealed: join(dir, 'ed25519.pem.enc') };
};

async function readOrNull(file: string): Promise<Buffer | null> {
  try {
    return await readFile(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

/** Write a private file whole and durably (a key lost to a crash is a new identity): a temporary one (0600) synced and renamed over `file`. */
async function writePrivate(dir: string, file: string, body: string | Buffer): Promise<void> {
  await mkdirPrivate(dir);
  await replaceFile(file, (fh) => fh.writeFile(body).then(() => undefined), { sync: true });
}

/**
 * Why a plain-Node process (the command line, the browser host) refuses a key the app
 * sealed, and what to do instead. Making a new key there would sign bundles with a key
 * the lead does not trust, under the same annotator's name.
 */
function sealedKeyMessage(sealed: string): string {
  return `The signing key of this workspace is encrypted by the desktop app's OS keychain (${sealed}), which only the app can open; no second key is made for the same person. ` +
    'Export, sign and merge with --sign from the desktop app; for the public key a lead trusts, `apollo keys show|export-public --from BUNDLE` reads it from a bundle the app signed';
}

/**
 * The key file of a workspace: `<home>/signing/ed25519.pem`, owner only. When the
 * desktop app has moved the key into the keychain (`ed25519.pem.enc`), it refuses
 * instead of making a second key: a lead trusts one key per person.
 */
export function fileKeyStore(home: string): SigningKeyStore {
  const f = keyFiles(home);
  return {
    async read() {
      const pem = await readOrNull(f.plain);
      if (pem) return pem.toString('utf8');
      if (await readOrNull(f.sealed)) throw new ApolloError('UNAVAILABLE', sealedKeyMessage(f.sealed));
      return null;
    },
    write: (pem) => writePrivate(f.dir, f.plain, pem),
  };
}

/**
 * The key encrypted by the OS keychain: `<home>/signing/ed25519.pem.enc` (0600). A
 * plain key file left from before (or from the command line) is moved into it, the
 * same key (leads already trust it), and the plain file removed once the encrypted
 * one reads back.
 */
export function keychainKeyStore(home: string, cipher: KeyCipher): SigningKeyStore {
  const f = keyFiles(home);
  return {
    async read() {
      const sealed = await readOrNull(f.sealed);
      const plain = await readOrNull(f.plain);
      if (sealed) {
        let pem: string;
        try {
          pem = cipher.decrypt(sealed);
        } catch (e) {
          throw new ApolloError('UNAVAILABLE', `The OS keychain could not decrypt the signing key (${f.sealed}): ${(e as Error).message}`);
        }
        // An interrupted move: the encrypted copy is complete, so the plain one can go.
        if (plain && plain.toString('utf8') === pem) await rm(f.plain, { force: true });
        return pem;
      }
      if (!plain) return null;
      const pem = plain.toString('utf8');
      await writePrivate(f.dir, f.sealed, cipher.encrypt(pem));
      if (cipher.decrypt((await readOrNull(f.sealed))!) !== pem) throw new ApolloError('IO', `The signing key did not read back from ${f.sealed}`);
      await rm(f.plain, { force: true });
      return pem;
    },
    write: (pem) => writePrivate(f.dir, f.sealed, cipher.encrypt(pem)),
  };
}

/** `ed25519:` and the first 32 hex digits of the SHA-256 of the public key's SPKI DER. */
export function fingerprintOf(publicKeyB64: string): string {
  return `ed25519:${createHash('sha256').update(Buffer.from(publicKeyB64, 'base64')).digest('hex').slice(0, 32)}`;
}

function publicKeyB64(k: KeyObject): string {
  return (k.type === 'private' ? createPublicKey(k) : k).export({ type: 'spki', format: 'der' }).toString('base64');
}

/** The workspace's key pair, created on first use when `create` is set (else null when there is none). */
export async function loadSigningKey(store: SigningKeyStore, signer: string, opts: { create: boolean }): Promise<SigningKey | null> {
  if (!signer.trim()) throw new ApolloError('BAD_REQUEST', 'A signer name is needed (--annotator NAME or APOLLO_ANNOTATOR)');
  let pem = await store.read();
  if (pem === null) {
    if (!opts.create) return null;
    const { privateKey } = generateKeyPairSync('ed25519');
    await store.write(privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
    pem = await store.read();
    if (pem === null) throw new ApolloError('IO', 'The signing key could not be stored');
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(pem);
  } catch (e) {
    throw new ApolloError('BAD_REQUEST', `The signing key is unreadable: ${(e as Error).message}`);
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new ApolloError('BAD_REQUEST', 'The signing key is not an ed25519 key');
  const pub = publicKeyB64(privateKey);
  return { signer: signer.trim(), privateKey, publicKey: pub, fingerprint: fingerprintOf(pub) };
}

/** The signature of a manifest's exact bytes. */
export function signManifest(manifest: Buffer, key: SigningKey): BundleSignature {
  return {
    format: 'apollo-bundle-signature', version: 1, algorithm: 'ed25519', signer: key.signer, publicKey: key.publicKey,
    manifestSha256: createHash('sha256').update(manifest).digest('hex'),
    signature: sign(null, manifest, key.privateKey).toString('base64'),
  };
}

/** Sign a bundle folder (its manifest.json), writing manifest.sig beside it (replacing an older one). */
export async function signBundle(dir: string, key: SigningKey): Promise<BundleSignature> {
  const manifest = await readFile(join(dir, 'manifest.json')).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') throw new ApolloError('BAD_REQUEST', `${dir} has no manifest.json (not a dataset bundle)`);
    throw e;
  });
  const sig = signManifest(manifest, key);
  await replaceFile(join(dir, SIGNATURE_FILE), (fh) => fh.writeFile(`${JSON.stringify(sig, null, 2)}\n`));
  return sig;
}

/** The public key that signed a bundle (its manifest.sig, checked against its manifest.json): what a lead trusts, without the private key. */
export async function bundleSigner(dir: string): Promise<Pick<SigningKey, 'signer' | 'publicKey' | 'fingerprint'>> {
  const read = (name: string): Promise<Buffer | null> => readOrNull(join(dir, name)).catch((e: NodeJS.ErrnoException) => {
    throw new ApolloError('BAD_REQUEST', `${dir}: ${e.code === 'ENOTDIR' ? 'not a folder' : e.message}`);
  });
  const manifest = await read('manifest.json');
  if (!manifest) throw new ApolloError('BAD_REQUEST', `${dir} has no manifest.json (not a dataset bundle)`);
  const c = checkSignature((await read(SIGNATURE_FILE))?.toString('utf8') ?? null, manifest);
  if (c.state === 'unsigned') throw new ApolloError('BAD_REQUEST', `${dir} is not signed (no ${SIGNATURE_FILE})`);
  if (c.state === 'invalid') throw new ApolloError('BAD_REQUEST', `${dir}: ${c.reason}`);
  return { signer: c.signer, publicKey: c.publicKey, fingerprint: c.fingerprint };
}

export type SignatureCheck =
  | { state: 'unsigned' }
  | { state: 'signed'; signer: string; publicKey: string; fingerprint: string };

/**
 * Check `manifest.sig` (its text, null when absent) against the manifest's bytes.
 * Returns who signed; a signature that does not verify is an error (the message says why).
 */
export function checkSignature(sigText: string | null, manifest: Buffer): SignatureCheck | { state: 'invalid'; reason: string } {
  if (sigText === null) return { state: 'unsigned' };
  let raw: unknown;
  try {
    raw = JSON.parse(sigText);
  } catch {
    return { state: 'invalid', reason: `${SIGNATURE_FILE} is not valid JSON` };
  }
  const p = signatureSchema.safeParse(raw);
  if (!p.success) return { state: 'invalid', reason: `${SIGNATURE_FILE} is not an Apollo bundle signature` };
  const sig = p.data;
  let key: KeyObject;
  try {
    key = createPublicKey({ key: Buffer.from(sig.publicKey, 'base64'), format: 'der', type: 'spki' });
  } catch {
    return { state: 'invalid', reason: `${SIGNATURE_FILE} holds no usable public key` };
  }
  if (key.asymmetricKeyType !== 'ed25519') return { state: 'invalid', reason: `${SIGNATURE_FILE} holds a key that is not ed25519` };
  const ok = createHash('sha256').update(manifest).digest('hex') === sig.manifestSha256 && verify(null, manifest, key, Buffer.from(sig.signature, 'base64'));
  if (!ok) return { state: 'invalid', reason: `the signature in ${SIGNATURE_FILE} does not match manifest.json (the bundle was changed after it was signed)` };
  return { state: 'signed', signer: sig.signer, publicKey: sig.publicKey, fingerprint: fingerprintOf(sig.publicKey) };
}

/** A public key as a lead saves it: one JSON line per trusted key. */
export interface TrustedKey {
  name: string;
  fingerprint: string;
  publicKey?: string;
}

const trustedLineSchema = z.object({ name: z.string().min(1), publicKey: z.string().min(1).optional(), fingerprint: z.string().optional() });

/** What `apollo keys export-public` prints, and a trust file holds (one line per key). */
export function publicKeyLine(key: Pick<SigningKey, 'signer' | 'publicKey' | 'fingerprint'>): string {
  return JSON.stringify({ name: key.signer, fingerprint: key.fingerprint, publicKey: key.publicKey });
}

/** Parse a trust file: JSON lines of {name, publicKey} or {name, fingerprint}. */
export function parseTrustedKeys(text: string, where: string): TrustedKey[] {
  const out: TrustedKey[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '' || line.trimStart().startsWith('#')) return;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch {
      throw new ApolloError('BAD_REQUEST', `${where}:${i + 1}: not a JSON line`);
    }
    const p = trustedLineSchema.safeParse(v);
    if (!p.success || (!p.data.publicKey && !p.data.fingerprint)) throw new ApolloError('BAD_REQUEST', `${where}:${i + 1}: expected {"name": …, "publicKey": …} or {"name": …, "fingerprint": …}`);
    const fingerprint = p.data.publicKey ? fingerprintOf(p.data.publicKey) : p.data.fingerprint!;
    if (p.data.publicKey && p.data.fingerprint && p.data.fingerprint !== fingerprint) throw new ApolloError('BAD_REQUEST', `${where}:${i + 1}: the fingerprint does not belong to the public key`);
    out.push({ name: p.data.name, fingerprint, ...(p.data.publicKey ? { publicKey: p.data.publicKey } : {}) });
  });
  return out;
}
