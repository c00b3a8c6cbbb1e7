// Which pages may talk to the core over IPC, where the renderer is loaded from, and
// which links may leave the app. Kept free of 'electron' so it can be tested in plain Node.

/**
 * The renderer is served from this privileged custom scheme (registered as standard and
 * secure in the main process), never from file://: a file:// page could read any file
 * the user can, and would share its origin with every other local file.
 */
export const APP_SCHEME = 'app';
export const APP_HOST = 'renderer';
export const APP_INDEX_URL = `${APP_SCHEME}://${APP_HOST}/index.html`;

/**
 * The dev server's URL (electron-vite sets ELECTRON_RENDERER_URL), honoured only in an
 * unpackaged build: in an installed app the variable would let anyone who can set the
 * environment load any page with the IPC bridge (and so the user's shells).
 */
export function devServerUrl(env: NodeJS.ProcessEnv, isPackaged: boolean): string | undefined {
  if (isPackaged) return undefined;
  const url = env.ELECTRON_RENDERER_URL;
  if (!url) return undefined;
  try {
    const u = new URL(url);
    return u.protocol === 'http:' || u.protocol === 'https:' ? url : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Is `url` one of the app's own pages: the renderer's index.html on app://renderer, or
 * (in development) a page of the dev server's origin? Never throws: a frame's URL can
 * be empty or odd while it navigates.
 */
export function isAppUrl(url: string, devUrl: string | undefined): boolean {
  try {
    const u = new URL(url);
    // Same origin, not a prefix: "http://localhost:5173" must not admit "http://localhost:51730".
    if (devUrl) return u.origin === new URL(devUrl).origin;
    return u.protocol === `${APP_SCHEME}:` && u.host === APP_HOST && u.pathname === '/index.html' && u.username === '' && u.password === '';
  } catch {
    return false;
  }
}

/** A link the app may offer to open in the user's browser (after asking): http(s) only, no credentials. */
export function externalUrl(url: string): URL | null {
  try {
    const u = new URL(url);
    if ((u.protocol !== 'http:' && u.protocol !== 'https:') || u.username !== '' || u.password !== '') return null;
    return u;
  } catch {
    return null;
  }
}

/**
 * The DevTools shortcuts (Chromium's F12, Ctrl+Shift+I/J, and macOS's Cmd+Alt+I/J),
 * swallowed in a packaged build, where DevTools are disabled anyway (webPreferences
 * devTools: false) and the menu has no toggleDevTools or reload role. Reload keys are
 * deliberately not swallowed: Ctrl+R is the shell's history search in the terminal, and
 * with no reload role in the menu it reloads nothing. Ctrl+Shift+C stays the terminal's copy.
 */
export function isDevToolsShortcut(input: { type: string; code: string; control: boolean; meta: boolean; shift: boolean; alt: boolean }): boolean {
  // `code` names the physical key: with Alt held on macOS, `key` is a composed character.
  if (input.type !== 'keyDown') return false;
  if (input.code === 'F12') return true;
  const ij = input.code === 'KeyI' || input.code === 'KeyJ';
  if (ij && input.control && input.shift && !input.alt) return true;
  if (ij && input.meta && input.alt) return true;
  return false;
}
