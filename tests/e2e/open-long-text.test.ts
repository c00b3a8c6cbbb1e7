// Opening sends previews of long observations and reasoning (shared/compact-events.ts);
// every view that shows them whole fetches the whole text: the trajectory row's
// observation and thought, the Filter view's detail pane, and the Filter view's search
// finds a word that only the whole text holds. A comment added by another client while
// the session is open shows up in the row (the session.event push).
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPage, startServerAndBrowser, waitFor, type Server } from './harness';
import { ok, run, SessionBuilder } from '../fixtures/sessions';

const ID = 'long-texts';
const OBS_WORD = 'middleofthelog';
const THOUGHT_WORD = 'middleofthethought';
// Far longer than the previews (hundreds of characters), each word in the middle: in neither the head nor the tail.
const OUTPUT = `${'epoch 1/10 loss=0.4213 acc=0.8812\n'.repeat(80)}${OBS_WORD} found\n${'epoch 2/10 loss=0.3999 acc=0.8901\n'.repeat(80)}done`;
const REASONING = `${'The loss plateaus; the schedule may be too flat. '.repeat(40)}${THOUGHT_WORD} ${'Look at the warmup next. '.repeat(40)}`;

let root: string;
let server: Server;
let browser: Browser;
let page: Page;
let steps: string[];

async function writeSession(home: string): Promise<void> {
  const b = new SessionBuilder({ name: 'Long texts' });
  b.rollout({ task: 'Train and read the log.' });
  steps = [
    b.step({ content: 'Looking around.', calls: [run('ls')], results: [ok('{"success": true, "output": "train.py"}')] }),
    b.step({ reasoning: REASONING, calls: [run('cat train.log')], results: [ok(JSON.stringify({ success: true, message: 'Command `cat train.log` finished', exit_code: 0, output: OUTPUT }))] }),
    b.step({ content: 'Done reading.', calls: [run('echo ok')], results: [ok('{"success": true, "output": "ok"}')] }),
  ];
  const dir = join(home, 'sessions', ID);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'events.jsonl'), b.events.map((e) => JSON.stringify(e)).join('\n') + '\n');
}

/** One request over a socket of the page's own (another client of the host). */
function call<T>(cmd: string, args: unknown): Promise<T> {
  return page.evaluate(
    ({ cmd, args }) =>
      new Promise<T>((resolve, reject) => {
        const ws = new WebSocket(`ws://${location.host}/ws?token=${encodeURIComponent(sessionStorage.getItem('apollo.token') ?? '')}`);
        ws.onopen = () => ws.send(JSON.stringify({ kind: 'req', id: 1, cmd, args }));
        ws.onmessage = (ev) => {
          const m = JSON.parse(String(ev.data)) as { kind: string; id?: number; ok?: boolean; result?: T; error?: { message: string } };
          if (m.kind !== 'res' || m.id !== 1) return;
          ws.close();
          if (m.ok) resolve(m.result as T);
          else reject(new Error(m.error?.message ?? 'failed'));
        };
      }),
    { cmd, args },
  );
}

const row = (id: string): Locator => page.locator(`[data-testid="step"][data-step-id="${id}"]`);

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'apollo-e2e-long-text-'));
  const home = join(root, 'home');
  ({ server, browser } = await startServerAndBrowser(home, { prepare: () => writeSession(home) }));
  ({ page } = await openPage(browser, server.url));
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await server?.stop();
  if (root) await rm(root, { recursive: true, force: true });
});

describe('a session with long texts', () => {
  it('shows the whole observation and thought beyond the previews it opened with, finds words only they hold, and follows live pushes', async () => {
    // What the page opens with holds neither word: only the previews, each marked cut.
    const view = await call<{ events: Array<{ type: string; stepId?: string; elided?: { observation?: number; reasoning?: number } }> }>('sessions.open', { sessionId: ID });
    const text = JSON.stringify(view);
    expect(text).not.toContain(OBS_WORD);
    expect(text).not.toContain(THOUGHT_WORD);
    expect(view.events.find((e) => e.type === 'action.result' && e.stepId === steps[1])?.elided?.observation).toBeGreaterThan(5000);
    expect(view.events.find((e) => e.type === 'model.response' && e.stepId === steps[1])?.elided?.reasoning).toBe(REASONING.length);

    await page.locator(`[data-testid="session-item"][data-session-id="${ID}"]`).click();
    const big = row(steps[1]!);
    await big.waitFor();
    await page.getByTestId('view-live').click();
    await big.getByTestId('toggle-observation').click();
    const obs = big.getByTestId('step-observation');
    await waitFor(async () => (await obs.getAttribute('data-state')) === 'ready', 'the whole observation');
    const shown = await obs.innerText();
    expect(shown).toContain(`${OBS_WORD} found`);
    expect(shown).toContain('epoch 2/10');
    expect(await big.getByTestId('observation-elided').count()).toBe(0);

    await big.getByTestId('toggle-thought').click();
    const thought = big.getByTestId('step-thought');
    await waitFor(async () => (await thought.getAttribute('data-state')) === 'ready', 'the whole thought');
    expect((await thought.innerText()).replace(/\s+/g, ' ')).toContain(REASONING.trim().replace(/\s+/g, ' '));

    // Another client comments on the last step: the open page shows it, from the push.
    await call('comment.add', { sessionId: ID, stepId: steps[2], text: 'Checked by **bob**' });
    await waitFor(async () => (await row(steps[2]!).getByTestId('step-comment').count()) > 0, 'the pushed comment in the row');
    expect(await row(steps[2]!).getByTestId('step-comment').innerText()).toContain('Checked by bob');

    // The Filter view: its search finds words the previews do not hold, and its detail pane shows the whole texts.
    await page.getByTestId('view-filter').click();
    const search = page.getByTestId('filter-search');
    const count = page.getByTestId('filter-count');
    for (const word of [OBS_WORD, THOUGHT_WORD]) {
      await search.fill(word.toUpperCase());
      await waitFor(async () => (await count.getAttribute('data-shown')) === '1', `the filter to find ${word}`);
      await expect(page.locator('[data-testid="filter-row"]').getAttribute('data-n')).resolves.toBe('2');
    }
    await search.fill(`${OBS_WORD} ${THOUGHT_WORD}`);
    await waitFor(async () => (await count.getAttribute('data-shown')) === '1', 'both words in one step');
    await search.fill(`${OBS_WORD} nowhere-at-all`);
    await waitFor(async () => (await count.getAttribute('data-shown')) === '0', 'no step with both');
    await search.fill(OBS_WORD);
    await waitFor(async () => (await count.getAttribute('data-shown')) === '1', 'the step again');
    await page.locator('[data-testid="filter-row"]').click();
    const reasoning = page.getByTestId('filter-reasoning');
    await waitFor(async () => (await reasoning.getAttribute('data-state')) === 'ready', 'the whole reasoning in the detail pane');
    expect(await reasoning.innerText()).toContain(THOUGHT_WORD);
    const observations = page.getByTestId('filter-observations');
    await waitFor(async () => (await observations.getAttribute('data-state')) === 'ready', 'the whole observation in the detail pane');
    expect(await observations.innerText()).toContain(`${OBS_WORD} found`);
  }, 60_000);
});
