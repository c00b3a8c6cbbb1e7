// A rollout driven from the UI against a scripted OpenAI-compatible server (real
// HTTP): the endpoint is configured in the settings dialog, the agent's commands show
// up live in the terminal, the trajectory streams, guidance typed mid-run goes
// queued → delivered at step N (and the next request carries <real_user>), pause /
// resume work, a retried request and an endpoint error show in the state banner.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { closeSync, constants, openSync, writeSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { agentUi, createSession, openPage, saveProfile, screenshot, waitFor, waitForTerminalText } from './harness';
import { status, text, tool, type FakeReply, type FakeRequest } from '../fixtures/fake-llm-server';


/** Requests made by the agent (not by "Test connection"). */
const agent: FakeRequest[] = [];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** A user turn carrying human guidance (the system prompt also mentions the tag). */
const hasRealUser = (req: FakeRequest) =>
  ((req.body?.messages ?? []) as Array<{ role: string; content: unknown }>).some((m) => m.role === 'user' && typeof m.content === 'string' && m.content.startsWith('<real_user>'));

/**
 * A FIFO that step 2's command reads before it ends: the test writes to it once the
 * guidance typed meanwhile is queued (a `sleep 2` gave it 2 s, a race on a loaded machine, and cost
 * them every time). Outside the agent's working directory, which is checkpointed.
 */
let gateDir = '';
const gate = () => join(gateDir, 'step-2');
// Held open by the file (O_RDWR never blocks on a FIFO), so that the gate can be opened
// whatever happened: a test that failed before writing it left step 2's shell blocked
// on the FIFO, and the server's stop waiting on it past the hook timeout.
let gateFd: number | null = null;
beforeAll(async () => {
  gateDir = await mkdtemp(join(tmpdir(), 'apollo-e2e-rollout-gate-'));
  execFileSync('mkfifo', [gate()]);
  gateFd = openSync(gate(), constants.O_RDWR | constants.O_NONBLOCK);
});
afterAll(async () => {
  if (gateFd !== null) closeSync(gateFd);
  await rm(gateDir, { recursive: true, force: true });
});

/** Released once the test has seen the first answer's partial thought on screen. */
let releaseFirstStream: () => void = () => {};
const firstStreamHeld = new Promise<void>((resolve) => (releaseFirstStream = resolve));

const PLAN: Array<() => FakeReply> = [
  // 1: streamed slowly so that the trajectory shows the thought as it arrives; held after
  // 25 chunks of reasoning (its first 75 characters) until the test has seen them.
  () =>
    tool('run_command', { session_id: 'main', command: 'sleep 1; echo apollo-step-$((40+2))' }, {
      reasoning: 'The shell is fresh. I should check that commands run before doing anything else. ',
      content: 'Running a first command to check the shell.',
      chunkDelayMs: 45,
      chunkSize: 3,
      holdAfterChunks: { chunks: 26, until: firstStreamHeld },
    }),
  // 2: a command that runs until the test has queued guidance (it then writes to the gate).
  () => tool('run_command', { session_id: 'main', command: `read -r _ < ${gate()}; echo apollo-second-done` }, { content: 'Now a slower one.' }),
  // 3: the request that carries the guidance.
  () => tool('run_command', { session_id: 'main', command: 'echo guided-ok' }, { content: 'Following the advice.' }),
  // 4: a slow answer, paused while in flight (it is redone on resume).
  () => ({ ...tool('run_command', { session_id: 'main', command: 'echo never-run' }), delayMs: 4_000 }),
  // 5: rate limited once: the banner shows the retry (polled every 50 ms, so 1 s is plenty).
  () => status(429, { retryAfterMs: 1_000, message: 'Rate limit reached for requests' }),
  // 6: refused: the rollout pauses with the error.
  () => status(401, { message: 'Incorrect API key provided' }),
  // 7: after resume, done.
  () => tool('finish', { message: 'all done' }, { content: 'Finished.' }),
];

const ui = agentUi('rollout', (req) => {
  const msgs = (req.body?.messages ?? []) as Array<{ role: string; content: string }>;
  if (req.body?.stream !== true && msgs.length === 1 && /single word: ok/.test(String(msgs[0]?.content))) return text('ok');
  agent.push(req);
  const next = PLAN[agent.length - 1];
  return next ? next() : tool('finish', { message: 'extra' });
});
// Runs before agentUi's own afterAll (hooks run last-registered first): the gate opens before the server stops.
afterAll(() => {
  if (gateFd !== null) writeSync(gateFd, 'go\n');
});

async function bannerState(page: Page): Promise<string | null> {
  return page.getByTestId('rollout-state').getAttribute('data-state');
}

async function waitForState(page: Page, states: string[], timeout = 15_000): Promise<string> {
  const deadline = Date.now() + timeout;
  let s: string | null = null;
  while (Date.now() < deadline) {
    s = await bannerState(page).catch(() => null);
    if (s && states.includes(s)) return s;
    await page.waitForTimeout(50);
  }
  throw new Error(`rollout state never became ${states.join('|')} (last: ${s})`);
}

describe('rollout from the UI', () => {
  it('configures an endpoint, runs a rollout live, takes guidance, pauses, resumes, retries and reports errors', async () => {
    const { page, pageErrors } = await openPage(ui.browser, ui.server.url);

    // ---- endpoint settings ----
    await saveProfile(page, { annotator: 'ada', name: 'fake', model: 'fake-model', baseUrl: ui.fake.url, temperature: '0.2' });
    await expect(page.getByTestId('profile-key-source').getAttribute('data-source')).resolves.toBe('none');
    await page.getByTestId('profile-key').fill('sk-test-not-shown-anywhere');
    await page.getByTestId('profile-set-key').click();
    await page.locator('[data-testid="profile-key-source"][data-source="memory"]').waitFor();
    await expect(page.getByTestId('profile-key').inputValue()).resolves.toBe('');
    await page.getByTestId('test-connection').click();
    const result = page.getByTestId('test-result');
    await result.waitFor();
    await expect(result.getAttribute('data-ok')).resolves.toBe('true');
    await expect(result.innerText()).resolves.toMatch(/OK · \d+ ms/);
    await screenshot(page, 'traj-settings.png');
    expect(await page.content()).not.toContain('sk-test-not-shown-anywhere');
    await page.getByTestId('settings-close').click();
    await expect(page.getByTestId('settings-open-status').innerText()).resolves.toContain('ada');

    // ---- session + start ----
    await createSession(page, 'rollout e2e', ui.cwd);
    await expect(bannerState(page)).resolves.toBe('none');
    await page.getByTestId('start-rollout').click();
    await page.getByTestId('start-rollout-dialog').waitFor();
    await page.getByTestId('rollout-task').fill('Check that the shell works, then follow the supervisor.');
    await page.getByTestId('rollout-profile').selectOption('fake');
    await page.getByTestId('rollout-max-steps').fill('20');
    await screenshot(page, 'traj-start-dialog.png');
    await page.getByTestId('rollout-submit').click();

    // ---- live: streaming thought, then the command's output in the terminal ----
    const streaming = page.getByTestId('streaming-step');
    await streaming.waitFor({ timeout: 10_000 });
    const partial = await streaming.innerText();
    expect('The shell is fresh. I should check that commands run').toContain(partial.trim().slice(0, 20));
    // It grows as the deltas arrive, before the response is complete.
    await waitFor(async () => /check that commands/.test(await streaming.innerText().catch(() => '')), 'more streamed text');
    expect(await streaming.innerText()).not.toContain('anything else');
    releaseFirstStream();
    await screenshot(page, 'traj-streaming.png');
    await waitForTerminalText(page, /apollo-step-42/);
    await expect(bannerState(page)).resolves.toBe('running');
    const first = page.locator('[data-testid="step"][data-depth="1"]');
    await expect(first.getByTestId('step-tool').innerText()).resolves.toBe('run_command');
    await expect(first.getByTestId('step-action').innerText()).resolves.toContain('sleep 1; echo apollo-step-$((40+2))');
    await first.getByTestId('toggle-thought').click();
    await expect(first.getByTestId('step-thought').innerText()).resolves.toContain('check that commands run');
    // One look in the page: a count and then a read raced the row going away (the read then waited 30 s for it).
    await waitFor(() => page.evaluate(() => !document.querySelector('[data-testid="streaming-step"]')?.textContent?.includes('The shell is fresh')), 'the streamed text to be replaced');

    // ---- guidance while step 2's command runs ----
    await waitFor(() => agent.length >= 2, 'the second request');
    await page.keyboard.press('Control+k');
    await expect(page.locator(':focus').getAttribute('data-testid')).resolves.toBe('guidance-input');
    await page.keyboard.type('Please also print the date.');
    await page.getByTestId('send-guidance').click();
    const item = page.getByTestId('guidance-item').filter({ hasText: 'Please also print the date.' });
    await page.locator('[data-testid="guidance-item"][data-state="queued"]').waitFor();
    await screenshot(page, 'traj-guidance-queued.png');
    // Step 2's command ends now, with the guidance queued while it ran.
    await writeFile(gate(), 'go\n');
    await waitFor(async () => (await item.getAttribute('data-state')) === 'delivered', 'guidance delivered', 15_000);
    const deliveredText = await item.getByTestId('guidance-state').innerText();
    const n = Number(/delivered at step (\d+)/i.exec(deliveredText)?.[1]);
    expect(n).toBe(3);
    await waitFor(() => agent.length >= n, `request ${n}`);
    expect(agent.slice(0, n - 1).some(hasRealUser)).toBe(false);
    expect(hasRealUser(agent[n - 1]!)).toBe(true);
    expect(JSON.stringify(agent[n - 1]!.body.messages)).toContain('Please also print the date.');
    // The trajectory shows it under the step it followed.
    await page.locator('[data-testid="step"][data-depth="2"] [data-testid="step-guidance"]').waitFor();
    await waitForTerminalText(page, /guided-ok/);

    // ---- pause while request 4 is in flight, then resume ----
    await waitFor(() => agent.length >= 4, 'the fourth request');
    await page.getByTestId('pause-rollout').click();
    await waitForState(page, ['paused']);
    await expect(page.getByTestId('rollout-state-text').innerText()).resolves.toMatch(/Paused.*paused by the user/);
    await screenshot(page, 'traj-paused.png');
    const before = agent.length;
    await sleep(1200);
    expect(agent.length).toBe(before);
    await page.getByTestId('resume-rollout').click();

    // ---- 429 → retrying banner; 401 → paused with the error ----
    await waitForState(page, ['retrying']);
    await expect(page.getByTestId('rollout-retry').innerText()).resolves.toMatch(/retry 1 (in [\d.]+ m?s|now): 429/);
    await screenshot(page, 'traj-retrying.png');
    await waitForState(page, ['paused'], 15_000);
    await expect(page.getByTestId('rollout-error').innerText()).resolves.toMatch(/401|Incorrect API key/);
    await screenshot(page, 'traj-error.png');
    await expect(page.locator('[data-testid="step"][data-depth="4"] [data-testid="step-retries"]').innerText()).resolves.toMatch(/1 retr/);

    await page.getByTestId('resume-rollout').click();
    await waitForState(page, ['finished']);
    await expect(page.getByTestId('rollout-state-text').innerText()).resolves.toMatch(/Finished/);
    // Step 4 was interrupted (pause, retry, error) and redone in place: it is the finish.
    await expect(page.locator('[data-testid="step"]').count()).resolves.toBe(4);
    await expect(page.locator('[data-testid="step"][data-depth="4"] [data-testid="step-tool"]').innerText()).resolves.toBe('finish');

    // ---- inspect a step: its terminal output at that moment ----
    await page.locator('[data-testid="step"][data-depth="2"]').click();
    await expect(page.locator('[data-testid="step"][data-depth="2"]').getAttribute('data-selected')).resolves.toBe('true');
    await page.getByTestId('step-inspector').waitFor();
    await waitFor(async () => /apollo-second-done/.test(await page.locator('[data-testid="step-terminal"] .xterm-rows').innerText().catch(() => '')), 'the step output');
    // The screen as it stood after the step (the recording's tail up to its end).
    await page.getByTestId('step-terminal-screen').click();
    await waitFor(async () => /sleep 1; echo apollo-step/.test(await page.locator('[data-testid="step-terminal"] .xterm-rows').innerText().catch(() => '')), 'the screen after step 2');
    await screenshot(page, 'traj-step-screen.png');
    // j / k move the selection.
    await page.keyboard.press('j');
    await expect(page.locator('[data-testid="step"][data-depth="3"]').getAttribute('data-selected')).resolves.toBe('true');
    await page.keyboard.press('k');
    await page.keyboard.press('k');
    await expect(page.locator('[data-testid="step"][data-depth="1"]').getAttribute('data-selected')).resolves.toBe('true');
    await screenshot(page, 'traj-finished.png');
    expect(pageErrors).toEqual([]);
    await page.close();
  });
});
