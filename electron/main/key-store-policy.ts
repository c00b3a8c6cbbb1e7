// Where the desktop app may keep API keys. Kept free of 'electron' so it can be tested in plain Node.

/** Linux safeStorage backends that encrypt with a key held by the user's OS keyring. */
const LINUX_KEYRINGS = new Set(['gnome_libsecret', 'kwallet', 'kwallet5', 'kwallet6']);

export type KeyStoreChoice = { use: 'keychain' } | { use: 'memory'; notice: string };

/**
 * Use safeStorage only where it really encrypts. On Linux without a keyring (no
 * libsecret or KWallet session: a headless box, a bare window manager) Electron falls
 * back to `basic_text`, which encrypts with a password hard-coded in Chromium, so a
 * key file would be as good as plain text to anyone who can read it. Then, as in
 * browser mode, keys stay in memory until the app quits, and Settings says why.
 * `linuxBackend` is safeStorage.getSelectedStorageBackend() (valid once the app is ready).
 */
export function chooseKeyStore(platform: NodeJS.Platform, encryptionAvailable: boolean, linuxBackend: string | null): KeyStoreChoice {
  if (!encryptionAvailable) {
    return { use: 'memory', notice: 'The OS keychain is not available, so keys are kept in memory until the app quits. An environment variable named on the profile keeps a key across restarts.' };
  }
  if (platform === 'linux' && !(linuxBackend && LINUX_KEYRINGS.has(linuxBackend))) {
    return {
      use: 'memory',
      notice:
        `No OS keyring (GNOME Keyring / libsecret or KWallet) is running, and Electron's fallback (${linuxBackend ?? 'unknown'}) would store keys with a fixed, public password; ` +
        'so keys are kept in memory until the app quits. Start a keyring, or name an environment variable on the profile, to keep a key across restarts.',
    };
  }
  return { use: 'keychain' };
}
