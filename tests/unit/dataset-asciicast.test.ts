import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { toAsciicast, writeAsciicast } from '../../electron/core/dataset/asciicast';
import { Redactor } from '../../electron/core/dataset/redact';
import { validateAsciicast } from '../../electron/core/dataset/validate';
import { parseTiming } from '../../electron/core/store/terminal-recording';
import { SessionBuilder, writeRecording } from '../fixtures/sessions';

const T0 = 1_700_000_100_000;
const TOKEN = ['ghp', '_', 'Q1w2E3r4T5y6U7i8O9p0A1s2D3f4G5h6J7k8'].join('');

function scenario(): { events: SessionBuilder['events']; chunks: Array<{ ts: number; data: Buffer }> } {
  const b = new SessionBuilder({ startTs: T0 - 2000 });
  b.terminal('main', { cols: 100, rows: 30 }); // at T0
  const euro = Buffer.from('€', 'utf8'); // 3 bytes
  const smile = Buffer.from('😀', 'utf8'); // 4 bytes
  const chunks = [
    { ts: T0 + 100, data: Buffer.from('$ echo café ') },
    { ts: T0 + 250, data: Buffer.concat([Buffer.from('price: 5'), euro.subarray(0, 1)]) },
    { ts: T0 + 400, data: Buffer.concat([euro.subarray(1), Buffer.from(' '), smile.subarray(0, 2)]) },
    { ts: T0 + 400, data: Buffer.concat([smile.subarray(2), Buffer.from(`\r\nGH=${TOKEN.slice(0, 12)}`)]) },
    { ts: T0 + 900, data: Buffer.from(`${TOKEN.slice(12)}\r\n$ `) },
    { ts: T0 + 2000, data: Buffer.from('done\r\n') },
  ];
  b.input('main', 'l', 30, 'human', T0 + 950);
  b.input('main', 's\r', 30, 'human', T0 + 960);
  b.input('main', 'agent-typed', 40, 'agent', T0 + 970);
  b.resize('main', 120, 40, 40, T0 + 1500);
  return { events: b.events, chunks };
}

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('asciicast v2', () => {
  it('writes header, o/i/r events with relative, monotonic times and intact UTF-8', () => {
    const { events, chunks } = scenario();
    let offset = 0;
    const timing = chunks.map((c) => {
      const e = { ts: c.ts, offset, length: c.data.length };
      offset += c.data.length;
      return e;
    });
    const cast = toAsciicast({ output: Buffer.concat(chunks.map((c) => c.data)), timing, events, terminalId: 'main', title: 'S/main' });
    expect(validateAsciicast(cast)).toEqual([]);
    const lines = cast.trimEnd().split('\n').map((l) => JSON.parse(l) as unknown);
    expect(lines[0]).toEqual({ version: 2, width: 100, height: 30, timestamp: Math.floor(T0 / 1000), title: 'S/main', env: { SHELL: '/bin/bash', TERM: 'xterm-256color' } });
    const evs = lines.slice(1) as Array<[number, string, string]>;
    expect(evs.map((e) => e[1])).toEqual(['o', 'o', 'o', 'o', 'i', 'i', 'r', 'o']);
    expect(evs[0]).toEqual([0.1, 'o', '$ echo café ']);
    expect(evs[1]).toEqual([0.25, 'o', 'price: 5']); // the partial € waits for its other bytes
    expect(evs[2]).toEqual([0.4, 'o', `€ 😀\r\nGH=${TOKEN.slice(0, 12)}`]); // two batches with one timestamp merge
    expect(evs[4]).toEqual([0.95, 'i', 'l']);
    expect(evs[6]).toEqual([1.5, 'r', '120x40']);
    const times = evs.map((e) => e[0]);
    expect([...times].sort((a, b) => a - b)).toEqual(times);
    expect(evs.map((e) => e[2]).join('')).not.toContain('agent-typed');
  });

  it('redacts a secret split across batches, streams in small blocks identically', async () => {
    const { events, chunks } = scenario();
    const dir = await mkdtemp(join(tmpdir(), 'apollo-cast-'));
    dirs.push(dir);
    await writeRecording(dir, 'main', chunks);
    const redactor = new Redactor([]);
    const hits: Array<[number, readonly string[]]> = [];
    let streamed = '';
    const res = await writeAsciicast({
      recordingPath: join(dir, 'terminals', 'main.out'), timingPath: join(dir, 'terminals', 'main.timing.jsonl'),
      events, terminalId: 'main', title: 'S/main', write: async (s) => {
        streamed += s;
      }, redactor, onLine: (n, k) => hits.push([n, k]), blockSize: 5,
    });
    const out = await readFile(join(dir, 'terminals', 'main.out'));
    const timing = parseTiming(await readFile(join(dir, 'terminals', 'main.timing.jsonl'), 'utf8'));
    const inMemory = toAsciicast({ output: out, timing, events, terminalId: 'main', title: 'S/main', redactor });
    expect(streamed).toBe(inMemory);
    expect(streamed).not.toContain(TOKEN.slice(12));
    expect(streamed).not.toContain(TOKEN.slice(0, 12));
    expect(streamed).toContain('GH=[REDACTED:github-token]');
    expect(hits).toEqual([[4, ['github-token']]]);
    expect(res).toEqual({ lines: streamed.trimEnd().split('\n').length, bytes: out.length });
    expect(validateAsciicast(streamed)).toEqual([]);
  });

  it('redacts a secret typed key by key', () => {
    const b = new SessionBuilder({ startTs: T0 - 2000 });
    b.terminal('main');
    const secret = 'hunter2-correct-horse';
    [...`export PASSWORD=${secret}\r`].forEach((ch, i) => b.input('main', ch, 0, 'human', T0 + 10 * i));
    const cast = toAsciicast({ output: Buffer.alloc(0), timing: [], events: b.events, terminalId: 'main', title: 't', redactor: new Redactor([secret]) });
    const typed = cast.trimEnd().split('\n').slice(1).map((l) => (JSON.parse(l) as [number, string, string])[2]).join('');
    expect(typed).toBe('export PASSWORD=[REDACTED:configured-secret]\r');
    expect(validateAsciicast(cast)).toEqual([]);
  });

  it('redacts its header: a title naming a terminal by a token, a shell run with a password', () => {
    const token = `ghp_${'A1b2C3d4E5'.repeat(4)}`;
    const secret = 'hunter2-correct-horse';
    const b = new SessionBuilder({ startTs: T0 - 2000 });
    b.terminal('main', { command: `sshpass -p ${secret} ssh box` });
    const lines: Array<[number, readonly string[]]> = [];
    const cast = toAsciicast({ output: Buffer.alloc(0), timing: [], events: b.events, terminalId: 'main', title: `S/${token}`, redactor: new Redactor([secret]), onLine: (n, kinds) => void lines.push([n, kinds]) });
    const header = JSON.parse(cast.split('\n')[0]!) as { title: string; env: { SHELL: string } };
    expect(header.title).toBe('S/[REDACTED:github-token]');
    expect(header.env.SHELL).toBe('sshpass -p [REDACTED:configured-secret] ssh box');
    expect(lines).toEqual([[1, ['github-token', 'configured-secret']]]);
    expect(validateAsciicast(cast)).toEqual([]);
  });

  it('handles a recording without timing index or events', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'apollo-cast-'));
    dirs.push(dir);
    await writeRecording(dir, 'x', [{ ts: 5, data: 'hello' }]);
    await rm(join(dir, 'terminals', 'x.timing.jsonl'));
    let s = '';
    await writeAsciicast({ recordingPath: join(dir, 'terminals', 'x.out'), timingPath: join(dir, 'terminals', 'x.timing.jsonl'), events: [], terminalId: 'x', title: 'x', write: async (c) => { s += c; } });
    expect(s).toBe('{"version":2,"width":80,"height":24,"timestamp":0,"title":"x","env":{"TERM":"xterm-256color"}}\n[0,"o","hello"]\n');
  });
});
