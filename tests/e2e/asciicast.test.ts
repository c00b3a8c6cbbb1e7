// An asciicast written by the dataset export plays in asciinema's own web player
// (the asciinema-player npm package) in Debian's Chromium: a local page, the
// player's script and stylesheet from node_modules, and the cast, all served over a
// loopback HTTP server with every other request blocked.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import type { SessionEvent } from '../../shared/events';
import { exportBundle } from '../../electron/core/dataset/index';
import { validateAsciicast } from '../../electron/core/dataset/validate';
import { launchBrowser, ROOT } from './harness';

const SAMPLE = resolve(ROOT, 'resources/samples/sample-sales-report');
const PLAYER = resolve(ROOT, 'node_modules/asciinema-player/dist/bundle');
const PAGE = resolve(ROOT, 'tests/fixtures/asciicast-player.html');

let root: string;
let cast: string;
let server: Server;
let base: string;
let browser: Browser;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'apollo-asciicast-e2e-'));
  const events = (await readFile(join(SAMPLE, 'events.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as SessionEvent);
  const out = await exportBundle({
    home: root,
    sessions: [{ sessionId: 'sales', events, sessionDir: SAMPLE }],
    outDir: join(root, 'bundle'),
    formats: ['asciicast'],
    secrets: [],
    appVersion: 'test',
    // The shipped sample is read in place: nothing may be kept beside it (export-cache/).
    castCache: false,
  });
  cast = join(out.dir, 'terminals', 'sales', 'main.cast');

  const files: Record<string, { path: string; type: string }> = {
    '/': { path: PAGE, type: 'text/html; charset=utf-8' },
    '/player/asciinema-player.min.js': { path: join(PLAYER, 'asciinema-player.min.js'), type: 'text/javascript' },
    '/player/asciinema-player.css': { path: join(PLAYER, 'asciinema-player.css'), type: 'text/css' },
    '/cast/main.cast': { path: cast, type: 'application/x-asciicast' },
  };
  server = createServer((req, res) => {
    const f = files[new URL(req.url ?? '/', 'http://x').pathname];
    if (!f) {
      res.writeHead(404).end();
      return;
    }
    readFile(f.path).then(
      (body) => res.writeHead(200, { 'content-type': f.type }).end(body),
      () => res.writeHead(500).end(),
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  await rm(root, { recursive: true, force: true });
});

describe('asciicast export in asciinema-player', () => {
  it('loads, plays to the end, and shows the recorded output', async () => {
    const text = await readFile(cast, 'utf8');
    expect(validateAsciicast(text)).toEqual([]);
    expect(JSON.parse(text.split('\n')[0]!)).toMatchObject({ version: 2, width: 120, height: 30 });

    const page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
    const errors: string[] = [];
    const offline: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    // No network: only the loopback server answers.
    await page.route('**/*', (route) => {
      if (route.request().url().startsWith(base)) return route.continue();
      offline.push(route.request().url());
      return route.abort();
    });
    await page.goto(`${base}/?cast=/cast/main.cast&speed=2`);
    const term = page.locator('#player .ap-term');
    await term.waitFor();
    // Nothing of the recording is on screen before playback.
    expect(await term.innerText()).not.toContain('north 260');

    await page.evaluate(() => (globalThis as unknown as { player: { play(): Promise<unknown> } }).player.play());
    const seen = new Set<string>();
    const deadline = Date.now() + 20_000;
    let ended = false;
    while (!ended && Date.now() < deadline) {
      for (const line of (await term.innerText()).split('\n')) seen.add(line.replace(/\u00a0/g, ' ').trimEnd());
      ended = await page.evaluate(() => (globalThis as unknown as { playerEvents: string[] }).playerEvents.includes('ended'));
      if (!ended) await page.waitForTimeout(50);
    }
    expect(ended).toBe(true);
    const final = (await term.innerText()).replace(/\u00a0/g, ' ');
    for (const line of final.split('\n')) seen.add(line.trimEnd());

    // The awk typo's error, the totals and the report as the terminal showed them.
    expect([...seen].some((l) => l.includes('awk: line 1: syntax error'))).toBe(true);
    expect([...seen]).toContain('north 260');
    expect(final).toContain('north 260');
    expect(final).toContain('| north | 260 |');
    expect(final).toContain('Total: 495');
    const state = await page.evaluate(() => {
      const p = (globalThis as unknown as { player: { getCurrentTime(): number; getDuration(): number | undefined } }).player;
      return { time: p.getCurrentTime(), duration: p.getDuration() };
    });
    expect(state.duration).toBeGreaterThan(1);
    expect(state.time).toBeCloseTo(state.duration!, 0);
    expect(errors).toEqual([]);
    expect(offline).toEqual([]);
    await page.close();
  });
});
