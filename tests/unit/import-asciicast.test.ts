// asciicast v2/v3 recordings imported as a session with one recorded terminal: the
// output bytes and their timing, resizes, input, markers as steps, and an asciicast
// export that replays the same output at the same times (to the millisecond).
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseTiming } from '../../electron/core/store/terminal-recording';
import { ImportWorkspace, haveSamples, origin, sample } from '../fixtures/import';

let w: ImportWorkspace;
beforeAll(async () => {
  w = await ImportWorkspace.create();
});
afterAll(async () => {
  await w.close();
});

type Ev = [number, string, string];

async function cast(path: string): Promise<{ header: Record<string, unknown>; events: Ev[] }> {
  const lines = (await readFile(path, 'utf8')).split('\n').filter((l) => l.trim() && !l.startsWith('#'));
  return { header: JSON.parse(lines[0]!) as Record<string, unknown>, events: lines.slice(1).map((l) => JSON.parse(l) as Ev) };
}

/** Absolute seconds of each event (v3 stores intervals). */
function absolute(version: number, events: Ev[]): Ev[] {
  let t = 0;
  return events.map(([d, c, x]) => {
    t = version === 3 ? t + d : d;
    return [t, c, x];
  });
}

async function recorded(sessionId: string) {
  const dir = join(w.home, 'sessions', sessionId, 'terminals');
  return { out: await readFile(join(dir, 'main.out')), timing: parseTiming(await readFile(join(dir, 'main.timing.jsonl'), 'utf8')) };
}

for (const [file, version] of [['asciinema/v2_asciinema-server_welcome.cast', 2], ['asciinema/v3_agentguard_demo.cast', 3]] as const) {
  describe.skipIf(!haveSamples)(`asciicast v${version} (real sample)`, () => {
    it('records every output byte with its time, and exports a cast that replays them', async () => {
      const src = await cast(sample(file));
      const abs = absolute(version, src.events);
      const { result, sessions } = await w.import(sample(file));
      expect(result.format).toBe('asciicast');
      const [s] = sessions;
      expect(origin(s!)).toMatchObject({ format: 'asciicast', context: 'none', toolVersion: `asciicast v${version}` });
      const { out, timing } = await recorded(s!.id);
      const output = abs.filter((e) => e[1] === 'o');
      expect(out.toString('utf8')).toBe(output.map((e) => e[2]).join(''));
      const start = s!.events.find((e) => e.type === 'terminal.started')!;
      expect(start).toMatchObject({ cols: (src.header.width ?? (src.header.term as { cols: number }).cols) as number });
      // Each output event is one timing entry at its time (ms).
      const nonEmpty = output.filter((e) => e[2].length > 0);
      expect(timing).toHaveLength(nonEmpty.length);
      timing.forEach((t, i) => expect(Math.abs(t.ts - start.ts - nonEmpty[i]![0] * 1000)).toBeLessThanOrEqual(1));
      const resizes = abs.filter((e) => e[1] === 'r');
      expect(s!.events.filter((e) => e.type === 'terminal.resized').map((e) => e.type === 'terminal.resized' && `${e.cols}x${e.rows}`)).toEqual(resizes.map((e) => e[2]));
      // No markers in these recordings: no steps.
      expect(s!.t.steps.size).toBe(abs.filter((e) => e[1] === 'm').length);

      const bundle = await w.export([s!.id], ['asciicast']);
      const exported = await cast(join(bundle.dir, 'terminals', s!.id, 'main.cast'));
      const outs = exported.events.filter((e) => e[1] === 'o');
      expect(outs.map((e) => e[2]).join('')).toBe(output.map((e) => e[2]).join(''));
      expect(Math.abs(outs.at(-1)![0] - nonEmpty.at(-1)![0])).toBeLessThan(0.002);
    });
  });
}

describe('asciicast edge cases', () => {
  it('markers become steps whose observation is the output up to the next marker', async () => {
    const f = join(w.root, 'markers.cast');
    const lines = [
      { version: 3, term: { cols: 100, rows: 30 }, timestamp: 1700000000, title: 'demo' },
      [0.1, 'o', 'prompt$ '],
      [0.2, 'm', 'install'],
      [0.1, 'i', 'npm i\r'],
      [0.3, 'o', '\u001b[32madded 3 packages\u001b[0m\r\n'],
      [0.5, 'm', 'test'],
      [0.1, 'o', 'ok 1\r\nok 2\r\n'],
      [0.1, 'z', 'a code nobody knows'],
      [0.1, 'x', '0'],
    ];
    await writeFile(f, lines.map((l) => (Array.isArray(l) ? JSON.stringify(l) : JSON.stringify(l))).join('\n') + '\n# a comment line\n');
    const { sessions } = await w.import(f);
    const [s] = sessions;
    // No model made these steps: the replies are empty (never trained), the labels comments.
    expect(s!.main.map((st) => st.response!.content)).toEqual(['', '', '']);
    expect(s!.main.map((st) => st.comments.map((c) => s!.t.comments.get(c)!.text))).toEqual([[], ['asciicast marker: install'], ['asciicast marker: test']]);
    expect(s!.main.map((st) => st.results[0]!.observation)).toEqual(['prompt$ ', 'added 3 packages\n', 'ok 1\nok 2\n']);
    expect(s!.main.every((st) => st.response!.origin === 'terminal' && st.results[0]!.terminalId === 'main')).toBe(true);
    expect(s!.main[1]!.startedAt).toBe(1700000000000 + 300);
    expect(s!.events.find((e) => e.type === 'terminal.input')).toMatchObject({ data: 'npm i\r', source: 'human', offset: 8 });
    expect(s!.events.find((e) => e.type === 'terminal.exited')).toMatchObject({ exitCode: 0 });
    // The unknown event is kept verbatim and counted.
    const kept = await readFile(join(w.home, 'sessions', s!.id, 'import', 'unknown.jsonl'), 'utf8');
    expect(JSON.parse(kept.trim())).toMatchObject({ type: 'event z', record: [0.1, 'z', 'a code nobody knows'] });
    expect(s!.events.some((e) => e.type === 'warning' && /"z" ×1/.test(e.message))).toBe(true);
  });

  it('reads each line of a step at the width it was drawn at, across a resize', async () => {
    const f = join(w.root, 'resized.cast');
    const lines = [
      { version: 2, width: 10, height: 8 },
      [0.1, 'm', 'both'],
      [0.2, 'o', '$ echo abc \rdefghijklm \rnop\r\n'],
      [0.3, 'r', '23x8'],
      [0.4, 'o', '$ echo abcdefghijklmnop \rqrstuvw\r\n'],
    ];
    await writeFile(f, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
    const { sessions } = await w.import(f);
    // At the width at the end (23) the first line read garbled; at 10 the second.
    expect(sessions[0]!.main.map((st) => st.results[0]!.observation)).toEqual(['$ echo abcdefghijklmnop\n$ echo abcdefghijklmnopqrstuvw\n']);
  });

  it('a truncated event line is an error naming the line; nothing is left behind', async () => {
    const f = join(w.root, 'torn.cast');
    await writeFile(f, '{"version": 2, "width": 80, "height": 24}\n[0.1, "o", "hello"]\n[0.2, "o", "wor');
    const before = w.ws.list().length;
    await expect(w.import(f)).rejects.toThrow(/torn\.cast, line 3, column \d+: not valid JSON/);
    expect(w.ws.list().length).toBe(before);
    // Neither a session folder nor a staged copy remains.
    expect(await readdir(join(w.home, '.import-staging'))).toEqual([]);
    expect((await readdir(join(w.home, 'sessions'))).length).toBe(before);
  });
});
