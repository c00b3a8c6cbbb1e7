// A 2,500-step session (the size of a real 48-hour InnovatorBench run) opens quickly
// and the trajectory stays windowed: only the rows near the viewport are in the DOM,
// whatever the scroll position, and keyboard navigation stays responsive.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { Workspace } from '../../electron/core/store/workspace';
import { screenshot, startServerAndBrowser, type Server } from './harness';

const N = 2500;

let home: string;
let browser: Browser;
let server: Server;

/** A long recorded session: N steps on main, guidance and comments sprinkled in, a 10-step branch at step 1200. */
async function writeBigSession(dir: string): Promise<void> {
  const ws = await Workspace.open(dir);
  const s = await ws.create({ name: `big ${N} steps`, cwd: tmpdir() });
  const pending: Promise<unknown>[] = [];
  const add = (...a: Parameters<typeof s.append>) => pending.push(s.append(...a));
  const rolloutId = randomUUID();
  add({ type: 'rollout.started', rolloutId, branchId: 'main', task: 'Train a ResNet on CIFAR-10 to 94%.', endpoint: { profile: 'glm', baseUrl: 'http://gpu-box:8000/v1', model: 'glm-4.5' }, policy: 'model', maxSteps: 5000, parentStepId: null });
  const ids: string[] = [];
  let parent: string | null = null;
  for (let i = 1; i <= N; i++) {
    const id = randomUUID();
    ids.push(id);
    const cmd = i % 7 === 0 ? `python train.py --epochs ${i % 30} --lr 0.0${i % 9}` : `tail -n 50 logs/run_${i}.log`;
    add({ type: 'step.started', stepId: id, parentId: parent, branchId: 'main', depth: i, rolloutId });
    add({
      type: 'model.response', stepId: id, content: `Step ${i}: ${i % 3 ? 'checking progress.' : 'The loss plateaued; lower the learning rate and resume from the last checkpoint, then compare validation accuracy with the baseline.'}`,
      reasoning: i % 4 === 0 ? `The scheduler warm-up looks too short at step ${i}.` : '', toolCalls: [{ id: `c${i}`, name: 'run_command', arguments: JSON.stringify({ session_id: 'main', command: cmd }) }],
      usage: { promptTokens: 20_000 + i * 30, completionTokens: 120, totalTokens: 20_120 + i * 30 }, finishReason: 'tool_calls', durationMs: 900,
    });
    add({
      type: 'action.result', stepId: id, toolCallId: `c${i}`, name: 'run_command', isError: i % 11 === 0, durationMs: 1200,
      observation: JSON.stringify({ success: true, message: `Command executed in 1.2 seconds.`, exit_code: i % 11 === 0 ? 1 : 0, output: `epoch ${i % 30}: loss=${(2 / (1 + i / 100)).toFixed(4)}\nsaved ckpt_${i}.pt` }),
    });
    add({ type: 'step.finished', stepId: id, promptTokens: 20_000 + i * 30 });
    if (i % 250 === 0) {
      const guidanceId = randomUUID();
      add({ type: 'guidance.queued', guidanceId, text: `Keep the batch size at 256 (step ${i}).`, author: 'ada', branchId: 'main' });
      add({ type: 'guidance.delivered', guidanceId, stepId: id });
    }
    if (i % 400 === 0) add({ type: 'comment.added', commentId: randomUUID(), stepId: id, text: 'Reviewed up to here.', author: 'ada' });
    parent = id;
  }
  add({ type: 'branch.created', branchId: 'b-alt', fromStepId: ids[1199]!, name: 'lower-lr', author: 'ada', reason: 'branch' });
  let bp = ids[1199]!;
  for (let i = 1201; i <= 1210; i++) {
    const id = randomUUID();
    add({ type: 'step.started', stepId: id, parentId: bp, branchId: 'b-alt', depth: i, rolloutId });
    add({ type: 'model.response', stepId: id, content: 'Alternative with lr 0.01.', reasoning: '', toolCalls: [{ id: `b${i}`, name: 'run_command', arguments: JSON.stringify({ session_id: 'main', command: `python train.py --lr 0.01 # ${i}` }) }], usage: null, finishReason: 'tool_calls', durationMs: 500 });
    add({ type: 'step.finished', stepId: id, promptTokens: 1000 });
    bp = id;
  }
  add({ type: 'rollout.state', rolloutId, state: 'stopped', reason: `max steps reached (${N})` });
  await Promise.all(pending);
  await ws.close();
}

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'apollo-e2e-large-'));
  ({ server, browser } = await startServerAndBrowser(home, { prepare: () => writeBigSession(home) }));
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
  await rm(home, { recursive: true, force: true });
});

describe('a 2,500-step trajectory', () => {
  it('opens and renders only the visible rows', async () => {
    const page = await browser.newPage({ viewport: { width: 1500, height: 920 } });
    await page.goto(server.url);
    await page.getByTestId('session-item').filter({ hasText: `big ${N}` }).waitFor();
    // Every step row put in the page while it opens (in the page, as a string: this file
    // is compiled without the DOM library): opened at its end, the list makes the end's
    // rows once, not a first window thrown away and made again in the same frame.
    await page.evaluate(`(() => {
      window.stepRowsAdded = [];
      new MutationObserver((ms) => {
        for (const m of ms) for (const n of m.addedNodes) {
          if (!(n instanceof Element)) continue;
          for (const r of [n, ...n.querySelectorAll('[data-testid="step"]')]) if (r.matches('[data-testid="step"]')) window.stepRowsAdded.push(r.getAttribute('data-depth'));
        }
      }).observe(document.body, { childList: true, subtree: true });
    })()`);
    // How long the open takes is a bench row (electron/bench/open-page.ts), not a bound here.
    await page.getByTestId('session-item').filter({ hasText: `big ${N}` }).click();
    await page.locator(`[data-testid="step"][data-depth="${N}"]`).waitFor();
    const added = (await page.evaluate('window.stepRowsAdded')) as string[];
    // A row or two more as the window learns the list's real height; a second window would be as many again.
    expect(added.length).toBeLessThanOrEqual(new Set(added).size + 3);
    expect(Math.min(...added.map(Number))).toBeGreaterThan(N - 80);
    const rows = await page.locator('[data-testid="step"]').count();
    expect(rows).toBeGreaterThan(5);
    expect(rows).toBeLessThan(80);
    await screenshot(page, 'traj-large.png');

    // Jump around the whole list: the window follows (the rows of each place are there)
    // and stays small. How long a jump takes is a bench row (electron/bench/scroll-page.ts).
    // In the page (a string: this file is compiled without the DOM library). Once every
    // step's details are in (a paged open): the rows still loading are shorter, so the
    // middle of the list's height is not its middle step until then.
    await page.waitForFunction(() => performance.getEntriesByName('apollo:open:complete').length > 0, null, { timeout: 30_000, polling: 50 });
    const frames = (await page.evaluate(`(async () => {
      const el = document.querySelector('[data-testid="step-list"]');
      const out = [];
      for (let i = 0; i <= 40; i++) {
        el.scrollTop = (el.scrollHeight * i) / 40;
        await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
        const depths = [...document.querySelectorAll('[data-testid="step"]')].map((r) => Number(r.getAttribute('data-depth')));
        out.push({ rows: depths.length, min: Math.min(...depths), max: Math.max(...depths) });
      }
      return out;
    })()`)) as Array<{ rows: number; min: number; max: number }>;
    expect(Math.max(...frames.map((f) => f.rows))).toBeLessThan(80);
    // Each window holds the steps at its place in the list: first, middle and last.
    expect(frames[0]!.min).toBe(1);
    expect(frames[20]!.min).toBeLessThan(N / 2 + 80);
    expect(frames[20]!.max).toBeGreaterThan(N / 2 - 80);
    expect(frames[40]!.max).toBe(N);

    // Keyboard: from the first step, 40 × j lands on step 41 and keeps it in view.
    await page.keyboard.press('Escape');
    await page.getByTestId('step-list').focus();
    await page.keyboard.press('g');
    for (let i = 0; i < 40; i++) await page.keyboard.press('j');
    const sel = page.locator('[data-testid="step"][data-selected="true"]');
    await expect(sel.getAttribute('data-depth')).resolves.toBe('41');
    expect(await sel.isVisible()).toBe(true);

    // Compact rows: one line per step, so more of them fit.
    await page.getByTestId('compact-rows').click();
    await expect.poll(() => page.locator('[data-testid="step"] [data-testid="toggle-thought"]').count()).toBe(0);
    await screenshot(page, 'traj-large-compact.png');
    await page.getByTestId('compact-rows').click();

    // Everything expanded is still windowed.
    await page.getByTestId('expand-thoughts').click();
    await page.getByTestId('expand-observations').click();
    // Two frames after the jump the window has re-rendered (as in the loop above).
    const middle = (await page.evaluate(`(async () => {
      const el = document.querySelector('[data-testid="step-list"]');
      el.scrollTop = el.scrollHeight / 2;
      await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
      return [...document.querySelectorAll('[data-testid="step"]')].map((r) => Number(r.getAttribute('data-depth')));
    })()`)) as number[];
    expect(middle.length).toBeGreaterThan(0);
    expect(middle.length).toBeLessThan(60);
    expect(Math.min(...middle)).toBeGreaterThan(1);
    await screenshot(page, 'traj-large-expanded.png');

    // The branch at step 1200 shows its own path: 1,210 steps. The selected step
    // (41) is shared, so it stays selected; G goes to the branch's last step.
    await page.getByTestId('branch-select').selectOption('b-alt');
    await expect(sel.getAttribute('data-depth')).resolves.toBe('41');
    await page.getByTestId('step-list').focus();
    await page.keyboard.press('G');
    await page.locator('[data-testid="step"][data-depth="1210"][data-selected="true"]').waitFor();
    await expect(page.locator('[data-testid="step"][data-depth="1201"] [data-testid="branch-start"]').innerText()).resolves.toContain('lower-lr');
    await screenshot(page, 'traj-large-branch.png');
    await page.close();
  });
});
