// The open row in the real page: `apollo serve` on the generated workspace and the
// built renderer in Chromium; from the click on the session in the list until its
// newest step is on screen, with the memory both sides hold once it is.
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { CHROMIUM, CHROMIUM_ARGS, startServe } from './browser';

export interface PageOpenResult {
  /** Click to the newest step visible. */
  ms: number;
  /** RSS of the serve process with the session open. */
  serverRssMb: number;
  /** RSS of the page's renderer process(es), and its JS heap after a collection. */
  rendererRssMb: number;
  rendererHeapMb: number;
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
}

/** Chromium's renderer processes descending from `root`. */
function rendererPids(root: number): number[] {
  const parent = new Map<number, number>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      // pid (comm) state ppid …: comm may hold spaces, so read after its closing parenthesis.
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      parent.set(Number(d), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      /* gone meanwhile */
    }
  }
  const under = (pid: number): boolean => {
    for (let p = parent.get(pid); p !== undefined && p > 1; p = parent.get(p)) if (p === root) return true;
    return false;
  };
  return [...parent.keys()].filter((pid) => {
    if (!under(pid)) return false;
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('--type=renderer');
    } catch {
      return false;
    }
  });
}

/** Open `sessionId` from the session list and wait for `stepId` (the newest step of the branch it opens on) to be visible. */
export async function openInPage(cli: string, root: string, home: string, sessionId: string, stepId: string): Promise<PageOpenResult> {
  // Required at run time: bundled, playwright-core cannot find its own package.json.
  const { chromium } = createRequire(import.meta.url)('playwright-core') as typeof import('playwright-core');
  const server = await startServe(cli, root, home);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage({ viewport: { width: 1500, height: 920 } });
    await page.goto(server.url);
    const item = page.locator(`[data-testid="session-item"][data-session-id="${sessionId}"]`);
    await item.waitFor();
    const t0 = performance.now();
    await item.click();
    await page.locator(`[data-testid="step"][data-step-id="${stepId}"]`).waitFor({ state: 'visible', timeout: 120_000 });
    const ms = performance.now() - t0;
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('HeapProfiler.collectGarbage');
    const heap = (await cdp.send('Runtime.getHeapUsage')) as { usedSize: number };
    // Chromium is a child of this process: its renderers are among our descendants.
    const rendererRssMb = rendererPids(process.pid).reduce((n, p) => n + rssMb(p), 0);
    return { ms, serverRssMb: rssMb(server.proc.pid!), rendererRssMb, rendererHeapMb: heap.usedSize / 1024 / 1024 };
  } finally {
    await browser.close();
    await server.stop();
  }
}
