// The bundle writer's bytes are the UTF-8 of what it was given, however the strings fall
// across its 1 MiB buffers: lines longer than the room left, multi-byte characters and
// surrogate pairs at the cut, lone surrogates (written as U+FFFD, as Buffer.from does).
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BufferedWriter } from '../../electron/core/dataset/files';
import { mulberry32 as rng } from '../../shared/random';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'apollo-files-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});


const UNITS = ['a', '{"k":1}', 'é', '✓', '\u{1F600}', '\ud800', '\udc00', '\n'];

describe('BufferedWriter', () => {
  it('writes the UTF-8 of every string pushed, hashed and counted, across buffer boundaries', async () => {
    const r = rng(5);
    const parts: string[] = [];
    // Lengths around a third of the buffer, the buffer and past it: each path of push.
    const sizes = [10, 300_000, 349_525, 349_526, 700_000, 1_048_575, 1_048_576, 1_048_577, 1_500_000, 7, 1_000_000];
    for (const n of sizes) {
      let s = '';
      const unit = UNITS[Math.floor(r() * UNITS.length)]!;
      while (s.length < n) s += r() < 0.9 ? unit.repeat(64) : UNITS[Math.floor(r() * UNITS.length)]!;
      parts.push(s.slice(0, n));
    }
    const path = join(root, 'out.jsonl');
    const w = await BufferedWriter.create(path);
    for (const p of parts) {
      w.push(p);
      await w.maybeFlush();
    }
    await w.close();
    // Each string on its own: a pair cut between two pushes is two lone surrogates.
    const want = Buffer.concat(parts.map((p) => Buffer.from(p, 'utf8')));
    const got = await readFile(path);
    expect(got.equals(want)).toBe(true);
    expect(w.bytes).toBe(want.length);
    expect(w.sha256()).toBe(createHash('sha256').update(want).digest('hex'));
  });
});
