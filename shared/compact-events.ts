// The compact form of a session's events that `sessions.open` and the `session.event`
// pushes carry to the renderer. The tree needs every step, label and comment, but not
// the bulk of the log: the request record (every message the model was sent, again per
// request), long tool outputs and long reasoning. Those are left out or cut here, and every cut says so
// in `elided`, so no view can mistake a preview for the whole text: the full text is
// fetched on demand (sessions.stepDetail, steps.request).
import type { SessionEvent } from './events';

/**
 * Observations up to this many characters are sent whole. Small, because most of a long
 * session's observations are a few thousand characters and nothing shows them whole until
 * a step is expanded (which fetches it): at 6,000 they were half of the open reply.
 */
export const OBSERVATION_WHOLE_CHARS = 600;
/**
 * A cut observation keeps its first and last characters: the head holds a JSON
 * observation's message and the start of its output, the tail the last line the
 * collapsed row previews (up to 200 characters). The filter view's search reads the rest from
 * the core (sessions.search).
 */
export const PREVIEW_HEAD_CHARS = 300;
export const PREVIEW_TAIL_CHARS = 220;
/**
 * A model's reasoning up to this many characters is sent whole; a longer one keeps its
 * head (the collapsed row previews 220 characters) and tail, and is fetched whole when
 * the thought is shown (sessions.stepDetail).
 */
export const REASONING_WHOLE_CHARS = 320;
export const REASONING_HEAD_CHARS = 240;
export const REASONING_TAIL_CHARS = 60;
/** The version of this form: a kept copy of it (electron/core/open-view.ts) made by another is not used. */
export const COMPACT_FORM = 1;
/** Between the head and the tail of a preview. */
export const CUT_MARK = '\n…\n';

/** What the compact form of an event left out. */
export interface Elided {
  /** action.result: the full observation's length in characters; `observation` is a preview. */
  observation?: number;
  /** model.response: the full reasoning's length in characters; `reasoning` is a preview. */
  reasoning?: number;
  /**
   * model.request: how many messages it appended (`append` is sent empty). Its `base`,
   * `keep` and `config` are not sent either (null, 0 and ''): only steps.request rebuilds a
   * request, from the host's log; the page needs which request a step is on.
   */
  messages?: number;
  /** summary.created: how many steps it covered (`coveredStepIds` is sent empty). */
  covered?: number;
  /** request.config: its body is not sent (`config` is empty). */
  config?: true;
}

export type CompactEvent = SessionEvent & { elided?: Elided };

/**
 * `s` cut to its head and tail, never inside a surrogate pair. `copy`: a string of its
 * own, not slices (V8 keeps the whole string alive behind a slice of it, and the host
 * may hold the preview of an observation it keeps on disk, store/event-log.ts); not
 * needed for a part of a text that is serialized again anyway.
 */
function cut(s: string, head: number, tail: number, copy = true): string {
  let h = head;
  if (isLowSurrogate(s.charCodeAt(h))) h--;
  let t = s.length - tail;
  if (isLowSurrogate(s.charCodeAt(t))) t--;
  const preview = s.slice(0, h) + CUT_MARK + s.slice(t);
  return copy ? (JSON.parse(JSON.stringify(preview)) as string) : preview;
}

function isLowSurrogate(c: number): boolean {
  return c >= 0xdc00 && c <= 0xdfff;
}

/**
 * A preview of a long observation. A JSON observation (ResearchGym's
 * {"message", "exit_code", "output", …}) stays JSON with only its long strings cut, so
 * the row still reads its message and exit code; any other text is cut as a whole.
 */
export function observationPreview(observation: string): string {
  if (observation.length <= OBSERVATION_WHOLE_CHARS) return observation;
  if (observation.trimStart().startsWith('{')) {
    try {
      const o = JSON.parse(observation) as unknown;
      if (o && typeof o === 'object' && !Array.isArray(o)) {
        const out: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(o)) {
          out[k] = typeof v === 'string' && v.length > PREVIEW_HEAD_CHARS + PREVIEW_TAIL_CHARS ? cut(v, PREVIEW_HEAD_CHARS, PREVIEW_TAIL_CHARS, false) : v;
        }
        const json = JSON.stringify(out);
        // Many long fields, or one long non-string one: cut as text after all.
        if (json.length <= 2 * OBSERVATION_WHOLE_CHARS) return json;
      }
    } catch {
      /* not JSON after all */
    }
  }
  return cut(observation, PREVIEW_HEAD_CHARS, PREVIEW_TAIL_CHARS);
}

/** The compact form of one event: the same object when nothing in it is large. */
export function compactEvent(ev: SessionEvent): CompactEvent {
  switch (ev.type) {
    case 'action.result':
      if (ev.observation.length <= OBSERVATION_WHOLE_CHARS) return ev;
      return { ...ev, observation: observationPreview(ev.observation), elided: { observation: ev.observation.length } };
    case 'model.response':
      if (ev.reasoning.length <= REASONING_WHOLE_CHARS) return ev;
      // Slices are fine: the log holds the whole reasoning as long as this preview anyway.
      return { ...ev, reasoning: cut(ev.reasoning, REASONING_HEAD_CHARS, REASONING_TAIL_CHARS, false), elided: { reasoning: ev.reasoning.length } };
    case 'model.request': {
      // The page needs which request a step is on (its Context tab asks steps.request by step), not its messages
      // nor the chain they are rebuilt from (3% of the open reply on the generated session).
      const { owners: _owners, ...rest } = ev;
      return { ...rest, base: null, keep: 0, config: '', append: [], elided: { messages: ev.append.length } };
    }
    case 'summary.created':
      // Nothing in the page reads which steps a summary covered (3% of the open reply on the generated session).
      if (ev.coveredStepIds.length === 0) return ev;
      return { ...ev, coveredStepIds: [], elided: { covered: ev.coveredStepIds.length } };
    case 'request.config':
      return { ...ev, config: {}, elided: { config: true } };
    default:
      return ev;
  }
}

/** What a compact event elided (undefined for an event sent whole). */
export function elidedOf(ev: SessionEvent): Elided | undefined {
  return (ev as CompactEvent).elided;
}

/**
 * What a paged open leaves for sessions.page: what each step said and got, the bulk of a
 * log (on the generated 2,500-step session 4.8 of the 7.8 MB compact view). The tree
 * (steps, labels, comments, branches, terminals…) never needs them to hold together:
 * the fold sets a step's response and adds its results, and no other event reads them.
 */
export function isStepDetail(ev: { type: string }): boolean {
  return ev.type === 'model.response' || ev.type === 'action.result';
}

/**
 * `lists` (each in seq order or not) as one list in seq order, each seq once. Two lists
 * in order (a paged open's tree and its tail, on the way to the first frame) are merged
 * in one pass; anything else is sorted.
 */
export function mergeBySeq<E extends { seq: number }>(...lists: readonly (readonly E[])[]): E[] {
  const sorted = (l: readonly E[]) => l.every((e, i) => i === 0 || l[i - 1]!.seq < e.seq);
  if (lists.length === 2 && sorted(lists[0]!) && sorted(lists[1]!)) {
    const [a, b] = lists as [readonly E[], readonly E[]];
    const out: E[] = [];
    let i = 0;
    let j = 0;
    while (i < a.length || j < b.length) {
      const next = j >= b.length || (i < a.length && a[i]!.seq <= b[j]!.seq) ? a[i++]! : b[j++]!;
      if (out.length === 0 || out[out.length - 1]!.seq !== next.seq) out.push(next);
    }
    return out;
  }
  const all = lists.length === 1 ? [...lists[0]!] : lists.flat();
  all.sort((a, b) => a.seq - b.seq);
  return all.filter((e, i) => i === 0 || all[i - 1]!.seq !== e.seq);
}
