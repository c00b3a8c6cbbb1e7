// Annotating a finished rollout from the UI: select a step, read its files as they
// were, comment on it (add / edit / delete), branch from it with a hand-written
// action (no model involved), switch between the branches (selector, fork marker,
// keyboard), and rewind to a step.
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { agentUi, createSession, openPage, saveProfile, screenshot, waitFor, waitForTerminalText } from './harness';
import { text, tool, type FakeReply } from '../fixtures/fake-llm-server';


const PLAN: FakeReply[] = [
  tool('run_command', { session_id: 'main', command: 'echo alpha > notes.txt; echo wrote-alpha' }, { content: 'Write the notes file.' }),
  tool('run_command', { session_id: 'main', command: 'echo second-step' }, { content: 'Then a second step.' }),
  tool('finish', { message: 'done' }, { content: 'Done.' }),
];

let n = 0;
const ui = agentUi('branch', (req) => {
  const msgs = (req.body?.messages ?? []) as Array<{ content: unknown }>;
  if (req.body?.stream !== true && msgs.length === 1) return text('ok');
  return PLAN[n++] ?? tool('finish', { message: 'extra' });
});

const step = (page: Page, depth: number) => page.locator(`[data-testid="step"][data-depth="${depth}"]`);

async function selectedBranchLabel(page: Page): Promise<string> {
  return page.getByTestId('branch-select').locator('option:checked').innerText();
}

describe('branching and comments from the UI', () => {
  it('comments on a step, branches with a hand-written action, switches branches and rewinds', async () => {
    const { page, pageErrors } = await openPage(ui.browser, ui.server.url);

    // A profile and a finished three-step rollout.
    await saveProfile(page, { annotator: 'grace', name: 'fake', model: 'fake-model', baseUrl: ui.fake.url });
    await page.getByTestId('settings-close').click();
    await createSession(page, 'branch e2e', ui.cwd);
    await page.getByTestId('start-rollout').click();
    await page.getByTestId('rollout-task').fill('Write notes.txt, then a second step.');
    await page.getByTestId('rollout-submit').click();
    await page.locator('[data-testid="rollout-state"][data-state="finished"]').waitFor({ timeout: 20_000 });
    await expect(step(page, 3).getByTestId('step-tool').innerText()).resolves.toBe('finish');

    // ---- select step 1: its files as checkpointed after it ----
    await step(page, 1).getByTestId('step-tool').click();
    await expect(step(page, 1).getAttribute('data-selected')).resolves.toBe('true');
    await page.getByTestId('step-tab-files').click();
    // The tab opens on what the step changed; the whole snapshot is one click away.
    await page.getByTestId('files-mode-all').click();
    const file = page.locator('[data-testid="step-file"][data-path="notes.txt"]');
    await file.waitFor({ timeout: 10_000 });
    await file.click();
    await waitFor(async () => (await page.getByTestId('file-preview').innerText()).includes('alpha'), 'the file preview');
    await screenshot(page, 'traj-files.png');

    // ---- comments: `c` focuses the box; add, edit, delete ----
    await page.getByTestId('step-list').focus();
    await page.keyboard.press('c');
    await expect(page.locator(':focus').getAttribute('data-testid')).resolves.toBe('comment-input');
    await page.keyboard.type('Should have listed the directory first.');
    await page.getByTestId('add-comment').click();
    const comment = page.getByTestId('comment').first();
    await comment.waitFor();
    await expect(comment.getByTestId('comment-author').innerText()).resolves.toBe('grace');
    await comment.getByTestId('edit-comment').click();
    await page.getByTestId('comment-edit-input').fill('Should have listed the directory first (ls).');
    await page.getByTestId('save-comment').click();
    await waitFor(async () => (await comment.getByTestId('comment-text').innerText()).includes('(ls)'), 'the edited comment');
    await expect(comment.innerText()).resolves.toContain('edited');
    await page.getByTestId('comment-input').fill('A second thought, to delete.');
    await page.getByTestId('add-comment').click();
    await waitFor(async () => (await page.getByTestId('comment').count()) === 2, 'two comments');
    await page.getByTestId('comment').nth(1).getByTestId('delete-comment').click();
    await page.getByTestId('confirm-delete-comment').click();
    await waitFor(async () => (await page.getByTestId('comment').count()) === 1, 'the deletion');
    await expect(step(page, 1).getByTestId('step-comment').innerText()).resolves.toContain('(ls)');
    await screenshot(page, 'traj-comments.png');

    // ---- branch here with a hand-written action (no model) ----
    await page.getByTestId('branch-here').click();
    await page.getByTestId('branch-dialog').waitFor();
    await page.getByTestId('branch-mode-manual').click();
    // Before confirming, the dialog says the action runs on step 1's checkpoint.
    await page.locator('[data-testid="branch-world"][data-mode="checkpoint"]').waitFor({ timeout: 10_000 });
    await expect(page.getByTestId('branch-world').innerText()).resolves.toMatch(/Files, directory and environment of step 1 will be restored in fresh terminals first/);
    await expect(page.getByTestId('branch-current-state').count()).resolves.toBe(0);
    await page.getByTestId('branch-name').fill('by-hand');
    await page.getByTestId('branch-tool').selectOption('run_command');
    await page.getByTestId('branch-args').fill(JSON.stringify({ session_id: 'main', command: 'echo hand-$((6*7))' }, null, 2));
    await screenshot(page, 'traj-branch-dialog.png');
    await page.getByTestId('branch-submit').click();
    await waitFor(async () => (await selectedBranchLabel(page)).startsWith('by-hand'), 'the new branch to be shown');
    await expect(page.getByTestId('step').count()).resolves.toBe(2);
    await expect(step(page, 2).getByTestId('step-action').innerText()).resolves.toContain('echo hand-$((6*7))');
    await expect(step(page, 2).innerText()).resolves.toContain('human');
    await waitForTerminalText(page, /hand-42/);
    await waitFor(async () => (await step(page, 2).getByTestId('toggle-observation').count()) === 1, 'the hand action result');
    await expect(step(page, 1).getByTestId('fork-marker').innerText()).resolves.toContain('2');
    await expect(step(page, 2).locator('[data-testid="branch-start"]').innerText()).resolves.toContain('by-hand');
    // The hand-written step's terminal output.
    await step(page, 2).getByTestId('step-tool').click();
    await page.getByTestId('step-tab-output').click();
    await waitFor(async () => /hand-42/.test(await page.locator('[data-testid="step-terminal"] .xterm-rows').innerText()), 'the step terminal');
    await screenshot(page, 'traj-branch.png');

    // ---- switch branches: selector, keyboard `b`, fork marker ----
    const mainId = await page.getByTestId('branch-select').locator('option').first().getAttribute('value');
    await page.getByTestId('branch-select').selectOption(mainId!);
    await waitFor(async () => (await page.getByTestId('step').count()) === 3, 'the main branch');
    await expect(step(page, 2).getByTestId('step-action').innerText()).resolves.toContain('echo second-step');
    await page.getByTestId('step-list').focus();
    await page.keyboard.press('b');
    await waitFor(async () => (await selectedBranchLabel(page)).startsWith('by-hand'), 'b to switch to the next branch');
    await expect(page.getByTestId('step').count()).resolves.toBe(2);
    await step(page, 1).getByTestId('fork-marker').click();
    await waitFor(async () => (await page.getByTestId('step').count()) === 3, 'the fork marker to switch back to main');

    await page.keyboard.press('?');
    await page.getByTestId('shortcuts-dialog').waitFor();
    await screenshot(page, 'traj-shortcuts.png');
    await page.keyboard.press('Escape');
    await page.getByTestId('shortcuts-dialog').waitFor({ state: 'detached' });
    // ---- keyboard: l goes down to the child, h back to the parent ----
    await step(page, 1).getByTestId('step-tool').click();
    await page.keyboard.press('l');
    await expect(step(page, 2).getAttribute('data-selected')).resolves.toBe('true');
    await page.keyboard.press('h');
    await expect(step(page, 1).getAttribute('data-selected')).resolves.toBe('true');

    // ---- Shift+B on step 2 of main: continue with the agent, guided ----
    await step(page, 2).getByTestId('step-tool').click();
    await page.keyboard.press('Shift+B');
    await page.getByTestId('branch-dialog').waitFor();
    await page.getByTestId('branch-mode-agent').click();
    // The hand-written step on by-hand ran last: the agent would continue in its files, not step 2's, and is told so.
    await page.getByTestId('branch-agent-world').waitFor({ timeout: 10_000 });
    await expect(page.getByTestId('branch-agent-world').innerText()).resolves.toMatch(/Branched from step 2, but the files and shells were as they were after step 2 of branch "by-hand/);
    // The note and the submit button stay on screen at both window sizes.
    for (const [w, h] of [[1280, 720], [1400, 900]] as const) {
      await page.setViewportSize({ width: w, height: h });
      for (const id of ['branch-agent-world', 'branch-submit']) {
        const box = await page.getByTestId(id).boundingBox();
        expect(box && box.y >= 0 && box.y + box.height <= h, `${id} on screen at ${w}×${h}`).toBe(true);
      }
      await screenshot(page, `traj-branch-agent-world-${w}x${h}.png`);
    }
    await page.setViewportSize({ width: 1500, height: 920 });
    await page.getByTestId('branch-name').fill('agent-alt');
    await page.getByTestId('branch-guidance').fill('Try a different approach.');
    await page.getByTestId('branch-profile').selectOption('fake');
    await page.getByTestId('branch-submit').click();
    await waitFor(async () => (await selectedBranchLabel(page)).startsWith('agent-alt'), 'the agent branch to be shown');
    await step(page, 3).waitFor();
    // The branch's agent has finished: its step has its reply (the rollout bar may still show the
    // earlier rollout's "finished" before this one starts, and a rewind waits for a running one).
    await waitFor(async () => (await step(page, 3).getByTestId('step-tool').innerText().catch(() => '')) === 'finish', 'the branch agent to reply');
    await page.locator('[data-testid="rollout-state"][data-state="finished"]').waitFor({ timeout: 20_000 });
    await expect(step(page, 3).getAttribute('data-branch-id')).resolves.not.toBe(await step(page, 2).getAttribute('data-branch-id'));
    await expect(step(page, 3).getByTestId('step-world-current').innerText()).resolves.toContain("ran in the current state, not step 2's");
    await expect(step(page, 2).getByTestId('step-guidance').innerText()).resolves.toMatch(/delivered at step 3[\s\S]*Try a different approach/i);
    // The branch's request reached the endpoint with the guidance (the step shows before its request is
    // sent, so the request may still be on its way on a loaded machine: waited for, not assumed).
    const guidedRequest = () => ui.fake.requests.filter((r) => r.body?.stream === true).find((r) =>
      (r.body.messages as Array<{ role: string; content: unknown }>).some((m) => m.role === 'user' && String(m.content).includes('<real_user>Try a different approach.')));
    await waitFor(async () => guidedRequest() !== undefined, 'the guided request at the endpoint');
    // It is the branch's own: it continues from step 2's context (two replies before it), not from main's end.
    expect((guidedRequest()!.body.messages as Array<{ role: string }>).filter((m) => m.role === 'assistant')).toHaveLength(2);
    await step(page, 1).getByTestId('step-tool').click();

    // ---- rewind to step 1, nobody continues ----
    await page.keyboard.press('Shift+R');
    await page.getByTestId('rewind-dialog').waitFor();
    await page.getByTestId('rewind-profile').selectOption('');
    await screenshot(page, 'traj-rewind-dialog.png');
    // A build's worth of new files, none in step 1's checkpoint: kept first, then moved aside, which takes
    // long enough that the dialog must say what the host is doing while it runs.
    await mkdir(join(ui.cwd, 'build'), { recursive: true });
    for (let i = 0; i < 40; i++) await Promise.all(Array.from({ length: 500 }, (_, k) => writeFile(join(ui.cwd, 'build', `o${i * 500 + k}.o`), `${i * 500 + k}\n`)));
    await page.getByTestId('rewind-confirm').click();
    const progress = page.getByTestId('rewind-progress');
    await progress.waitFor({ timeout: 20_000 });
    // Read together: while the host restores, the dialog says what it does, and its other button only closes it.
    const shown = await page.evaluate(() => {
      const p = document.querySelector('[data-testid="rewind-progress"]');
      const close = p?.closest('[data-testid="rewind-dialog"]')?.querySelector('button:not([type="submit"])');
      return { text: (p as HTMLElement | null)?.innerText ?? '', button: close?.textContent ?? '' };
    });
    expect(shown.text).toMatch(/^(Looking at the working directory|Keeping its current files|Writing [\d,]+ files? from the checkpoint|Putting [\d,]+ files? in place|Starting a fresh shell)/);
    expect(shown.button).toBe('Close');
    await screenshot(page, 'traj-rewind-progress.png');
    await page.getByTestId('rewind-dialog').waitFor({ state: 'detached', timeout: 60_000 });
    await waitFor(async () => /Rewind/i.test(await selectedBranchLabel(page)), 'the rewind branch to be shown');
    expect(existsSync(join(ui.cwd, 'build', 'o0.o'))).toBe(false);
    await expect(page.getByTestId('branch-select').locator('option').count()).resolves.toBe(4);
    await screenshot(page, 'traj-rewind.png');
    expect(pageErrors).toEqual([]);
    await page.close();
  });
});
