import { safeStorage } from 'electron';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KEYS_DIR, keychainKeyFile, type KeyVault } from '../core/profiles';
import { fileKeyStore, keychainKeyStore, type SigningKeyStore } from '../core/dataset/signing';
import { chooseKeyStore, type KeyStoreChoice } from './key-store-policy';

/** Whether safeStorage really encrypts here (see chooseKeyStore); valid once the app is ready. */
function keychainChoice(): KeyStoreChoice {
  return chooseKeyStore(
    process.platform,
    safeStorage.isEncryptionAvailable(),
    process.platform === 'linux' ? safeStorage.getSelectedStorageBackend() : null,
  );
}

/**
 * The signing key: encrypted by the OS keychain where it really encrypts
 * (`<home>/signing/ed25519.pem.enc`), else the owner-only file the command line uses.
 * Call once the app is ready, as keychainVault.
 */
export function keychainSigningStore(home: string): SigningKeyStore {
  if (keychainChoice().use !== 'keychain') return fileKeyStore(home);
  return keychainKeyStore(home, { encrypt: (text) => safeStorage.encryptString(text), decrypt: (data) => safeStorage.decryptString(data) });
}

/**
 * API keys encrypted with the OS keychain (Keychain, DPAPI, libsecret/kwallet) via
 * Electron's safeStorage, one small file per profile beside the workspace, never
 * inside workspace.json. Where no real keychain is available (none at all, or Linux's
 * `basic_text` fallback: see chooseKeyStore), keys stay in memory. Call once the app
 * is ready: the Linux backend is known only then.
 */
export function keychainVault(home: string): KeyVault {
  const dir = join(home, KEYS_DIR);
  const memory = new Map<string, string>();
  const file = (profile: string) => keychainKeyFile(home, profile);
  const choice = keychainChoice();
  const available = () => choice.use === 'keychain';
  return {
    kind: choice.use,
    ...(choice.use === 'memory' ? { notice: choice.notice } : {}),
    async get(profile) {
      if (!available()) return memory.get(profile);
      try {
        return safeStorage.decryptString(await readFile(file(profile)));
      } catch {
        return undefined;
      }
    },
    async set(profile, key) {
      if (!available()) {
        memory.set(profile, key);
        return;
      }
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const tmp = `${file(profile)}.tmp`;
      await writeFile(tmp, safeStorage.encryptString(key), { mode: 0o600 });
      await rename(tmp, file(profile));
    },
    async delete(profile) {
      memory.delete(profile);
      await rm(file(profile), { force: true });
    },
  };
}
