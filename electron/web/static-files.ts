// Which file a request for the renderer may be answered with. Shared by the web host's
// HTTP server and the Electron app's app:// protocol, so both serve exactly the same
// files (regular files inside the renderer folder, reached without a symlink) with the
// same caching rules.
import { createHash } from 'node:crypto';
import { lstat, readFile, realpath } from 'node:fs/promises';
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

/** `rel`: the file's path inside the folder, from `/` (what the caching rules look at). */
export type StaticLookup = { ok: true; path: string; rel: string } | { ok: false; status: 400 | 403 | 404; reason: string };

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
  return { ok: true, path: file, rel: file.slice(base.length) };
}

/**
 * The bundler's output names under assets/ (`[name]-[hash].ext`, electron.vite.config.ts):
 * the 8-character content hash changes with the content, so such a URL never names
 * other bytes and the browser may keep it for good. Everything else (index.html first:
 * it names the hashed files of its build) is revalidated on every load, so an upgrade
 * is seen at once.
 */
const HASHED_ASSET = /^\/assets\/[^/]+-[A-Za-z0-9_-]{8}\.[A-Za-z0-9]+$/;

export const IMMUTABLE = 'public, max-age=31536000, immutable';
export const REVALIDATE = 'no-cache';

/** The Cache-Control of the file at `rel` (its path inside the renderer folder, from `/`). */
export function cacheControl(rel: string): string {
  return HASHED_ASSET.test(rel.split(sep).join('/')) ? IMMUTABLE : REVALIDATE;
}

/** A strong ETag: a digest of the bytes, so it changes whenever the content does (mtimes survive copies and rebuilds of equal files, or lie). */
export function etagOf(body: Uint8Array): string {
  return `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
}

/** Does an If-None-Match header name `etag`? (RFC 9110 §13.1.2: weak comparison, a list or `*`.) */
export function ifNoneMatchHits(header: string | null | undefined, etag: string): boolean {
  if (!header) return false;
  if (header.trim() === '*') return true;
  return header.split(',').some((t) => t.trim().replace(/^W\//, '') === etag);
}

export type StaticAnswer =
  | { ok: true; status: 200 | 304; headers: Record<string, string>; body: Buffer | null }
  | { ok: false; status: 400 | 403 | 404; reason: string };

/**
 * What both hosts answer a GET/HEAD for `pathname` with: the file (200) or, when the
 * browser's copy is current (`ifNoneMatch` names its ETag), 304 without a body; with
 * Content-Type, Cache-Control and ETag. The caller adds its security headers.
 */
export async function answerStatic(root: string, pathname: string, ifNoneMatch: string | null | undefined): Promise<StaticAnswer> {
  const found = await resolveStaticFile(root, pathname);
  if (!found.ok) return found;
  let body: Buffer;
  try {
    body = await readFile(found.path);
  } catch {
    return { ok: false, status: 404, reason: 'not found' };
  }
  const etag = etagOf(body);
  const headers = { 'Content-Type': mimeType(found.path), 'Cache-Control': cacheControl(found.rel), ETag: etag };
  return ifNoneMatchHits(ifNoneMatch, etag) ? { ok: true, status: 304, headers, body: null } : { ok: true, status: 200, headers, body };
}
