import { app, BrowserWindow, dialog, ipcMain, Menu, session, shell, type WebContents } from 'electron';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApolloCore } from '../core/app';
import { resourcesDir } from '../core/paths';
import { resolveHome } from '../core/store/workspace';
import { contentSecurityPolicy } from '../web/server';
import { keychainVault } from './keychain';
import { isAppUrl } from './app-url';

const CHANNEL = 'apollo:msg';
const here = fileURLToPath(new URL('.', import.meta.url));

function homeFromArgs(): string {
  const i = process.argv.indexOf('--home');
  return resolveHome(i > 0 ? process.argv[i + 1] : undefined);
}

const rendererIndex = join(here, '../renderer/index.html');
const home = homeFromArgs();
let core: ApolloCore | null = null;
let mainWindow: BrowserWindow | null = null;

async function start(): Promise<void> {
  const c = await ApolloCore.open({ home, resourcesDir: resourcesDir(), host: 'electron', vault: keychainVault(home) });
  core = c;
  const links = new Map<number, ReturnType<ApolloCore['connect']>>();

  const linkFor = (wc: WebContents) => {
    let link = links.get(wc.id);
    if (!link) {
      link = c.connect((msg) => {
        if (!wc.isDestroyed()) wc.send(CHANNEL, msg);
      });
      links.set(wc.id, link);
      wc.once('destroyed', () => {
        link?.close();
        links.delete(wc.id);
      });
    }
    return link;
  };

  ipcMain.on(CHANNEL, (event, msg: unknown) => {
    // Only the app's own top-level frame may talk to the core.
    const frame = event.senderFrame;
    if (!frame || frame.parent !== null || !isAppUrl(frame.url, rendererIndex, process.env.ELECTRON_RENDERER_URL)) return;
    void linkFor(event.sender).receive(msg);
  });

  session.defaultSession.webRequest.onHeadersReceived((details, cb) => {
    cb({ responseHeaders: { ...details.responseHeaders, 'Content-Security-Policy': [contentSecurityPolicy(0)] } });
  });
  session.defaultSession.setPermissionRequestHandler((_wc, _perm, cb) => cb(false));

  const win = (mainWindow = new BrowserWindow({
    width: 1400,
    height: 900,
    title: 'Apollo Workstation',
    backgroundColor: '#111318',
    webPreferences: {
      preload: join(here, '../preload/index.cjs'),
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      webSecurity: true,
      spellcheck: false,
    },
  }));
  win.on('closed', () => (mainWindow = null));
  win.webContents.setWindowOpenHandler(({ url }) => {
    if (/^https?:\/\//.test(url)) void shell.openExternal(url);
    return { action: 'deny' };
  });
  win.webContents.on('will-navigate', (e) => e.preventDefault());
  win.webContents.on('will-attach-webview', (e) => e.preventDefault());

  if (process.env.ELECTRON_RENDERER_URL) await win.loadURL(process.env.ELECTRON_RENDERER_URL);
  else await win.loadFile(rendererIndex);
}

// Quitting waits for the core: terminals are ended (their last output and exit are
// recorded), rollouts stopped, and pending writes committed, before the process goes.
let quit: 'no' | 'closing' | 'done' = 'no';
app.on('before-quit', (e) => {
  if (quit === 'done' || !core) return;
  e.preventDefault();
  if (quit === 'closing') return;
  quit = 'closing';
  const limit = new Promise<void>((r) => setTimeout(r, 15_000).unref());
  void Promise.race([core.close().catch((err: unknown) => console.error('Closing the workspace failed:', err)), limit]).finally(() => {
    quit = 'done';
    app.quit();
  });
});
// Ctrl-C in the terminal that ran `npm start`, or a service manager's SIGTERM: quit the same way.
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => app.quit());

Menu.setApplicationMenu(
  Menu.buildFromTemplate([
    { role: 'fileMenu' },
    { role: 'editMenu' },
    { role: 'viewMenu' },
    { role: 'windowMenu' },
  ]),
);

// One instance: a second one (which would write the same workspace) hands over to
// the first, which comes to the front.
if (!app.requestSingleInstanceLock({ home })) {
  app.quit();
} else {
  app.on('second-instance', (_e, _argv, _cwd, data) => {
    const win = mainWindow;
    if (!win) return;
    if (win.isMinimized()) win.restore();
    win.focus();
    const other = (data as { home?: unknown } | null)?.home;
    if (typeof other === 'string' && other !== home) {
      void dialog.showMessageBox(win, {
        type: 'info',
        message: 'Apollo Workstation is already running',
        detail: `It has the workspace ${home} open. To open ${other}, quit this window first, then start the app again with that workspace.`,
      });
    }
  });
  app
    .whenReady()
    .then(start)
    .catch((err: unknown) => {
      // Without a window nobody would see the error, and the app would linger invisibly.
      console.error(err);
      dialog.showErrorBox('Apollo Workstation could not start', err instanceof Error ? err.message : String(err));
      app.exit(1);
    });
}
app.on('window-all-closed', () => app.quit());
app.on('web-contents-created', (_e, wc) => {
  wc.on('will-navigate', (ev) => ev.preventDefault());
  wc.setWindowOpenHandler(() => ({ action: 'deny' }));
});
