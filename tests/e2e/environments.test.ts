// Environments from the UI, in real Chromium against `apollo serve` and a real sshd
// (tests/fixtures/sshd.ts): Settings lists the profiles, tests one (it connects and says
// what it found) and adds and removes another; the New session dialog picks an
// environment, and the session's terminal then runs on that host.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, screenshot, startServerAndBrowser, waitForTerminalText, type Server } from './harness';
import { sshdUnavailable, startSshd, type Sshd } from '../fixtures/sshd';

const run = promisify(execFile);
const why = await sshdUnavailable();
if (why) console.log(`skipped: no sshd (${why})`);

describe.skipIf(!!why)('environments in the UI', () => {
  let sshd: Sshd;
  let home: string;
  let server: Server;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    sshd = await startSshd();
    await mkdir(join(sshd.home, 'proj'));
    await writeFile(join(sshd.home, 'marker'), '');
    home = await mkdtemp(join(tmpdir(), 'apollo-e2e-env-'));
    // A profile that needs ssh options the form does not offer is added from the command line, as the form says.
    const s = sshd.spec('gpu');
    await run(process.execPath, [
      CLI, 'env', 'add', 'gpu', '--ssh', `${s.user}@127.0.0.1:${sshd.port}`, '--identity', s.identity!,
      ...s.options!.flatMap((o) => ['--ssh-option', o]), '--workdir', join(sshd.home, 'proj'), '--state-dir', s.stateDir!, '--home', home,
    ]);
    ({ server, browser } = await startServerAndBrowser(home, { env: { SHELL: '/bin/bash', HISTFILE: '/dev/null' } }));
    page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
    await page.goto(server.url);
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    await sshd?.close();
    await rm(home, { recursive: true, force: true });
  });

  const item = (name: string) => page.locator(`[data-testid="environment-item"][data-name="${name}"]`);

  it('Settings lists the profiles, tests one, adds and removes another', async () => {
    await page.getByTestId('settings-open').click();
    await page.getByTestId('environment-settings').waitFor();
    await item('gpu').waitFor();
    expect(await page.getByTestId('environment-item').evaluateAll((els) => els.map((e) => e.getAttribute('data-name')))).toEqual(['local', 'gpu']);
    await expect(item('gpu').innerText()).resolves.toContain(`ssh ${sshd.spec().user}@127.0.0.1:${sshd.port}`);

    await item('gpu').getByTestId('environment-test').click();
    const result = page.getByTestId('environment-test-result');
    await result.waitFor();
    const text = await result.innerText();
    expect(text).toMatch(/^environment gpu: ssh .*\n {2}reached in \d+ ms: Linux/);
    expect(text).toContain('checkpoints and rewind work there');
    expect(text).toContain('tmux: shells run in tmux there');
    expect(text).toContain(`working folder ${join(sshd.home, 'proj')}`);
    await item('gpu').scrollIntoViewIfNeeded();
    await screenshot(page, 'env-settings-1280x720.png');
    await page.setViewportSize({ width: 1400, height: 900 });
    await screenshot(page, 'env-settings-1400x900.png');

    // Add a container profile through the form, then remove it.
    await page.getByTestId('environment-kind').selectOption('docker');
    await page.getByTestId('environment-name').fill('box');
    await page.getByTestId('environment-target').fill('trainer');
    await page.getByTestId('environment-workdir').fill('/work');
    await page.getByTestId('environment-add').click();
    await item('box').waitFor();
    await expect(item('box').innerText()).resolves.toMatch(/docker container trainer[\s\S]*\/work/);
    await item('box').getByTestId('environment-remove').click();
    await item('box').waitFor({ state: 'detached' });
    // Saved by the host: a new look at Settings shows the same list.
    await page.getByTestId('settings-close').click();
    await page.getByTestId('settings-open').click();
    await item('gpu').waitFor();
    expect(await page.getByTestId('environment-item').evaluateAll((els) => els.map((e) => e.getAttribute('data-name')))).toEqual(['local', 'gpu']);
    await page.getByTestId('settings-close').click();
  });

  it('the New session dialog picks an environment; the session works there', async () => {
    await page.setViewportSize({ width: 1280, height: 720 });
    await page.getByTestId('new-session').click();
    await page.getByTestId('session-name-input').fill('on the gpu box');
    const picker = page.getByTestId('session-environment');
    // The dialog lists the environments once environments.list answers.
    await expect.poll(() => picker.locator('option').allInnerTexts()).toEqual(['This machine', `gpu — ssh ${sshd.spec().user}@127.0.0.1:${sshd.port}`]);
    await picker.selectOption('gpu');
    await expect.poll(() => page.getByTestId('session-cwd-input').getAttribute('placeholder')).toBe(`defaults to ${join(sshd.home, 'proj')}`);
    await expect(page.getByTestId('new-session-dialog').innerText()).resolves.toContain('Terminals, files and checkpoints are in ssh');
    await screenshot(page, 'env-new-session-1280x720.png');
    await page.setViewportSize({ width: 1400, height: 900 });
    await screenshot(page, 'env-new-session-1400x900.png');
    await page.getByTestId('create-session').click();

    // The first terminal is a shell on the host, in the profile's working folder.
    await page.locator('[data-testid="terminal"] .xterm').waitFor();
    await waitForTerminalText(page, /[#$]/);
    await page.locator('[data-testid="terminal"] .xterm').click();
    await page.keyboard.type('test -f ~/marker && echo "found-$((40+2)) in $PWD"\n');
    await waitForTerminalText(page, new RegExp(`found-42 in ${join(sshd.home, 'proj')}`));
    await screenshot(page, 'env-session-1400x900.png');
    const { stdout } = await run(process.execPath, [CLI, 'sessions', '--json', '--home', home]);
    const sessions = JSON.parse(stdout) as Array<{ name: string; cwd: string }>;
    expect(sessions.find((s) => s.name === 'on the gpu box')).toMatchObject({ cwd: join(sshd.home, 'proj') });
  });
});
