// Opening a terminal that has printed more than the raw catch-up paints the serialized
// screen at the attach offset (terminal.screen) and then only the live output after it:
// against the real core and a real pty that keeps printing numbered lines while the
// renderer's stream attaches, the screen equals the recording replayed up to the seam,
// and the live writes are exactly the recording's bytes after it (none lost, none twice).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApolloCore } from '../../electron/core/app';
import { HeadlessScreen } from '../../electron/core/pty/headless-screen';
import type { PtyTerminal } from '../../electron/core/pty/terminal';
import { TerminalStream, type ScreenPosition } from '../../renderer/src/lib/terminalStream';
import { createTransport } from '../../shared/transport';

let root: string;
let core: ApolloCore;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'apollo-attach-screen-'));
  core = await ApolloCore.open({ home: join(root, 'ws'), resourcesDir: resolve('resources'), host: 'web', samples: false });
});
afterAll(async () => {
  await core.close();
  await rm(root, { recursive: true, force: true });
});

async function until(cond: () => boolean, what: string, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('attaching with the screen', () => {
  it('paints the screen at the seam, then exactly the bytes after it, while output goes on', async () => {
    const s = await core.ws.create({ name: 'seam', cwd: root });
    const session = await core.session(s.id);
    // A full-screen header drawn once, ~1 MB of numbered lines, then a line every few ms until told to stop.
    const script = join(root, 'ticker.cjs');
    await writeFile(
      script,
      `let n = 0; const line = () => 'tick ' + (n++) + ' ' + 'x'.repeat(n % 60) + '\\r\\n';\n` +
        `let out = '\\x1b[2J\\x1b[1;1H\\x1b[7m HEADER \\x1b[0m\\x1b[2;24r\\x1b[24;1H'; while (out.length < 1e6) out += line(); process.stdout.write(out);\n` +
        `const t = setInterval(() => process.stdout.write(line() + line()), 2);\n` +
        `process.stdin.on('data', () => { clearInterval(t); process.stdout.write('STOPPED\\r\\n'); setTimeout(() => process.exit(0), 50); });\n`,
    );
    const term = (await core.pty.create(s, { id: 'tick', command: process.execPath, args: [script], cols: 80, rows: 24 })) as PtyTerminal;
    const ids = { sessionId: s.id, terminalId: 'tick' };
    await until(() => term.recordedBytes() > 1e6, 'the first megabyte');

    const link = core.connect((msg) => listeners.forEach((l) => l(msg)));
    const listeners: Array<(m: Parameters<Parameters<typeof core.connect>[0]>[0]) => void> = [];
    const transport = createTransport({ send: (m) => void link.receive(m), onMessage: (cb) => listeners.push(cb) });
    const writes: string[] = [];
    const notes: string[] = [];
    const screen: ScreenPosition = { end: null };
    const screens: number[] = [];
    const real = transport.request.bind(transport);
    transport.request = ((cmd, args) => {
      const p = real(cmd, args);
      if (cmd === 'terminal.screen') void p.then((r) => screens.push((r as { offset: number }).offset));
      return p;
    }) as typeof transport.request;
    const stream = new TerminalStream(transport, ids, { write: (d, parsed) => (writes.push(d), parsed?.()), note: (t) => notes.push(t) }, screen, 0, (e) => {
      throw e;
    });
    await until(() => screens.length === 1 && writes.length > 3, 'the screen and live output after it');
    term.write('\r', 'human');
    await term.exited;
    await until(() => writes.some((w) => w.includes('STOPPED')), 'the end of the output');
    stream.dispose();
    link.close();

    const seam = screens[0]!;
    const rec = await session.recording('tick');
    await rec.flush();
    // The screen is what replaying the recording up to the seam gives.
    const full = new HeadlessScreen(80, 24);
    await full.write(await rec.read(0, seam));
    const shown = new HeadlessScreen(80, 24);
    await shown.write(writes[0]!);
    expect(shown.text()).toEqual(full.text());
    expect(shown.text()[0]).toContain('HEADER'); // drawn a megabyte before: no raw tail has it
    expect(notes.join('\n')).toMatch(/Showing the screen after .* of output/);
    // Then the live bytes: exactly the recording after the seam.
    const live = writes.slice(1).join('');
    expect(live.length).toBeGreaterThan(0);
    expect(live).toBe((await rec.read(seam, rec.size)).toString('utf8'));
    full.dispose();
    shown.dispose();
  }, 60_000);
});
