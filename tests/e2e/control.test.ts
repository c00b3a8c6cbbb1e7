// The agent's terminal is the agent's, in the real UI: while a rollout drives the
// terminal a banner says so and typed keys are not sent (with a message); Take
// control pauses the agent at its step boundary, then typing works and the command
// becomes a human step in the tree; Hand back resumes the agent with it in context.
import { describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { agentUi, createSession, openPage, saveProfile, screenshot, terminalText, waitFor, waitForTerminalText } from './harness';
import { text, tool, type FakeReply, type FakeRequest } from '../fixtures/fake-llm-server';

const agent: FakeRequest[] = [];

const PLAN: Array<() => FakeReply> = [
  () => tool('run_command', { session_id: 'main', command: 'echo agent-$((20+1))' }),
  // The agent stays in this step while the human tries to type.
  () => tool('sleep', { sleep_time: 120 }),
  () => tool('finish', { message: 'done' }),
];

const ui = agentUi('control', (req) => {
  const msgs = (req.body?.messages ?? []) as Array<{ role: string; content: string }>;
  if (req.body?.stream !== true && msgs.length === 1 && /single word: ok/.test(String(msgs[0]?.content))) return text('ok');
  agent.push(req);
  return (PLAN[agent.length - 1] ?? (() => tool('finish', { message: 'extra' })))();
});

async function typeInTerminal(page: Page, keys: string): Promise<void> {
  await page.locator('[data-testid="terminal"]:visible').click();
  await page.keyboard.type(keys);
}

describe('control of the agent terminal from the UI', () => {
  it('locks the agent terminal, lets the human take control, records the human step, hands back', async () => {
    const { page, pageErrors } = await openPage(ui.browser, ui.server.url);
    await saveProfile(page, { annotator: 'ada', name: 'fake', model: 'fake-model', baseUrl: ui.fake.url });
    await page.getByTestId('settings-close').click();
    await createSession(page, 'control e2e', ui.cwd);
    await page.getByTestId('start-rollout').click();
    await page.getByTestId('rollout-task').fill('Work in the terminal.');
    await page.getByTestId('rollout-profile').selectOption('fake');
    await page.getByTestId('rollout-submit').click();
    await waitForTerminalText(page, /agent-21/);
    await waitFor(() => agent.length >= 2, 'the sleep step');

    // The agent drives main: a banner, and keys typed there go nowhere.
    const lock = page.locator('[data-testid="terminal-lock"][data-lock="agent"]');
    await lock.waitFor();
    await typeInTerminal(page, 'echo HUMAN-TYPED\n');
    await page.getByTestId('terminal-lock-refused').waitFor();
    expect(await page.getByTestId('terminal-lock-refused').innerText()).toMatch(/not sent/i);
    await screenshot(page, 'control-locked.png');
    expect(await terminalText(page)).not.toContain('HUMAN-TYPED');

    // Take control: the agent pauses once its step is done, then the terminal is ours.
    await page.getByTestId('take-control').click();
    await page.getByTestId('terminal-control-bar').waitFor({ timeout: 15_000 });
    await typeInTerminal(page, 'echo human-$((1+1))\n');
    await waitForTerminalText(page, /human-2/);
    const humanStep = page.locator('[data-testid="step"]', { has: page.locator('[data-testid="human-chip"][data-origin="terminal"]') });
    await humanStep.first().waitFor({ timeout: 15_000 });
    expect(await humanStep.first().getByTestId('step-action').innerText()).toContain('echo human-$((1+1))');
    expect(await humanStep.first().getByTestId('step-tool').innerText()).toBe('run_command');
    await screenshot(page, 'control-in-control.png');
    expect(await terminalText(page)).not.toContain('HUMAN-TYPED');

    // Hand back: the agent resumes with the human step in its next request.
    await page.getByTestId('hand-back').click();
    await page.getByTestId('terminal-control-bar').waitFor({ state: 'detached' });
    await waitFor(() => agent.length >= 3, 'the request after hand back');
    expect(JSON.stringify(agent[2]!.body.messages)).toContain('human-2');
    await waitFor(async () => (await page.getByTestId('rollout-state').getAttribute('data-state')) === 'finished', 'the end of the rollout');
    await expect(page.locator('[data-testid="terminal-lock"]').count()).resolves.toBe(0);
    expect(pageErrors).toEqual([]);
  });
});
