// Turning raw terminal output into plain text for the agent and for search.

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
 * Columns are counted as UTF-16 units (a wide character counts one).
 */
export function terminalText(raw: string, cols = 0): string {
  const text = stripAnsi(raw);
  const lines = text.split(/\r*\n/);
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!;
    if (line.includes('\r')) {
      const parts = line.split('\r');
      // Text after a CR overwrites what was there, from the start of the cursor's row:
      // the row of the last character written (a cursor past the last column of a full
      // row is still on it, until the next character wraps).
      let cur = '';
      let rowStart = 0;
      for (const p of parts) {
        cur = cur.slice(0, rowStart) + p + cur.slice(rowStart + p.length);
        const end = rowStart + p.length;
        rowStart = cols > 0 && end > 0 ? Math.floor((end - 1) / cols) * cols : 0;
      }
      line = cur;
    }
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
