// The Electron security checklist, checked where Electron cannot run (this suite runs in
// plain Node): the decisions live in modules without 'electron' and are tested for
// behaviour here; how electron/main wires them up, and the fuses electron-builder
// flips, are read from the sources (TypeScript's parser) and electron-builder.yml.
// tests/e2e/electron.test.ts checks the same items at run time where Electron is installed.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import ts from 'typescript';
import { APP_INDEX_URL, devServerUrl, externalUrl, isAppUrl, isDevToolsShortcut } from '../../electron/main/app-url';
import { chooseKeyStore } from '../../electron/main/key-store-policy';

const ROOT = join(import.meta.dirname, '../..');
const read = (rel: string): string => readFileSync(join(ROOT, rel), 'utf8');
/** The YAML parser electron-builder reads its configuration with (its own dependency). */
const yaml = createRequire(join(ROOT, 'node_modules/app-builder-lib/package.json'))('js-yaml') as { load(text: string): unknown };

// ---- small helpers over the TypeScript AST -------------------------------------------

function parse(rel: string): ts.SourceFile {
  return ts.createSourceFile(rel, read(rel), ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
}

function all<T extends ts.Node>(root: ts.Node, pick: (n: ts.Node) => n is T): T[] {
  const out: T[] = [];
  const walk = (n: ts.Node): void => {
    if (pick(n)) out.push(n);
    n.forEachChild(walk);
  };
  walk(root);
  return out;
}

/** Calls whose callee reads `callee` (e.g. "shell.openExternal", "ses.setPermissionCheckHandler"). */
function calls(sf: ts.SourceFile, callee: string | RegExp): ts.CallExpression[] {
  return all(sf, ts.isCallExpression).filter((c) => {
    const text = c.expression.getText(sf);
    return typeof callee === 'string' ? text === callee : callee.test(text);
  });
}

/** Name of the nearest named function around `n` (declaration or `const name = () =>`). */
function enclosingFunction(n: ts.Node): string | null {
  for (let p: ts.Node | undefined = n.parent; p; p = p.parent) {
    if (ts.isFunctionDeclaration(p) && p.name) return p.name.text;
    if ((ts.isArrowFunction(p) || ts.isFunctionExpression(p)) && ts.isVariableDeclaration(p.parent) && ts.isIdentifier(p.parent.name)) return p.parent.name.text;
  }
  return null;
}

function functionNamed(sf: ts.SourceFile, name: string): ts.FunctionDeclaration {
  const f = all(sf, ts.isFunctionDeclaration).find((d) => d.name?.text === name);
  if (!f) throw new Error(`function ${name} not found`);
  return f;
}

/** Property `name` of the object literal `obj` (its initializer's source text). */
function prop(sf: ts.SourceFile, obj: ts.ObjectLiteralExpression, name: string): string | undefined {
  for (const p of obj.properties) if (ts.isPropertyAssignment(p) && p.name.getText(sf) === name) return p.initializer.getText(sf);
  return undefined;
}

const main = parse('electron/main/index.ts');
const mainText = read('electron/main/index.ts');

// ---- 1. dev-server URL only in unpackaged builds -------------------------------------

describe('dev-server URL', () => {
  it('is honoured only when the app is not packaged, and only as http(s)', () => {
    const env = { ELECTRON_RENDERER_URL: 'http://localhost:5173' };
    expect(devServerUrl(env, false)).toBe('http://localhost:5173');
    expect(devServerUrl(env, true)).toBeUndefined();
    expect(devServerUrl({}, false)).toBeUndefined();
    expect(devServerUrl({ ELECTRON_RENDERER_URL: 'file:///tmp/evil.html' }, false)).toBeUndefined();
    expect(devServerUrl({ ELECTRON_RENDERER_URL: 'not a url' }, false)).toBeUndefined();
  });

  it('reaches the main process only through devServerUrl(process.env, app.isPackaged)', () => {
    // Nothing else reads the variable: a direct read would bypass the packaged check.
    expect(mainText).not.toMatch(/ELECTRON_RENDERER_URL/);
    const [call, ...more] = calls(main, 'devServerUrl');
    expect(more).toEqual([]);
    expect(call!.arguments.map((a) => a.getText(main))).toEqual(['process.env', 'packaged']);
    expect(mainText).toMatch(/const packaged = app\.isPackaged;/);
    // The window loads the dev server or app://, nothing else.
    expect(calls(main, /\.loadFile$/)).toEqual([]);
    expect(calls(main, /\.loadURL$/).map((c) => c.arguments.map((a) => a.getText(main)).join())).toEqual(['devUrl ?? APP_INDEX_URL']);
  });
});

// ---- 2. fuses -------------------------------------------------------------------------

describe('fuses', () => {
  const config = yaml.load(read('electron-builder.yml')) as { electronFuses?: Record<string, unknown>; asar?: unknown };

  it('are flipped by electron-builder', () => {
    expect(config.electronFuses).toEqual({
      runAsNode: false,
      enableNodeOptionsEnvironmentVariable: false,
      enableNodeCliInspectArguments: false,
      enableEmbeddedAsarIntegrityValidation: true,
      onlyLoadAppFromAsar: true,
      enableCookieEncryption: true,
      grantFileProtocolExtraPrivileges: false,
    });
    // OnlyLoadAppFromAsar needs the app in an asar archive.
    expect(config.asar).toBe(true);
  });

  it('are supported by the installed electron-builder, with @electron/fuses to flip them', () => {
    const d = read('node_modules/app-builder-lib/out/configuration.d.ts');
    expect(d).toMatch(/readonly electronFuses\?: FuseOptionsV1 \| null;/);
    for (const key of Object.keys(config.electronFuses ?? {})) expect(d).toContain(`${key}?: boolean;`);
    expect(JSON.parse(read('node_modules/@electron/fuses/package.json')).name).toBe('@electron/fuses');
  });

  it('leave the app nothing that needs ELECTRON_RUN_AS_NODE (no fork of the app binary)', () => {
    for (const rel of ['electron/main/index.ts', 'electron/core/app.ts', 'electron/core/pty/pty-host.ts']) {
      expect([rel, /\bfork\(|process\.execPath/.test(read(rel))]).toEqual([rel, false]);
    }
  });
});

// ---- 3. safeStorage backends --------------------------------------------------------

describe('key store', () => {
  it('refuses Linux basic_text (and an unknown backend): keys stay in memory, with a notice', () => {
    const basic = chooseKeyStore('linux', true, 'basic_text');
    expect(basic).toMatchObject({ use: 'memory', notice: expect.stringContaining('basic_text') });
    expect(chooseKeyStore('linux', true, 'unknown')).toMatchObject({ use: 'memory' });
    expect(chooseKeyStore('linux', true, null)).toMatchObject({ use: 'memory' });
    expect(chooseKeyStore('linux', false, 'gnome_libsecret')).toMatchObject({ use: 'memory', notice: expect.stringContaining('not available') });
    for (const b of ['gnome_libsecret', 'kwallet', 'kwallet5', 'kwallet6']) expect(chooseKeyStore('linux', true, b)).toEqual({ use: 'keychain' });
    expect(chooseKeyStore('darwin', true, null)).toEqual({ use: 'keychain' });
    expect(chooseKeyStore('win32', true, null)).toEqual({ use: 'keychain' });
  });

  it('is chosen from the backend Electron selected, and the vault reports it', () => {
    const kc = parse('electron/main/keychain.ts');
    const [choose] = calls(kc, 'chooseKeyStore');
    expect(choose?.arguments.map((a) => a.getText(kc))).toEqual([
      'process.platform',
      'safeStorage.isEncryptionAvailable()',
      "process.platform === 'linux' ? safeStorage.getSelectedStorageBackend() : null",
    ]);
    const text = read('electron/main/keychain.ts');
    expect(text).toMatch(/kind: choice\.use,/);
    // Every encryption and decryption comes after a check that safeStorage really
    // encrypts: an API key's after its method's `if (!available())` (memory) branch,
    // the signing key's after keychainSigningStore falls back to the owner-only file.
    const crypto = calls(kc, /^safeStorage\.(en|de)cryptString$/);
    expect(crypto.length).toBe(4);
    for (const c of crypto) {
      const before = kc.text.slice(0, c.getStart());
      if (enclosingFunction(c) === 'keychainSigningStore') {
        const start = functionNamed(kc, 'keychainSigningStore').getStart();
        expect(before.slice(start)).toContain("if (keychainChoice().use !== 'keychain') return fileKeyStore(home);");
      } else {
        expect(before.lastIndexOf('if (!available())')).toBeGreaterThan(before.lastIndexOf('async '));
      }
    }
    // The notice reaches Settings through app.info.
    expect(read('electron/core/handlers/sessions.ts')).toMatch(/keyStore: notice \? \{ kind, notice \} : \{ kind \}/);
    expect(read('renderer/src/components/dialogs/SettingsDialog.tsx')).toMatch(/data-testid="key-store-notice"/);
    // The vault is built after the app is ready (the Linux backend is known only then).
    expect(enclosingFunction(calls(main, 'keychainVault')[0]!)).toBe('start');
  });
});

// ---- 4. no DevTools or reload in production -------------------------------------------

describe('DevTools and reload', () => {
  it('swallows the DevTools shortcuts, but not the terminal\'s Ctrl+R, Ctrl+Shift+C or F5', () => {
    const key = (code: string, mods: Partial<Record<'control' | 'meta' | 'shift' | 'alt', boolean>> = {}) => ({
      type: 'keyDown', code, control: false, meta: false, shift: false, alt: false, ...mods,
    });
    expect(isDevToolsShortcut(key('F12'))).toBe(true);
    expect(isDevToolsShortcut(key('KeyI', { control: true, shift: true }))).toBe(true);
    expect(isDevToolsShortcut(key('KeyJ', { control: true, shift: true }))).toBe(true);
    expect(isDevToolsShortcut(key('KeyI', { meta: true, alt: true }))).toBe(true);
    expect(isDevToolsShortcut({ ...key('KeyI', { control: true, shift: true }), type: 'keyUp' })).toBe(false);
    expect(isDevToolsShortcut(key('KeyR', { control: true }))).toBe(false);
    expect(isDevToolsShortcut(key('KeyC', { control: true, shift: true }))).toBe(false);
    expect(isDevToolsShortcut(key('F5'))).toBe(false);
    expect(isDevToolsShortcut(key('KeyI', { control: true }))).toBe(false);
  });

  it('disables DevTools and drops the reload/DevTools menu roles when packaged, and blocks the shortcut', () => {
    const [win] = all(main, ts.isNewExpression).filter((n) => n.expression.getText(main) === 'BrowserWindow');
    const opts = win!.arguments![0] as ts.ObjectLiteralExpression;
    const prefs = opts.properties.find((p) => p.name?.getText(main) === 'webPreferences') as ts.PropertyAssignment;
    const wp = prefs.initializer as ts.ObjectLiteralExpression;
    expect({
      devTools: prop(main, wp, 'devTools'),
      contextIsolation: prop(main, wp, 'contextIsolation'),
      sandbox: prop(main, wp, 'sandbox'),
      nodeIntegration: prop(main, wp, 'nodeIntegration'),
      webSecurity: prop(main, wp, 'webSecurity'),
    }).toEqual({ devTools: '!packaged', contextIsolation: 'true', sandbox: 'true', nodeIntegration: 'false', webSecurity: 'true' });

    // The View menu: the stock one (reload, toggleDevTools) only when not packaged.
    const view = all(main, ts.isVariableDeclaration).find((d) => d.name.getText(main) === 'viewMenu')!;
    const cond = view.initializer as ts.ConditionalExpression;
    expect(cond.condition.getText(main)).toBe('packaged');
    const packagedMenu = cond.whenTrue.getText(main);
    const roles = [...packagedMenu.matchAll(/role: '(\w+)'/g)].map((m) => m[1]);
    expect(roles).toEqual(['resetZoom', 'zoomIn', 'zoomOut', 'togglefullscreen']);
    // Nowhere else in the menu: every role of the template is a plain menu or the conditional view.
    const template = calls(main, 'Menu.buildFromTemplate')[0]!.arguments[0]!.getText(main);
    expect(template).not.toMatch(/reload|forceReload|toggleDevTools|viewMenu'/i);
    expect(template).toContain('viewMenu');

    // The DevTools keys are swallowed before the page sees them.
    const handler = calls(main, 'win.webContents.on').find((c) => c.arguments[0]?.getText(main) === "'before-input-event'");
    expect(handler?.getText(main)).toMatch(/if \(isDevToolsShortcut\(input\)\) e\.preventDefault\(\);/);
    let p: ts.Node | undefined = handler;
    while (p && !ts.isIfStatement(p)) p = p.parent;
    expect(p && (p as ts.IfStatement).expression.getText(main)).toBe('packaged');
    expect(calls(main, /openDevTools$/)).toEqual([]);
  });
});

// ---- 5. renderer from a privileged custom protocol, with CSP --------------------------

describe('app:// protocol', () => {
  it('is registered as privileged before the app is ready (module top level), without bypassing CSP', () => {
    const [reg, ...more] = calls(main, 'protocol.registerSchemesAsPrivileged');
    expect(more).toEqual([]);
    expect(enclosingFunction(reg!)).toBeNull();
    const text = reg!.getText(main);
    expect(text).toMatch(/scheme: APP_SCHEME/);
    expect(text).toMatch(/standard: true/);
    expect(text).toMatch(/secure: true/);
    expect(text).not.toMatch(/bypassCSP/);
    expect(APP_INDEX_URL).toBe('app://renderer/index.html');
  });

  it('lets V8 cache the renderer\'s compiled code (codeCache, which needs standard)', () => {
    const [reg] = calls(main, 'protocol.registerSchemesAsPrivileged');
    const scheme = (reg!.arguments[0] as ts.ArrayLiteralExpression).elements[0] as ts.ObjectLiteralExpression;
    const privileges = (scheme.properties.find((p) => p.name?.getText(main) === 'privileges') as ts.PropertyAssignment).initializer as ts.ObjectLiteralExpression;
    expect({ standard: prop(main, privileges, 'standard'), codeCache: prop(main, privileges, 'codeCache') }).toEqual({ standard: 'true', codeCache: 'true' });
  });

  it('answers with the web host\'s caching rules (answerStatic: ETag, 304, immutable hashed assets)', () => {
    const fn = functionNamed(main, 'serveRenderer').getText(main);
    expect(fn).toMatch(/await answerStatic\(rendererDir, url\.pathname, req\.headers\.get\('if-none-match'\)\)/);
    // Its status (200 or 304) and its headers (Cache-Control, ETag, Content-Type) reach the page; the body only for a GET that is not a 304.
    expect(fn).toMatch(/status: found\.status, headers: \{ \.\.\.headers, \.\.\.found\.headers \}/);
    expect(fn).toMatch(/req\.method === 'HEAD' \|\| found\.body === null \? null/);
    expect(mainText).not.toMatch(/resolveStaticFile|readFile/);
  });

  it('serves only what resolveStaticFile admits (through answerStatic), with the CSP on every answer', () => {
    const [handle, ...more] = calls(main, 'protocol.handle');
    expect(more).toEqual([]);
    expect(enclosingFunction(handle!)).toBe('serveRenderer');
    const fn = functionNamed(main, 'serveRenderer').getText(main);
    expect(fn).toMatch(/'Content-Security-Policy': contentSecurityPolicy\(null\)/);
    expect(fn).toMatch(/await answerStatic\(rendererDir, url\.pathname,/);
    expect(fn).toMatch(/if \(url\.host !== APP_HOST\) return refuse\(404/);
    // Every Response built carries the shared headers.
    for (const r of all(functionNamed(main, 'serveRenderer'), ts.isNewExpression).filter((n) => n.expression.getText(main) === 'Response')) {
      expect(r.arguments![1]!.getText(main)).toMatch(/headers: \{ \.\.\.headers,/);
    }
    // The handler is installed in start(), before the window loads.
    expect(enclosingFunction(calls(main, 'serveRenderer')[0]!)).toBe('start');
    expect(calls(main, /\.loadFile$/)).toEqual([]);
  });

  it('gives a CSP without sockets in Electron and with the web host\'s socket in the browser', async () => {
    const { contentSecurityPolicy } = await import('../../electron/web/server');
    expect(contentSecurityPolicy(null)).toMatch(/connect-src 'self';/);
    expect(contentSecurityPolicy(null)).not.toMatch(/ws:/);
    expect(contentSecurityPolicy(4242)).toMatch(/connect-src 'self' ws:\/\/127\.0\.0\.1:4242 ws:\/\/localhost:4242/);
    for (const csp of [contentSecurityPolicy(null), contentSecurityPolicy(1)]) {
      expect(csp).toMatch(/script-src 'self';/);
      expect(csp).toMatch(/object-src 'none'/);
      expect(csp).toMatch(/frame-ancestors 'none'/);
    }
  });
});

// ---- 6. permissions ---------------------------------------------------------------------

describe('permissions', () => {
  it('denies every permission request and check', () => {
    const req = calls(main, 'ses.setPermissionRequestHandler');
    const check = calls(main, 'ses.setPermissionCheckHandler');
    expect(req.map((c) => c.arguments[0]!.getText(main))).toEqual(['(_wc, _permission, cb) => cb(false)']);
    expect(check.map((c) => c.arguments[0]!.getText(main))).toEqual(['() => false']);
    expect(mainText).toMatch(/const ses = session\.defaultSession;/);
  });
});

// ---- 7. external links --------------------------------------------------------------

describe('external links', () => {
  it('are http(s) only, without credentials', () => {
    expect(externalUrl('https://example.com/a?b#c')?.href).toBe('https://example.com/a?b#c');
    expect(externalUrl('http://example.com')?.href).toBe('http://example.com/');
    for (const bad of ['file:///etc/passwd', 'javascript:alert(1)', 'smb://host/share', 'ms-msdt:/id', 'vscode://x', 'https://user:pw@example.com', 'not a url', '']) {
      expect([bad, externalUrl(bad)]).toEqual([bad, null]);
    }
  });

  it('open only through confirmOpenExternal, after a dialog the user answered "Open"', () => {
    const opens = calls(main, 'shell.openExternal');
    expect(opens.length).toBe(1);
    expect(enclosingFunction(opens[0]!)).toBe('confirmOpenExternal');
    const fn = functionNamed(main, 'confirmOpenExternal');
    const body = fn.getText(main);
    // Checked, then asked, then opened: in this order, and only on the "Open" button.
    const at = (s: string) => body.indexOf(s);
    expect(at('externalUrl(raw)')).toBeGreaterThan(0);
    expect(at('if (!url) return;')).toBeGreaterThan(at('externalUrl(raw)'));
    expect(at('dialog.showMessageBox')).toBeGreaterThan(at('if (!url) return;'));
    expect(body).toMatch(/buttons: \['Cancel', 'Open in browser'\]/);
    expect(body).toMatch(/cancelId: 0/);
    expect(body).toMatch(/if \(response === 1\) await shell\.openExternal\(url\.href\);/);
    // New windows are always denied; their URL is offered through the dialog.
    const woh = calls(main, 'win.webContents.setWindowOpenHandler')[0]!.getText(main);
    expect(woh).toMatch(/confirmOpenExternal\(url\)/);
    expect(woh).toMatch(/return \{ action: 'deny' \};/);
  });
});

// ---- 8. IPC sender check ------------------------------------------------------------

describe('IPC sender check', () => {
  const index = APP_INDEX_URL;

  it('admits the app:// index page only', () => {
    expect(isAppUrl(index, undefined)).toBe(true);
    expect(isAppUrl(`${index}#/session/x`, undefined)).toBe(true);
    expect(isAppUrl(`${index}?token=1`, undefined)).toBe(true);
    for (const u of ['app://renderer/other.html', 'app://evil/index.html', 'app://renderer.evil/index.html', 'file:///opt/apollo/resources/app.asar/out/renderer/index.html', 'https://example.com/index.html', 'app://x@renderer/index.html']) {
      expect([u, isAppUrl(u, undefined)]).toEqual([u, false]);
    }
  });

  it('admits the dev server by origin, not by string prefix, and then only it', () => {
    const dev = 'http://localhost:5173';
    expect(isAppUrl('http://localhost:5173/', dev)).toBe(true);
    expect(isAppUrl('http://localhost:51730/', dev)).toBe(false);
    expect(isAppUrl('http://localhost:5173.evil.example/', dev)).toBe(false);
    expect(isAppUrl(index, dev)).toBe(false);
  });

  it('never throws on an empty or odd frame URL', () => {
    for (const u of ['', 'about:blank', 'not a url', 'file://%zz', 'app://']) {
      expect(() => isAppUrl(u, undefined)).not.toThrow();
      expect(isAppUrl(u, undefined)).toBe(false);
    }
  });

  it('is what the IPC handler checks, on the top frame only', () => {
    const handler = calls(main, 'ipcMain.on')[0]!.getText(main);
    expect(handler).toMatch(/if \(!frame \|\| frame\.parent !== null \|\| !isAppUrl\(frame\.url, devUrl\)\) return;/);
  });
});
