// The filter view end to end: the seeded sample session (8 actions) labelled from
// the keyboard, a bulk mask, rules previewed and applied, coverage, and an export
// whose OpenAI JSONL gives the masked actions weight 0.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Locator, Page } from 'playwright-core';
import { screenshot, startServerAndBrowser, type Server } from './harness';
import { failed, ok, run, SessionBuilder } from '../fixtures/sessions';

let home: string;
let browser: Browser;
let server: Server;
let page: Page;


beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'apollo-e2e-filter-'));
  const prepare = async () => {
    await writeBigSession(home, BIG_STEPS);
    judgeUrl = await startJudge();
    // An endpoint profile for the judge, in the workspace settings the host reads at start.
    await writeFile(
      join(home, 'workspace.json'),
      JSON.stringify({ version: 1, sessions: {}, settings: { profiles: [{ name: 'judge-local', baseUrl: judgeUrl, model: 'judge-model' }] } }),
    );
  };
  ({ server, browser } = await startServerAndBrowser(home, { prepare }));
  page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  page.on('pageerror', (e) => console.error('[page error]', e));
});
afterAll(async () => {
  await new Promise<void>((r) => (judge ? judge.close(() => r()) : r()));
  await page?.close();
  await server?.stop();
  await browser?.close();
  await rm(home, { recursive: true, force: true });
});

// A scripted judge behind an OpenAI-compatible endpoint: masks the actions whose
// observation says "exit code 2", keeps the rest; answers 500 while `judgeDown`.
let judge: HttpServer | undefined;
let judgeUrl = '';
let judgeDown = false;
let judgeRequests = 0;

async function startJudge(): Promise<string> {
  judge = createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString('utf8')));
    req.on('end', () => {
      judgeRequests++;
      if (judgeDown) {
        res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: 'judge overloaded' } }));
        return;
      }
      const body = JSON.parse(raw) as { model: string; messages: Array<{ role: string; content: string }> };
      const user = body.messages.filter((m) => m.role === 'user').map((m) => m.content).join('\n');
      const blocks = user.split(/^### Action /m).slice(1);
      const results = blocks.map((b) => {
        const id = b.split(/\s/, 1)[0]!;
        return /exit code 2/.test(b)
          ? { stepId: id, label: 'mask', tags: ['error'], rationale: 'The command failed on a typo and was retried.' }
          : { stepId: id, label: 'keep', tags: [], rationale: 'Useful progress toward the report.' };
      });
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          id: 'chatcmpl-judge', object: 'chat.completion', created: 0, model: body.model,
          choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant', content: JSON.stringify({ results }) } }],
          usage: { prompt_tokens: 1000, completion_tokens: 100, total_tokens: 1100 },
        }),
      );
    });
  });
  await new Promise<void>((r) => judge!.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(judge!.address() as AddressInfo).port}/v1`;
}

const BIG_STEPS = 2500;
const BIG_ID = 'big-rollout';

/** A 2,500-action session (InnovatorBench scale), copied into the workspace before the host starts. */
async function writeBigSession(dir: string, n: number): Promise<void> {
  const b = new SessionBuilder({ name: 'Big rollout (2,500 actions)', tickMs: 20_000 });
  b.rollout({ task: 'Reproduce the paper and tune the learning rate.' });
  const out = 'epoch 3/10 loss=0.4213 acc=0.8812\n'.repeat(60);
  for (let i = 1; i <= n; i++) {
    const kind = i % 7;
    const id = b.step({
      content: i % 3 === 0 ? `Step ${i}: checking the run.` : '',
      reasoning: i % 5 === 0 ? 'The loss plateaus; look at the schedule.' : '',
      calls: [kind === 3 ? { name: 'get_session_output', args: { session_id: 'train', start_lines: 50 } } : run(i === 1234 ? 'grep -rn needle src/' : `python train.py --lr 3e-4 --seed ${i}`)],
      results: [kind === 5 ? failed(`Traceback (most recent call last):\nRuntimeError: CUDA out of memory (step ${i})`) : ok(JSON.stringify({ success: true, exit_code: 0, output: out }))],
    });
    if (i % 50 === 0) b.label(id, 'mask', { source: 'rule', rule: 'failed-retry', tags: ['error'], note: 'retried' });
    if (i % 80 === 0) b.label(id, 'keep', { source: 'judge', rationale: 'Useful progress.' });
  }
  const sdir = join(dir, 'sessions', BIG_ID);
  await mkdir(sdir, { recursive: true });
  await writeFile(join(sdir, 'events.jsonl'), b.events.map((e) => JSON.stringify(e)).join('\n') + '\n');
}

/** The row of step number n. */
const row = (n: number): Locator => page.locator(`[data-testid="filter-row"][data-n="${n}"]`);

async function expectRow(n: number, label: string, source: string): Promise<void> {
  await expect.poll(async () => `${await row(n).getAttribute('data-label')}/${await row(n).getAttribute('data-source')}`, { timeout: 10_000 }).toBe(`${label}/${source}`);
  // Settled: the label came back from the host's log, not only from the optimistic overlay.
  await expect.poll(() => row(n).getAttribute('data-pending'), { timeout: 10_000 }).toBe('false');
}

async function coverage(): Promise<{ reviewed: number; annotator: number; auto: number; total: number }> {
  const c = page.getByTestId('coverage');
  return {
    reviewed: Number(await c.getAttribute('data-reviewed')),
    annotator: Number(await c.getAttribute('data-annotator')),
    auto: Number(await c.getAttribute('data-auto')),
    total: Number(await c.getAttribute('data-total')),
  };
}

describe('filter view', () => {
  it('labels the sample from the keyboard, applies rules, and exports weight 0 for masked actions', async () => {
    await page.goto(server.url);
    await page.getByTestId('session-item').filter({ hasText: /sales report/i }).click();
    await page.getByTestId('view-filter').click();
    await page.getByTestId('filter-panel').waitFor();
    await expect.poll(() => page.getByTestId('filter-row').count(), { timeout: 15_000 }).toBe(8);
    const stepIds: string[] = [];
    for (let n = 1; n <= 8; n++) stepIds.push((await row(n).getAttribute('data-step-id'))!);
    expect(await coverage()).toEqual({ reviewed: 0, annotator: 0, auto: 0, total: 8 });
    await screenshot(page, 'filter-1-open.png');

    // ---- keyboard: j selects the first action, a keeps (the cursor stays), j, a, u undoes, m masks
    await page.keyboard.press('j');
    await expect.poll(() => row(1).getAttribute('data-cursor')).toBe('true');
    await page.keyboard.press('a');
    await expectRow(1, 'keep', 'annotator');
    await expect(row(1).getAttribute('data-cursor')).resolves.toBe('true');
    await page.keyboard.press('j');
    await expect.poll(() => row(2).getAttribute('data-cursor')).toBe('true');
    await page.keyboard.press('a');
    await expectRow(2, 'keep', 'annotator');
    await page.keyboard.press('u');
    await expectRow(2, 'unreviewed', 'none');
    await expect.poll(() => row(2).getAttribute('data-cursor')).toBe('true');
    // The history keeps every change: set, then cleared by the undo.
    await expect.poll(() => page.getByTestId('label-history').getAttribute('data-count')).toBe('2');
    await page.keyboard.press('m');
    await expectRow(2, 'mask', 'annotator');
    await expectRow(1, 'keep', 'annotator');
    expect(await coverage()).toMatchObject({ reviewed: 2, annotator: 2 });

    // The undo button works like u.
    await row(8).click();
    await page.keyboard.press('m');
    await expectRow(8, 'mask', 'annotator');
    await page.getByTestId('label-undo').click();
    await expectRow(8, 'unreviewed', 'none');

    // ---- bulk: select steps 6 and 7 (click + Shift+↓), mask them together
    await row(6).click();
    await page.keyboard.press('Shift+ArrowDown');
    await expect.poll(() => page.locator('[data-testid="filter-row"][data-selected="true"]').count()).toBe(2);
    await expect(page.getByTestId('label-target').innerText()).resolves.toMatch(/2 selected/);
    await page.getByTestId('label-mask').click();
    await expectRow(6, 'mask', 'annotator');
    await expectRow(7, 'mask', 'annotator');
    await page.keyboard.press('Escape');
    await expect.poll(() => page.locator('[data-testid="filter-row"][data-selected="true"]').count()).toBe(0);
    // Shift+click selects a range too.
    await row(3).click();
    await row(5).click({ modifiers: ['Shift'] });
    await expect.poll(() => page.locator('[data-testid="filter-row"][data-selected="true"]').count()).toBe(3);
    await page.keyboard.press('Escape');
    expect(await coverage()).toEqual({ reviewed: 4, annotator: 4, auto: 0, total: 8 });
    await screenshot(page, 'filter-2-labelled.png');

    // Digits toggle reason tags on the action under the cursor; u takes it back.
    await row(6).click();
    await page.keyboard.press('2');
    await expect.poll(() => row(6).getByTestId('row-tag').allInnerTexts(), { timeout: 10_000 }).toEqual(['redundant']);
    await expectRow(6, 'mask', 'annotator');
    await page.keyboard.press('u');
    await expect.poll(() => row(6).getByTestId('row-tag').count(), { timeout: 10_000 }).toBe(0);

    // ---- tags and note on step 2 (t opens the editor; digits toggle tags)
    await row(2).click();
    await page.keyboard.press('t');
    await page.getByTestId('label-editor').waitFor();
    await page.keyboard.press('1'); // error
    await page.getByTestId('label-note').fill('typo in the file name');
    await screenshot(page, 'filter-2b-editor.png');
    await page.getByTestId('label-editor-save').click();
    await expect.poll(() => row(2).getByTestId('row-tag').allInnerTexts(), { timeout: 10_000 }).toEqual(['error']);
    await expectRow(2, 'mask', 'annotator');
    await expect(row(2).innerText()).resolves.toContain('typo in the file name');

    // ---- rules: preview counts, then apply; rule badges appear on steps 3-5
    await expect.poll(() => page.getByTestId('rule-count').count(), { timeout: 10_000 }).toBeGreaterThanOrEqual(3);
    await page.getByTestId('rules-preview').click();
    await expect.poll(() => page.locator('[data-testid="rule-count"][data-rule="failed-retry"]').getAttribute('data-count'), { timeout: 10_000 }).toBe('1');
    const counts: Record<string, number> = {};
    for (const el of await page.getByTestId('rule-count').all()) counts[(await el.getAttribute('data-rule'))!] = Number(await el.getAttribute('data-count'));
    expect(counts['failed-retry']).toBe(1);
    expect(counts['repeated-action']).toBe(1);
    expect(Object.values(counts).reduce((a, b) => a + b, 0)).toBe(3);
    await page.getByTestId('rules-apply').click();
    await expectRow(3, 'mask', 'rule');
    await expectRow(4, 'mask', 'rule');
    await expectRow(5, 'mask', 'rule');
    await expect(row(3).getByTestId('source-badge').innerText()).resolves.toBe('rule');
    // Annotator labels win over rules.
    await expectRow(2, 'mask', 'annotator');
    await expectRow(1, 'keep', 'annotator');
    expect(await coverage()).toEqual({ reviewed: 7, annotator: 4, auto: 3, total: 8 });
    await expect(page.getByTestId('coverage-text').innerText()).resolves.toBe('7 of 8 actions reviewed');

    // Filters: unreviewed shows step 8 only; source rule shows 3-5.
    await page.getByTestId('filter-label-select').selectOption('unreviewed');
    await expect.poll(() => page.getByTestId('filter-row').count()).toBe(1);
    await page.getByTestId('filter-label-select').selectOption('all');
    await page.getByTestId('filter-source-select').selectOption('rule');
    await expect.poll(() => page.getByTestId('filter-row').count()).toBe(3);
    await page.getByTestId('filter-source-select').selectOption('all');
    await expect.poll(() => page.getByTestId('filter-row').count()).toBe(8);

    // The detail pane shows the rule in the history of step 3.
    await row(3).click();
    await expect(page.getByTestId('label-history').innerText()).resolves.toMatch(/rule\s+failed-retry/);
    await screenshot(page, 'filter-3-rules.png');
    // Enter confirms the rule's label as the annotator's own (with its tags); u undoes that too.
    await page.keyboard.press('Enter');
    await expectRow(3, 'mask', 'annotator');
    await expect.poll(() => row(3).getByTestId('row-tag').allInnerTexts()).toEqual(['error']);
    expect(await coverage()).toEqual({ reviewed: 7, annotator: 5, auto: 2, total: 8 });
    await page.keyboard.press('u');
    await expectRow(3, 'mask', 'rule');
    expect(await coverage()).toEqual({ reviewed: 7, annotator: 4, auto: 3, total: 8 });

    // ---- export every format to a temp folder
    const out = join(home, 'exports', 'bundle-e2e');
    await page.getByTestId('export-open').click();
    await page.getByTestId('export-dialog').waitFor();
    for (const f of ['openai', 'sharegpt', 'trajectory', 'asciicast']) await expect(page.getByTestId(`export-format-${f}`).isChecked()).resolves.toBe(true);
    // Branches are chosen per session: ticking another session lists its own branches (all chosen by default).
    const bigBranch = page.locator(`[data-testid="export-branch"][data-session-id="${BIG_ID}"]`);
    await expect(bigBranch.count()).resolves.toBe(0);
    await page.locator(`[data-testid="export-session"][data-session-id="${BIG_ID}"]`).check();
    // Another session's log is read for its branches: under a loaded machine that takes a while.
    await expect.poll(() => bigBranch.count(), { timeout: 30_000 }).toBe(1);
    await expect(bigBranch.getAttribute('data-branch-id')).resolves.toBe('main');
    await expect(bigBranch.isChecked()).resolves.toBe(true);
    await page.locator(`[data-testid="export-session"][data-session-id="${BIG_ID}"]`).uncheck();
    await expect.poll(() => bigBranch.count()).toBe(0);
    await page.getByTestId('export-out').fill(out);
    await page.getByTestId('export-start').click();
    await page.getByTestId('export-progress').waitFor();
    await screenshot(page, 'filter-4-exporting.png');
    await page.getByTestId('export-result').waitFor({ timeout: 30_000 });
    await expect(page.getByTestId('export-progress').getAttribute('data-state')).resolves.toBe('done');
    await expect(page.getByTestId('export-dir').innerText()).resolves.toBe(out);
    await expect(page.getByTestId('export-masked').innerText()).resolves.toMatch(/^6 masked/);
    await screenshot(page, 'filter-5-exported.png');

    const files = await readdir(out);
    expect(files).toEqual(expect.arrayContaining(['openai.jsonl', 'sharegpt.jsonl', 'trajectory.jsonl', 'manifest.json', 'terminals']));
    const lines = (await readFile(join(out, 'openai.jsonl'), 'utf8')).trim().split('\n');
    expect(lines).toHaveLength(1);
    const rec = JSON.parse(lines[0]!) as { messages: Array<{ role: string; weight?: number }> };
    const weights = rec.messages.filter((m) => m.role === 'assistant').map((m) => m.weight);
    //            1  2  3  4  5  6  7  8
    expect(weights).toEqual([1, 0, 0, 0, 0, 0, 0, 1]);
    // Cross-check by step id in the full-fidelity file.
    const steps = (await readFile(join(out, 'trajectory.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { stepId?: string; id?: string; weight?: number | null })
      .filter((l) => l.weight !== undefined);
    const byId = new Map(steps.map((s) => [s.stepId ?? s.id, s.weight]));
    expect(stepIds.map((id) => byId.get(id))).toEqual([1, 0, 0, 0, 0, 0, 0, 1]);

    // Exporting to the same folder again fails clearly (the host checks when the job starts).
    await page.getByTestId('export-start').click();
    await expect
      .poll(async () => (await page.getByTestId('export-failed').or(page.getByTestId('export-error')).innerText().catch(() => '')), { timeout: 15_000 })
      .toMatch(/exists/);
    await screenshot(page, 'filter-6-export-error.png');
    await page.getByTestId('export-close').click();

    // Back to the live view and again: the state of the filter view is kept.
    await page.getByTestId('view-live').click();
    await page.getByTestId('trajectory-panel').waitFor();
    await screenshot(page, 'filter-0-live-tabs.png');
    await page.getByTestId('view-filter').click();
    await expectRow(3, 'mask', 'rule');
  });

  it('stays smooth with 2,500 actions: windowed rows, keyboard moves, bulk mask and undo of all', async () => {
    const started = Date.now();
    const mark = (what: string) => console.log(`[filter big] ${what} at ${Date.now() - started} ms`);
    if (!page.url().startsWith('http')) await page.goto(server.url);
    await page.getByTestId('session-item').filter({ hasText: /Big rollout/ }).click();
    await page.locator('h1', { hasText: 'Big rollout' }).waitFor({ timeout: 20_000 });
    await page.getByTestId('view-filter').click();
    await expect.poll(() => page.getByTestId('filter-panel').getAttribute('aria-label')).toMatch(/Big rollout/);
    await expect.poll(() => page.getByTestId('filter-count').getAttribute('data-total'), { timeout: 30_000 }).toBe(String(BIG_STEPS));
    mark('filter view open');
    // Only the rows in view are in the DOM.
    const inDom = await page.getByTestId('filter-row').count();
    expect(inDom).toBeGreaterThan(10);
    expect(inDom).toBeLessThan(120);
    const before = await coverage();
    expect(before.total).toBe(BIG_STEPS);
    expect(before.auto).toBe(50 + 31 - 6); // every 50th by a rule, every 80th by the judge (400, 800, … 2400 overlap)

    // 150 key presses move the cursor 150 rows, past the rows first in view: all in one task,
    // as a burst of keys can arrive before React renders, so each must move from where the
    // one before left the cursor, not from the last render (which stopped short of row 151).
    await page.locator('body').click({ position: { x: 5, y: 5 } }).catch(() => {});
    await page.keyboard.press('j');
    await page.evaluate(() => {
      for (let i = 0; i < 150; i++) document.body.dispatchEvent(new KeyboardEvent('keydown', { key: 'j', bubbles: true, cancelable: true }));
    });
    await expect.poll(() => row(151).getAttribute('data-cursor')).toBe('true');

    mark('moved');
    await page.keyboard.press('End');
    await expect.poll(() => row(BIG_STEPS).getAttribute('data-cursor')).toBe('true');
    await page.keyboard.press('g');
    await expect.poll(() => row(1).getAttribute('data-cursor')).toBe('true');

    mark('first/last');
    // Search narrows to the one action that mentions the needle.
    await page.keyboard.press('/');
    await page.keyboard.type('needle');
    await expect.poll(() => page.getByTestId('filter-count').getAttribute('data-shown')).toBe('1');
    await page.keyboard.press('Enter');
    await expect.poll(() => row(1234).getAttribute('data-cursor')).toBe('true');
    await page.getByTestId('filter-reset').click();
    await expect.poll(() => page.getByTestId('filter-count').getAttribute('data-shown')).toBe(String(BIG_STEPS));

    mark('searched');
    // Select everything and mask it in one go, then undo it all.
    let t0 = Date.now();
    await page.keyboard.press('Control+a');
    await expect(page.getByTestId('label-target').innerText()).resolves.toBe(`${BIG_STEPS} selected`);
    await page.keyboard.press('m');
    await expect.poll(async () => (await coverage()).annotator, { timeout: 30_000 }).toBe(BIG_STEPS);
    await expect.poll(() => row(1234).getAttribute('data-pending'), { timeout: 10_000 }).toBe('false');
    console.log(`filter view: masked ${BIG_STEPS} actions in ${Date.now() - t0} ms`);
    await screenshot(page, 'filter-7-big.png');
    t0 = Date.now();
    await page.keyboard.press('u');
    await expect.poll(async () => (await coverage()).annotator, { timeout: 30_000 }).toBe(0);
    console.log(`filter view: undid ${BIG_STEPS} labels in ${Date.now() - t0} ms`);
    expect(await coverage()).toEqual(before);
    await page.keyboard.press('Escape');

    // Cancel an export half way: nothing is left in the output folder.
    const out = join(home, 'exports', 'big-cancelled');
    await page.getByTestId('export-open').click();
    await page.getByTestId('export-out').fill(out);
    await page.getByTestId('export-start').click();
    await page.getByTestId('export-cancel').click();
    await expect.poll(() => page.getByTestId('export-progress').getAttribute('data-state'), { timeout: 30_000 }).toMatch(/cancelled|done/);
    const state = await page.getByTestId('export-progress').getAttribute('data-state');
    console.log(`filter view: export of ${BIG_STEPS} actions after Cancel: ${state}`);
    await screenshot(page, 'filter-10-export-cancelled.png');
    if (state === 'cancelled') {
      await expect(page.getByTestId('export-cancelled').isVisible()).resolves.toBe(true);
      await expect(readdir(out)).rejects.toThrow();
    }
    await page.getByTestId('export-close').click();
  }, 180_000);

  it('runs the LLM judge: a failure says so and offers to resume, the next run labels with rationales', async () => {
    if (!page.url().startsWith('http')) await page.goto(server.url);
    await page.getByTestId('session-item').filter({ hasText: /sales report/i }).click();
    await page.locator('h1', { hasText: /sales report/i }).waitFor({ timeout: 20_000 });
    await page.getByTestId('view-filter').click();
    await expect.poll(() => page.getByTestId('filter-row').count(), { timeout: 15_000 }).toBe(8);
    await expect(page.getByTestId('judge-profile').inputValue()).resolves.toBe('judge-local');
    await row(1).click();
    await page.keyboard.press('a');
    await expectRow(1, 'keep', 'annotator');

    judgeDown = true;
    await page.getByTestId('judge-run').click();
    await expect.poll(() => page.getByTestId('judge-status').getAttribute('data-state'), { timeout: 30_000 }).toBe('failed');
    await expect(page.getByTestId('judge-error').innerText()).resolves.toMatch(/again/i);
    await expect(page.getByTestId('judge-run').innerText()).resolves.toBe('Run again');
    await screenshot(page, 'filter-8-judge-failed.png');

    judgeDown = false;
    const before = judgeRequests;
    await page.getByTestId('judge-run').click();
    await expect.poll(() => page.getByTestId('judge-status').getAttribute('data-state'), { timeout: 30_000 }).toBe('done');
    expect(judgeRequests).toBeGreaterThan(before);
    await expect(page.getByTestId('judge-status').innerText()).resolves.toMatch(/Labelled \d+ actions? · [\d.]+k? tok used/);
    // Where no annotator decided, the judge's label is in force; an annotator's label stays.
    const rows = await page.getByTestId('filter-row').all();
    const judged: string[] = [];
    for (const r of rows) if ((await r.getAttribute('data-source')) === 'judge') judged.push(`${await r.getAttribute('data-n')}:${await r.getAttribute('data-label')}`);
    expect(judged.length).toBeGreaterThan(0);
    expect(judged).toContain('3:mask');
    expect(await row(1).getAttribute('data-source')).toBe('annotator');
    await row(3).click();
    await expect(page.getByTestId('label-history').innerText()).resolves.toContain('The command failed on a typo and was retried.');
    await screenshot(page, 'filter-9-judged.png');

    // One u takes back the whole judge run (not the annotator's keep of step 1); Shift+U brings it back.
    await expect(page.getByTestId('label-undo').getAttribute('data-what')).resolves.toMatch(/^judge judge-local/);
    await page.keyboard.press('u');
    await expect.poll(async () => page.locator('[data-testid="filter-row"][data-source="judge"]').count(), { timeout: 10_000 }).toBe(0);
    expect(await row(1).getAttribute('data-source')).toBe('annotator');
    await page.keyboard.press('U');
    await expect.poll(async () => page.locator('[data-testid="filter-row"][data-source="judge"]').count(), { timeout: 10_000 }).toBe(judged.length);
  });

  it('saves the tags and note editor on the actions it was opened for, though an undo answered meanwhile moves the cursor', async () => {
    // A page whose host replies can be held back: the undo's answer arrives after the editor opened.
    const p = await browser.newPage({ viewport: { width: 1280, height: 720 } });
    let holding = false;
    const held: Array<() => void> = [];
    await p.routeWebSocket(/.*/, (ws) => {
      const host = ws.connectToServer();
      ws.onMessage((m) => host.send(m));
      host.onMessage((m) => {
        const reply = typeof m === 'string' && m.startsWith('{"kind":"res"');
        if (holding && reply) held.push(() => ws.send(m));
        else ws.send(m);
      });
    });
    try {
      const at = (n: number): Locator => p.locator(`[data-testid="filter-row"][data-n="${n}"]`);
      await p.goto(server.url);
      await p.getByTestId('session-item').filter({ hasText: /sales report/i }).click();
      await p.getByTestId('view-filter').click();
      await expect.poll(() => p.getByTestId('filter-row').count(), { timeout: 15_000 }).toBe(8);
      await at(4).click();
      await p.keyboard.press('m');
      await expect.poll(() => at(4).getAttribute('data-pending'), { timeout: 10_000 }).toBe('false');
      // A new change leaves nothing to redo; the undo, once answered, leaves itself to redo.
      await expect.poll(() => p.getByTestId('label-redo').isEnabled()).toBe(false);
      // u: the undo is written, its answer held; meanwhile the annotator goes to step 3 and opens the note editor.
      holding = true;
      await p.keyboard.press('u');
      await at(3).click();
      await expect.poll(() => at(3).getAttribute('data-cursor')).toBe('true');
      await p.keyboard.press('n');
      await p.getByTestId('label-editor').waitFor();
      await expect.poll(() => held.length, { timeout: 10_000 }).toBeGreaterThan(0);
      holding = false;
      for (const send of held.splice(0)) send();
      // The undo is done, the editor still open on step 3.
      await expect.poll(() => p.getByTestId('label-redo').isEnabled(), { timeout: 10_000 }).toBe(true);
      await expect.poll(() => at(4).getAttribute('data-pending'), { timeout: 10_000 }).toBe('false');
      await p.getByTestId('label-editor').waitFor();
      await p.getByTestId('label-note').fill('bound to the step it was opened on');
      await p.getByTestId('label-editor-save').click();
      await expect.poll(() => at(3).innerText(), { timeout: 10_000 }).toContain('bound to the step it was opened on');
      await expect.poll(() => at(3).getAttribute('data-pending'), { timeout: 10_000 }).toBe('false');
      expect(await at(4).innerText()).not.toContain('bound to the step it was opened on');
    } finally {
      await p.close();
    }
  });
});
