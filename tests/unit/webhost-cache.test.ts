// The web host's caching over real HTTP: a returning browser keeps the hashed build
// assets for good and revalidates everything else (index.html first) on every load, so
// it loads the bundle from its cache (and V8 its compiled code) yet never runs a stale
// build after an upgrade.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, rename, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startTestHost, type TestHost } from '../fixtures/web-host';
import { cacheControl, etagOf, ifNoneMatchHits, IMMUTABLE, REVALIDATE } from '../../electron/web/static-files';

let t: TestHost;
let renderer: string;
const BUNDLE = 'console.log("build 1")';
beforeAll(async () => {
  t = await startTestHost('apollo-web-cache-');
  renderer = join(t.home, 'renderer');
  await mkdir(join(renderer, 'assets'));
  await writeFile(join(renderer, 'assets', 'index-Re4ONcSJ.js'), BUNDLE);
  await writeFile(join(renderer, 'assets', 'notes.css'), 'body{}');
  await writeFile(join(renderer, 'app-Re4ONcSJ.js'), 'outside assets/');
  await writeFile(join(t.home, 'secret.txt'), 'TOP SECRET');
  await symlink(join(t.home, 'secret.txt'), join(renderer, 'assets', 'leak-Re4ONcSJ.js'));
});
afterAll(() => t.close());

const url = (path: string) => `http://127.0.0.1:${t.host.port}${path}`;
async function get(path: string, headers: Record<string, string> = {}, method = 'GET') {
  const res = await fetch(url(path), { headers, method });
  return { status: res.status, headers: res.headers, body: await res.text() };
}

describe('cache headers', () => {
  it('marks the hashed build assets immutable, with an ETag of their bytes', async () => {
    const r = await get('/assets/index-Re4ONcSJ.js');
    expect(r).toMatchObject({ status: 200, body: BUNDLE });
    expect(r.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(r.headers.get('etag')).toBe(etagOf(Buffer.from(BUNDLE)));
    expect(r.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(r.headers.get('content-security-policy')).toMatch(/script-src 'self'/);
    expect(r.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('revalidates index.html and anything unhashed on every load', async () => {
    for (const path of ['/', '/index.html', '/assets/notes.css', '/app-Re4ONcSJ.js']) {
      const r = await get(path);
      expect([path, r.status, r.headers.get('cache-control')]).toEqual([path, 200, 'no-cache']);
      expect(r.headers.get('etag')).toMatch(/^"[A-Za-z0-9_-]{27}"$/);
      expect(r.headers.get('content-security-policy')).toMatch(/default-src 'self'/);
    }
  });

  it('keeps the page that sets the token cookie out of any shared cache', async () => {
    const r = await get(`/?token=${t.host.token}`);
    expect(r.headers.get('set-cookie')).toContain(t.host.token);
    expect(r.headers.get('cache-control')).toBe('private, no-cache');
  });

  it('names immutable only bundler outputs under assets/', () => {
    expect(cacheControl('/assets/index-DnpZ1HWo.css')).toBe(IMMUTABLE);
    expect(cacheControl('/assets/vendor-a_b-C9d0.js')).toBe(IMMUTABLE);
    for (const rel of ['/index.html', '/assets/index.js', '/assets/index-short.js', '/x/assets/index-Re4ONcSJ.js', '/index-Re4ONcSJ.js']) expect([rel, cacheControl(rel)]).toEqual([rel, REVALIDATE]);
  });
});

describe('conditional requests', () => {
  it('answers 304 without a body when If-None-Match names the current ETag', async () => {
    const first = await get('/');
    const etag = first.headers.get('etag')!;
    for (const inm of [etag, `W/${etag}`, `"other", ${etag}`, '*']) {
      const r = await get('/', { 'If-None-Match': inm });
      expect([inm, r.status, r.body]).toEqual([inm, 304, '']);
      expect(r.headers.get('etag')).toBe(etag);
      expect(r.headers.get('cache-control')).toBe('no-cache');
      expect(r.headers.get('content-security-policy')).toMatch(/default-src 'self'/);
    }
    expect((await get('/', { 'If-None-Match': '"other"' })).status).toBe(200);
    const head = await get('/', { 'If-None-Match': etag }, 'HEAD');
    expect(head.status).toBe(304);
  });

  it('sends an index.html changed by an upgrade anew, even one of the same size (its ETag is its digest)', async () => {
    const before = await get('/');
    const next = '<!doctype html><title>T</title>';
    expect(next.length).toBe(before.body.length);
    // As a build or an install replaces it.
    await writeFile(join(renderer, 'index.next'), next);
    await rename(join(renderer, 'index.next'), join(renderer, 'index.html'));
    const r = await get('/', { 'If-None-Match': before.headers.get('etag')! });
    expect(r).toMatchObject({ status: 200, body: next });
    expect(r.headers.get('etag')).not.toBe(before.headers.get('etag'));
  });

  it('sends a changed asset anew to a browser revalidating its old copy', async () => {
    const old = await get('/assets/index-Re4ONcSJ.js');
    await writeFile(join(renderer, 'assets', 'index-Re4ONcSJ.js'), 'console.log("build 2")');
    const r = await get('/assets/index-Re4ONcSJ.js', { 'If-None-Match': old.headers.get('etag')! });
    expect(r).toMatchObject({ status: 200, body: 'console.log("build 2")' });
    await writeFile(join(renderer, 'assets', 'index-Re4ONcSJ.js'), BUNDLE);
  });

  it('never answers 304 for what it would not serve', async () => {
    for (const path of ['/assets/leak-Re4ONcSJ.js', '/assets', '/missing-Re4ONcSJ.js']) {
      const r = await get(path, { 'If-None-Match': '*' });
      expect([path, r.status]).toEqual([path, 404]);
      expect(r.body).not.toContain('SECRET');
      expect(r.headers.get('etag')).toBeNull();
    }
    expect((await get('/', { 'If-None-Match': '*' }, 'POST')).status).toBe(405);
  });

  it('compares entity tags as RFC 9110 says for If-None-Match', () => {
    expect(ifNoneMatchHits(null, '"a"')).toBe(false);
    expect(ifNoneMatchHits('', '"a"')).toBe(false);
    expect(ifNoneMatchHits('"a"', '"a"')).toBe(true);
    expect(ifNoneMatchHits(' W/"a" ', '"a"')).toBe(true);
    expect(ifNoneMatchHits('"b","a"', '"a"')).toBe(true);
    expect(ifNoneMatchHits('"ab"', '"a"')).toBe(false);
    expect(ifNoneMatchHits('a', '"a"')).toBe(false);
  });
});
