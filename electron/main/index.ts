import { app, BrowserWindow, dialog, ipcMain, Menu, protocol, session, shell, type MenuItemConstructorOptions, type WebContents } from 'electron';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApolloCore } from '../core/app';
import { resourcesDir } from '../core/paths';
import { resolveHome } from '../core/store/workspace';
import { contentSecurityPolicy } from '../web/server';
import { answerStatic } from '../web/static-files';
import { keychainSigningStore, keychainVault } from './keychain';
import { APP_HOST, APP_INDEX_URL, APP_SCHEME, devServerUrl, externalUrl, isAppUrl, isDevToolsShortcut } from './app-url';
import { errorText } from '../../shared/errors';

const CHANNEL = 'apollo:msg';
const here = fileURLToPath(new URL('.', import.meta.url));

function homeFromArgs(): string {
  const i = process.argv.indexOf('--home');
  return resolveHome(i > 0 ? process.argv[i + 1] : undefined);
}

const rendererDir = join(here, '../renderer');
const home = homeFromArgs();
/** An installed app: no dev server, no DevTools, no reload. */
const packaged = app.isPackaged;
const devUrl = devServerUrl(process.env, packaged);
let core: ApolloCore | null = null;
let mainWindow: BrowserWindow | null = null;

// Before the app is ready (Electron's rule): app:// behaves like https — a standard,
// secure origin of its own, with fetch — instead of file://, which would give the page
// the run of the user's files. corsEnabled lets the page load its own module scripts
// (fetched in CORS mode); no response carries Access-Control-Allow-Origin, so no other
// origin can read them. No bypassCSP: the CSP applies. codeCache: V8 keeps the compiled
// bundle between starts, as it does for https (only for a standard scheme); Electron checks
// a cached entry against a hash of the script's source, so a new build is compiled anew.
protocol.registerSchemesAsPrivileged([{ scheme: APP_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true, corsEnabled: true, codeCache: true } }]);

/**
 * Serve app://renderer/ from the built renderer folder: regular files inside it only
 * (the web host's rule: no traversal, no symlinks), each with the CSP and the web
 * host's caching headers (answerStatic: hashed assets immutable, the rest revalidated).
 */
function serveRenderer(): void {
  const headers = {
    'Content-Security-Policy': contentSecurityPolicy(null),
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
    'Cache-Control': 'no-cache',
  };
  const refuse = (status: number, text: string) => new Response(text, { status, headers: { ...headers, 'Content-Type': 'text/plain; charset=utf-8' } });
  protocol.handle(APP_SCHEME, async (req) => {
    let url: URL;
    try {
      url = new URL(req.url);
    } catch {
      return refuse(400, 'Bad request');
    }
    if (url.host !== APP_HOST) return refuse(404, 'Not found');
    if (req.method !== 'GET' && req.method !== 'HEAD') return refuse(405, 'Method not allowed');
    const found = await answerStatic(rendererDir, url.pathname, req.headers.get('if-none-match'));
    if (!found.ok) return refuse(found.status, found.status === 400 ? 'Bad request' : found.status === 403 ? 'Forbidden' : 'Not found');
    const body = req.method === 'HEAD' || found.body === null ? null : new Uint8Array(found.body);
    return new Response(body, { status: found.status, headers: { ...headers, ...found.headers } });
  });
}

/** Open an http(s) link in the user's browser, only after the user said yes: a page must not launch URLs on its own. */
async function confirmOpenExternal(raw: string): Promise<void> {
  const url = externalUrl(raw);
  if (!url) return;
  const opts = {
    type: 'question' as const,
    buttons: ['Cancel', 'Open in browser'],
    defaultId: 0,
    cancelId: 0,
    noLink: true,
    message: 'Open this link in your web browser?',
    detail: url.href,
  };
  const win = mainWindow;
  const { response } = win ? await dialog.showMessageBox(win, opts) : await dialog.showMessageBox(opts);
  if (response === 1) await shell.openExternal(url.href);
}

/** The folder to import (node dumps, OpenHands sessions are folders), chosen in the OS dialog over the window. */
async function chooseFolder(): Promise<string | null> {
  const opts = { title: 'Import a folder', properties: ['openDirectory' as const] };
  const r = mainWindow ? await dialog.showOpenDialog(mainWindow, opts) : await dialog.showOpenDialog(opts);
  return r.canceled ? null : (r.filePaths[0] ?? null);
}

/** Bundle folders to merge, several at once, chosen in the OS dialog over the window (none when cancelled). */
async function pickBundleFolders(): Promise<string[]> {
  const opts = { title: 'Choose dataset bundles to merge', properties: ['openDirectory' as const, 'multiSelections' as const] };
  const r = mainWindow ? await dialog.showOpenDialog(mainWindow, opts) : await dialog.showOpenDialog(opts);
  return r.canceled ? [] : r.filePaths;
}

async function start(): Promise<void> {
  const c = await ApolloCore.open({ home, resourcesDir: resourcesDir(), host: 'electron', vault: keychainVault(home), signingKeys: keychainSigningStore(home), chooseFolder });
  core = c;
  // The Merge view's folder picker (bundles are folders): only here, where the OS dialog opens over the window.
  c.use({ 'merge.pickFolders': async () => ({ paths: await pickBundleFolders() }) });
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
    if (!frame || frame.parent !== null || !isAppUrl(frame.url, devUrl)) return;
    void linkFor(event.sender).receive(msg);
  });

  serveRenderer();
  const ses = session.defaultSession;
  // The dev server's pages get the same CSP as app:// (which sets its own headers).
  ses.webRequest.onHeadersReceived((details, cb) => {
    if (details.url.startsWith(`${APP_SCHEME}:`)) return cb({});
    cb({ responseHeaders: { ...details.responseHeaders, 'Content-Security-Policy': [contentSecurityPolicy(null)] } });
  });
  // The app needs no camera, microphone, notifications, geolocation, clipboard reads,
  // HID/serial/USB... : every request and every check is denied. (Copy falls back to
  // execCommand; paste arrives as a paste event, which needs no permission.)
  ses.setPermissionRequestHandler((_wc, _permission, cb) => cb(false));
  ses.setPermissionCheckHandler(() => false);
  ses.setDevicePermissionHandler(() => false);

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
      // An installed app has no DevTools at all (and the menu has no role to open them).
      devTools: !packaged,
    },
  }));
  win.on('closed', () => (mainWindow = null));
  win.webContents.setWindowOpenHandler(({ url }) => {
    void confirmOpenExternal(url).catch((err: unknown) => console.error('Opening a link failed:', err));
    return { action: 'deny' };
  });
  win.webContents.on('will-navigate', (e, url) => {
    // The window stays on the app; a followed link is offered to the browser instead.
    e.preventDefault();
    if (!isAppUrl(url, devUrl)) void confirmOpenExternal(url).catch((err: unknown) => console.error('Opening a link failed:', err));
  });
  win.webContents.on('will-attach-webview', (e) => e.preventDefault());
  if (packaged) {
    win.webContents.on('before-input-event', (e, input) => {
      if (isDevToolsShortcut(input)) e.preventDefault();
    });
  }

  await win.loadURL(devUrl ?? APP_INDEX_URL);
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

// The stock View menu carries reload, force reload and toggle DevTools: in an installed
// app it keeps only zoom and full screen.
const viewMenu: MenuItemConstructorOptions = packaged
  ? { label: 'View', submenu: [{ role: 'resetZoom' }, { role: 'zoomIn' }, { role: 'zoomOut' }, { type: 'separator' }, { role: 'togglefullscreen' }] }
  : { role: 'viewMenu' };
Menu.setApplicationMenu(Menu.buildFromTemplate([{ role: 'fileMenu' }, { role: 'editMenu' }, viewMenu, { role: 'windowMenu' }]));

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
      dialog.showErrorBox('Apollo Workstation could not start', errorText(err));
      app.exit(1);
    });
}
app.on('window-all-closed', () => app.quit());
app.on('web-contents-created', (_e, wc) => {
  wc.on('will-navigate', (ev) => ev.preventDefault());
  wc.setWindowOpenHandler(() => ({ action: 'deny' }));
});
