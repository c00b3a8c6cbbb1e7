// Where a query sits in a result's snippet, for <mark>: the host matched it
// case-insensitively in text whose whitespace the snippet folds to single spaces, so
// the query is folded the same way before it is looked for.

export interface SnippetPart {
  text: string;
  match: boolean;
}

/** `snippet` cut into plain and matching parts (every occurrence; none found: one plain part). */
export function highlightParts(snippet: string, query: string): SnippetPart[] {
  const q = query.replace(/\s+/g, ' ');
  if (!q.trim()) return [{ text: snippet, match: false }];
  const hay = lowerSameLength(snippet);
  const needle = lowerSameLength(q);
  const out: SnippetPart[] = [];
  let i = 0;
  for (let at = hay.indexOf(needle); at >= 0 && needle.length > 0; at = hay.indexOf(needle, at + needle.length)) {
    if (at > i) out.push({ text: snippet.slice(i, at), match: false });
    out.push({ text: snippet.slice(at, at + needle.length), match: true });
    i = at + needle.length;
  }
  if (i < snippet.length || out.length === 0) out.push({ text: snippet.slice(i), match: false });
  return out;
}

/** Lower-cased with offsets kept (a letter whose lower case is longer stays as it is). */
function lowerSameLength(s: string): string {
  const l = s.toLowerCase();
  return l.length === s.length ? l : s.replace(/[A-Z]/g, (c) => c.toLowerCase());
}
