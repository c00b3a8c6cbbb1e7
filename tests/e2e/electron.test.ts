// Runs only where the Electron binary is installed (it downloads on first use and
// cannot be fetched on offline machines); elsewhere it is reported as skipped.
// The security checklist is checked here at run time as far as an unpackaged app
// allows; what only a packaged build does (fuses, no DevTools, no dev-server URL) is
// checked statically in tests/unit/electron-security.test.ts.
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, stat, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { _electron as electron, type ElectronApplication, type Page } from 'playwright';
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

async function withApp(run: (app: ElectronApplication, win: Page, home: string) => Promise<void>): Promise<void> {
  requireBuild();
  const home = await mkdtemp(join(tmpdir(), 'apollo-electron-'));
  const env = { ...process.env } as Record<string, string>;
  // The app must not take a dev-server URL from the test's environment.
  delete env.ELECTRON_RENDERER_URL;
  const app = await electron.launch({ executablePath: bin!, args: [ROOT, '--home', home], env });
  try {
    await run(app, await app.firstWindow(), home);
  } finally {
    await app.close();
    await rm(home, { recursive: true, force: true });
  }
}

describe.skipIf(!bin)('Electron app', () => {
  it('opens a hardened window whose terminal runs commands', async () => {
    await withApp(async (_app, win) => {
      // Sandboxed, isolated renderer: no Node globals, only the one bridge object (messages, and the path of a dropped file).
      const globals = await win.evaluate(() => ({
        require: typeof (globalThis as { require?: unknown }).require,
        process: typeof (globalThis as { process?: unknown }).process,
        bridge: Object.keys((globalThis as { apolloBridge?: object }).apolloBridge ?? {}).sort(),
      }));
      expect(globals).toEqual({ require: 'undefined', process: 'undefined', bridge: ['onMessage', 'pathForFile', 'send'] });
      await win.getByTestId('new-session').click();
      await win.getByTestId('session-name-input').fill('electron');
      await win.getByTestId('create-session').click();
      await win.locator('[data-testid="terminal"] .xterm').click();
      await win.keyboard.type('echo "elec""tron ok"\n');
      await win.locator('[data-testid="terminal"] .xterm-rows', { hasText: 'electron ok' }).waitFor();
    });
  });

  it('serves the renderer from app:// with a CSP, only regular files of its folder', async () => {
    // A symlink planted in the built renderer folder, pointing outside it.
    const leak = join(ROOT, 'out/renderer/apollo-e2e-leak.txt');
    await rm(leak, { force: true });
    await symlink('/etc/hostname', leak);
    try {
      await withApp(async (_app, win) => {
        expect(win.url()).toBe('app://renderer/index.html');
        const got = await win.evaluate(async () => {
          const probe = async (u: string) => {
            try {
              const r = await fetch(u);
              return { status: r.status, csp: r.headers.get('content-security-policy') ?? '' };
            } catch (e) {
              return { status: -1, csp: String(e) };
            }
          };
          return {
            index: await probe('app://renderer/index.html'),
            traversal: await probe('app://renderer/%2e%2e/main/index.js'),
            encoded: await probe('app://renderer/..%2f..%2fpackage.json'),
            symlink: await probe('app://renderer/apollo-e2e-leak.txt'),
            otherHost: await probe('app://elsewhere/index.html'),
          };
        });
        expect(got.index.status).toBe(200);
        expect(got.index.csp).toMatch(/script-src 'self'/);
        expect(got.index.csp).toMatch(/connect-src 'self';/);
        for (const k of ['traversal', 'encoded', 'symlink'] as const) expect([k, got[k].status]).toEqual([k, 404]);
        // Another host of the scheme is another origin: CORS refuses it (-1) or the handler does (404).
        expect([-1, 404]).toContain(got.otherHost.status);
      });
    } finally {
      await rm(leak, { force: true });
    }
  });

  it('denies every permission', async () => {
    await withApp(async (_app, win) => {
      const perms = await win.evaluate(async () => ({
        notification: Notification.permission,
        requested: await Notification.requestPermission(),
        geolocation: (await navigator.permissions.query({ name: 'geolocation' })).state,
        camera: await navigator.mediaDevices.getUserMedia({ video: true }).then(
          () => 'granted',
          (e: Error) => e.name,
        ),
      }));
      expect(perms).toMatchObject({ notification: 'denied', requested: 'denied', geolocation: 'denied' });
      expect(perms.camera).not.toBe('granted');
    });
  });

  it('opens http(s) links only after the user confirms, and never other schemes', async () => {
    await withApp(async (app, win) => {
      // Stand-ins for the dialog and the browser launch, recording what the app asked.
      await app.evaluate(({ dialog, shell }) => {
        const g = globalThis as unknown as { asked: string[]; opened: string[]; answer: number };
        g.asked = [];
        g.opened = [];
        g.answer = 0;
        const ask = async (...args: unknown[]) => {
          const opts = args[args.length - 1] as { detail?: string };
          g.asked.push(opts.detail ?? '');
          return { response: g.answer, checkboxChecked: false };
        };
        (dialog as unknown as { showMessageBox: typeof ask }).showMessageBox = ask;
        (shell as unknown as { openExternal: (u: string) => Promise<void> }).openExternal = async (u: string) => void g.opened.push(u);
      });
      const state = () => app.evaluate(() => {
        const g = globalThis as unknown as { asked: string[]; opened: string[] };
        return { asked: [...g.asked], opened: [...g.opened] };
      });
      await win.evaluate(() => {
        window.open('file:///etc/passwd');
        window.open('javascript:alert(1)');
        window.open('https://example.com/declined');
      });
      await expect.poll(state).toEqual({ asked: ['https://example.com/declined'], opened: [] });
      await app.evaluate(() => void ((globalThis as unknown as { answer: number }).answer = 1));
      await win.evaluate(() => void window.open('https://example.com/accepted'));
      await expect.poll(state).toEqual({ asked: ['https://example.com/declined', 'https://example.com/accepted'], opened: ['https://example.com/accepted'] });
      // The window itself never left the app.
      expect(win.url()).toBe('app://renderer/index.html');
    });
  });

  it('refuses the basic_text key store, keeps the workspace private, and is unpackaged here', async () => {
    await withApp(async (app, win, home) => {
      const main = await app.evaluate(({ app: a, safeStorage }) => ({
        packaged: a.isPackaged,
        backend: process.platform === 'linux' ? safeStorage.getSelectedStorageBackend() : null,
        available: safeStorage.isEncryptionAvailable(),
      }));
      expect(main.packaged).toBe(false); // so DevTools and the stock View menu are expected here
      const info = await win.evaluate(
        () =>
          new Promise<{ kind: string; notice?: string }>((resolve) => {
            const bridge = (globalThis as unknown as { apolloBridge: { send(m: unknown): void; onMessage(cb: (m: unknown) => void): void } }).apolloBridge;
            bridge.onMessage((m) => {
              const r = m as { kind?: string; id?: number; result?: { keyStore: { kind: string; notice?: string } } };
              if (r.kind === 'res' && r.id === 990001 && r.result) resolve(r.result.keyStore);
            });
            bridge.send({ kind: 'req', id: 990001, cmd: 'app.info', args: {} });
          }),
      );
      const realKeyring = main.available && (process.platform !== 'linux' || ['gnome_libsecret', 'kwallet', 'kwallet5', 'kwallet6'].includes(main.backend ?? ''));
      expect(info.kind).toBe(realKeyring ? 'keychain' : 'memory');
      if (!realKeyring) expect(info.notice).toBeTruthy();
      expect((await stat(home)).mode & 0o777).toBe(0o700);
      expect((await stat(join(home, 'workspace.json'))).mode & 0o777).toBe(0o600);
    });
  });
});
