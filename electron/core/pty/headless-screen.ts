// A terminal screen emulated without a display (xterm.js headless, the emulator the
// renderer runs), and its state as text that rebuilds it: the serialize addon's
// output (both buffers, the pen, the modes) plus what that addon leaves out and
// full-screen programs rely on (the scroll region, a hidden cursor). Writing a
// snapshot into a fresh terminal of the same size gives the same screen, and the
// same screen again after any further output.
import { createRequire } from 'node:module';
import type { Terminal as HeadlessTerminal } from '@xterm/headless';
import type { SerializeAddon as Serializer } from '@xterm/addon-serialize';

interface Xterm {
  Terminal: typeof HeadlessTerminal;
  SerializeAddon: typeof Serializer;
}
let xterm: Xterm | undefined;

/**
 * Both packages are CommonJS bundles, required on the first screen: imported, Node's ESM
 * loader would scan their 200 KB for export names at the start of every process that
 * loads the core (most CLI commands never emulate a screen).
 */
function loadXterm(): Xterm {
  if (!xterm) {
    const require = createRequire(import.meta.url);
    xterm = {
      Terminal: (require('@xterm/headless') as { Terminal: typeof HeadlessTerminal }).Terminal,
      SerializeAddon: (require('@xterm/addon-serialize') as { SerializeAddon: typeof Serializer }).SerializeAddon,
    };
  }
  return xterm;
}

/** What the serialize addon cannot see through the public API (the addon itself reads the pen the same way). */
/** The parts of xterm's AttributeData a pen is rebuilt from (the public IBufferCell has the same methods). */
interface Pen {
  isBold(): number;
  isItalic(): number;
  isDim(): number;
  isUnderline(): number;
  isBlink(): number;
  isInverse(): number;
  isInvisible(): number;
  isStrikethrough(): number;
  isOverline(): number;
  isFgRGB(): boolean;
  isFgPalette(): boolean;
  getFgColor(): number;
  isBgRGB(): boolean;
  isBgPalette(): boolean;
  getBgColor(): number;
}

interface CoreInternals {
  _core?: {
    _bufferService?: {
      buffer?: { scrollTop: number; scrollBottom: number; x: number; y: number; ybase: number; savedX: number; savedY: number; savedCurAttrData?: Pen };
    };
    _charsetService?: { glevel: number; _charsets?: Array<Record<string, string> | undefined> };
    coreService?: { isCursorHidden?: boolean };
    _inputHandler?: { _parser?: { currentState: number }; _utf8Decoder?: { interim: Uint8Array }; _curAttrData?: Pen };
  };
}

/** Most bytes given to xterm in one write: it parses about 1-4 MB/s of dense output here, so a few ms each. */
const WRITE_SLICE = 8 * 1024;

/** How the serialize addon goes from the normal screen to the alternate one (cells never hold ESC). */
const ALT_SWITCH = '\x1b[?1049h\x1b[H';

export class HeadlessScreen {
  private readonly term: HeadlessTerminal;
  private readonly ser: Serializer;

  constructor(cols: number, rows: number) {
    const { Terminal, SerializeAddon } = loadXterm();
    this.ser = new SerializeAddon();
    // No scrollback: a snapshot is the screen (keyframes stay a few KB), and parsing is faster.
    this.term = new Terminal({ cols, rows, scrollback: 0, allowProposedApi: true });
    this.term.loadAddon(this.ser);
  }

  get cols(): number {
    return this.term.cols;
  }

  get rows(): number {
    return this.term.rows;
  }

  /**
   * Resolves once the emulator has parsed `data`. Given in slices: xterm yields to the
   * event loop only between the writes it has queued, never inside one, and a 256 KB
   * write of a flood blocked the host's event loop for 50-200 ms at a time, which was
   * the keyboard echo latency of every other terminal.
   */
  write(data: Uint8Array | string): Promise<void> {
    if (data.length === 0) return Promise.resolve();
    for (let i = WRITE_SLICE; i < data.length; i += WRITE_SLICE) this.term.write(data.slice(i - WRITE_SLICE, i));
    const last = data.slice(Math.floor((data.length - 1) / WRITE_SLICE) * WRITE_SLICE);
    return new Promise((resolve) => this.term.write(last, resolve));
  }

  resize(cols: number, rows: number): void {
    if (cols !== this.term.cols || rows !== this.term.rows) this.term.resize(cols, rows);
  }

  /**
   * Nothing half-parsed: no escape sequence or string begun and no UTF-8 character cut.
   * Only there does a snapshot (which cannot carry parser state) plus the bytes after it
   * give the same screen as the whole output. Unknown internals count as not at ground.
   */
  atGround(): boolean {
    const ih = (this.term as unknown as CoreInternals)._core?._inputHandler;
    const state = ih?._parser?.currentState;
    const interim = ih?._utf8Decoder?.interim;
    return state === 0 && interim !== undefined && interim[0] === 0;
  }

  /** The screen as a string that rebuilds it in a fresh terminal of this size. */
  snapshot(): string {
    let out = this.ser.serialize({ scrollback: 0 });
    if (this.term.buffer.active.type === 'alternate') {
      // The addon ends the normal screen with the current pen, then draws the alternate
      // one as if from the default pen: without a reset that pen colours its first cells.
      out = out.replace(ALT_SWITCH, `${ALT_SWITCH}\x1b[0m`);
    }
    const core = (this.term as unknown as CoreInternals)._core;
    const buf = core?._bufferService?.buffer;
    const region = buf && (buf.scrollTop !== 0 || buf.scrollBottom !== this.term.rows - 1);
    const savedY = buf ? buf.savedY - buf.ybase : 0;
    const saved = buf && (buf.savedX !== 0 || savedY !== 0 || (buf.savedCurAttrData && sgrOf(buf.savedCurAttrData) !== '0'));
    if (buf && (region || saved)) {
      // A program's DECSC / DECRC (status lines) and DECSTBM (a scrolling pane): put
      // back with origin mode off (DECSTBM homes the cursor, relative to the region in
      // origin mode), then the mode, the cursor and the pen the addon restored.
      const origin = this.term.modes.originMode;
      out += '\x1b[?6l';
      if (saved) out += `\x1b[${savedY + 1};${buf.savedX + 1}H\x1b[${sgrOf(buf.savedCurAttrData)}m\x1b7`;
      if (region) out += `\x1b[${buf.scrollTop + 1};${buf.scrollBottom + 1}r`;
      if (origin) out += '\x1b[?6h';
      const row = origin ? buf.y - buf.scrollTop : buf.y;
      out += `\x1b[${row + 1};${buf.x + 1}H`;
      const pen = (core?._inputHandler as { _curAttrData?: Pen } | undefined)?._curAttrData;
      if (saved && pen) out += `\x1b[${sgrOf(pen)}m`;
    }
    // DEC line drawing selected into G0 / G1 (box-drawing programs), and G1 shifted in.
    const cs = core?._charsetService;
    if (cs) {
      if (cs._charsets?.[0]?.['q'] === '\u2500') out += '\x1b(0';
      if (cs._charsets?.[1]?.['q'] === '\u2500') out += '\x1b)0';
      if (cs.glevel === 1) out += '\x0e';
    }
    if (core?.coreService?.isCursorHidden) out += '\x1b[?25l';
    return out;
  }

  /** The visible text, one string per row with trailing blanks trimmed (for tests and people). */
  text(): string[] {
    const b = this.term.buffer.active;
    const rows: string[] = [];
    for (let y = 0; y < this.term.rows; y++) rows.push(b.getLine(b.viewportY + y)?.translateToString(true) ?? '');
    return rows;
  }

  dispose(): void {
    this.term.dispose();
  }
}

/** SGR parameters that set exactly this pen from any other ("0" for the default pen). */
function sgrOf(p: Pen | undefined): string {
  if (!p) return '0';
  const out = ['0'];
  if (p.isBold()) out.push('1');
  if (p.isDim()) out.push('2');
  if (p.isItalic()) out.push('3');
  if (p.isUnderline()) out.push('4');
  if (p.isBlink()) out.push('5');
  if (p.isInverse()) out.push('7');
  if (p.isInvisible()) out.push('8');
  if (p.isStrikethrough()) out.push('9');
  if (p.isOverline()) out.push('53');
  const color = (rgb: boolean, palette: boolean, c: number, base: number): void => {
    if (rgb) out.push(`${base + 8};2;${(c >> 16) & 255};${(c >> 8) & 255};${c & 255}`);
    else if (palette) out.push(c < 8 ? `${base + c}` : c < 16 ? `${base + 60 + c - 8}` : `${base + 8};5;${c}`);
  };
  color(p.isFgRGB(), p.isFgPalette(), p.getFgColor(), 30);
  color(p.isBgRGB(), p.isBgPalette(), p.getBgColor(), 40);
  return out.join(';');
}
