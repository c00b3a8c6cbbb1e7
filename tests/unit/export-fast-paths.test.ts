// The export's fast paths give what the plain paths give: a JSON line pushed in pieces is
// JSON.stringify's bytes, a write that fails while the next buffer fills is the close's
// error, a shared scan is the copying scan without the copies, and a short text found
// clean under one name is still a secret under a name that names one.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BufferedWriter } from '../../electron/core/dataset/files';
import { Redactor } from '../../electron/core/dataset/redact';
import { mulberry32 as rng } from '../../shared/random';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'apollo-fast-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A random JSON-ish value, with what JSON.stringify drops or turns into null. */
function randomValue(r: () => number, depth: number): unknown {
  const pick = Math.floor(r() * (depth > 3 ? 6 : 9));
  switch (pick) {
    case 0: return null;
    case 1: return r() < 0.5;
    case 2: return Math.floor(r() * 1e6) / 100;
    case 3: return undefined;
    case 4: return ['é✓\u{1F600}', 'line\nbreak "quoted"', '\ud800 lone', 'x'.repeat(Math.floor(r() * 2000))][Math.floor(r() * 4)];
    case 5: return () => 1;
    case 6: return Array.from({ length: Math.floor(r() * 5) }, () => randomValue(r, depth + 1));
    case 7: return new Date(1_700_000_000_000 + Math.floor(r() * 1e9));
    default: {
      const o: Record<string, unknown> = {};
      for (let i = 0; i < Math.floor(r() * 5); i++) o[['messages', 'tools', '0', '12', 'k"ey', 'weight'][Math.floor(r() * 6)]!] = randomValue(r, depth + 1);
      return o;
    }
  }
}

describe('BufferedWriter.pushJson', () => {
  it('writes JSON.stringify of the value, byte for byte', async () => {
    const r = rng(11);
    const values: unknown[] = [];
    for (let i = 0; i < 400; i++) {
      const v = randomValue(r, 0);
      if (JSON.stringify(v) !== undefined) values.push(v);
    }
    // The shape of a training line: long arrays of messages beside other members.
    values.push({ messages: Array.from({ length: 300 }, (_, i) => ({ role: i % 2 ? 'assistant' : 'user', content: `turn ${i} `.repeat(200), weight: i % 2 ? 1 : undefined })), tools: [{ type: 'function' }] });
    values.push({ a: undefined, b: () => 0 }, { messages: [undefined, () => 0, 1] }, [], {}, 'text', 7, { toJSON: () => ({ replaced: true }) });
    const path = join(root, 'lines.jsonl');
    const w = await BufferedWriter.create(path);
    for (const v of values) {
      w.pushJson(v);
      w.push('\n');
      await w.maybeFlush();
    }
    await w.close();
    expect(await readFile(path, 'utf8')).toBe(values.map((v) => `${JSON.stringify(v)}\n`).join(''));
  });
});

describe('BufferedWriter writing while the next buffer fills', () => {
  it('throws a failed write at the next flush or the close, never unhandled', async () => {
    const w = await BufferedWriter.create(join(root, 'failing.jsonl'));
    const fh = (w as unknown as { fh: { write: (...a: unknown[]) => Promise<unknown> } }).fh;
    fh.write = () => Promise.reject(Object.assign(new Error('no space left on device'), { code: 'ENOSPC' }));
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown): void => void unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    try {
      let failed: unknown = null;
      try {
        for (let i = 0; i < 8; i++) {
          w.push('x'.repeat(700_000));
          await w.maybeFlush();
        }
        await w.close();
      } catch (e) {
        failed = e;
      }
      expect((failed as { code?: string } | null)?.code).toBe('ENOSPC');
      await w.abandon();
      await new Promise((res) => setImmediate(res));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});

describe('Redactor.scan shared', () => {
  const record = (): Record<string, unknown> => ({
    messages: [
      { role: 'system', content: 'You are an agent.' },
      { role: 'user', content: 'deploy with the key below' },
      { role: 'assistant', content: '', tool_calls: [{ id: 'c1', type: 'function', function: { name: 'run', arguments: '{"cmd":"export OPENAI_API_KEY=sk-proj-abcdefghijklmnopqrstuvwx1234"}' } }], weight: 1 },
      { role: 'tool', tool_call_id: 'c1', content: '{"output":"ok","env":{"password":"correct-horse-battery"}}' },
      { role: 'assistant', content: 'done', weight: 0 },
    ],
  });

  it('gives what the copying scan gives, copying only the path to each change', () => {
    const input = record();
    const copied = new Redactor().scan(record());
    const shared = new Redactor().scan(input, undefined, true);
    expect(shared.value).toEqual(copied.value);
    expect(shared.hits).toEqual(copied.hits);
    const inMsgs = input.messages as Array<Record<string, unknown>>;
    const outMsgs = (shared.value as { messages: Array<Record<string, unknown>> }).messages;
    // Untouched messages are the input's own objects; changed ones are new, and the input is as it was.
    expect(outMsgs[0]).toBe(inMsgs[0]);
    expect(outMsgs[4]).toBe(inMsgs[4]);
    expect(outMsgs[2]).not.toBe(inMsgs[2]);
    expect(outMsgs[3]).not.toBe(inMsgs[3]);
    expect(input).toEqual(record());
    expect(JSON.stringify(outMsgs[2])).toContain('[REDACTED:');
    expect(JSON.stringify(outMsgs[3])).toContain('[REDACTED:');
  });

  it('copies everything when not shared', () => {
    const input = record();
    const out = new Redactor().scan(input).value as { messages: unknown[] };
    expect(out.messages[0]).not.toBe((input.messages as unknown[])[0]);
    expect(out.messages[0]).toEqual((input.messages as unknown[])[0]);
  });

  it('redacts a short text under a secret name after finding it clean under another name, and the other way round', () => {
    for (const order of [['note', 'password'], ['password', 'note']] as const) {
      const r = new Redactor();
      const value = 'blue-meadow-4711';
      const out = order.map((k) => r.scan({ [k]: value }).value as Record<string, string>);
      const byKey = Object.fromEntries(order.map((k, i) => [k, out[i]![k]]));
      expect(byKey.note).toBe(value);
      expect(byKey.password).toBe('[REDACTED:sensitive-field]');
    }
  });
});
