// Turn a command line typed by the user ("ssh gpu-box", "python -m http.server 8000")
// into program + args for a terminal spec. Lines that need a shell (pipes, &&, $VARS,
// globs, redirections) are run through `/bin/sh -c` instead of being mangled.

const SHELL_META = /[|&;<>()$`*?~{}[\]!#]/;

export interface ParsedCommand {
  command: string;
  args: string[];
}

/** Split on whitespace honouring '…', "…" and backslash escapes; null if the quotes are unbalanced. */
export function splitWords(line: string): { words: string[]; needsShell: boolean } | null {
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  let needsShell = false;
  let quote: "'" | '"' | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote === "'") {
      if (c === "'") quote = null;
      else cur += c;
      continue;
    }
    if (quote === '"') {
      if (c === '"') quote = null;
      else if (c === '\\' && i + 1 < line.length && '"\\$`'.includes(line[i + 1]!)) cur += line[++i];
      else {
        if (c === '$' || c === '`') needsShell = true;
        cur += c;
      }
      continue;
    }
    if (c === "'" || c === '"') {
      quote = c;
      inWord = true;
    } else if (c === '\\' && i + 1 < line.length) {
      cur += line[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(cur);
      cur = '';
      inWord = false;
    } else {
      if (SHELL_META.test(c)) needsShell = true;
      cur += c;
      inWord = true;
    }
  }
  if (quote) return null;
  if (inWord) words.push(cur);
  return { words, needsShell };
}

/** Program + args for a command line, or null when empty; throws on unbalanced quotes. */
export function parseCommandLine(line: string, platform: string): ParsedCommand | null {
  const trimmed = line.trim();
  if (!trimmed) return null;
  const split = splitWords(trimmed);
  if (!split) throw new Error('Unbalanced quotes in the command.');
  if (split.needsShell && !platform.startsWith('win')) return { command: '/bin/sh', args: ['-c', trimmed] };
  const [command, ...args] = split.words;
  if (!command) return null;
  return { command, args };
}
