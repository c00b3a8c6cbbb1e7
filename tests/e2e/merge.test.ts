// The Merge view end to end (issue 12, item 5): two annotators label copies of one
// session differently with `apollo label` and export signed bundles with `apollo
// export`; a lead opens the Merge view in Chromium, adds both bundles by path, reads
// the dry run's report (agreement table, chart), steps through the conflicts with the
// step's action and observation on screen, settles them from the keyboard under the
// manual policy, writes the merged bundle, and the manifest records the settlements.
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, launchBrowser, requireBuild, screenshot, startServer, type Server } from './harness';
import { ok, run, SessionBuilder } from '../fixtures/sessions';

const SESSION = 'lab-merge';

let root: string;
let lead: string;
let server: Server;
let browser: Browser;
let page: Page;
const bundles = { alice: '', bob: '' };

const apollo = (args: string[]) => runCli(args, { APOLLO_ANNOTATOR: '' });

async function cli(args: string[]): Promise<void> {
  const r = await apollo(args);
  if (r.code !== 0) throw new Error(`apollo ${args.join(' ')} exited ${r.code}:\n${r.out}`);
}

/** The same recorded session in a workspace of its own (each annotator's copy). */
async function seed(home: string): Promise<void> {
  const b = new SessionBuilder({ name: 'Lab merge' });
  b.rollout({ task: 'Build the lab report' });
  b.step({ content: 'List the data first.', calls: [run('ls data/')], results: [ok('results.csv  notes.txt')] });
  b.step({ content: 'Count the rows of MARK-TWO.', calls: [run('wc -l data/results.csv')], results: [ok('4212 data/results.csv (MARK-TWO)')] });
  b.step({ content: 'Look at it again.', calls: [run('wc -l data/results.csv')], results: [ok('4212 data/results.csv (MARK-THREE)')] });
  b.step({ calls: [{ name: 'finish', args: { summary: 'report written' } }], results: [ok()] });
  const dir = join(home, 'sessions', SESSION);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'events.jsonl'), b.events.map((e) => JSON.stringify(e)).join('\n') + '\n');
}

async function annotatorBundle(name: string, labels: Array<string[]>): Promise<string> {
  const home = join(root, `home-${name}`);
  await seed(home);
  for (const l of labels) await cli(['label', SESSION, ...l, '--annotator', name, '--home', home]);
  const out = join(root, 'bundles', name);
  await cli(['export', SESSION, '--out', out, '--format', 'openai,sharegpt,mistral,trajectory', '--home', home]);
  return out;
}

beforeAll(async () => {
  requireBuild();
  root = await mkdtemp(join(tmpdir(), 'apollo-e2e-merge-'));
  lead = join(root, 'home-lead');
  // Each annotator works in a workspace of their own, so their CLI runs, the lead's
  // server and the browser start side by side (each kept as it comes, for afterAll).
  await Promise.all([
    // Step 2: Alice keeps, Bob masks (a note says why); step 3: Alice masks as a repeat, Bob keeps.
    annotatorBundle('alice', [['--keep', '1,2,4'], ['--mask', '3', '--tag', 'redundant', '--note', 'same command twice']]).then((b) => (bundles.alice = b)),
    annotatorBundle('bob', [['--keep', '1,3,4'], ['--mask', '2', '--tag', 'error', '--note', 'counted the wrong file <sic>']]).then((b) => (bundles.bob = b)),
    startServer(lead).then((s) => (server = s)),
    launchBrowser().then((b) => (browser = b)),
  ]);
  page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
  page.on('pageerror', (e) => console.error('[page error]', e));
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
  if (root) await rm(root, { recursive: true, force: true });
});

const attr = async (testId: string, name: string): Promise<string | null> => page.getByTestId(testId).getAttribute(name);

describe('the Merge view', () => {
  it('plans, shows the report and the conflicts, settles them from the keyboard and writes the merged bundle', async () => {
    await page.goto(server.url);
    await page.getByTestId('merge-open').click();
    await page.getByTestId('merge-view').waitFor();

    // A folder that is not a bundle: the dry run says so, naming it.
    await page.getByTestId('merge-path').fill(join(root, 'nowhere'));
    await page.getByTestId('merge-add').click();
    await expect.poll(async () => (await page.getByTestId('merge-plan-error').textContent()) ?? '', { timeout: 15_000 }).toMatch(/nowhere does not exist/);
    await page.getByRole('button', { name: `Remove ${join(root, 'nowhere')}` }).click();

    // Both bundles pasted at once, one per line.
    await page.getByTestId('merge-path').fill(`${bundles.alice}\n${bundles.bob}`);
    await page.getByTestId('merge-add').click();
    await page.getByTestId('merge-policy-manual').click();
    const report = page.getByTestId('merge-report');
    await expect.poll(() => report.getAttribute('data-state'), { timeout: 15_000 }).toBe('ready');
    expect(await page.getByTestId('merge-input').count()).toBe(2);
    expect(await page.getByTestId('merge-input-signer').first().textContent()).toMatch(/signed by/);
    expect(await attr('merge-summary', 'data-conflicts')).toBe('2');
    expect(await attr('merge-summary', 'data-unsettled')).toBe('2');
    // Agreement on the four actions both labelled: they agree on 2 of them.
    expect(await attr('merge-agreement', 'data-items')).toBe('4');
    expect(await page.getByTestId('merge-pair').first().textContent()).toMatch(/alice – bob\s*4\s*2\s*50%/);
    expect(await page.getByTestId('merge-chart').locator('g').count()).toBe(2);
    expect(await page.getByTestId('merge-write').isDisabled()).toBe(true);

    // The first conflict: both labels with tags and notes, and the step itself.
    const conflict = page.getByTestId('merge-conflict');
    expect(await page.getByTestId('merge-conflict-count').textContent()).toBe('Conflict 1 of 2');
    expect(await conflict.getByTestId('merge-vote').count()).toBe(2);
    expect(await conflict.locator('[data-annotator="bob"] [data-testid="merge-vote-note"]').textContent()).toBe('counted the wrong file <sic>');
    expect(await conflict.locator('[data-annotator="bob"]').textContent()).toContain('error');
    expect(await conflict.getByTestId('merge-step-content').textContent()).toBe('Count the rows of MARK-TWO.');
    expect(await conflict.getByTestId('merge-step-call').textContent()).toContain('wc -l data/results.csv');
    expect(await conflict.getByTestId('merge-step-observation').textContent()).toContain('4212 data/results.csv (MARK-TWO)');
    await screenshot(page, 'merge-1280x720.png');

    // Keyboard: a keeps and moves on; m masks; u takes the last decision back; j/k move.
    const stepTwo = await conflict.getAttribute('data-step-id');
    await page.locator('body').click({ position: { x: 5, y: 5 } });
    await page.keyboard.press('a');
    await expect.poll(() => conflict.getAttribute('data-index')).toBe('1');
    expect(await conflict.getByTestId('merge-step-content').textContent()).toBe('Look at it again.');
    await page.keyboard.press('m');
    await expect.poll(() => attr('merge-decided', 'data-decided')).toBe('2');
    await page.keyboard.press('u');
    await expect.poll(() => attr('merge-decided', 'data-decided')).toBe('1');
    expect(await conflict.getAttribute('data-settled')).toBe('');
    await page.keyboard.press('m');
    await page.keyboard.press('k');
    await expect.poll(() => conflict.getAttribute('data-index')).toBe('0');
    expect(await conflict.getAttribute('data-step-id')).toBe(stepTwo);
    expect(await conflict.getAttribute('data-settled')).toBe('keep');

    // Planned again with the decisions: nothing left to settle; write.
    await expect.poll(async () => `${await report.getAttribute('data-state')}/${await attr('merge-summary', 'data-unsettled')}`, { timeout: 15_000 }).toBe('ready/0');
    const out = join(root, 'merged');
    await page.getByTestId('merge-out').fill(out);
    await page.getByTestId('merge-write').click();
    await expect.poll(() => attr('merge-job', 'data-state'), { timeout: 30_000 }).toBe('done');
    expect(await page.getByTestId('merge-dir').textContent()).toBe(out);
    expect(await page.getByTestId('merge-progress').getAttribute('aria-valuenow')).toBe('100');
    // And it looks full.
    const bar = page.getByTestId('merge-progress');
    await expect.poll(async () => Math.round(((await bar.locator('span').boundingBox())!.width / (await bar.boundingBox())!.width) * 100)).toBe(100);

    const manifest = JSON.parse(await readFile(join(out, 'manifest.json'), 'utf8')) as {
      merge: { policy: { kind: string }; conflicts: Array<{ stepId: string; decision: string; settledBy: string; votes: Array<{ annotator: string; label: string; note: string }> }> };
      files: Array<{ path: string }>;
    };
    expect(manifest.merge.policy).toEqual({ kind: 'manual' });
    const settled = Object.fromEntries(manifest.merge.conflicts.map((c) => [c.stepId, `${c.decision} (${c.settledBy})`]));
    expect(settled[stepTwo!]).toBe('keep (manual)');
    expect(Object.values(settled).sort()).toEqual(['keep (manual)', 'mask (manual)']);
    expect(manifest.files.map((f) => f.path)).toEqual(expect.arrayContaining(['merge-report.html', 'merge-report.json']));
    expect((await stat(join(out, 'manifest.sig'))).isFile()).toBe(true);

    await page.setViewportSize({ width: 1400, height: 900 });
    await screenshot(page, 'merge-1400x900.png');
  });

  it('in a browser: a dropped path is added; a dropped folder the browser gives no path for says to paste it', async () => {
    const p = await browser.newPage({ viewport: { width: 1280, height: 720 } });
    try {
      await p.goto(server.url);
      await p.getByTestId('merge-open').click();
      const view = p.getByTestId('merge-view');
      await view.waitFor();
      // No way to drag real files here: the events Chromium fires for a drop, with its DataTransfer.
      const drop = async (dt: Awaited<ReturnType<Page['evaluateHandle']>>): Promise<void> => {
        await view.dispatchEvent('dragover', { dataTransfer: dt });
        await expect.poll(() => view.getAttribute('class')).toContain('mv-dragging');
        await view.dispatchEvent('drop', { dataTransfer: dt });
      };
      await drop(await p.evaluateHandle((paths) => {
        const d = new DataTransfer();
        d.setData('text/plain', paths);
        return d;
      }, `${bundles.alice}\n${bundles.bob}`));
      await expect.poll(() => p.getByTestId('merge-input').evaluateAll((els) => els.map((e) => e.getAttribute('data-path')))).toEqual([bundles.alice, bundles.bob]);
      expect(await view.getAttribute('class')).not.toContain('mv-dragging');
      await drop(await p.evaluateHandle(() => {
        const d = new DataTransfer();
        d.items.add(new File(['x'], 'carol'));
        return d;
      }));
      await expect.poll(async () => (await view.textContent()) ?? '').toContain('This browser does not say where a dropped folder is');
      expect(await p.getByTestId('merge-input').count()).toBe(2);
      // No OS folder picker in a browser: the path box is the way in.
      expect(await p.getByTestId('merge-pick').count()).toBe(0);
    } finally {
      await p.close();
    }
  });

  it('in the desktop app: the folder picker and dropped folders add bundles; trusted keys and earlier settlements apply', async () => {
    // The desktop preload's bridge, over this host's WebSocket; the main process's folder
    // dialog answers merge.pickFolders, and webUtils.getPathForFile names dropped files.
    const p = await browser.newPage({ viewport: { width: 1280, height: 720 } });
    const token = new URL(server.url).searchParams.get('token')!;
    await p.addInitScript(({ ws, picked, dropped }) => {
      const sock = new WebSocket(ws);
      const queue: string[] = [];
      const listeners: Array<(m: unknown) => void> = [];
      const w = window as unknown as { apolloBridge: unknown; pickCalls: number };
      w.pickCalls = 0;
      sock.addEventListener('open', () => queue.splice(0).forEach((m) => sock.send(m)));
      sock.addEventListener('message', (ev) => listeners.forEach((cb) => cb(JSON.parse(String(ev.data)))));
      w.apolloBridge = {
        send(msg: { kind: string; id: number; cmd: string }) {
          if (msg.cmd === 'merge.pickFolders') {
            w.pickCalls++;
            setTimeout(() => listeners.forEach((cb) => cb({ kind: 'res', id: msg.id, ok: true, result: { paths: picked } })), 0);
            return;
          }
          const text = JSON.stringify(msg);
          if (sock.readyState === WebSocket.OPEN) sock.send(text);
          else queue.push(text);
        },
        onMessage: (cb: (m: unknown) => void) => listeners.push(cb),
        pathForFile: (f: File) => (dropped as Record<string, string>)[f.name] ?? '',
      };
    }, { ws: `${server.url.replace(/^http/, 'ws').replace(/\/\?.*$/, '')}/ws?token=${encodeURIComponent(token)}`, picked: [bundles.alice], dropped: { bob: bundles.bob } });
    try {
      await p.goto(server.url.replace(/\?.*$/, ''));
      await p.getByTestId('merge-open').click();
      const view = p.getByTestId('merge-view');
      await view.waitFor();
      expect(await p.getByTestId('merge-path').getAttribute('placeholder')).toContain('or drop folders here');
      await p.getByTestId('merge-pick').click();
      await expect.poll(() => p.getByTestId('merge-input').evaluateAll((els) => els.map((e) => e.getAttribute('data-path')))).toEqual([bundles.alice]);
      expect(await p.evaluate(() => (window as unknown as { pickCalls: number }).pickCalls)).toBe(1);
      const dt = await p.evaluateHandle(() => {
        const d = new DataTransfer();
        d.items.add(new File(['x'], 'bob'));
        return d;
      });
      await view.dispatchEvent('drop', { dataTransfer: dt });
      await expect.poll(() => p.getByTestId('merge-input').evaluateAll((els) => els.map((e) => e.getAttribute('data-path')))).toEqual([bundles.alice, bundles.bob]);

      // Trusted keys: with only Alice's, Bob's bundle is refused; with both, each is named trusted.
      const trustAlice = join(root, 'trust-alice.jsonl');
      const trustBoth = join(root, 'trust-both.jsonl');
      const line = async (who: string) => (await apollo(['keys', 'export-public', '--annotator', who, '--home', join(root, `home-${who}`)])).out.trim();
      const [alice, bob] = await Promise.all([line('alice'), line('bob')]);
      await writeFile(trustAlice, `${alice}\n`);
      await writeFile(trustBoth, `${alice}\n${bob}\n`);
      await p.getByTestId('merge-trust').fill(trustAlice);
      await expect.poll(async () => (await p.getByTestId('merge-plan-error').textContent().catch(() => '')) ?? '', { timeout: 15_000 }).toContain(bundles.bob);
      await p.getByTestId('merge-trust').fill(trustBoth);
      const report = p.getByTestId('merge-report');
      await expect.poll(() => report.getAttribute('data-state'), { timeout: 15_000 }).toBe('ready');
      expect(await p.getByTestId('merge-input-signer').allTextContents()).toEqual([expect.stringMatching(/signed by alice \(trusted\)/), expect.stringMatching(/signed by bob \(trusted\)/)]);

      // Manual, with the settlements of the merge written in the first test: nothing left to settle.
      await p.getByTestId('merge-policy-manual').click();
      await expect.poll(async () => `${await report.getAttribute('data-state')}/${await p.getByTestId('merge-summary').getAttribute('data-unsettled')}`, { timeout: 15_000 }).toBe('ready/2');
      await p.getByTestId('merge-settlements-from').fill(join(root, 'merged'));
      await expect.poll(async () => `${await report.getAttribute('data-state')}/${await p.getByTestId('merge-summary').getAttribute('data-unsettled')}`, { timeout: 15_000 }).toBe('ready/0');
      expect(await p.getByTestId('merge-write').isDisabled()).toBe(false);
      expect(await p.getByTestId('merge-decided').getAttribute('data-earlier')).toBe('2');
      expect(await p.getByTestId('merge-decision').textContent()).toMatch(/^Settled in an earlier merge: keep/);
      await screenshot(p, 'merge-desktop-1280x720.png');
    } finally {
      await p.close();
    }
  });
});
