import { writeFile } from 'node:fs/promises';
import type { CliCommand } from './index';
import { annotatorFrom, annotatorOption } from './label';
import { bundleSigner, fileKeyStore, loadSigningKey, publicKeyLine, signBundle, type SigningKey } from '../core/dataset/signing';
import { verifyBundle } from '../core/dataset/merge-read';
import { resolveHome } from '../core/store/workspace';

/** The workspace's signing key for the annotator named by --annotator / $APOLLO_ANNOTATOR, created on first use. */
export async function signingKeyFrom(v: Record<string, unknown>, cmd: string): Promise<SigningKey | string> {
  const name = annotatorFrom(v);
  if (name === undefined) return `${cmd}: name the signer with --annotator NAME (or $APOLLO_ANNOTATOR).`;
  if (typeof name !== 'string') return `${cmd}: ${name.error}`;
  return (await loadSigningKey(fileKeyStore(resolveHome(v.home as string | undefined)), name, { create: true }))!;
}

export const keysCommand: CliCommand = {
  usage:
    'apollo keys show|export-public (--annotator NAME | --from BUNDLE) [--out FILE] [--home DIR]\n' +
    '  show: the signer name, the key fingerprint and the public key. export-public: one JSON line\n' +
    '  {"name", "fingerprint", "publicKey"} for a lead\'s trust file (apollo merge --trust FILE), to stdout or --out FILE.\n' +
    '  The private key stays in <home>/signing/ (owner only). --annotator defaults to $APOLLO_ANNOTATOR.\n' +
    '  --from BUNDLE: the key that signed that bundle instead (its manifest.sig, checked), as for a key the desktop app\n' +
    '  keeps in the OS keychain, which the command line cannot open.',
  options: { ...annotatorOption, out: { type: 'string', short: 'o' }, from: { type: 'string' } },
  async run(v, positionals) {
    const [what, ...rest] = positionals;
    if ((what !== 'show' && what !== 'export-public') || rest.length) {
      console.error(`apollo keys: say show or export-public.\n\nUsage: ${this.usage}`);
      return 2;
    }
    const key = typeof v.from === 'string' ? await bundleSigner(v.from) : await signingKeyFrom(v, 'apollo keys');
    if (typeof key === 'string') {
      console.error(key);
      return 2;
    }
    if (what === 'show') {
      console.log(`signer ${key.signer}`);
      console.log(`fingerprint ${key.fingerprint}`);
      console.log(`public key ${key.publicKey}`);
      return 0;
    }
    const line = `${publicKeyLine(key)}\n`;
    if (typeof v.out === 'string') await writeFile(v.out, line);
    else process.stdout.write(line);
    return 0;
  },
};

export const signCommand: CliCommand = {
  usage:
    'apollo sign BUNDLE... --annotator NAME [--home DIR]\n' +
    '  Verifies each bundle (sizes, SHA-256, no unlisted file), then signs its manifest.json, which lists the SHA-256 of every file, so any later change to the bundle\n' +
    '  breaks the signature. A merge names the signer and refuses a bundle changed after it was signed.',
  options: { ...annotatorOption },
  async run(v, positionals) {
    if (!positionals.length) {
      console.error(`apollo sign: at least one BUNDLE is required.\n\nUsage: ${this.usage}`);
      return 2;
    }
    const key = await signingKeyFrom(v, 'apollo sign');
    if (typeof key === 'string') {
      console.error(key);
      return 2;
    }
    for (const dir of positionals) {
      // Never bless a bundle that was changed since export: verify it as a merge would first.
      await verifyBundle(dir);
      await signBundle(dir, key);
      console.log(`signed ${dir} as ${key.signer} (${key.fingerprint})`);
    }
    return 0;
  },
};
