// Turning raw terminal output into plain text for the agent and for search.
import isFullwidthCodePoint from 'is-fullwidth-code-point';

// OSC: ESC ] ... (BEL | ESC \) — also an unterminated one at the very end.
// DCS / SOS / PM / APC: ESC P|X|^|_ ... ESC \
// CSI: ESC [ params intermediates final
// Other escapes: ESC intermediates final (charset selection, keypad modes, ...)
const ANSI_RE =
  /\x1b\][^\x07\x1b]*(?:\x07|\x1b\\|$)|\x1b[PX^_][\s\S]*?(?:\x1b\\|$)|\x1b\[[0-?]*[ -/]*[@-~]|\x1b[ -/]*[0-~]|\x1b$|\x9b[0-?]*[ -/]*[@-~]/g;

/** Remove ANSI/VT escape sequences (CSI, OSC, DCS, ...) from `text`. */
export function stripAnsi(text: string): string {
  return text.replace(ANSI_RE, '');
}

/**
 * Plain text as a person would read it from the screen, approximately: escapes
 * removed, CRLF → LF, a carriage return overwrites the line so progress bars keep
 * only their last state, backspace deletes, other control characters are dropped.
 *
 * `cols`, the terminal's width when known: a carriage return goes back to the start of
 * the row the cursor is on, not of the whole line. A line editor drawing a line longer
 * than the terminal is wide (bash's readline, zsh's ZLE, Python's REPL) writes the next
 * row's first character and returns over it (`…AbC \rdEf…`); read from the line's
 * start, that return wrote the rest of the command over its beginning, which the agent
 * was then shown garbled, with a key typed there cut into pieces no redaction knows.
 * Columns are counted as the shell counts them (glibc's wcwidth): a CJK character or an
 * emoji takes two, a combining mark none, and a wide character that does not fit in the
 * last column goes to the next row. On such a line a backspace, and the cursor moves and
 * erases line editors redraw with, move and erase as on the screen (markCursor).
 */
export function terminalText(raw: string, cols = 0): string {
  const text = stripAnsi(cols > 0 ? markCursor(raw, cols) : raw);
  const lines = text.split(/\r*\n/);
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!;
    if (cols > 0 && /[\r\x00]/.test(line) && NOT_ONE_CELL.test(line)) line = overwriteCells(line.split('\r'), cols);
    else if (line.includes('\r')) line = overwriteUnits(line.split('\r'), cols);
    if (line.includes('\b')) {
      // Linear: a spinner drawn with backspaces can make one "line" megabytes long,
      // and cutting a string per backspace would block the process for minutes.
      const out: string[] = [];
      for (const ch of line) {
        if (ch === '\b') out.pop();
        else out.push(ch);
      }
      line = out.join('');
    }
    lines[i] = line.replace(/[\x00-\x08\x0b-\x1f\x7f]/g, '');
  }
  return lines.join('\n');
}

/** From character `at` of a text on, its terminal was `cols` wide. */
export interface WidthChange {
  at: number;
  cols: number;
}

/**
 * terminalText of a text over which the terminal's width changed: `cols` before the
 * first of `changes` (ascending), each line at the width it was drawn at, and a line a
 * change fell in at the new width (the shell's redraw of it, the rest of a progress bar,
 * are drawn after the change). Used by the recording's reader (terminal.ts) and the
 * asciicast import.
 */
export function terminalTextAtWidths(text: string, cols: number, changes: readonly WidthChange[]): string {
  let out = '';
  let pos = 0;
  for (const c of changes) {
    if (c.at >= text.length) break;
    const lineStart = c.at > 0 ? text.lastIndexOf('\n', c.at - 1) + 1 : 0;
    if (lineStart > pos) {
      out += terminalText(text.slice(pos, lineStart), cols);
      pos = lineStart;
    }
    cols = c.cols;
  }
  return out + terminalText(text.slice(pos), cols);
}

/**
 * What a line editor moves the cursor with, as one-character marks overwriteCells reads
 * (controls a terminal does nothing with, so any in the output are dropped first; what
 * is not read as a line is dropped after). `\x00` a filler: a line editor that cannot
 * fit a wide character in the last column fills that column with a space (readline
 * ` \e[K周`, ZLE `\e[7m \e[27m周`) and writes the character on the next row; the space
 * is no part of the line. `\x01` / `\x02` a column forward / back (CSI C, D), `\x03`
 * erase to the end of the row (CSI K), `\x04` to the end of the screen (CSI J), `\x05`
 * a row up (CSI A).
 */
function markCursor(raw: string, cols: number): string {
  const times = (n: string, mark: string): string => mark.repeat(Math.min(Math.max(1, Number(n) || 1), cols));
  return raw
    .replace(/[\x00-\x05]/g, '')
    .replace(FILLER, ' \x00')
    .replace(/\x1b\[(\d*)([CDA])|\x1b\[0?([KJ])/g, (_m, n: string | undefined, move: string | undefined, erase: string | undefined) =>
      move ? times(n ?? '', move === 'C' ? '\x01' : move === 'D' ? '\x02' : '\x05') : erase === 'K' ? '\x03' : '\x04');
}

/**
 * A character overwriteUnits cannot count as one column a code unit: a control but tab
 * and the line ends (a backspace, a mark of markCursor), or one past U+02FF but for the
 * box drawing and block elements progress bars are drawn with.
 */
const NOT_ONE_CELL = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u0300-\u24ff\u2600-\uffff]/;

/**
 * overwriteCells for a line of characters of one column each, with string operations
 * (a progress bar's line of megabytes, redrawn at every return, in milliseconds): each
 * part is written from the start of the cursor's row, or of the line without `cols`.
 */
function overwriteUnits(parts: readonly string[], cols: number): string {
  let cur = '';
  let rowStart = 0;
  for (const p of parts) {
    cur = cur.slice(0, rowStart) + p + cur.slice(rowStart + p.length);
    const end = rowStart + p.length;
    rowStart = cols > 0 && end > 0 ? Math.floor((end - 1) / cols) * cols : 0;
  }
  return cur;
}

/** Characters of no width of their own: combining marks, zero-width spaces and joiners, variation selectors. */
const ZERO_WIDTH = /^[\p{Mn}\p{Me}\u200b-\u200f\u2060\ufe00-\ufe0f]$/u;
const WIDE_EMOJI = /^\p{Emoji_Presentation}$/u;
/** A line editor's filler of the last column before a character that may be wide (see markCursor). */
const FILLER = /(?: \x1b\[K|\x1b\[7m \x1b\[27m)(?=[^\x00-\u02ff])/g;

/** Columns a code point takes, as glibc's wcwidth counts (East Asian wide and full width, emoji: 2). */
function columns(ch: string): 0 | 1 | 2 {
  if (ch.charCodeAt(0) < 0x300) return 1;
  if (ZERO_WIDTH.test(ch)) return 0;
  return isFullwidthCodePoint(ch.codePointAt(0)!) || WIDE_EMOJI.test(ch) ? 2 : 1;
}

/**
 * terminalText's reading of a line with carriage returns, given the width: cell by cell,
 * as a terminal draws it. Each part after a return is written from the start of the
 * cursor's row (the row of the last character written: a cursor past the last column of
 * a full row is still on it, until the next character wraps); a backspace and the marks
 * of markCursor move the cursor or erase. A wide character fills its cell and the next
 * (`''`); writing over either half clears the other, as a terminal does.
 */
function overwriteCells(parts: readonly string[], cols: number): string {
  const cells: string[] = [];
  let rowStart = 0;
  let last = -1;
  let filler = -1;
  /** The last character filled its row: the cursor waits on it until the next one. */
  let pending = false;
  const rowEnd = (x: number): number => (pending ? x : (Math.floor(x / cols) + 1) * cols);
  for (const p of parts) {
    let x = rowStart;
    for (const ch of p) {
      const c = ch.charCodeAt(0);
      if (c < 0x20 || c === 0x7f) {
        if (ch === '\x00') {
          // After a space: a filler when that space took the last column (and a wide character follows).
          if (last === x - 1 && x % cols === 0 && cells[last] === ' ') filler = last;
          continue;
        }
        if (ch === '\b' || ch === '\x02') {
          // Back a column, not past the row's start (xterm, without reverse wrap); from a
          // full row's pending wrap, onto its last column.
          if (x % cols !== 0 || pending) x--;
        } else if (ch === '\x01') {
          x++;
        } else if (ch === '\x05') {
          if (x >= cols) x -= cols;
        } else if (ch === '\x03' || ch === '\x04') {
          const end = ch === '\x04' ? cells.length : Math.min(cells.length, rowEnd(x));
          if (end >= cells.length) cells.length = Math.min(cells.length, x);
          else for (let k = x; k < end; k++) cells[k] = ' ';
        }
        last = -1;
        pending = false;
        continue;
      }
      const w = columns(ch);
      if (filler >= 0 && w === 2 && x === filler + 1) cells[filler] = '\x00';
      filler = -1;
      if (w === 0) {
        // A combining mark joins the character before it.
        if (last >= 0) cells[last] += ch;
        continue;
      }
      if (w === 2 && x % cols === cols - 1) {
        // A wide character in the last column goes to the next row, the column left
        // empty: NUL, which reads as nothing, so the line's text runs on as the shell holds it.
        clearWide(cells, x);
        cells[x++] = '\x00';
      }
      for (let k = x; k < x + w; k++) clearWide(cells, k);
      for (let k = cells.length; k < x; k++) cells[k] = ' ';
      cells[x] = ch;
      if (w === 2) cells[x + 1] = '';
      last = x;
      x += w;
      pending = x % cols === 0;
    }
    pending = false;
    rowStart = x > 0 ? Math.floor((x - 1) / cols) * cols : 0;
  }
  return cells.join('');
}

/** Before cell `k` is written: the other half of a wide character there becomes a space. */
function clearWide(cells: string[], k: number): void {
  if (cells[k] === '' && k > 0) cells[k - 1] = ' ';
  else if (cells[k + 1] === '' && cells[k] !== undefined && columns([...cells[k]!][0]!) === 2) cells[k + 1] = ' ';
}

/** Largest n ≤ buf.length such that buf[0..n) does not end inside a UTF-8 character. */
export function utf8SafeEnd(buf: Uint8Array): number {
  const n = buf.length;
  // Look back at most 3 bytes for the lead byte of the last character.
  for (let back = 1; back <= Math.min(3, n); back++) {
    const b = buf[n - back]!;
    if ((b & 0xc0) === 0x80) continue; // continuation byte
    const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
    if (need > back && b >= 0xc0 && b <= 0xf7) return n - back;
    return n;
  }
  return n;
}

/** Number of leading continuation bytes (≤3): a range starting inside a character skips them. */
export function utf8SkipContinuation(buf: Uint8Array): number {
  let i = 0;
  while (i < 3 && i < buf.length && (buf[i]! & 0xc0) === 0x80) i++;
  return i;
}
