// Branches as a tree and what a step changed (issue 13): a real rollout writes and
// edits files; the step's Files tab shows the files it changed with a line diff
// against the step before; a hand-written branch appears in the branch tree under
// main at its fork point, with its labels summed up, and clicking a node shows it.
import { describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { agentUi, createSession, openPage, saveProfile, screenshot, waitFor, waitForTerminalText } from './harness';
import { text, tool, type FakeReply } from '../fixtures/fake-llm-server';


const PLAN: FakeReply[] = [
  tool('run_command', { session_id: 'main', command: "printf 'alpha\\nkeep me\\n' > notes.txt; echo one" }, { content: 'Write the notes.' }),
  tool('run_command', { session_id: 'main', command: "printf 'beta\\nkeep me\\n' > notes.txt; echo extra > b.txt; echo two" }, { content: 'Edit them.' }),
  tool('finish', { message: 'done' }, { content: 'Done.' }),
];
let n = 0;
const ui = agentUi('tree', (req) => {
  const msgs = (req.body?.messages ?? []) as Array<{ content: unknown }>;
  if (req.body?.stream !== true && msgs.length === 1) return text('ok');
  return PLAN[n++] ?? tool('finish', { message: 'extra' });
});

const step = (page: Page, depth: number) => page.locator(`[data-testid="step"][data-depth="${depth}"]`);

describe('branch tree and step diff', () => {
  it('shows what a step changed as a diff, and the branches as a tree', async () => {
    const { page, pageErrors } = await openPage(ui.browser, ui.server.url);
    await page.setViewportSize({ width: 1400, height: 900 });
    await saveProfile(page, { annotator: 'kim', name: 'fake', model: 'fake-model', baseUrl: ui.fake.url });
    await page.getByTestId('settings-close').click();
    await createSession(page, 'tree e2e', ui.cwd);
    await page.getByTestId('start-rollout').click();
    await page.getByTestId('rollout-task').fill('Write notes, then edit them.');
    await page.getByTestId('rollout-submit').click();
    await page.locator('[data-testid="rollout-state"][data-state="finished"]').waitFor({ timeout: 30_000 });

    // ---- step 2 changed notes.txt and added b.txt ----
    await step(page, 2).getByTestId('step-tool').click();
    await page.getByTestId('step-tab-files').click();
    const diff = page.getByTestId('step-diff');
    await diff.waitFor({ timeout: 10_000 });
    await expect(page.getByTestId('step-diff-base').innerText()).resolves.toMatch(/Against step 1's checkpoint · 2 changed/);
    await expect(page.locator('[data-testid="step-change"][data-path="notes.txt"]').getAttribute('data-status')).resolves.toBe('modified');
    await expect(page.locator('[data-testid="step-change"][data-path="b.txt"]').getAttribute('data-status')).resolves.toBe('added');
    await page.locator('[data-testid="step-change"][data-path="notes.txt"]').click();
    const lines = page.getByTestId('diff-lines');
    await lines.waitFor();
    await expect(lines.locator('tr[data-kind="del"] .diff-text').allInnerTexts()).resolves.toEqual(['alpha']);
    await expect(lines.locator('tr[data-kind="add"] .diff-text').allInnerTexts()).resolves.toEqual(['beta']);
    await expect(lines.locator('tr[data-kind="same"] .diff-text').allInnerTexts()).resolves.toEqual(['keep me']);
    await screenshot(page, 'files-diff-1400.png');
    // All files: the snapshot as before.
    await page.getByTestId('files-mode-all').click();
    await page.locator('[data-testid="step-file"][data-path="b.txt"]').waitFor();
    await page.getByTestId('files-mode-changes').click();
    // Step 1 has the first checkpoint: everything it has is new.
    await step(page, 1).getByTestId('step-tool').click();
    await expect.poll(() => page.getByTestId('step-diff-base').innerText(), { timeout: 10_000 }).toMatch(/First checkpoint/);
    await expect(page.locator('[data-testid="step-change"][data-path="notes.txt"]').getAttribute('data-status')).resolves.toBe('added');

    // ---- a hand-written branch from step 1 ----
    await page.getByTestId('branch-here').click();
    await page.getByTestId('branch-dialog').waitFor();
    await page.getByTestId('branch-mode-manual').click();
    await page.locator('[data-testid="branch-world"][data-mode="checkpoint"]').waitFor({ timeout: 10_000 });
    await page.getByTestId('branch-name').fill('by-hand');
    await page.getByTestId('branch-tool').selectOption('run_command');
    await page.getByTestId('branch-args').fill(JSON.stringify({ session_id: 'main', command: 'echo hand-$((6*7))' }));
    await page.getByTestId('branch-submit').click();
    await waitForTerminalText(page, /hand-42/);

    // ---- the tree: main at the root, by-hand under it, from step 1 ----
    await page.getByTestId('branch-tree-toggle').click();
    const tree = page.getByTestId('branch-tree');
    await tree.waitFor();
    const nodes = tree.getByTestId('branch-node');
    await expect.poll(() => nodes.count()).toBe(2);
    const root = nodes.first();
    await expect(root.getAttribute('data-depth')).resolves.toBe('0');
    await expect(root.innerText()).resolves.toMatch(/main[\s\S]*root[\s\S]*3 steps/);
    const child = tree.locator('[data-testid="branch-node"][data-depth="1"]');
    await expect(child.innerText()).resolves.toMatch(/by-hand[\s\S]*from step 1[\s\S]*1 step/);
    // Labels per branch: main's 3 actions unreviewed.
    await expect(root.getByTestId('branch-labels').getAttribute('data-unreviewed')).resolves.toBe('3');
    // Click main: the list shows main's 3 steps; click by-hand: its 2.
    await root.click();
    await waitFor(async () => (await page.getByTestId('step').count()) === 3, 'main shown');
    await expect(root.getAttribute('data-selected')).resolves.toBe('true');
    await child.click();
    await waitFor(async () => (await page.getByTestId('step').count()) === 2, 'by-hand shown');
    await expect(child.getAttribute('data-selected')).resolves.toBe('true');
    await screenshot(page, 'branch-tree-1400.png');
    await page.setViewportSize({ width: 1280, height: 720 });
    await screenshot(page, 'branch-tree-1280.png');
    expect(pageErrors).toEqual([]);
    await page.close();
  });
});
