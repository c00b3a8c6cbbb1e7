// Search across a session: actions (the model's text, reasoning and tool calls), observations,
// guidance, comments, summaries, and the output of its terminals. Each result names the
// step to jump to, and terminal results the byte offset in the recording.
//
// The event log's texts are already in memory with the session (30 MB for a 30-hour
// run): they are kept lower-cased, added as events arrive, and scanned per query (tens
// of ms). The terminal output (800 MB) is not: it is searched through a trigram index
// kept beside each recording (terminal-index.ts), so a query reads only the blocks
// that can hold a match. A terminal match belongs to the step that was running when
// it was written (its time from the timing index).
//
// A query is one string, matched as it is (not split into words), case-insensitively
// (ASCII letters in terminal output; any letter in the log's texts).
import { open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { SessionEvent } from '../../../shared/events';
import type { SearchKind, SearchResponse, SearchResult } from '../../../shared/contract/sessions';
import { markerAt } from '../../../shared/replay-markers';
import { terminalMarkers } from '../replay-markers';
import { trajectoryOf, type EventSource } from '../session-trajectory';
import { TimingIndex } from '../store/timing-index';
import { TerminalSearchIndex } from './terminal-index';

interface Doc {
  kind: Exclude<SearchKind, 'terminal' | 'comment' | 'guidance'>;
  stepId: string;
  ts: number;
  text: string;
  lower: string;
}

const SNIPPET = 60;

function lowerOf(text: string): string {
  const l = text.toLowerCase();
  // Offsets found in the lower-cased text must be offsets in the text.
  return l.length === text.length ? l : text.replace(/[A-Z]/g, (c) => c.toLowerCase());
}

function snippetOf(text: string, at: number, len: number): string {
  const a = Math.max(0, at - SNIPPET);
  const b = Math.min(text.length, at + len + SNIPPET);
  return `${a > 0 ? '…' : ''}${text.slice(a, b).replace(/\s+/g, ' ')}${b < text.length ? '…' : ''}`;
}

// Terminal bytes as text for a snippet: escape sequences dropped, controls as spaces.
// The run of controls leaves ESC out: "\r\n\x1b]133;…" took the ESC with the newline,
// and the rest of the sequence was shown as text.
const TERMINAL_NOISE = /\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|[\x00-\x1a\x1c-\x1f\x7f]+|\x1b/g;

/**
 * Bytes read on each side of a terminal match. More than a snippet shows: a window
 * that starts inside an escape sequence (shell integration marks run to 100+ bytes)
 * leaves its tail as text, so the controls are removed from the wider window first
 * and the snippet is cut from what is left.
 */
const TERMINAL_CONTEXT = SNIPPET * 4;

/** `bytes` hold the match at `at` (`cut`: more of the recording precedes them). */
function terminalSnippet(bytes: Buffer, at: number, len: number, cut: boolean): string {
  const clean = (b: Buffer) => b.toString('utf8').replace(TERMINAL_NOISE, ' ').replace(/\s+/g, ' ');
  const before = clean(bytes.subarray(0, at)).trimStart();
  const after = clean(bytes.subarray(at + len)).trimEnd();
  const head = before.length > SNIPPET ? `…${before.slice(-SNIPPET)}` : cut ? `…${before}` : before;
  const tail = after.length > SNIPPET ? `${after.slice(0, SNIPPET)}…` : after;
  return `${head}${bytes.subarray(at, at + len).toString('utf8')}${tail}`;
}

export class SessionSearch {
  private readonly docs: Doc[] = [];
  private seen = 0;
  private readonly comments = new Map<string, { stepId: string; text: string; ts: number }>();
  private readonly guidance = new Map<string, { text: string; ts: number; stepId: string | null }>();
  private readonly terminals = new Map<string, TerminalSearchIndex>();

  constructor(
    /** The session folder (events.jsonl, terminals/). */
    readonly dir: string,
    /** Its log: the texts are taken from its events, a terminal hit's step from its trajectory. */
    private readonly log: EventSource,
  ) {}

  /** Take in the events appended since the last query. */
  private catchUp(): void {
    const evs = this.log.events;
    for (; this.seen < evs.length; this.seen++) {
      const ev = evs[this.seen]!;
      switch (ev.type) {
        case 'model.response': {
          const text = [ev.content, ev.reasoning, ...ev.toolCalls.map((c) => `${c.name} ${c.arguments}`)].filter(Boolean).join('\n');
          if (text) this.docs.push({ kind: 'action', stepId: ev.stepId, ts: ev.ts, text, lower: lowerOf(text) });
          break;
        }
        case 'action.result':
          this.docs.push({ kind: 'observation', stepId: ev.stepId, ts: ev.ts, text: ev.observation, lower: lowerOf(ev.observation) });
          break;
        case 'summary.created':
          this.docs.push({ kind: 'summary', stepId: ev.stepId, ts: ev.ts, text: ev.summary, lower: lowerOf(ev.summary) });
          break;
        case 'guidance.queued':
          this.guidance.set(ev.guidanceId, { text: ev.text, ts: ev.ts, stepId: null });
          break;
        case 'guidance.delivered': {
          const g = this.guidance.get(ev.guidanceId);
          if (g) g.stepId = ev.stepId;
          break;
        }
        case 'comment.added':
          this.comments.set(ev.commentId, { stepId: ev.stepId, text: ev.text, ts: ev.ts });
          break;
        case 'comment.edited': {
          const c = this.comments.get(ev.commentId);
          if (c) c.text = ev.text;
          break;
        }
        case 'comment.deleted':
          this.comments.delete(ev.commentId);
          break;
        default:
          break;
      }
    }
  }

  async search(query: string, opts: { limit?: number; kinds?: readonly SearchKind[] } = {}): Promise<SearchResponse> {
    const t0 = performance.now();
    const limit = Math.max(1, Math.min(opts.limit ?? 200, 10_000));
    const kinds = new Set<SearchKind>(opts.kinds ?? ['action', 'observation', 'guidance', 'comment', 'summary', 'terminal']);
    const q = query.trim();
    if (!q) return { results: [], truncated: false, ms: 0 };
    this.catchUp();
    const lq = lowerOf(q);
    const results: SearchResult[] = [];
    let truncated = false;
    const fromText = (kind: SearchKind, stepId: string | null, ts: number, text: string, lower: string): boolean => {
      for (let at = lower.indexOf(lq); at >= 0; at = lower.indexOf(lq, at + lq.length)) {
        if (results.length >= limit * 2) return false;
        results.push({ kind, stepId, ts, at, snippet: snippetOf(text, at, q.length) });
      }
      return true;
    };
    scan: {
      for (const d of this.docs) if (kinds.has(d.kind) && !fromText(d.kind, d.stepId, d.ts, d.text, d.lower)) {
        truncated = true;
        break scan;
      }
      if (kinds.has('guidance')) for (const g of this.guidance.values()) if (!fromText('guidance', g.stepId, g.ts, g.text, lowerOf(g.text))) {
        truncated = true;
        break scan;
      }
      if (kinds.has('comment')) for (const c of this.comments.values()) if (!fromText('comment', c.stepId, c.ts, c.text, lowerOf(c.text))) {
        truncated = true;
        break scan;
      }
    }
    if (kinds.has('terminal')) {
      const tdir = join(this.dir, 'terminals');
      const files = await readdir(tdir).catch(() => [] as string[]);
      for (const tid of files.filter((f) => f.endsWith('.out')).map((f) => f.slice(0, -4)).sort()) {
        let idx = this.terminals.get(tid);
        if (!idx) this.terminals.set(tid, (idx = new TerminalSearchIndex(tdir, tid)));
        const { hits, more } = await idx.search(q, limit);
        if (more) truncated = true;
        if (!hits.length) continue;
        const timing = await TimingIndex.open(tdir, tid).catch(() => null);
        try {
          const out = await open(idx.outPath, 'r');
          try {
            const qBytes = Buffer.byteLength(q);
            const buf = Buffer.allocUnsafe(TERMINAL_CONTEXT * 2 + qBytes);
            // The step a hit belongs to as the replay bar names it there (shared/replay-markers.ts).
            const markers = terminalMarkers(trajectoryOf(this.log), tid);
            for (const h of hits) {
              const ts = (await timing?.timeAt(h.offset)) ?? 0;
              const m = markerAt(markers, h.offset, ts);
              const from = Math.max(0, h.offset - TERMINAL_CONTEXT);
              const { bytesRead } = await out.read(buf, 0, buf.length, from);
              const snippet = terminalSnippet(buf.subarray(0, bytesRead), h.offset - from, qBytes, from > 0);
              results.push({ kind: 'terminal', stepId: m >= 0 ? markers[m]!.stepId : null, ts, terminalId: tid, offset: h.offset, length: qBytes, snippet });
            }
          } finally {
            await out.close();
          }
        } finally {
          await timing?.close();
        }
      }
    }
    // In the order things happened; the first `limit`.
    results.sort((a, b) => a.ts - b.ts || (a.offset ?? 0) - (b.offset ?? 0));
    if (results.length > limit) {
      results.length = limit;
      truncated = true;
    }
    return { results, truncated, ms: performance.now() - t0 };
  }
}

const bySession = new WeakMap<object, SessionSearch>();

/** The search of a session that stays open (its texts kept between queries). */
export function sessionSearch(session: { dir: string; events: readonly SessionEvent[] }): SessionSearch {
  let s = bySession.get(session);
  if (!s) bySession.set(session, (s = new SessionSearch(session.dir, session)));
  return s;
}
