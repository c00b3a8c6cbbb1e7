// Runs only where the Electron binary is installed (it downloads on first use and
// cannot be fetched on offline machines); elsewhere it is reported as skipped.
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { _electron as electron } from 'playwright';
import { ROOT, requireBuild } from './harness';

function electronBinary(): string | null {
  try {
    const dir = join(ROOT, 'node_modules/electron');
    const bin = join(dir, 'dist', readFileSync(join(dir, 'path.txt'), 'utf8').trim());
    return existsSync(bin) ? bin : null;
  } catch {
    return null;
  }
}

const bin = electronBinary();
if (!bin) console.warn('SKIPPED Electron tests: the Electron binary is not installed on this machine (browser-mode tests cover the same renderer and core).');

describe.skipIf(!bin)('Electron app', () => {
  it('opens a hardened window whose terminal runs commands', async () => {
    requireBuild();
    const home = await mkdtemp(join(tmpdir(), 'apollo-electron-'));
    const app = await electron.launch({ executablePath: bin!, args: [ROOT, '--home', home] });
    try {
      const win = await app.firstWindow();
      // Sandboxed, isolated renderer: no Node globals, only the one bridge object.
      const globals = await win.evaluate(() => ({
        require: typeof (globalThis as { require?: unknown }).require,
        process: typeof (globalThis as { process?: unknown }).process,
        bridge: Object.keys((globalThis as { apolloBridge?: object }).apolloBridge ?? {}).sort(),
      }));
      expect(globals).toEqual({ require: 'undefined', process: 'undefined', bridge: ['onMessage', 'send'] });
      await win.getByTestId('new-session').click();
      await win.getByTestId('session-name-input').fill('electron');
      await win.getByTestId('create-session').click();
      await win.locator('[data-testid="terminal"] .xterm').click();
      await win.keyboard.type('echo "elec""tron ok"\n');
      await win.locator('[data-testid="terminal"] .xterm-rows', { hasText: 'electron ok' }).waitFor();
    } finally {
      await app.close();
      await rm(home, { recursive: true, force: true });
    }
  });
});
