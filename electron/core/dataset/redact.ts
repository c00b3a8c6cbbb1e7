// Secrets must not leave the machine inside a dataset. Every string written into a
// bundle passes through a Redactor; each hit becomes `[REDACTED:<kind>]` and is
// counted in a report that names where it was, never what it was.
//
// Kinds:
//   configured-secret  exact values passed in (the app's API keys), also in JSON-escaped form
//   private-key        -----BEGIN … PRIVATE KEY----- … -----END … PRIVATE KEY----- (or to the
//                      end of the base64 body when the END line is missing, e.g. truncated output)
//   anthropic-key      sk-ant-…
//   openai-key         sk-…, sk-proj-…, sk-svcacct-… (20+ chars with a digit)
//   github-token       ghp_/gho_/ghu_/ghs_/ghr_…, github_pat_…
//   aws-access-key     AKIA…/ASIA… (20 chars)
//   slack-token        xoxb-/xoxp-/xoxa-/… ; slack-webhook https://hooks.slack.com/services/…
//   hf-token           hf_…
//   google-api-key     AIza…
//   stripe-key         sk_live_/rk_live_/sk_test_…
//   jwt                eyJ….eyJ….sig
//   bearer             the credential after `Authorization: Bearer|Basic|Token` or `Bearer <tok>`
//   url-password       the password in scheme://user:password@host
//   assignment         the value in PASSWORD=…, API_KEY: "…", --token …, aws_secret_access_key = …
//                      (8+ chars, not all digits, not a $VARIABLE reference)
//   sensitive-field    a whole JSON string value whose key names a secret (env maps in checkpoints)
// Only the secret part is replaced (the `Bearer ` or `PASSWORD=` prefix stays), and value
// character classes exclude quotes and backslashes, so redacting JSON text held in a string
// (tool-call arguments) keeps it valid JSON.

export interface SecretMatch {
  start: number;
  end: number;
  kind: string;
}

/** One line of the redaction report: where, what kind, how many. Never the secret. */
export interface RedactionReport {
  /** Bundle-relative file path. */
  file: string;
  /** 1-based line in the file (JSONL, asciicast). */
  line: number;
  /** JSON pointer inside that line's JSON value. */
  path: string;
  kind: string;
  count: number;
}

interface Pattern {
  kind: string;
  re: RegExp;
  /** Capture group holding the secret; 0 = the whole match. */
  group?: number;
  accept?: (m: RegExpExecArray) => boolean;
}

const KEYWORD = String.raw`(?:password|passwd|passphrase|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|client[_-]?secret|auth[_-]?token)`;
const VALUE = String.raw`(?!\[REDACTED)[^\s'"\\;&|,)(\]\[{}<>]{8,1024}`;

function plausibleValue(v: string): boolean {
  return !/^\d+$/.test(v) && !v.startsWith('$') && !/^(?:true|false|null|none|undefined|required|optional)$/i.test(v);
}

const PATTERNS: Pattern[] = [
  {
    kind: 'private-key',
    re: /-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY(?: BLOCK)?-----(?:[\s\S]{0,16384}?-----END \1PRIVATE KEY(?: BLOCK)?-----|(?:(?:\s|\\[rn])*(?:[A-Za-z0-9+/=]{8,}|[A-Za-z-]+: [^\n\\]{0,200})){0,300})/g,
  },
  { kind: 'anthropic-key', re: /(?<![A-Za-z0-9_-])sk-ant-[A-Za-z0-9_-]{20,300}/g },
  { kind: 'openai-key', re: /(?<![A-Za-z0-9_-])sk-(?=[A-Za-z_-]*[0-9])[A-Za-z0-9_-]{20,300}/g },
  { kind: 'github-token', re: /(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{30,255}|github_pat_[A-Za-z0-9_]{30,255})/g },
  { kind: 'aws-access-key', re: /(?<![A-Z0-9])(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Z0-9])/g },
  { kind: 'slack-webhook', re: /https:\/\/hooks\.slack\.com\/services\/[A-Za-z0-9/_-]{20,200}/g },
  { kind: 'slack-token', re: /(?<![A-Za-z0-9])xox[abposre]-[A-Za-z0-9-]{10,250}/g },
  { kind: 'hf-token', re: /(?<![A-Za-z0-9_])hf_[A-Za-z0-9]{30,64}(?![A-Za-z0-9])/g },
  { kind: 'google-api-key', re: /(?<![A-Za-z0-9_-])AIza[0-9A-Za-z_-]{35}/g },
  { kind: 'stripe-key', re: /(?<![A-Za-z0-9])(?:sk|rk)_(?:live|test)_[0-9A-Za-z]{20,200}/g },
  { kind: 'jwt', re: /(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{8,2000}\.eyJ[A-Za-z0-9_-]{8,4000}\.[A-Za-z0-9_-]{8,2000}/g },
  { kind: 'bearer', re: /\bAuthorization\s*:\s*(?:Bearer|Basic|Token)\s+((?!\[REDACTED)[A-Za-z0-9._~+/=-]{8,4000})/gi, group: 1 },
  { kind: 'bearer', re: /\bBearer\s+((?!\[REDACTED)(?=[A-Za-z._~+/=-]*[0-9])[A-Za-z0-9._~+/=-]{16,4000})/g, group: 1 },
  { kind: 'url-password', re: /\b[A-Za-z][A-Za-z0-9+.-]{1,20}:\/\/[^\s:/@"'\\<>]{1,256}:((?!\[REDACTED)[^\s/@"'\\<>]{1,256})@/g, group: 1 },
  {
    // KEY=value, KEY = 'value', "key": "value", key: 'value' (a colon needs a quote nearby).
    kind: 'assignment',
    // Bounded and anchored at a token start: no quadratic scans over long runs of
    // dashes or base64 in terminal output.
    re: new RegExp(String.raw`(?<![A-Za-z0-9_.-])(\\?["']?)[A-Za-z0-9_.-]{0,64}?${KEYWORD}(?:e?s)?(?:[_.-][A-Za-z0-9]+){0,6}\1\s*([=:])\s*(\\?["'])?(${VALUE})`, 'gi'),
    group: 4,
    accept: (m) => plausibleValue(m[4]!) && (m[2] === '=' || !!m[1] || !!m[3]),
  },
  {
    kind: 'assignment',
    re: new RegExp(String.raw`(?<![A-Za-z0-9_-])--[A-Za-z0-9-]{0,40}?${KEYWORD}\s+(\\?["'])?(${VALUE})`, 'gi'),
    group: 2,
    accept: (m) => plausibleValue(m[2]!),
  },
];

// Patterns with a capture group need match indices (the `d` flag).
for (const p of PATTERNS) if (p.group && !p.re.hasIndices) p.re = new RegExp(p.re.source, `${p.re.flags}d`);

const SENSITIVE_KEY = new RegExp(String.raw`^(?:.*[_.-])?${KEYWORD}(?:e?s)?(?:[_.-].*)?$`, 'i');

function escapeForRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export const MIN_CONFIGURED_SECRET_LENGTH = 6;

export class Redactor {
  private readonly configured: RegExp | null;

  constructor(secrets: readonly string[] = []) {
    const forms = new Set<string>();
    for (const s of secrets) {
      if (typeof s !== 'string' || s.length < MIN_CONFIGURED_SECRET_LENGTH) continue;
      forms.add(s);
      forms.add(JSON.stringify(s).slice(1, -1)); // as it appears inside JSON text
    }
    // Longest first so a secret that contains another is taken whole.
    const list = [...forms].sort((a, b) => b.length - a.length || (a < b ? -1 : 1));
    this.configured = list.length ? new RegExp(list.map(escapeForRegExp).join('|'), 'g') : null;
  }

  /** Non-overlapping secret ranges in `text`, sorted by start. */
  find(text: string): SecretMatch[] {
    return this.findWithContext(text).map(({ start, end, kind }) => ({ start, end, kind }));
  }

  /**
   * Like `find`, plus `from`: where the whole match begins, context included (the
   * `PASSWORD=` of an assignment), so a stream can avoid cutting between the two.
   */
  findWithContext(text: string): Array<SecretMatch & { from: number }> {
    if (text.length < MIN_CONFIGURED_SECRET_LENGTH) return [];
    const found: Array<SecretMatch & { prio: number; from: number }> = [];
    if (this.configured) {
      this.configured.lastIndex = 0;
      for (const m of text.matchAll(this.configured)) found.push({ start: m.index, end: m.index + m[0].length, kind: 'configured-secret', prio: -1, from: m.index });
    }
    PATTERNS.forEach((p, prio) => {
      p.re.lastIndex = 0;
      for (const m of text.matchAll(p.re)) {
        if (p.accept && !p.accept(m)) continue;
        const g = p.group ?? 0;
        const range: readonly [number, number] | undefined = g === 0 ? [m.index, m.index + m[0].length] : m.indices?.[g];
        if (!range || range[1] <= range[0]) continue;
        found.push({ start: range[0], end: range[1], kind: p.kind, prio, from: m.index });
      }
    });
    if (found.length === 0) return [];
    found.sort((a, b) => a.start - b.start || a.prio - b.prio || b.end - a.end);
    const out: Array<SecretMatch & { from: number }> = [];
    let last = -1;
    for (const f of found) {
      if (f.start < last) {
        // Overlap: a configured secret or an earlier, longer match already covers it; extend if needed.
        const prev = out[out.length - 1]!;
        if (f.end > prev.end && f.prio !== -1 && prev.kind !== 'configured-secret') prev.end = f.end;
        last = Math.max(last, prev.end);
        continue;
      }
      out.push({ start: f.start, end: f.end, kind: f.kind, from: f.from });
      last = f.end;
    }
    return out;
  }

  /** Redact one string; `kinds` lists one entry per replacement. */
  redact(text: string): { text: string; kinds: string[] } {
    const ms = this.find(text);
    if (ms.length === 0) return { text, kinds: [] };
    let out = '';
    let pos = 0;
    for (const m of ms) {
      out += text.slice(pos, m.start) + replacement(m.kind);
      pos = m.end;
    }
    return { text: out + text.slice(pos), kinds: ms.map((m) => m.kind) };
  }

  /**
   * A deep copy of a JSON value with every string redacted (object keys are kept, and
   * a string under a key that names a secret is replaced whole). `onHit` gets the JSON
   * pointer and kind of each replacement.
   */
  redactValue<T>(value: T, onHit?: (pointer: string, kind: string) => void): T {
    const walk = (v: unknown, pointer: string, key: string | null): unknown => {
      if (typeof v === 'string') {
        if (key !== null && v.length >= 4 && !v.startsWith('[REDACTED:') && SENSITIVE_KEY.test(key) && plausibleValue(v)) {
          onHit?.(pointer, 'sensitive-field');
          return replacement('sensitive-field');
        }
        const r = this.redact(v);
        for (const k of r.kinds) onHit?.(pointer, k);
        return r.text;
      }
      if (Array.isArray(v)) return v.map((x, i) => walk(x, `${pointer}/${i}`, null));
      if (v && typeof v === 'object') {
        const o: Record<string, unknown> = {};
        for (const [k, x] of Object.entries(v)) o[k] = walk(x, `${pointer}/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`, k);
        return o;
      }
      return v;
    };
    return walk(value, '', null) as T;
  }
}

export function replacement(kind: string): string {
  return `[REDACTED:${kind}]`;
}

/** One-shot convenience: redact a string with the built-in patterns plus `secrets`. */
export function redactString(text: string, secrets: readonly string[] = []): { text: string; kinds: string[] } {
  return new Redactor(secrets).redact(text);
}

/**
 * Redacts a stream of text segments (terminal output chunks) where a secret may
 * straddle segment boundaries. Segments are buffered until `window + overlap`
 * characters are pending, then everything but the last `overlap` characters is
 * scanned as one text and emitted; a match crossing the cut point is held back
 * whole. A replacement lands in the segment where its secret starts; the rest of
 * the secret is removed from the following segments (which keep their metadata, so
 * their times stay). `overlap` must exceed the longest possible match (bounded by
 * the patterns to ~17 KB) — the default 64 KB does.
 */
export class StreamRedactor<M> {
  private pending: Array<{ data: string; meta: M }> = [];
  private pendingLen = 0;
  /** Tail of the text already emitted: scanned again for look-behind and key context, never re-emitted. */
  private context = '';

  constructor(
    private readonly redactor: Redactor,
    private readonly emit: (data: string, meta: M, kinds: string[]) => void,
    private readonly window = 1 << 20,
    private readonly overlap = 1 << 16,
    private readonly contextLength = 1024,
  ) {}

  push(data: string, meta: M): void {
    if (data.length === 0) return;
    this.pending.push({ data, meta });
    this.pendingLen += data.length;
    if (this.pendingLen >= this.window + this.overlap) this.process(false);
  }

  end(): void {
    if (this.pending.length) this.process(true);
  }

  private process(final: boolean): void {
    const ctx = this.context.length;
    const text = this.context + this.pending.map((p) => p.data).join('');
    let cut = final ? text.length : text.length - this.overlap;
    const ms: SecretMatch[] = [];
    for (const m of this.redactor.findWithContext(text)) {
      // Matches inside the context were handled (or ruled out) by the previous window.
      if (m.start < ctx) continue;
      if (m.from >= cut) break;
      if (m.end > cut) {
        // Hold the whole match, key context included, for the next window.
        cut = Math.max(ctx, m.from);
        break;
      }
      ms.push(m);
    }
    const keep: Array<{ data: string; meta: M }> = [];
    let a = ctx;
    let mi = 0;
    for (const seg of this.pending) {
      const b = a + seg.data.length;
      if (a >= cut) {
        keep.push(seg);
      } else {
        const end = Math.min(b, cut);
        let out = '';
        let pos = a;
        const kinds: string[] = [];
        while (mi < ms.length && ms[mi]!.start < end) {
          const m = ms[mi]!;
          if (m.start >= pos) {
            out += text.slice(pos, m.start) + replacement(m.kind);
            kinds.push(m.kind);
          }
          pos = Math.max(pos, Math.min(m.end, end));
          if (m.end <= end) mi++;
          else break;
        }
        out += text.slice(pos, end);
        if (out.length || kinds.length) this.emit(out, seg.meta, kinds);
        if (b > cut) keep.push({ data: text.slice(cut, b), meta: seg.meta });
      }
      a = b;
    }
    this.context = text.slice(Math.max(0, cut - this.contextLength), cut);
    this.pending = keep;
    this.pendingLen = keep.reduce((n, s) => n + s.data.length, 0);
  }
}

/** Collects hits into report lines, merging repeats of the same (file, line, path, kind). */
export class RedactionLog {
  private readonly entries = new Map<string, RedactionReport>();

  add(file: string, line: number, path: string, kind: string, count = 1): void {
    const key = `${file}\u0000${line}\u0000${path}\u0000${kind}`;
    const e = this.entries.get(key);
    if (e) e.count += count;
    else this.entries.set(key, { file, line, path, kind, count });
  }

  list(): RedactionReport[] {
    return [...this.entries.values()];
  }

  summary(): RedactionSummary {
    return summarizeRedactions(this.entries.values());
  }
}

export interface RedactionSummary {
  total: number;
  byKind: Record<string, number>;
  byFile: Record<string, number>;
}

/** Totals of a redaction report, overall, by kind and by file (keys sorted). */
export function summarizeRedactions(list: Iterable<RedactionReport>): RedactionSummary {
  const byKind: Record<string, number> = {};
  const byFile: Record<string, number> = {};
  let total = 0;
  for (const e of list) {
    total += e.count;
    byKind[e.kind] = (byKind[e.kind] ?? 0) + e.count;
    byFile[e.file] = (byFile[e.file] ?? 0) + e.count;
  }
  const sorted = (o: Record<string, number>): Record<string, number> =>
    Object.fromEntries(Object.keys(o).sort().map((k) => [k, o[k]!]));
  return { total, byKind: sorted(byKind), byFile: sorted(byFile) };
}
