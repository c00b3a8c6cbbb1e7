// Round trip: a bundle exported from a recorded session, imported back (its OpenAI
// and ShareGPT lines), exports the same training lines again. And every real sample
// in ../shared/samples is recognised as its format.
import { cp, readdir, readFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeInput, detectFormat } from '../../electron/core/import/index';
import { ImportWorkspace, SAMPLES, haveSamples } from '../fixtures/import';

const SAMPLE_SESSION = resolve(__dirname, '../../resources/samples/sample-sales-report');

let w: ImportWorkspace;
beforeAll(async () => {
  w = await ImportWorkspace.create();
  await cp(SAMPLE_SESSION, join(w.home, 'sessions', 'sales'), { recursive: true });
  await w.ws.adopt(['sales']);
});
afterAll(async () => {
  await w.close();
});

const lines = async (p: string) => (await readFile(p, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as unknown);

describe('export → import → export', () => {
  it('gives the same OpenAI lines', async () => {
    const first = await w.export(['sales'], ['openai', 'sharegpt']);
    expect(first.openai.length).toBeGreaterThan(0);
    const { sessions } = await w.import(join(first.dir, 'openai.jsonl'));
    expect(sessions).toHaveLength(first.openai.length);
    const again = await w.export(sessions.map((s) => s.id), ['openai']);
    expect(again.openai).toEqual(first.openai);
  });

  it('gives the same ShareGPT lines (the bundle trains the last turn of each line: mask_history)', async () => {
    const first = await w.export(['sales'], ['sharegpt']);
    const src = await lines(join(first.dir, 'sharegpt.jsonl'));
    const { sessions } = await w.import(join(first.dir, 'sharegpt.jsonl'));
    expect(sessions).toHaveLength(src.length);
    const again = await w.export(sessions.map((s) => s.id), ['sharegpt']);
    expect(again.sharegpt).toEqual(src);
  });
});

describe.skipIf(!haveSamples)('every real sample', () => {
  it('is detected as its format from its content', async () => {
    const expected: Record<string, string> = {
      innovatorbench: 'innovatorbench', 'mini-swe-agent': 'mini-swe-agent', 'swe-agent': 'swe-agent', openhands: 'openhands',
      inspect: 'inspect', asciinema: 'asciicast', 'claude-code': 'claude-code',
    };
    const files = (await readdir(SAMPLES, { recursive: true, withFileTypes: true })).filter((d) => d.isFile() && d.name !== 'README.md');
    expect(files.length).toBeGreaterThanOrEqual(12);
    for (const d of files) {
      const rel = relative(SAMPLES, join(d.parentPath, d.name));
      const dir = rel.split('/')[0]!;
      const want = expected[dir] ?? (d.name.includes('sharegpt') ? 'sharegpt' : 'openai-chat');
      const got = detectFormat(await describeInput(join(SAMPLES, rel)));
      expect([rel, got?.adapter.format]).toEqual([rel, want]);
    }
  });
});
