// What the model saw, and what an export will write, in real Chromium: a rollout run
// from the UI against a scripted endpoint, its step inspector's Context tab showing
// each request exactly as the endpoint received it (the <task_description> wrapper,
// the tool turns), honest timings for a step paused mid-request; the shipped sample
// a session recorded before requests were logged saying its context is reconstructed;
// and the Export dialog planning before writing: numbers per policy, refusing while
// actions are unreviewed under "refuse", then writing exactly what it planned.
import { describe, expect, it } from 'vitest';
import { cp, readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Locator, Page } from 'playwright-core';
import { agentUi, createSession, openPage, saveProfile, screenshot, waitFor } from './harness';
import { text, tool, type FakeReply, type FakeRequest } from '../fixtures/fake-llm-server';

const TASK = 'Make some files.';

/** Requests the agent made, in order (a request interrupted by the pause included). */
const agent: FakeRequest[] = [];
const PLAN: Array<() => FakeReply> = [
  () => tool('run_command', { session_id: 'main', command: 'echo ctx-one > one.txt' }, { content: 'Creating the first file.' }),
  // Slow, so that the rollout can be paused while it is in flight (redone on resume).
  () => ({ ...tool('run_command', { session_id: 'main', command: 'echo never-run' }), delayMs: 5_000 }),
  () => tool('run_command', { session_id: 'main', command: 'echo ctx-two > two.txt' }, { content: 'And the second.' }),
  () => tool('finish', { message: 'files made' }, { content: 'Done.' }),
];

const ui = agentUi('context', (req) => {
  const msgs = (req.body?.messages ?? []) as Array<{ role: string; content: string }>;
  if (req.body?.stream !== true && msgs.length === 1 && /single word: ok/.test(String(msgs[0]?.content))) return text('ok');
  agent.push(req);
  return (PLAN[agent.length - 1] ?? (() => tool('finish', { message: 'extra' })))();
}, {
  // A session recorded before the request record, beside the shipped (recorded) sample.
  seed: (home) => cp(join(__dirname, '../fixtures/legacy-sample/legacy-sales-report'), join(home, 'sessions', 'legacy-sales-report'), { recursive: true }),
});

const step = (page: Page, depth: number): Locator => page.locator(`[data-testid="step"][data-depth="${depth}"]`);

async function shoot(page: Page, name: string): Promise<void> {
  for (const [w, h] of [[1400, 900], [1280, 720]] as const) {
    await page.setViewportSize({ width: w, height: h });
    await screenshot(page, `${name}-${w}x${h}.png`);
  }
}

async function openContext(page: Page, depth: number): Promise<Locator> {
  await step(page, depth).click();
  await page.getByTestId('step-inspector').waitFor();
  await page.getByTestId('step-tab-context').click();
  const ctx = page.getByTestId('step-context');
  await waitFor(async () => (await ctx.getAttribute('data-state')) !== 'loading' && (await page.getByTestId('step-inspector').getAttribute('data-step-id')) === (await step(page, depth).getAttribute('data-step-id')), `the context of step ${depth}`);
  return ctx;
}

/** The numbers of the plan's total row, once the plan for the current options is there. */
async function planTotal(page: Page): Promise<Record<string, number>> {
  await waitFor(async () => (await page.getByTestId('export-plan').getAttribute('data-state')) === 'ready', 'the export plan');
  const row = page.getByTestId('plan-total');
  const out: Record<string, number> = {};
  for (const k of ['examples', 'actions', 'kept', 'masked', 'unlabelled', 'tokens']) out[k] = Number(await row.getAttribute(`data-${k}`));
  return out;
}

describe('the Context tab and the export plan', () => {
  it('shows each request as sent, honest timings, the reconstructed banner, and plans the export before writing it', async () => {
    const { page, pageErrors } = await openPage(ui.browser, ui.server.url);
    await page.setViewportSize({ width: 1400, height: 900 });
    await saveProfile(page, { annotator: 'ada', name: 'fake', model: 'fake-model', baseUrl: ui.fake.url, temperature: '0.2' });
    await page.getByTestId('settings-close').click();
    await createSession(page, 'context e2e', ui.cwd);
    await page.getByTestId('start-rollout').click();
    await page.getByTestId('rollout-task').fill(TASK);
    await page.getByTestId('rollout-profile').selectOption('fake');
    await page.getByTestId('rollout-submit').click();

    // ---- pause while the second request is in flight: the running step's timer stops
    await waitFor(() => agent.length >= 2, 'the second request');
    await page.getByTestId('pause-rollout').click();
    const running = page.locator('[data-testid="step"][data-depth="2"] [data-testid="step-running"]');
    await waitFor(async () => (await running.getAttribute('data-paused')) === 'true', 'the running step to show the pause');
    await expect(running.innerText()).resolves.toMatch(/^paused/);
    await page.getByTestId('resume-rollout').click();
    await waitFor(async () => (await page.getByTestId('rollout-state').getAttribute('data-state')) === 'finished', 'the rollout to finish', 30_000);
    expect(agent.length).toBe(4);

    // Step 2 waited out the pause: its row and the inspector show active time and say it was paused.
    await step(page, 2).getByTestId('step-paused').waitFor();
    await expect(step(page, 2).getByTestId('step-paused').innerText()).resolves.toMatch(/^paused \d/);
    await expect(step(page, 1).getByTestId('step-paused').count()).resolves.toBe(0);

    // ---- step 1: the first request, exactly as the endpoint received it
    const ctx1 = await openContext(page, 1);
    await expect(ctx1.getAttribute('data-source')).resolves.toBe('recorded');
    await expect(page.getByTestId('context-reconstructed').count()).resolves.toBe(0);
    const sent1 = agent[0]!.body as { model: string; messages: Array<{ role: string; content: string }>; tools: unknown[] };
    await expect(page.getByTestId('context-count').innerText()).resolves.toBe(`${sent1.messages.length} messages`);
    const taskTurn = sent1.messages.findIndex((m) => m.role === 'user');
    expect(sent1.messages[taskTurn]!.content).toBe(`\n<task_description>\n${TASK}\n</task_description>\n`);
    // Rows are windowed: bring the last message (the task turn) into view.
    await page.getByTestId('context-end').click();
    const shownTask = page.locator(`[data-testid="context-message"][data-index="${taskTurn}"] [data-testid="context-content"]`);
    await expect(shownTask.evaluate((el) => el.textContent)).resolves.toBe(sent1.messages[taskTurn]!.content);
    await expect(page.getByTestId('context-settings').innerText()).resolves.toContain('fake-model');
    await expect(page.getByTestId('context-settings').innerText()).resolves.toMatch(/temperature 0\.2/);
    await expect(page.getByTestId('context-tools-toggle').innerText()).resolves.toContain(`${sent1.tools.length} tools`);
    await page.getByTestId('context-tools-toggle').click();
    await expect(page.locator('[data-testid="context-tools"] li').count()).resolves.toBe(sent1.tools.length);
    await page.getByTestId('context-tools-toggle').click();
    await expect(page.getByTestId('inspector-timing').innerText()).resolves.toMatch(/active$/);
    await shoot(page, 'context-recorded');

    // ---- step 2: the request redone after the pause, with step 1's reply and tool turn
    await page.setViewportSize({ width: 1400, height: 900 });
    await openContext(page, 2);
    const sent2 = agent[2]!.body as { messages: Array<{ role: string; content: string | null; tool_call_id?: string; tool_calls?: Array<{ id: string; function: { arguments: string } }> }> };
    await expect(page.getByTestId('context-count').innerText()).resolves.toBe(`${sent2.messages.length} messages`);
    await page.getByTestId('context-end').click();
    const toolTurn = sent2.messages.findIndex((m) => m.role === 'tool');
    const callTurn = sent2.messages.findIndex((m) => m.role === 'assistant');
    const call = sent2.messages[callTurn]!.tool_calls![0]!;
    await expect(page.locator(`[data-testid="context-message"][data-index="${toolTurn}"] [data-testid="context-tool-call-id"]`).innerText()).resolves.toBe(`tool_call_id ${sent2.messages[toolTurn]!.tool_call_id}`);
    await expect(page.locator(`[data-testid="context-message"][data-index="${callTurn}"] [data-testid="context-call"] pre`).innerText()).resolves.toBe(JSON.stringify(JSON.parse(call.function.arguments), null, 2));
    await expect(page.getByTestId('context-timings').innerText()).resolves.toMatch(/active · paused .* waiting on the endpoint/);
    await expect(page.getByTestId('inspector-timing').innerText()).resolves.toMatch(/active · paused/);
    await shoot(page, 'context-paused-step');

    // ---- a session recorded before requests were logged: reconstructed, and says so
    await page.setViewportSize({ width: 1400, height: 900 });
    await page.getByTestId('session-item').filter({ hasText: /Legacy: sales report/ }).click();
    await page.locator('[data-testid="session-item"][data-active="true"]').filter({ hasText: /Legacy: sales report/ }).waitFor();
    await step(page, 8).waitFor();
    const ctxS = await openContext(page, 1);
    await expect(ctxS.getAttribute('data-source')).resolves.toBe('reconstructed');
    await expect(page.getByTestId('context-reconstructed').innerText()).resolves.toMatch(/recorded before requests were logged/);
    await expect(page.locator('[data-testid="context-message"] [data-testid="context-content"]').filter({ hasText: '<task_description>' }).count()).resolves.toBe(1);
    await shoot(page, 'context-reconstructed');

    // ---- the export dialog plans before writing (the sample's 8 actions are all unreviewed)
    await page.setViewportSize({ width: 1400, height: 900 });
    await page.getByTestId('view-filter').click();
    await page.getByTestId('export-open').click();
    await page.getByTestId('export-dialog').waitFor();
    await expect(page.getByTestId('export-format-mistral').isChecked()).resolves.toBe(true);
    const train = await planTotal(page);
    expect(train).toMatchObject({ examples: 1, actions: 8, kept: 8, masked: 0, unlabelled: 8 });
    expect(train.tokens).toBeGreaterThan(0);
    await expect(page.getByTestId('plan-policy').innerText()).resolves.toMatch(/8 unreviewed actions are trained on/);
    await expect(page.getByTestId('plan-warning').filter({ hasText: /recorded before the request record/ }).count()).resolves.toBe(1);
    await expect(page.getByTestId('export-start').isEnabled()).resolves.toBe(true);

    // Skip: nothing is left to train, and the plan says so before anything is written.
    await page.getByTestId('export-policy-mask').click();
    expect(await planTotal(page)).toMatchObject({ examples: 0, actions: 8, kept: 0, masked: 8, unlabelled: 8 });
    await page.getByTestId('plan-skipped-branch').first().waitFor();

    // Refuse: Export is disabled while any action is unreviewed.
    await page.getByTestId('export-policy-refuse').click();
    expect(await planTotal(page)).toMatchObject({ unlabelled: 8 });
    await expect(page.getByTestId('export-plan').getAttribute('data-refused')).resolves.toBe('true');
    await expect(page.getByTestId('export-start').isDisabled()).resolves.toBe(true);
    await expect(page.getByTestId('plan-policy').innerText()).resolves.toMatch(/Export is refused/);
    await shoot(page, 'export-plan-refused');

    // A token limit re-plans (debounced) and splits nothing this small into more than it needs.
    await page.setViewportSize({ width: 1400, height: 900 });
    await page.getByTestId('export-policy-keep').click();
    await page.getByTestId('export-max-tokens').fill('12');
    await expect(page.getByTestId('export-plan').getAttribute('data-state')).resolves.toBe('incomplete');
    await expect(page.getByTestId('export-start').isEnabled()).resolves.toBe(true);
    await page.getByTestId('export-max-tokens').fill('256');
    const split = await planTotal(page);
    expect(split.examples).toBeGreaterThan(1);
    expect(split.kept).toBe(8);
    await shoot(page, 'export-plan-split');

    // Write it: the bundle holds what the plan said. On the small window, the result is brought into view.
    await page.setViewportSize({ width: 1280, height: 720 });
    const out = join(ui.home, 'exports', 'planned');
    await page.getByTestId('export-out').fill(out);
    await page.getByTestId('export-start').click();
    await page.getByTestId('export-result').waitFor({ timeout: 30_000 });
    await expect(page.getByTestId('export-kept').innerText()).resolves.toMatch(/^8 trained on/);
    // Built (nothing was kept for these inputs), and the dialog says why.
    await expect(page.getByTestId('export-built-because').innerText()).resolves.toBe('Built: no earlier export of these sessions is kept.');
    await expect(page.getByTestId('export-reused').count()).resolves.toBe(0);
    const because = await page.getByTestId('export-built-because').boundingBox();
    expect(because && because.y >= 0 && because.y + because.height <= 720).toBe(true);
    await shoot(page, 'export-built');
    const manifest = JSON.parse(await readFile(join(out, 'manifest.json'), 'utf8')) as { counts: { trajectories: number; kept: number; unlabelled: number; tokens: { total: number } }; options: { maxTokens: number }; labelPolicy: { unlabelled: string } };
    expect(manifest.counts).toMatchObject({ trajectories: split.examples, kept: split.kept, unlabelled: split.unlabelled });
    expect(manifest.counts.tokens.total).toBe(split.tokens);
    expect(manifest.options.maxTokens).toBe(256);
    expect(manifest.labelPolicy.unlabelled).toBe('keep');
    expect(await readdir(out)).toContain('mistral.jsonl');
    expect(pageErrors).toEqual([]);
    await page.close();
  }, 120_000);
});
