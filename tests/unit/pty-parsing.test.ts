// Pure parts of the pty layer: OSC parser, UI batching/UTF-8 cutting/flow control,
// text cleanup.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { OscParser, parseFileUrl, toShellMark, type OscSequence } from '../../electron/core/pty/osc-parser';
import { stripAnsi, terminalText, utf8SafeEnd, utf8SkipContinuation } from '../../electron/core/pty/strip-ansi';
import { UiStream, type FlowOptions, type UiBatch } from '../../electron/core/pty/ui-stream';
import { recordedText, removeEcho } from '../../electron/core/pty/terminal';

const enc = (s: string) => Buffer.from(s, 'utf8');

function parseAll(parser: OscParser, chunks: Buffer[]): OscSequence[] {
  const out: OscSequence[] = [];
  let base = 0;
  for (const c of chunks) {
    out.push(...parser.feed(c, base));
    base += c.length;
  }
  return out;
}

describe('OscParser', () => {
  // prompt with colors, C/D marks with both terminators, OSC 7 with escapes, an
  // aborted OSC, an unrelated long OSC (title), multibyte text around them
  const stream = enc(
    'pré\x1b]7;file://host/tmp/a%20b\x07\x1b]133;A\x07\x1b[1;32m$ \x1b[0m\x1b]133;B\x1b\\ls\r\n' +
      '\x1b]133;C\x07€ out\x1b]0;title\x07\x1b]133;X\x1b[31mred\x1b]133;D;3\x1b\\\x1b]133;D\x07end😀',
  );
  const expected = (() => {
    const p = new OscParser();
    return p.feed(stream, 0);
  })();

  it('finds sequences, their payloads and exact byte ranges', () => {
    expect(expected.map((s) => s.data)).toEqual(['7;file://host/tmp/a%20b', '133;A', '133;B', '133;C', '0;title', '133;D;3', '133;D']);
    for (const s of expected) {
      const bytes = stream.subarray(s.start, s.end).toString('latin1');
      expect(bytes.startsWith('\x1b]')).toBe(true);
      expect(bytes.endsWith('\x07') || bytes.endsWith('\x1b\\')).toBe(true);
    }
    // the aborted "133;X" (ESC [ inside it) is not reported
    expect(expected.some((s) => s.data.includes('X'))).toBe(false);
  });

  it('gives the same result when split at every byte position', () => {
    for (let i = 0; i <= stream.length; i++) {
      const got = parseAll(new OscParser(), [stream.subarray(0, i), stream.subarray(i)]);
      expect(got, `split at ${i}`).toEqual(expected);
    }
    for (let i = 1; i < stream.length; i += 7) {
      for (let j = i; j <= stream.length; j += 5) {
        const got = parseAll(new OscParser(), [stream.subarray(0, i), stream.subarray(i, j), stream.subarray(j)]);
        expect(got, `split at ${i},${j}`).toEqual(expected);
      }
    }
    const bytes = [...stream].map((b) => Buffer.from([b]));
    expect(parseAll(new OscParser(), bytes)).toEqual(expected);
  });

  it('drops oversized payloads and recovers after them', () => {
    const big = enc(`\x1b]1337;File=${'x'.repeat(10_000)}\x07\x1b]133;A\x07`);
    expect(new OscParser().feed(big, 10).map((s) => s.data)).toEqual(['133;A']);
  });

  it('interprets shell-integration marks', () => {
    const marks = expected.map(toShellMark);
    expect(marks.map((m) => m?.kind ?? null)).toEqual(['cwd', 'promptStart', 'promptEnd', 'commandStart', null, 'commandEnd', 'commandEnd']);
    expect(marks[0]).toMatchObject({ cwd: '/tmp/a b' });
    expect(marks[5]).toMatchObject({ exitCode: 3 });
    expect(marks[6]).toMatchObject({ exitCode: null });
    expect(parseFileUrl('file:///x/%C3%A9')).toBe('/x/é');
    expect(parseFileUrl('http://x/y')).toBeNull();
  });
});

describe('UiStream batching', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  const flow = (o: Partial<FlowOptions> = {}): FlowOptions => ({ batchMs: 1000, batchBytes: 1, highWatermark: 1 << 30, lowWatermark: 0, stallMs: 1 << 30, rejoinMs: 0, ...o });

  it('never splits a UTF-8 character between data events, for any chunk boundaries', () => {
    const text = 'a€😀b€€😀😀ü';
    const bytes = enc(text);
    for (let i = 0; i <= bytes.length; i++) {
      for (let j = i; j <= bytes.length; j++) {
        const out: UiBatch[] = [];
        const s = new UiStream(flow(), (b) => out.push(b), () => {});
        s.attach();
        let off = 100;
        for (const c of [bytes.subarray(0, i), bytes.subarray(i, j), bytes.subarray(j)]) {
          if (c.length) s.push(Buffer.from(c), off);
          off += c.length;
        }
        s.flush(true);
        expect(out.map((b) => b.data).join(''), `split ${i},${j}`).toBe(text);
        let next = 100;
        for (const b of out) {
          expect(b.data).not.toContain('\ufffd');
          expect(b.offset).toBe(next);
          expect(Buffer.byteLength(b.data)).toBe(b.bytes);
          next += b.bytes;
        }
        expect(next).toBe(100 + bytes.length);
      }
    }
  });

  it('sends output after a quiet spell at once, then coalesces for batchMs or until batchBytes', () => {
    vi.useFakeTimers();
    const out: UiBatch[] = [];
    const s = new UiStream(flow({ batchMs: 16, batchBytes: 10 }), (b) => out.push(b), () => {});
    s.attach();
    s.push(enc('>'), 0); // a key's echo: nothing went out for a while
    expect(out).toEqual([{ data: '>', offset: 0, bytes: 1 }]);
    s.push(enc('abc'), 1);
    s.push(enc('def'), 4);
    expect(out).toHaveLength(1);
    vi.advanceTimersByTime(16);
    expect(out.at(-1)).toEqual({ data: 'abcdef', offset: 1, bytes: 6 });
    s.push(enc('0123456789AB'), 7);
    expect(out).toHaveLength(3);
    vi.advanceTimersByTime(15);
    s.push(enc('x'), 19); // within batchMs of the last batch: held
    expect(out).toHaveLength(3);
    vi.advanceTimersByTime(16);
    expect(out.at(-1)).toEqual({ data: 'x', offset: 19, bytes: 1 });
    vi.advanceTimersByTime(16);
    s.push(enc('y'), 20); // quiet again
    expect(out.at(-1)).toEqual({ data: 'y', offset: 20, bytes: 1 });
  });

  it('emits nothing when detached', () => {
    const out: UiBatch[] = [];
    const s = new UiStream(flow(), (b) => out.push(b), () => {});
    s.push(enc('x'), 0);
    s.flush(true);
    expect(out).toHaveLength(0);
  });
});

describe('UiStream flow control', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('pauses at the high watermark, resumes at the low one, resets on detach', () => {
    const pressure: boolean[] = [];
    const out: UiBatch[] = [];
    const s = new UiStream({ batchMs: 1000, batchBytes: 100, highWatermark: 300, lowWatermark: 100, stallMs: 1 << 30, rejoinMs: 0 }, (b) => out.push(b), (p) => pressure.push(p));
    s.attach();
    let off = 0;
    const push = (n: number) => {
      s.push(Buffer.alloc(n, 0x61), off);
      off += n;
    };
    push(100);
    push(100);
    expect(pressure).toEqual([]);
    push(100);
    expect(pressure).toEqual([true]);
    expect(s.unackedBytes).toBe(300);
    s.ack(150);
    expect(pressure).toEqual([true]); // 150 > low
    s.ack(100);
    expect(pressure).toEqual([true, false]);
    push(100);
    push(100);
    push(100);
    expect(pressure).toEqual([true, false, true]);
    s.detach();
    expect(pressure).toEqual([true, false, true, false]);
    expect(s.unackedBytes).toBe(0);
  });

  it('waits for a UI at most stallMs at a time (progress does not extend it), then skips it until it catches up, past a gap', () => {
    vi.useFakeTimers();
    const pressure: boolean[] = [];
    const out: UiBatch[] = [];
    const s = new UiStream({ batchMs: 1000, batchBytes: 100, highWatermark: 200, lowWatermark: 50, stallMs: 500, rejoinMs: 0 }, (b) => out.push(b), (p) => pressure.push(p));
    s.attach();
    s.push(Buffer.alloc(100, 0x61), 0);
    s.push(Buffer.alloc(100, 0x61), 100);
    expect(pressure).toEqual([true]);
    vi.advanceTimersByTime(400);
    s.ack(10); // slower than the program: the wait is not extended
    expect(s.isLagging).toBe(false);
    vi.advanceTimersByTime(100);
    expect(s.isLagging).toBe(true);
    expect(pressure).toEqual([true, false]);
    s.push(Buffer.alloc(100, 0x62), 200); // skipped
    expect(out).toHaveLength(2);
    s.ack(150); // owes 40: caught up
    expect(s.isLagging).toBe(false);
    s.push(enc('€x'), 300);
    s.flush(true);
    expect(out.at(-1)).toEqual({ data: '€x', offset: 300, bytes: 4 });
  });
});

describe('text cleanup', () => {
  it('strips ANSI and OSC escapes', () => {
    expect(stripAnsi('\x1b[1;31mred\x1b[0m \x1b]133;D;0\x07\x1b]0;t\x1b\\ok\x1b(B\x1b=')).toBe('red ok');
    expect(stripAnsi('a\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\b')).toBe('alinkb');
    expect(stripAnsi('\x1bP+q\x1b\\x\x1b[?2004h')).toBe('x');
  });

  it('renders carriage returns, backspaces and CRLF like a screen', () => {
    expect(terminalText('10%\r50%\r100%\r\ndone\r\n')).toBe('100%\ndone\n');
    expect(terminalText('abcdef\rXY\n')).toBe('XYcdef\n');
    expect(terminalText('ab\bc\x07')).toBe('ac');
  });

  it('reads a line wider than the terminal as the screen shows it, given the width', () => {
    // 10 columns; `$ echo ` leaves 3 on the first row. Bash typed, bash pasted, zsh (its erase gone).
    const cmd = 'echo abcdefghijklmnop';
    expect(terminalText('$ echo abc \rdefghijklm \rnop\r\nout\r\n', 10)).toBe(`$ ${cmd}\nout\n`);
    expect(terminalText('$ echo abcd\rdefghijklmn\rnop\r\n', 10)).toBe(`$ ${cmd}\n`);
    expect(terminalText('$ echo abc \r\x1b[Kd\rdefghijklm \r\x1b[Kn\rnop\r\n', 10)).toBe(`$ ${cmd}\n`);
    // Without the width a return goes back to the line's start: the old reading, garbled.
    expect(terminalText('$ echo abc \rdefghijklm \rnop\r\n')).not.toBe(`$ ${cmd}\n`);
    // A progress bar shorter than a row still redraws from the line's start.
    expect(terminalText('10%\r50%\r100%\r\ndone\n', 10)).toBe('100%\ndone\n');
    expect(terminalText('abcdef\rXY\n', 10)).toBe('XYcdef\n');
    // One longer than a row redraws the row the cursor is on (a terminal cannot go back up with \r).
    expect(terminalText('0123456789ab\rXY\n', 10)).toBe('0123456789XY\n');
    // A full row leaves the cursor on it until the next character.
    expect(terminalText('0123456789\rXY\n', 10)).toBe('XY23456789\n');
  });

  it('counts columns as the shell does: wide characters, combining marks, cursor moves', () => {
    // A CJK character takes two columns: the return after a full row of them goes back to that row's start.
    expect(terminalText('$ 训练损失 \r在第\r\n', 10)).toBe('$ 训练损失在第\n');
    // Counted as one column each, the same return went back over the line's start.
    expect(terminalText('$ 训练损失 \r在第\r\n', 0)).not.toBe('$ 训练损失在第\n');
    // A wide character that does not fit in the last column goes to the next row; readline's
    // filler there (space, erase) and ZLE's (a space in reverse video) are no part of the line.
    expect(terminalText('$ abc训练 \x1b[K损失\r\n', 10)).toBe('$ abc训练损失\n');
    expect(terminalText('$ abc训练\x1b[7m \x1b[27m损失\r\n', 10)).toBe('$ abc训练损失\n');
    // A space typed there is kept, and a filler's erase anywhere else is only an erase.
    expect(terminalText('$ abc训练 损失\r\n', 10)).toBe('$ abc训练 损失\n');
    expect(terminalText('$ ab \x1b[K训练\r\n', 10)).toBe('$ ab 训练\n');
    // An emoji takes two columns, a combining mark none.
    expect(terminalText('$ ✅ok e\u0301 \rxy\r\n', 8)).toBe('$ ✅ok e\u0301xy\n');
    // Writing over half of a wide character clears the other half.
    expect(terminalText('训练\rX\r\n', 10)).toBe('X 练\n');
    // A backspace moves the cursor (zsh's `e\b` before it draws the line), CSI C skips, CSI K erases.
    expect(terminalText('$ e\becho abc \r\x1b[Kd\rdefgh\r\n', 10)).toBe('$ echo abcdefgh\n');
    expect(terminalText('$ abc\x1b[2Cd\rX\x1b[K\r\n', 10)).toBe('X\n');
    expect(terminalText('$ 训练\x1b[1C练\r$\r\n', 10)).toBe('$ 训练 练\n');
  });

  it('reads each line of a recording at the width the terminal had when it was drawn', async () => {
    const at10 = '$ echo abc \rdefghijklm \rnop\r\n';
    const at23 = '$ echo abcdefghijklmnop \rqrstuvw\r\n';
    const buf = Buffer.from(at10 + at23);
    const read = async (a: number, b: number) => buf.subarray(a, b);
    const both = ['$ echo abcdefghijklmnop', '$ echo abcdefghijklmnopqrstuvw', ''].join('\n');
    expect(await recordedText(read, 0, buf.length, 1 << 20, [], [{ offset: 0, cols: 10 }, { offset: at10.length, cols: 23 }])).toBe(both);
    // At one width for all, one of them reads garbled.
    expect(await recordedText(read, 0, buf.length, 1 << 20, [], 23)).not.toBe(both);
    expect(await recordedText(read, 0, buf.length, 1 << 20, [], 10)).not.toBe(both);
    // A resize inside a line: the line reads at the new width (the shell redraws it so).
    expect(await recordedText(read, 0, buf.length, 1 << 20, [], [{ offset: 0, cols: 10 }, { offset: at10.length + 3, cols: 23 }])).toBe(both);
    // Read from past the resize: the width then.
    expect(await recordedText(read, at10.length, buf.length, 1 << 20, [], [{ offset: 0, cols: 10 }, { offset: at10.length, cols: 23 }])).toBe('$ echo abcdefghijklmnopqrstuvw\n');
  });

  it('finds UTF-8 boundaries', () => {
    const e = enc('a€');
    expect(utf8SafeEnd(e)).toBe(4);
    expect(utf8SafeEnd(e.subarray(0, 3))).toBe(1);
    expect(utf8SafeEnd(enc('😀').subarray(0, 3))).toBe(0);
    expect(utf8SkipContinuation(enc('€').subarray(1))).toBe(2);
  });

  it('removes the echoed command line', () => {
    expect(removeEcho('$ echo hi\nhi\n', 'echo hi')).toBe('hi\n');
    expect(removeEcho('hi\n', 'echo hi')).toBe('hi\n');
  });
});
