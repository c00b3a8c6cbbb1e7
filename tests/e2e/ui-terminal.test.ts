// The live terminal as a person uses it, in real Chromium against `apollo serve`:
// clipboard (Ctrl+Shift+V paste, Ctrl+Shift+C and selection copy, right-click paste),
// several terminal tabs each with its own output, renaming and deleting sessions,
// and an 8 MB flood of output that leaves the page responsive.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { screenshot, startServerAndBrowser, waitFor, type Server } from './harness';


let home: string;
let server: Server;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let gateDir = '';
const pageErrors: string[] = [];

/**
 * Flow control as seen on the wire, per terminal since its latest `terminal.attach`:
 * bytes of `terminal.data` received and bytes acknowledged with `terminal.ack`.
 */
const flow = new Map<string, { data: number; acked: number; attaches: number }>();
function account(ids: { sessionId: string; terminalId: string }) {
  const key = `${ids.sessionId}/${ids.terminalId}`;
  let a = flow.get(key);
  if (!a) flow.set(key, (a = { data: 0, acked: 0, attaches: 0 }));
  return a;
}
function watchFlow(p: Page): void {
  p.on('websocket', (ws) => {
    ws.on('framereceived', ({ payload }) => {
      const m = JSON.parse(String(payload)) as { kind: string; name?: string; payload?: { sessionId: string; terminalId: string; bytes: number } };
      if (m.kind === 'evt' && m.name === 'terminal.data' && m.payload) account(m.payload).data += m.payload.bytes;
    });
    ws.on('framesent', ({ payload }) => {
      const m = JSON.parse(String(payload)) as { kind: string; cmd?: string; args?: { sessionId: string; terminalId: string; bytes: number } };
      if (m.kind !== 'req' || !m.args) return;
      if (m.cmd === 'terminal.attach') {
        const a = account(m.args);
        a.data = a.acked = 0;
        a.attaches++;
      } else if (m.cmd === 'terminal.ack') account(m.args).acked += m.args.bytes;
    });
  });
}

/** The screen of one terminal (by id), shown or not. */
function screen(terminalId: string): Locator {
  return page.locator(`[data-testid="terminal"][data-terminal-id="${terminalId}"]`);
}

/** What the terminal shown now displays. */
async function shownText(): Promise<string> {
  return page.locator('.terminal-pane:not(.hidden) [data-testid="terminal"] .xterm-rows').innerText();
}

async function waitShown(re: RegExp, timeout = 15_000): Promise<string> {
  let text = '';
  await waitFor(async () => re.test((text = await shownText())), () => `the terminal to show ${re}; it shows:\n${text}`, timeout);
  return text;
}

/** Which terminal is shown (its tab is selected and its pane visible). */
async function shownTerminal(): Promise<string | null> {
  return page.locator('.terminal-pane:not(.hidden) [data-testid="terminal"]').getAttribute('data-terminal-id');
}

async function clipboard(): Promise<string> {
  return page.evaluate(() => navigator.clipboard.readText());
}

async function setClipboard(text: string): Promise<void> {
  await page.evaluate((t) => navigator.clipboard.writeText(t), text);
}

/** A shell without the user's start-up files: the same prompt and speed on every machine. */
const SHELL = 'bash --norc --noprofile';

async function newSession(name: string, command = SHELL): Promise<string> {
  await page.getByTestId('new-session').click();
  await page.getByTestId('session-name-input').fill(name);
  await page.getByTestId('session-cwd-input').fill(home);
  if (command) await page.getByTestId('session-command-input').fill(command);
  await page.getByTestId('create-session').click();
  const item = page.getByTestId('session-item').filter({ hasText: name });
  await waitFor(async () => (await item.getAttribute('data-active')) === 'true', `session ${name} to open`);
  await screen('main').locator('.xterm').waitFor();
  await waitShown(/[#$]\s*$/m);
  return (await item.getAttribute('data-session-id'))!;
}

/** Type a command line into the terminal shown (it has the focus after a click). */
async function run(line: string): Promise<void> {
  await page.locator('.terminal-pane:not(.hidden) [data-testid="terminal"] .xterm-screen').click();
  await page.keyboard.type(line);
  await page.keyboard.press('Enter');
}

/** Milliseconds the page takes to answer (a busy main thread answers late). */
async function pageLatency(): Promise<number> {
  const t0 = Date.now();
  await page.evaluate(() => new Promise<void>((r) => requestAnimationFrame(() => r())));
  return Date.now() - t0;
}

/**
 * Starts recording the page's long tasks (main-thread work of 50 ms or more). What a
 * person feels as a frozen page is one of these; a round trip from the test to a frame
 * (pageLatency) also counts the test's and the browser process's turns on a loaded CPU.
 */
async function watchLongTasks(): Promise<() => Promise<number>> {
  await page.evaluate(() => {
    const w = window as unknown as { __longest: number };
    w.__longest = 0;
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) w.__longest = Math.max(w.__longest, e.duration);
    }).observe({ type: 'longtask' });
  });
  return () => page.evaluate(() => (window as unknown as { __longest: number }).__longest);
}

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'apollo-e2e-ui-term-'));
  // A FIFO (outside the sessions' folder) that a hidden tab's command reads before it prints.
  gateDir = await mkdtemp(join(tmpdir(), 'apollo-e2e-ui-term-gate-'));
  execFileSync('mkfifo', [join(gateDir, 'late')]);
  ({ server, browser } = await startServerAndBrowser(home));
  context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  // 127.0.0.1 is a secure context; the async clipboard API also wants the permission.
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: new URL(server.url).origin });
  page = await context.newPage();
  page.on('pageerror', (e) => pageErrors.push(e.message));
  watchFlow(page);
  // Keep a handle on the page's WebSockets, to drop the connection from the test.
  await page.addInitScript(() => {
    const Native = window.WebSocket;
    const sockets: WebSocket[] = [];
    (window as unknown as { __apolloSockets: WebSocket[] }).__apolloSockets = sockets;
    window.WebSocket = class extends Native {
      constructor(url: string | URL, protocols?: string | string[]) {
        super(url, protocols);
        sockets.push(this);
      }
    };
  });
  await page.goto(server.url);
  await page.getByTestId('session-list').waitFor();
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
  await rm(home, { recursive: true, force: true });
  await rm(gateDir, { recursive: true, force: true });
});

describe('the live terminal in the browser', () => {
  it('pastes with Ctrl+Shift+V and right-click, copies the selection and with Ctrl+Shift+C', async () => {
    await newSession('clipboard');

    // Ctrl+Shift+V pastes into the shell, which runs it.
    await setClipboard('echo pasted-$((6*7))-ok');
    await page.locator('.terminal-pane:not(.hidden) [data-testid="terminal"] .xterm-screen').click();
    await page.keyboard.press('Control+Shift+V');
    await waitShown(/echo pasted-\$\(\(6\*7\)\)-ok/);
    await page.keyboard.press('Enter');
    await waitShown(/^pasted-42-ok\s*$/m);

    // Selecting output copies it (double-click selects a word).
    const row = page.locator('.terminal-pane:not(.hidden) .xterm-rows > div', { hasText: /^pasted-42-ok\s*$/ }).first();
    const box = (await row.boundingBox())!;
    await setClipboard('before');
    await page.mouse.dblclick(box.x + 4, box.y + box.height / 2);
    await waitFor(async () => (await clipboard()) === 'pasted-42-ok', 'the selection to be copied');

    // Ctrl+Shift+C copies the selection again, and sends nothing to the shell.
    await setClipboard('something else');
    await page.keyboard.press('Control+Shift+C');
    await waitFor(async () => (await clipboard()) === 'pasted-42-ok', 'Ctrl+Shift+C to copy');
    await page.keyboard.type('echo still-$((1+1))');
    await page.keyboard.press('Enter');
    const after = await waitShown(/^still-2\s*$/m);
    expect(after).not.toContain('^C');

    // Right-click pastes (through the async clipboard API: needs the permission).
    await setClipboard('echo right-click-$((3*3))');
    await page.locator('.terminal-pane:not(.hidden) [data-testid="terminal"] .xterm-screen').click({ button: 'right' });
    await waitShown(/echo right-click-\$\(\(3\*3\)\)/);
    await page.keyboard.press('Enter');
    await waitShown(/^right-click-9\s*$/m);
    await screenshot(page, 'ui-terminal-clipboard.png');
  });

  it('keeps each terminal tab to its own output, also while it is not shown', async () => {
    await page.getByTestId('add-terminal').click();
    await page.getByTestId('add-terminal-dialog').waitFor();
    await page.getByTestId('terminal-name-input').fill('second');
    await page.getByTestId('terminal-command-input').fill(SHELL);
    await page.getByTestId('create-terminal').click();
    await page.getByTestId('add-terminal-dialog').waitFor({ state: 'detached' });
    await waitFor(async () => (await shownTerminal()) === 'second', 'the new terminal to be shown');
    await expect(page.locator('[data-testid="terminal-tab"][data-terminal-id="second"]').getAttribute('aria-selected')).resolves.toBe('true');
    await waitShown(/[#$]\s*$/m);
    await run('echo only-in-$((1+1))nd');
    await waitShown(/^only-in-2nd\s*$/m);
    // Output that arrives while the tab is hidden is there when it is shown again: the
    // line is printed once the test writes to the FIFO, with the other tab shown (a
    // `sleep 1` before it cost the second and raced the switch on a loaded machine).
    await run(`read -r _ < ${join(gateDir, 'late')}; echo late-in-$((1+1))nd`);

    await page.locator('[data-testid="terminal-tab"][data-terminal-id="main"]').click();
    await waitFor(async () => (await shownTerminal()) === 'main', 'main to be shown');
    await writeFile(join(gateDir, 'late'), 'go\n');
    const main = await waitShown(/right-click-9/);
    expect(main).not.toContain('only-in-2nd');
    await run('echo only-in-$((0+1))st');
    await waitShown(/^only-in-1st\s*$/m);
    // The late line is in the host's recording before its tab is shown again.
    const sessionId = (await page.locator('[data-testid="session-item"][data-active="true"]').getAttribute('data-session-id'))!;
    const recording = join(home, 'sessions', sessionId, 'terminals', 'second.out');
    await waitFor(async () => (await readFile(recording, 'utf8').catch(() => '')).includes('late-in-2nd'), 'the hidden terminal to print its late line');

    await page.locator('[data-testid="terminal-tab"][data-terminal-id="second"]').click();
    await waitFor(async () => (await shownTerminal()) === 'second', 'second to be shown again');
    const second = await waitShown(/^late-in-2nd\s*$/m);
    expect(second).toContain('only-in-2nd');
    expect(second).not.toContain('only-in-1st');
    expect(second).not.toContain('right-click-9');
    // Typing goes to the terminal shown.
    await run('echo typed-$((2+2))-here');
    await waitShown(/^typed-4-here\s*$/m);
    await screenshot(page, 'ui-terminal-tabs.png');
    await page.locator('[data-testid="terminal-tab"][data-terminal-id="main"]').click();
    expect(await waitShown(/only-in-1st/)).not.toContain('typed-4-here');

    // A terminal started elsewhere (here: another window; else the agent) opens in the
    // background: its output is there, at the pane's size, when its tab is chosen.
    const other = await context.newPage();
    await other.goto(server.url);
    await other.getByTestId('session-item').filter({ hasText: 'clipboard' }).click();
    await other.getByTestId('add-terminal').click();
    await other.getByTestId('terminal-name-input').fill('third');
    await other.getByTestId('terminal-command-input').fill(SHELL);
    await other.getByTestId('create-terminal').click();
    await other.locator('[data-testid="terminal"][data-terminal-id="third"] .xterm-rows', { hasText: /[#$]/ }).waitFor();
    await other.locator('[data-testid="terminal"][data-terminal-id="third"] .xterm-screen').click();
    await other.keyboard.type('echo from-the-other-$((3*3))\n');
    await other.locator('[data-testid="terminal"][data-terminal-id="third"] .xterm-rows', { hasText: 'from-the-other-9' }).waitFor();
    await other.close();
    await expect(shownTerminal()).resolves.toBe('main');
    await page.locator('[data-testid="terminal-tab"][data-terminal-id="third"]').click();
    await waitFor(async () => (await shownTerminal()) === 'third', 'third to be shown');
    await waitShown(/^from-the-other-9\s*$/m);
    const pane = (await page.locator('.terminal-pane:not(.hidden) .terminal-frame').boundingBox())!;
    await waitFor(async () => ((await screen('third').locator('.xterm-screen').boundingBox())?.width ?? 0) > pane.width - 40, 'the background terminal to fit its pane');
    await run('echo here-too');
    await waitShown(/^here-too\s*$/m);

    // From the keyboard: the selected tab is the tab stop, arrows move between tabs.
    await page.locator('[data-testid="terminal-tab"][data-terminal-id="third"]').focus();
    await page.keyboard.press('ArrowLeft');
    await waitFor(async () => (await shownTerminal()) === 'second', 'ArrowLeft to show the previous tab');
    const focusedTab = () => page.evaluate(() => document.activeElement?.getAttribute('data-terminal-id') ?? null);
    await waitFor(async () => (await focusedTab()) === 'second', 'the focus to stay on the tabs');
    await page.keyboard.press('Home');
    await waitFor(async () => (await shownTerminal()) === 'main' && (await focusedTab()) === 'main', 'Home to show the first tab');
    await page.keyboard.press('Enter');
    await expect(shownTerminal()).resolves.toBe('main');
  });

  it('follows a terminal that is started again under the same name (a new process, the same recording)', async () => {
    await page.locator('[data-testid="terminal-tab"][data-terminal-id="second"]').click();
    await waitFor(async () => (await shownTerminal()) === 'second', 'second to be shown');
    await run('exit');
    const tab = page.locator('[data-testid="terminal-tab"][data-terminal-id="second"]');
    await waitFor(async () => (await tab.getAttribute('data-status')) === 'exited', 'second to exit');
    const sessionId = (await page.locator('[data-testid="session-item"][data-active="true"]').getAttribute('data-session-id'))!;
    // As the agent's create_session does: the same id again (only possible once the old one exited).
    const created = await page.evaluate(
      ({ sessionId, args }) =>
        new Promise<string>((resolve) => {
          const ws = new WebSocket(`ws://${location.host}/ws?token=${encodeURIComponent(sessionStorage.getItem('apollo.token') ?? '')}`);
          ws.onopen = () => ws.send(JSON.stringify({ kind: 'req', id: 1, cmd: 'terminal.create', args: { sessionId, id: 'second', command: 'bash', args } }));
          ws.onmessage = (ev) => {
            const m = JSON.parse(String(ev.data)) as { kind: string; id?: number; ok?: boolean; error?: { message: string } };
            if (m.kind === 'res' && m.id === 1) {
              resolve(m.ok ? 'ok' : (m.error?.message ?? 'failed'));
              ws.close();
            }
          };
        }),
      { sessionId, args: ['--norc', '--noprofile'] },
    );
    expect(created).toBe('ok');
    await waitFor(async () => (await tab.getAttribute('data-status')) === 'running', 'second to run again');
    // The screen keeps the old output and shows the new process's.
    await run('echo reborn-$((1+1))');
    const text = await waitShown(/^reborn-2\s*$/m);
    expect(text).toContain('typed-4-here');
    expect(pageErrors).toEqual([]);
  });

  it('renames a session (Enter saves, Esc cancels) and the name survives a reload', async () => {
    const item = page.locator('[data-testid="session-item"][data-active="true"]');
    await item.getByTestId('rename-session').click();
    const input = item.getByTestId('rename-input');
    await expect(input.evaluate((el) => el === document.activeElement)).resolves.toBe(true);
    await input.fill('renamed by the test');
    await input.press('Enter');
    await waitFor(async () => (await item.getByTestId('session-name').innerText()) === 'renamed by the test', 'the new name');
    await expect(page.locator('.session-title').innerText()).resolves.toBe('renamed by the test');

    await item.getByTestId('rename-session').click();
    await item.getByTestId('rename-input').fill('not this one');
    await item.getByTestId('rename-input').press('Escape');
    await item.getByTestId('session-name').waitFor();
    await expect(item.getByTestId('session-name').innerText()).resolves.toBe('renamed by the test');

    await page.reload();
    await page.getByTestId('session-item').filter({ hasText: 'renamed by the test' }).waitFor();
    await expect(page.getByTestId('session-item').filter({ hasText: 'not this one' }).count()).resolves.toBe(0);
  });

  it('deletes a session only once confirmed; Esc and Cancel keep it', async () => {
    const id = await newSession('to be deleted');
    const item = page.locator(`[data-testid="session-item"][data-session-id="${id}"]`);
    const dialog = page.getByTestId('delete-session-dialog');

    await item.getByTestId('delete-session').click();
    await dialog.waitFor();
    // Focus is in the dialog (on Cancel) and Tab keeps it there.
    await expect(page.evaluate(() => document.activeElement?.textContent)).resolves.toBe('Cancel');
    for (let i = 0; i < 5; i++) {
      await page.keyboard.press('Tab');
      await expect(dialog.evaluate((el) => el.contains(document.activeElement))).resolves.toBe(true);
    }
    await page.keyboard.press('Shift+Tab');
    await expect(dialog.evaluate((el) => el.contains(document.activeElement))).resolves.toBe(true);
    await screenshot(page, 'ui-terminal-delete-dialog.png');
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    await expect(item.count()).resolves.toBe(1);

    await item.getByTestId('delete-session').click();
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'detached' });
    await expect(item.count()).resolves.toBe(1);

    await item.getByTestId('delete-session').click();
    await expect(dialog.innerText()).resolves.toMatch(/still running and will be stopped/);
    await dialog.getByTestId('confirm-delete').click();
    await dialog.waitFor({ state: 'detached' });
    await item.waitFor({ state: 'detached' });
    await expect(page.getByTestId('session-item').filter({ hasText: 'renamed by the test' }).count()).resolves.toBe(1);
    await expect(page.getByTestId('toast').count()).resolves.toBe(0);
  });

  it('stays responsive through an 8 MB flood of output and shows its end', async () => {
    const item = page.getByTestId('session-item').filter({ hasText: 'renamed by the test' });
    await item.click();
    await waitFor(async () => (await shownTerminal()) !== null, 'a terminal to be shown');
    await page.locator('[data-testid="terminal-tab"][data-terminal-id="main"]').click();
    await waitShown(/only-in-1st/);
    const main = account({ sessionId: (await item.getAttribute('data-session-id'))!, terminalId: 'main' });
    const attachesBefore = main.attaches;
    const longestTask = await watchLongTasks();
    const started = Date.now();
    // 8 MB lasts several seconds at the UI's pace (README: ~1.5-4 MB/s), so the screen falls
    // behind and is skipped several times (once a second, 256 KB each); throughput is the bench's.
    await run('yes | head -c 8000000; echo flood-$((40+2))-end');

    // While it pours in, the page answers and the app's controls work.
    let worst = 0;
    let sawFlood = false;
    while (Date.now() - started < 120_000) {
      worst = Math.max(worst, await pageLatency());
      const text = await shownText();
      if (/^y$/m.test(text)) sawFlood = true;
      if (/^flood-42-end\s*$/m.test(text)) break;
      await page.waitForTimeout(200);
    }
    await waitShown(/^flood-42-end\s*$/m, 5_000);
    const seconds = (Date.now() - started) / 1000;
    expect(sawFlood).toBe(true);
    // A page that parsed the flood in one go would be blocked for most of the time the
    // flood took to show (8 MB at xterm's ~2-5 MB/s); time-sliced, skipped when behind,
    // no task comes near that. Relative to that time, not a fixed figure: on a loaded
    // machine (CI runs the typecheck and the lint beside the tests) every task is longer,
    // and one descheduled task once took 1.09 s while the flood took several seconds.
    const longest = await longestTask();
    expect(longest).toBeLessThan((seconds * 1000) / 3);

    await page.getByTestId('new-session').click();
    await page.getByTestId('new-session-dialog').waitFor();
    await page.keyboard.press('Escape');
    await page.getByTestId('new-session-dialog').waitFor({ state: 'detached' });

    // Typing still reaches the shell, promptly.
    const t0 = Date.now();
    await run('echo after-flood-$((5*5))');
    await waitShown(/^after-flood-25\s*$/m, 10_000);
    const echoMs = Date.now() - t0;
    await screenshot(page, 'ui-terminal-flood.png');
    console.log(`flood: 8 MB shown in ${seconds.toFixed(1)} s, worst page latency ${worst} ms, longest task ${Math.round(longest)} ms, echo after it ${echoMs} ms`);

    // The screen was sent what it could take (a flood faster than it parses is skipped
    // rather than holding the shell back, and its end read back); every byte it got
    // was acknowledged, once (acks are batched: give them a moment).
    expect(main.data).toBeGreaterThan(0);
    await waitFor(() => main.acked === main.data, () => `acks (${main.acked}) to match data (${main.data})`, 5_000);
    await page.waitForTimeout(300);
    expect(main.acked).toBe(main.data);

    // Away to another session and back (detach, attach again): the replay paints the
    // screen, and the new attachment's output is acknowledged exactly once too.
    await newSession('elsewhere');
    await item.click();
    await waitFor(async () => (await shownTerminal()) === 'main', 'main to be shown again');
    await waitShown(/after-flood-25/);
    expect(main.attaches).toBeGreaterThan(attachesBefore);
    await run('seq 1 300000 | tail -c 2000000 >/dev/null; seq 1 40000; echo again-$((6*7))');
    await waitShown(/^again-42\s*$/m, 30_000);
    await waitFor(() => main.data > 0 && main.acked === main.data, () => `acks (${main.acked}) to match data (${main.data}) after attaching again`, 5_000);
    expect(pageErrors).toEqual([]);
  }, 180_000);

  it('reconnects by itself when the connection drops while the host keeps running', async () => {
    await page.getByTestId('session-item').filter({ hasText: 'renamed by the test' }).click();
    await waitFor(async () => (await shownTerminal()) === 'main', 'main to be shown');
    await page.evaluate(() => {
      for (const ws of (window as unknown as { __apolloSockets: WebSocket[] }).__apolloSockets) ws.close();
    });
    const screenEl = page.getByTestId('connection-error');
    await waitFor(async () => (await screenEl.getAttribute('data-state')) === 'lost', 'the lost-connection screen');
    await expect(page.getByTestId('connection-retrying').innerText()).resolves.toMatch(/reconnect/i);
    await screenshot(page, 'ui-terminal-lost.png');
    // The host answers the probe: the page reloads and works again.
    await page.getByTestId('session-list').waitFor({ timeout: 15_000 });
    await page.getByTestId('session-item').filter({ hasText: 'renamed by the test' }).click();
    await waitFor(async () => (await shownTerminal()) === 'main', 'main to be shown after reconnecting');
    await run('echo back-$((50+50))');
    await waitShown(/^back-100\s*$/m);
    expect(pageErrors).toEqual([]);
  });
});
