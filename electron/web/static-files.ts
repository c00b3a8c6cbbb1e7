// Which file a request for the renderer may be answered with. Shared by the web host's
// HTTP server and the Electron app's app:// protocol, so both serve exactly the same
// files: regular files inside the renderer folder, reached without a symlink.
import { lstat, realpath } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';

export const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
  '.json': 'application/json',
  '.ico': 'image/x-icon',
};

export function mimeType(path: string): string {
  return MIME[extname(path)] ?? 'application/octet-stream';
}

export type StaticLookup = { ok: true; path: string } | { ok: false; status: 400 | 403 | 404; reason: string };

/**
 * Resolve the URL path `pathname` (as in a URL, percent-encoded) to a file of `root`.
 * Refused: a malformed encoding or a NUL byte (400), a path that leaves the folder
 * (403), and anything that is not a regular file reached through real folders: a
 * missing file, a folder, a device, a symlink at any level (404). A symlink is refused
 * even when it points inside: the renderer folder is a build output with none, so one
 * there was put by someone else (e.g. pointing at the workspace).
 */
export async function resolveStaticFile(root: string, pathname: string): Promise<StaticLookup> {
  let decoded: string;
  try {
    decoded = decodeURIComponent(pathname);
  } catch {
    return { ok: false, status: 400, reason: 'malformed URL' };
  }
  if (decoded.includes('\0')) return { ok: false, status: 400, reason: 'malformed URL' };
  let base: string;
  try {
    // The folder itself may be reached through a symlink (an install layout); inside
    // it, every component must be real.
    base = await realpath(root);
  } catch {
    return { ok: false, status: 404, reason: 'renderer folder missing' };
  }
  const rel = normalize(decoded === '/' || decoded === '' ? '/index.html' : decoded);
  const file = join(base, rel);
  if (!file.startsWith(base + sep)) return { ok: false, status: 403, reason: 'outside the renderer folder' };
  try {
    const st = await lstat(file);
    if (!st.isFile()) return { ok: false, status: 404, reason: st.isSymbolicLink() ? 'symlink' : 'not a regular file' };
    // A symlinked folder on the way (lstat looks at the last component only).
    if ((await realpath(file)) !== file) return { ok: false, status: 404, reason: 'symlink' };
  } catch {
    return { ok: false, status: 404, reason: 'not found' };
  }
  return { ok: true, path: file };
}
