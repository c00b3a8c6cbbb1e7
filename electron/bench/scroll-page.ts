// The trajectory's scroll row in the real page: `apollo serve` on the generated
// workspace and the built renderer in Chromium; the step list jumped to 41 positions
// over its whole height, each timed in the page from setting scrollTop until two frames
// later (the window of rows re-rendered, laid out and painted). The baseline is the same
// two frames in the same page with nothing scrolled: what a frame costs there anyway.
// This was a threshold in tests/e2e/rollout-large.test.ts, where load on a shared
// machine made it fail; the test keeps what it checks about the window's rows.
import { createRequire } from 'node:module';
import { CHROMIUM, CHROMIUM_ARGS, startServe } from './browser';
import { median, percentile } from './measure';
import { allDetailsIn } from './open-page';

/** The former test's bound on the median. */
export const SCROLL_GOAL_MS = 100;
const POSITIONS = 40;

export interface ScrollResult {
  /** Per position: setting scrollTop to two frames later. */
  scrolled: number[];
  /** The same two frames with nothing scrolled. */
  idle: number[];
  /** Most step rows in the page at any position (the window stays small). */
  maxRows: number;
}

/** Open `sessionId` in a fresh server and Chromium, wait for step `stepId`, then time the jumps. */
export async function scrollInPage(cli: string, root: string, home: string, sessionId: string, stepId: string): Promise<ScrollResult> {
  // Required at run time: bundled, playwright-core cannot find its own package.json.
  const { chromium } = createRequire(import.meta.url)('playwright-core') as typeof import('playwright-core');
  const server = await startServe(cli, root, home);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage({ viewport: { width: 1500, height: 920 } });
    await page.goto(server.url);
    await page.locator(`[data-testid="session-item"][data-session-id="${sessionId}"]`).click();
    await page.locator(`[data-testid="step"][data-step-id="${stepId}"]`).waitFor({ state: 'visible', timeout: 120_000 });
    // A list with every step's details in (a paged open's last page folded), as a reviewer scrolls it.
    await allDetailsIn(page);
    return await page.evaluate(async (positions) => {
      const el = document.querySelector('[data-testid="step-list"]')!;
      const twoFrames = () => new Promise<void>((r) => requestAnimationFrame(() => requestAnimationFrame(() => r())));
      const out = { scrolled: [] as number[], idle: [] as number[], maxRows: 0 };
      for (let i = 0; i <= positions; i++) {
        let t = performance.now();
        await twoFrames();
        out.idle.push(performance.now() - t);
        t = performance.now();
        el.scrollTop = (el.scrollHeight * i) / positions;
        await twoFrames();
        out.scrolled.push(performance.now() - t);
        out.maxRows = Math.max(out.maxRows, document.querySelectorAll('[data-testid="step"]').length);
      }
      return out;
    }, POSITIONS);
  } finally {
    await browser.close();
    await server.stop();
  }
}

export function describeScroll(r: ScrollResult, steps: number): { value: number; baseline: number; note: string } {
  const f = (n: number) => `${n.toFixed(0)} ms`;
  return {
    value: median(r.scrolled),
    baseline: median(r.idle),
    note: `${r.scrolled.length} jumps over the ${steps}-step list (p95 ${f(percentile(r.scrolled, 0.95))}, max ${f(Math.max(...r.scrolled))}), at most ${r.maxRows} step rows in the page; baseline: two frames with nothing scrolled (p95 ${f(percentile(r.idle, 0.95))})`,
  };
}
