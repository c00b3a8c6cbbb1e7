import { app, BrowserWindow, ipcMain, Menu, session, shell, type WebContents } from 'electron';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApolloCore } from '../core/app';
import { resourcesDir } from '../core/paths';
import { resolveHome } from '../core/store/workspace';
import { contentSecurityPolicy } from '../web/server';
import { keychainVault } from './keychain';

const CHANNEL = 'apollo:msg';
const here = fileURLToPath(new URL('.', import.meta.url));

function homeFromArgs(): string {
  const i = process.argv.indexOf('--home');
  return resolveHome(i > 0 ? process.argv[i + 1] : undefined);
}

const rendererIndex = join(here, '../renderer/index.html');

/** Is this URL one of the app's own pages (and so allowed to use IPC)? */
function isAppUrl(url: string): boolean {
  const dev = process.env.ELECTRON_RENDERER_URL;
  if (dev) return url.startsWith(dev);
  const u = new URL(url);
  return u.protocol === 'file:' && fileURLToPath(u) === rendererIndex;
}

async function start(): Promise<void> {
  const home = homeFromArgs();
  const core = await ApolloCore.open({ home, resourcesDir: resourcesDir(), host: 'electron', vault: keychainVault(home) });
  const links = new Map<number, ReturnType<ApolloCore['connect']>>();

  const linkFor = (wc: WebContents) => {
    let link = links.get(wc.id);
    if (!link) {
      link = core.connect((msg) => {
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
    if (!frame || frame.parent !== null || !isAppUrl(frame.url)) return;
    void linkFor(event.sender).receive(msg);
  });

  session.defaultSession.webRequest.onHeadersReceived((details, cb) => {
    cb({ responseHeaders: { ...details.responseHeaders, 'Content-Security-Policy': [contentSecurityPolicy(0)] } });
  });
  session.defaultSession.setPermissionRequestHandler((_wc, _perm, cb) => cb(false));

  const win = new BrowserWindow({
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
  });
  win.webContents.setWindowOpenHandler(({ url }) => {
    if (/^https?:\/\//.test(url)) void shell.openExternal(url);
    return { action: 'deny' };
  });
  win.webContents.on('will-navigate', (e) => e.preventDefault());
  win.webContents.on('will-attach-webview', (e) => e.preventDefault());

  if (process.env.ELECTRON_RENDERER_URL) await win.loadURL(process.env.ELECTRON_RENDERER_URL);
  else await win.loadFile(rendererIndex);

  app.on('before-quit', () => {
    void core.close();
  });
}

Menu.setApplicationMenu(
  Menu.buildFromTemplate([
    { role: 'fileMenu' },
    { role: 'editMenu' },
    { role: 'viewMenu' },
    { role: 'windowMenu' },
  ]),
);

app.whenReady().then(start, (err: unknown) => {
  console.error(err);
  app.exit(1);
});
app.on('window-all-closed', () => app.quit());
app.on('web-contents-created', (_e, wc) => {
  wc.on('will-navigate', (ev) => ev.preventDefault());
  wc.setWindowOpenHandler(() => ({ action: 'deny' }));
});
