// The token counts kept beside a session's log: a second export of the same session
// counts no text again and writes the same bundle; a session that grew counts only its
// new texts; a store that is not valid is ignored and rewritten; a dry run writes none;
// the file is the owner's only.
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportBundle, type ExportBundleResult } from '../../electron/core/dataset/bundle';
import { storeHeader, TOKEN_STORE_FILE, TOKEN_STORE_HEADER_BYTES } from '../../electron/core/dataset/token-store';
import { tokenizedTexts } from '../../electron/core/dataset/tokens';
import type { SessionEvent } from '../../shared/events';
import { realisticSession } from '../fixtures/sessions';

let root: string;
let n = 0;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'apollo-token-store-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function session(): Promise<string> {
  const dir = join(root, `s${++n}`);
  await mkdir(dir, { recursive: true });
  return dir;
}

/** Export openai + sharegpt (the per-action history cap decides by tokens); returns the result, its files and the texts tokenized. */
async function exportOnce(dir: string, events: SessionEvent[], dryRun = false): Promise<{ r: ExportBundleResult; files: string[]; counted: number }> {
  const before = tokenizedTexts();
  const out = join(root, `out${++n}`);
  const r = await exportBundle({ home: root, sessions: [{ sessionId: 'S1', events, sessionDir: dir }], outDir: out, formats: ['openai', 'sharegpt'], secrets: [], appVersion: 'x', historyTokens: 300, dryRun });
  const files = dryRun ? [] : await Promise.all(['openai.jsonl', 'sharegpt.jsonl', 'manifest.json'].map((f) => readFile(join(out, f), 'utf8')));
  return { r, files, counted: tokenizedTexts() - before };
}

describe('token counts kept beside the log', () => {
  it('a second export counts nothing again and writes the same bundle', async () => {
    const events = realisticSession().events;
    const dir = await session();
    const first = await exportOnce(dir, events);
    expect(first.counted).toBeGreaterThan(10);
    const st = await stat(join(dir, TOKEN_STORE_FILE));
    expect(st.mode & 0o777).toBe(0o600);
    const second = await exportOnce(dir, events);
    expect(second.counted).toBe(0);
    expect(second.files).toEqual(first.files);
    expect(second.r.manifest.counts.tokens.total).toBe(first.r.manifest.counts.tokens.total);
    // Nothing new: the file is left as it was.
    expect((await stat(join(dir, TOKEN_STORE_FILE))).mtimeMs).toBe(st.mtimeMs);
  });

  it('a session that grew counts only its new texts, and gives what a fresh count gives', async () => {
    const events = realisticSession().events;
    const dir = await session();
    await exportOnce(dir, events);
    const grown = realisticSession({ plant: { output: 'a new observation nobody counted before, '.repeat(20) } }).events;
    const again = await exportOnce(dir, grown);
    expect(again.counted).toBeGreaterThan(0);
    expect(again.counted).toBeLessThan(10);
    const fresh = await exportOnce(await session(), grown);
    expect(fresh.counted).toBeGreaterThan(again.counted);
    expect(again.files).toEqual(fresh.files);
  });

  it('a store that is not valid is ignored, counted afresh and rewritten; a dry run writes none', async () => {
    const events = realisticSession().events;
    const dir = await session();
    const dry = await exportOnce(dir, events, true);
    expect(dry.counted).toBeGreaterThan(10);
    await expect(stat(join(dir, TOKEN_STORE_FILE))).rejects.toMatchObject({ code: 'ENOENT' });
    const good = await exportOnce(dir, events);
    const bytes = await readFile(join(dir, TOKEN_STORE_FILE));
    // Cut short (as by a crash), then of another format: each time every text is counted again.
    for (const bad of [bytes.subarray(0, bytes.length - 7), Buffer.concat([Buffer.from('APTOKEN0'), bytes.subarray(8)])]) {
      await writeFile(join(dir, TOKEN_STORE_FILE), bad);
      const again = await exportOnce(dir, events);
      expect(again.counted).toBe(good.counted);
      expect(again.files).toEqual(good.files);
      expect(await readFile(join(dir, TOKEN_STORE_FILE))).toEqual(bytes);
    }
  });
});

describe('token counts of another tokenizer', () => {
  it('are never read: a build with another gpt-tokenizer version counts every text again', async () => {
    const events = realisticSession().events;
    const dir = await session();
    const good = await exportOnce(dir, events);
    const bytes = await readFile(join(dir, TOKEN_STORE_FILE));
    // The same records (every count 1, as a tokenizer that splits differently might have it) under another version's header.
    const records = Buffer.from(bytes.subarray(TOKEN_STORE_HEADER_BYTES));
    for (let at = 16; at < records.length; at += 20) records.writeUInt32LE(1, at);
    await writeFile(join(dir, TOKEN_STORE_FILE), Buffer.concat([storeHeader('o200k_base gpt-tokenizer@0.0.1'), records]));
    const again = await exportOnce(dir, events);
    expect(again.counted).toBe(good.counted);
    expect(again.files).toEqual(good.files);
    expect((await readFile(join(dir, TOKEN_STORE_FILE))).subarray(0, TOKEN_STORE_HEADER_BYTES)).not.toEqual(storeHeader('o200k_base gpt-tokenizer@0.0.1'));
  });
});
