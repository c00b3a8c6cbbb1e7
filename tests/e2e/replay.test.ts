// Timed replay of a recorded terminal in Debian's Chromium: an asciicast imported with
// the CLI (a full-screen header drawn at the start, two markers = steps, ticks, an idle
// gap of 20 minutes), opened in the app; the replay plays, pauses, runs at 64× through
// the capped gap to the end, scrubs back by time, and jumps to a step (selecting it in
// the trajectory, and back), its own xterm showing the recorded screen each time.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, createSession, requireBuild, screenshot, startServerAndBrowser, waitFor, type Server } from './harness';


let root: string;
let server: Server;
let browser: Browser;
let sessionId: string;

/** v2: absolute times in seconds. */
function castLines(): string {
  const ev: Array<[number, string, string]> = [];
  // A full-screen program: alternate screen, a header at the top by cursor addressing, a scroll region below it.
  ev.push([0.0, 'o', '\x1b[?1049h\x1b[2J\x1b[1;1H\x1b[7m HEADER-FRAME drawn once \x1b[0m\x1b[3;24r\x1b[3;1H']);
  ev.push([0.5, 'm', 'warm up']);
  for (let i = 1; i <= 60; i++) ev.push([0.5 + i * 0.1, 'o', `tick ${String(i).padStart(3, '0')}\r\n`]);
  ev.push([6.6, 'm', 'train']);
  for (let i = 61; i <= 120; i++) ev.push([6.6 + (i - 60) * 0.1, 'o', `tick ${String(i).padStart(3, '0')}\r\n`]);
  // Twenty minutes of nothing, then the end.
  ev.push([1212.7, 'o', 'AFTER-GAP done\r\n']);
  const head = { version: 2, width: 80, height: 24, timestamp: 1_700_000_000, title: 'replay e2e' };
  return [JSON.stringify(head), ...ev.map((e) => JSON.stringify(e))].join('\n') + '\n';
}


beforeAll(async () => {
  requireBuild();
  root = await mkdtemp(join(tmpdir(), 'apollo-e2e-replay-'));
  const home = join(root, 'home');
  const cast = join(root, 'run.cast');
  const prepare = async () => {
    await writeFile(cast, castLines());
    const r = await runCli(['import', cast, '--home', home]);
    if (r.code !== 0) throw new Error(`apollo import exited ${r.code}:\n${r.out}`);
    sessionId = r.out.trim().split('\n').at(-1)!.trim();
  };
  ({ server, browser } = await startServerAndBrowser(home, { prepare }));
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await server?.stop();
  if (root) await rm(root, { recursive: true, force: true });
});

const replayText = (page: Page): Promise<string> => page.locator('[data-testid="replay-terminal"] .xterm-rows').innerText();

async function waitText(page: Page, re: RegExp, what: string): Promise<string> {
  let text = '';
  await waitFor(async () => re.test((text = await replayText(page))), () => `${what} (${re}); the replay shows:\n${text}`);
  return text;
}

/** The last tick on the replay's screen (0 when none). */
async function lastTick(page: Page): Promise<number> {
  const ticks = [...(await replayText(page)).matchAll(/tick (\d{3})/g)].map((m) => Number(m[1]));
  return ticks.length ? Math.max(...ticks) : 0;
}

/** The middle of the replay's row holding `text` lies within the replay's visible frame. */
function rowInView(page: Page, text: string): Promise<boolean> {
  return page.evaluate((t) => {
    const frame = document.querySelector('.replay-frame')!.getBoundingClientRect();
    const row = [...document.querySelectorAll('[data-testid="replay-terminal"] .xterm-rows > div')].find((d) => d.textContent?.includes(t));
    const r = row?.getBoundingClientRect();
    return !!r && r.top + r.height / 2 >= frame.top && r.top + r.height / 2 <= frame.bottom;
  }, text);
}

/** The middle of the replay's cursor row lies within the replay's visible frame. */
function cursorRowInView(page: Page): Promise<boolean> {
  return page.evaluate(() => {
    const frame = document.querySelector('.replay-frame')!.getBoundingClientRect();
    const r = document.querySelector('[data-testid="replay-terminal"] .xterm-rows .xterm-cursor')?.getBoundingClientRect();
    return !!r && r.top + r.height / 2 >= frame.top && r.top + r.height / 2 <= frame.bottom;
  });
}

/** Where the replay's frame is scrolled and its rows are, for a failure message. */
function frameRows(page: Page): Promise<string> {
  return page.evaluate(() => {
    const f = document.querySelector('.replay-frame')!;
    const fr = f.getBoundingClientRect();
    const rows = [...document.querySelectorAll('[data-testid="replay-terminal"] .xterm-rows > div')].map((d) => `${Math.round(d.getBoundingClientRect().top)}:${d.textContent}`);
    return `frame ${Math.round(fr.top)}-${Math.round(fr.bottom)} scrollTop ${f.scrollTop}; rows ${rows.join(' | ')}`;
  });
}

describe('terminal replay', () => {
  // The same walk at two window sizes, each in a page of its own: side by side.
  for (const [width, height] of [
    [1280, 720],
    [1400, 900],
  ] as const) {
    it.concurrent(`plays, pauses, changes speed, scrubs and jumps to steps (${width}x${height})`, async () => {
      const page = await browser.newPage({ viewport: { width, height } });
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(server.url);
      await page.locator(`[data-testid="session-item"][data-session-id="${sessionId}"]`).click();
      await page.getByTestId('replay-toggle').click();
      await page.getByTestId('replay').waitFor();
      // Opened at the start of the recording: an empty screen, the steps marked on the scrubber.
      await waitFor(async () => (await page.getByTestId('replay-time').innerText()).includes('/ 0:20:12'), 'the recording span');
      expect(await page.locator('.replay-markers span').count()).toBe(3);

      // Play at 1×, then pause: the screen stops where it is.
      await page.getByTestId('replay-play').click();
      await waitText(page, /tick 00[3-9]/, 'playing at 1×');
      await page.getByTestId('replay-play').click();
      expect(await page.getByTestId('replay-play').getAttribute('data-playing')).toBe('false');
      const pausedAt = await lastTick(page);
      const pausedTime = await page.getByTestId('replay-time').innerText();
      // Nothing moves while paused (a window of time is the only way to see that).
      await page.waitForTimeout(600);
      expect(await lastTick(page)).toBe(pausedAt);
      expect(await page.getByTestId('replay-time').innerText()).toBe(pausedTime);
      expect(await replayText(page)).toContain('HEADER-FRAME');

      // 64×: the 20-minute gap plays as 2 s of recording (31 ms), and the replay stops at the end.
      await page.getByTestId('replay-speed').selectOption('64');
      await page.getByTestId('replay-play').click();
      await waitFor(async () => (await page.getByTestId('replay-status').innerText()).includes('End of the recording'), 'the end of the recording', 10_000);
      // The status can say so a frame before xterm has parsed the last write.
      const end = await waitText(page, /AFTER-GAP done/, 'the last output on screen');
      expect(end).toContain('AFTER-GAP done');
      expect(end).toContain('tick 120');
      // The header drawn at the very start is still there (the screen, not a tail of output).
      expect(end).toContain('HEADER-FRAME');
      expect(await page.getByTestId('replay-play').getAttribute('data-playing')).toBe('false');
      await screenshot(page, `replay-end-${width}x${height}.png`);

      // Scrub back by time to 0:00:04 (3.5 s after the first marker): ticks up to 035, none after.
      await page.getByTestId('replay-speed').selectOption('1');
      await page.getByTestId('replay-scrubber').fill('4050');
      await waitFor(async () => (await lastTick(page)) === 35, 'the screen at 0:00:04');
      expect(await replayText(page)).not.toContain('AFTER-GAP');
      expect(await replayText(page)).toContain('HEADER-FRAME');
      expect(await page.getByTestId('replay-time').innerText()).toMatch(/^0:00:04 \//);
      expect(await page.getByTestId('replay-step').innerText()).toBe('step 2');

      // Jump to the next step ("train"): the replay moves to its first byte and the trajectory selects it.
      await page.getByTestId('replay-next-step').click();
      await waitFor(async () => (await page.getByTestId('replay-step').innerText()) === 'step 3', 'the jump to step 3');
      await waitFor(async () => (await lastTick(page)) === 60, 'the screen at step 3');
      // The cursor's row (under tick 060) is in view, also where the pane shows only a row or two of the 24 (1280x720), and so is
      // tick 060 where the frame has room for it.
      let rows = '';
      await waitFor(async () => {
        rows = await frameRows(page);
        return (await cursorRowInView(page)) && (height < 900 || (await rowInView(page, 'tick 060')));
      }, () => `the cursor's row scrolled into the replay frame (${rows})`);
      await waitFor(async () => (await page.locator('[data-testid="step"][data-selected="true"]').getAttribute('data-depth')) === '3', 'step 3 selected');
      await screenshot(page, `replay-step-${width}x${height}.png`);
      // And back to where it was.
      await page.getByTestId('replay-back').click();
      await waitFor(async () => (await lastTick(page)) === 35, 'back at 0:00:04');

      // Selecting a step in the trajectory moves the replay there too.
      await page.locator('[data-testid="step"][data-depth="2"]').click();
      await waitFor(async () => (await page.getByTestId('replay-step').innerText()) === 'step 2', 'the replay at step 2');
      // The screen is cleared before it is painted again: an empty one has no tick either.
      let atStep2 = '';
      await waitFor(async () => {
        atStep2 = await replayText(page);
        return atStep2.includes('HEADER-FRAME') && !/tick/.test(atStep2);
      }, () => `the screen at the start of step 2 (the header, no tick); it shows:\n${atStep2}`);

      await page.getByTestId('replay-close').click();
      await expect(page.getByTestId('replay').count()).resolves.toBe(0);
      expect(errors).toEqual([]);
      await page.close();
    });
  }

  // Issue 10 item 9: a search hit in the terminal output lands the replay at the hit.
  for (const [width, height] of [
    [1280, 720],
    [1400, 900],
  ] as const) {
    it.concurrent(`a terminal search hit opens the replay at the screen of its bytes, marked, its step selected (${width}x${height})`, async () => {
      const page = await browser.newPage({ viewport: { width, height } });
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(server.url);
      await page.locator(`[data-session-id="${sessionId}"]`).first().click();
      await page.locator('[data-testid="step"][data-depth="3"]').waitFor();
      const search = async (q: string) => {
        // The panel stays open after a result is picked.
        if (!(await page.getByTestId('search-panel').count())) await page.getByTestId('search-open').click();
        await page.getByTestId('search-input').fill(q);
        // Done, and for this query (the previous query's results stay until the next answer).
        await waitFor(
          async () =>
            (await page.getByTestId('search-status').getAttribute('data-status')) === 'done' &&
            (await page.locator('[data-testid="search-result"] mark').first().innerText()).toLowerCase() === q.toLowerCase(),
          `the results for ${q}`,
        );
        return page.locator('[data-testid="search-result"][data-kind="terminal"]');
      };

      // No replay open: the hit opens one at "tick 037" (3.7 s into step 2), not at the step's start nor at the end.
      const hit = (await search('TICK 037')).first();
      await hit.click();
      await page.getByTestId('replay').waitFor();
      await waitFor(async () => (await page.getByTestId('replay-hit').count()) === 1, 'the replay at the hit');
      const text = await replayText(page);
      expect(text).toContain('HEADER-FRAME');
      expect(await lastTick(page)).toBe(37);
      expect(text).not.toContain('AFTER-GAP');
      // The match is selected on the screen, and the replay stands at the match's last byte.
      expect(await page.getByTestId('replay-hit').getAttribute('data-marked')).toBe('tick 037');
      expect(await rowInView(page, 'tick 037')).toBe(true);
      // With the step inspector open the replay keeps room for several rows (at 1280x720 it had one before).
      expect((await page.locator('.replay-frame').boundingBox())!.height).toBeGreaterThan(5 * 18);
      expect(await rowInView(page, 'tick 033')).toBe(true);
      expect(await page.locator('[data-testid="replay-terminal"] .xterm-selection div').count()).toBeGreaterThan(0);
      const offset = Number(await hit.getAttribute('data-offset'));
      expect(offset).toBeGreaterThan(0);
      expect(await page.getByTestId('replay-time').innerText()).toContain(`byte ${(offset + 'tick 037'.length).toLocaleString('en')} of`);
      // Its step is selected, and selecting it did not move the replay to the step's start.
      await waitFor(async () => (await page.locator('[data-testid="step"][data-selected="true"]').getAttribute('data-depth')) === '2', 'step 2 selected');
      expect(await page.getByTestId('replay-step').innerText()).toBe('step 2');
      expect(await lastTick(page)).toBe(37);
      await screenshot(page, `replay-search-hit-${width}x${height}.png`);

      // With the replay open, another hit (in step 3) moves it there; Back returns to the first hit.
      await (await search('tick 090')).first().click();
      await waitFor(async () => (await lastTick(page)) === 90 && (await page.getByTestId('replay-hit').count()) === 1, 'the replay at tick 090');
      await waitFor(async () => (await page.locator('[data-testid="step"][data-selected="true"]').getAttribute('data-depth')) === '3', 'step 3 selected');
      expect(await page.getByTestId('replay-hit').getAttribute('data-marked')).toBe('tick 090');
      // Playing on from the hit shows what came next.
      await page.getByTestId('replay-play').click();
      await waitFor(async () => (await lastTick(page)) > 90, 'playing on from the hit');
      await page.getByTestId('replay-play').click();
      await page.getByTestId('replay-back').click();
      await waitFor(async () => (await lastTick(page)) === 37, 'back at the first hit');

      // An observation hit goes to its step as before: the open replay follows the selection to the step's start.
      await (await search('tick 037')).first().waitFor();
      await page.locator('[data-testid="search-result"][data-kind="observation"]').first().click();
      await waitFor(async () => (await page.locator('[data-testid="step"][data-selected="true"]').getAttribute('data-depth')) === '2', 'step 2 selected by the observation');
      await waitFor(async () => (await page.getByTestId('replay-hit').count()) === 0 && (await lastTick(page)) === 0, 'the replay at the start of step 2');
      expect(await replayText(page)).toContain('HEADER-FRAME');
      expect(errors).toEqual([]);
      await page.close();
    });
  }

  it('replays a live terminal from its recording while it runs, and the new output after another play', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(server.url);
    await createSession(page, 'live replay', root);
    const type = async (line: string) => {
      await page.locator('.terminal-pane:not(.hidden) [data-testid="terminal"] .xterm-screen').click();
      await page.keyboard.type(line);
      await page.keyboard.press('Enter');
    };
    await type('for i in 1 2 3; do echo live-$i; done');
    await waitFor(async () => /live-3/.test(await page.locator('[data-testid="terminal"] .xterm-rows').innerText()), 'the live output');
    await page.getByTestId('replay-toggle').click();
    await page.getByTestId('replay-speed').selectOption('64');
    await page.getByTestId('replay-play').click();
    await waitFor(async () => (await page.getByTestId('replay-status').innerText()).includes('End of the recording'), 'the end so far');
    // As above: xterm may parse the last write a frame after the status says the end.
    await waitText(page, /live-1\s+live-2\s+live-3/, 'the live output replayed');
    // More output in the live terminal: closed and the live view back, then replayed again.
    await page.getByTestId('replay-close').click();
    await type('echo later-$((6*7))');
    await waitFor(async () => /later-42/.test(await page.locator('[data-testid="terminal"] .xterm-rows').innerText()), 'more live output');
    await page.getByTestId('replay-toggle').click();
    await page.getByTestId('replay-speed').selectOption('64');
    await page.getByTestId('replay-play').click();
    await waitText(page, /later-42/, 'the new output replayed');
    expect(errors).toEqual([]);
    await page.close();
  });
});
