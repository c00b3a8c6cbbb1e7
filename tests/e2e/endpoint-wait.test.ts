// A model request that hangs: past 30 s without an answer or a streamed token, the
// rollout banner says "waiting for the endpoint" with the time waited (the page's
// clock is moved forward instead of waiting 30 s).
import { describe, expect, it } from 'vitest';
import { agentUi, createSession, openPage, saveProfile, waitFor } from './harness';
import { hang, text, type FakeRequest } from '../fixtures/fake-llm-server';

const agent: FakeRequest[] = [];
const ui = agentUi('endpoint-wait', (req) => {
  agent.push(req);
  // The connection test is answered; the agent's request never is.
  return req.body?.stream === true ? hang() : text('ok');
});

describe('a hung model request', () => {
  it('shows "waiting for the endpoint" with the elapsed time after 30 s, not before', async () => {
    const { page, pageErrors } = await openPage(ui.browser, ui.server.url);
    await saveProfile(page, { annotator: 'ada', name: 'hung', model: 'fake-model', baseUrl: ui.fake.url });
    await page.getByTestId('settings-close').click();
    await createSession(page, 'hung endpoint', ui.cwd);
    await page.getByTestId('start-rollout').click();
    await page.getByTestId('rollout-task').fill('List the files.');
    await page.getByTestId('rollout-profile').selectOption('hung');
    await page.getByTestId('rollout-submit').click();

    await waitFor(() => agent.some((r) => r.body?.stream === true), 'the agent request');
    const banner = page.getByTestId('rollout-state');
    await waitFor(async () => (await banner.getAttribute('data-state')) === 'running', 'running');
    // Just sent: nothing to say yet.
    await page.waitForTimeout(1500);
    await expect(page.getByTestId('rollout-waiting').count()).resolves.toBe(0);

    // 45 s later on the page's clock.
    await page.clock.setSystemTime(Date.now() + 45_000);
    const waiting = page.getByTestId('rollout-waiting');
    await waiting.waitFor({ timeout: 5_000 });
    expect(await waiting.innerText()).toMatch(/waiting for the endpoint · 4\d s/);
    await expect(banner.getAttribute('data-state')).resolves.toBe('running');

    // Stopping ends the wait (the request is cancelled).
    await page.getByTestId('stop-rollout').click();
    await waitFor(async () => (await banner.getAttribute('data-state')) === 'stopped', 'stopped');
    await expect(page.getByTestId('rollout-waiting').count()).resolves.toBe(0);
    expect(pageErrors).toEqual([]);
  });
});
