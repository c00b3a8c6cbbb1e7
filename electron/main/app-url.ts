// Which pages may talk to the core over IPC. Kept free of 'electron' so it can be tested in plain Node.
import { fileURLToPath } from 'node:url';

/**
 * Is `url` one of the app's own pages: the built renderer's index.html, or (in
 * development) a page of the dev server's origin? Never throws: a frame's URL can be
 * empty or odd while it navigates.
 */
export function isAppUrl(url: string, rendererIndex: string, devUrl: string | undefined): boolean {
  try {
    const u = new URL(url);
    // Same origin, not a prefix: "http://localhost:5173" must not admit "http://localhost:51730".
    if (devUrl) return u.origin === new URL(devUrl).origin;
    return u.protocol === 'file:' && fileURLToPath(u) === rendererIndex;
  } catch {
    return false;
  }
}
