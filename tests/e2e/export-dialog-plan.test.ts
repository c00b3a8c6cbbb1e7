// The Export dialog plans the export (the counts it shows) and its Export button writes
// it; the host hands the plan's examples to that export (bundle.ts keepPlan). Whatever it
// takes from the plan, the bundle it writes for a recorded session is byte for byte what
// `apollo export` of the same session and options writes in a process of its own.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { treeHashes } from '../fixtures/tree-hashes';
import { generateInto, runCli, startServerAndBrowser, waitFor, type Server } from './harness';

const ID = 'bench-40-steps-1h';
let root: string;
let home: string;
let server: Server;
let browser: Browser;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'apollo-e2e-export-plan-'));
  home = join(root, 'home');
  const prepare = () => generateInto(home, ['--steps', '40', '--hours', '1', '--terminal-mb', '1']);
  ({ server, browser } = await startServerAndBrowser(home, { prepare }));
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await server?.stop();
  if (root) await rm(root, { recursive: true, force: true });
});

describe('the Export dialog', () => {
  it('writes, after its plan, the bundle apollo export writes of the same session', async () => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(server.url);
    await page.getByTestId('session-item').filter({ hasText: /Fine-tuning/ }).click();
    await page.getByTestId('view-filter').click();
    await page.getByTestId('export-open').click();
    await page.getByTestId('export-dialog').waitFor();
    await waitFor(async () => (await page.getByTestId('export-plan').getAttribute('data-state')) === 'ready', 'the export plan', 30_000);
    const viaDialog = join(root, 'dialog');
    await page.getByTestId('export-out').fill(viaDialog);
    await page.getByTestId('export-start').click();
    await page.getByTestId('export-result').waitFor({ timeout: 60_000 });
    await expect(page.getByTestId('export-built-because').count()).resolves.toBe(1);
    expect(errors).toEqual([]);
    await page.close();
    await server.stop();

    // Nothing kept beside the session for the command to take: it builds every file itself.
    await rm(join(home, 'sessions', ID, 'export-cache'), { recursive: true, force: true });
    // The branches the dialog exported (it starts with the one on screen), asked of the command by name.
    const manifest = JSON.parse(await readFile(join(viaDialog, 'manifest.json'), 'utf8')) as { sessions: Array<{ branches: Array<{ branchId: string; exported: boolean }> }> };
    const branches = manifest.sessions[0]!.branches.filter((b) => b.exported).map((b) => b.branchId);
    expect(branches.length).toBeGreaterThan(0);
    const viaCli = join(root, 'cli');
    const r = await runCli(['export', ID, '--out', viaCli, '--home', home, '--branch', branches.join(',')]);
    expect(r.code, r.out).toBe(0);
    const [dialog, cli] = await Promise.all([treeHashes(viaDialog), treeHashes(viaCli)]);
    expect(Object.keys(dialog)).toContain('openai.jsonl');
    expect(dialog).toEqual(cli);
  }, 180_000);
});
