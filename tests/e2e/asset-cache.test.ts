// The web host's caching as Chromium applies it: on a reload the hashed bundle comes from
// the browser's cache and the page is revalidated; after an upgrade (a new index.html
// naming a new hashed bundle) the next load runs the new build, never the cached one.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { startTestHost, type TestHost } from '../fixtures/web-host';
import { launchBrowser } from './harness';

let t: TestHost;
let browser: Browser;
let renderer: string;

/** A build as electron-vite writes one: index.html naming its content-hashed bundle. */
async function writeBuild(build: number, hash: string): Promise<void> {
  await writeFile(join(renderer, 'assets', `index-${hash}.js`), `document.body.dataset.build = '${build}';`);
  const html = join(renderer, 'index.html');
  await writeFile(`${html}.next`, `<!doctype html><title>build ${build}</title><script type="module" crossorigin src="/assets/index-${hash}.js"></script>`);
  await rename(`${html}.next`, html);
}

beforeAll(async () => {
  t = await startTestHost('apollo-e2e-cache-');
  renderer = join(t.home, 'renderer');
  await mkdir(join(renderer, 'assets'));
  await writeBuild(1, 'AAAAAAAA');
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
  await t?.close();
});

/** How the page and its bundle arrived: from the cache (0 bytes over the wire), revalidated (headers only), or sent. */
async function arrival(page: import('playwright-core').Page) {
  return page.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming;
    const script = performance.getEntriesByType('resource').find((e) => e.name.includes('/assets/')) as PerformanceResourceTiming;
    return { build: document.body.dataset.build, page: { transfer: nav.transferSize, body: nav.encodedBodySize }, bundle: { name: new URL(script.name).pathname, transfer: script.transferSize } };
  });
}

describe('caching of the renderer in Chromium', () => {
  it('keeps the bundle, revalidates the page, and runs a new build at once after an upgrade', async () => {
    const page = await browser.newPage();
    const url = `http://127.0.0.1:${t.host.port}/`;
    await page.goto(url);
    await page.waitForFunction(() => document.body.dataset.build === '1');
    const first = await arrival(page);
    expect(first.bundle.transfer).toBeGreaterThan(0);

    await page.reload();
    await page.waitForFunction(() => document.body.dataset.build === '1');
    const again = await arrival(page);
    // The bundle from the cache; the page asked for again, answered 304 (headers, no body sent).
    expect(again.bundle).toEqual({ name: '/assets/index-AAAAAAAA.js', transfer: 0 });
    expect(again.page.transfer).toBeGreaterThan(0);
    expect(again.page.transfer).toBeLessThan(first.page.transfer);

    await writeBuild(2, 'BBBBBBBB');
    await page.reload();
    await page.waitForFunction(() => document.body.dataset.build === '2');
    const upgraded = await arrival(page);
    expect(upgraded.bundle.name).toBe('/assets/index-BBBBBBBB.js');
    expect(upgraded.bundle.transfer).toBeGreaterThan(0);
    await page.close();
  });
});
