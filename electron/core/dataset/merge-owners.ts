// The step owning each message of an example, as the export knew it, for the fixed head
// of the per-action lines a merge re-derives (trainers.ts fixedHead: the leading messages
// no step owns). A bundle's manifest names the step of each assistant turn (turnSteps) and
// how many steps own messages of the example (steps), not the owners of the other
// messages. Taking every other message as no step's is right but for one case: a step
// with no assistant turn in the context that still owns the one user message the prompt
// builder renders for it (context.ts renderedStep): its guidance when its model call
// failed (no reply), or the results and guidance answering an empty reply, which later
// requests leave out. Before the first reply that message would otherwise count as head,
// and every per-action line would keep it where the export (and the wire, which carried
// the history cut) did not.
//
// So, from what the bundle says: `steps` minus the steps of the assistant turns is how many
// such reply-less steps own a message of the example. Those between its first and its last
// reply (between its first reply and the summarized steps' end, for a summary example)
// are all in it, each its message; the rest come just before the first reply (a summary
// or a split only ever drops the oldest), and are the deepest reply-less steps with
// guidance above that reply on the example's branch. Their depths, branches and guidance
// come from the step records (trajectory.jsonl), read once while the merged one is
// written; only the sessions of examples that have such a step are looked at, so a merge
// without any holds nothing more.
import type { PlannedExample } from './merge-plan';
import type { OpenAIRecord } from './trainers';

interface ReplyLess {
  stepId: string;
  depth: number;
  onBranches: readonly string[];
  /** The branch each of its guidance was given for (null: any). */
  guidance: Array<string | null>;
  /** An empty reply with results: they are rendered whatever the guidance. */
  results: boolean;
}

const key = (input: number, sessionId: string): string => `${input}\u0000${sessionId}`;

/** How many steps own a message of `x` and have no assistant turn in it (reply-less steps with guidance). */
function replyLessOwners(x: PlannedExample): number {
  return x.entry.steps - new Set(x.entry.turnSteps.filter((s): s is string => s !== null)).size;
}

const asString = (v: unknown): string | null => (typeof v === 'string' ? v : null);

export class MessageOwners {
  /** Input and session of the examples with a reply-less owner. */
  private readonly sessions = new Set<string>();
  private readonly depths = new Map<string, number>();
  private readonly replyLess = new Map<string, ReplyLess[]>();
  /** Per input and session, per exported branch: the branches of the steps on its path (context.ts lineage). */
  private readonly lineage = new Map<string, Map<string, Set<string>>>();
  /** Per input and session, the steps a summary step covered. */
  private readonly covered = new Map<string, Map<string, Set<string>>>();

  constructor(examples: readonly PlannedExample[]) {
    for (const x of examples) if (replyLessOwners(x) > 0) this.sessions.add(key(x.input.index, x.ex.sessionId));
  }

  /** A step record of input `input` (every copy's, as read while writing). */
  note(input: number, rec: Record<string, unknown>): void {
    const sessionId = asString(rec.sessionId);
    const stepId = asString(rec.stepId);
    if (sessionId === null || stepId === null || rec.kind !== 'step') return;
    const k = key(input, sessionId);
    if (!this.sessions.has(k)) return;
    const depth = typeof rec.depth === 'number' ? rec.depth : 0;
    const onBranches = Array.isArray(rec.onBranches) ? rec.onBranches.filter((b): b is string => typeof b === 'string') : [];
    const branchId = asString(rec.branchId);
    this.depths.set(`${k}\u0000${stepId}`, depth);
    let lin = this.lineage.get(k);
    if (!lin) this.lineage.set(k, (lin = new Map()));
    for (const b of onBranches) {
      let s = lin.get(b);
      if (!s) lin.set(b, (s = new Set()));
      if (branchId !== null) s.add(branchId);
    }
    const guidance = Array.isArray(rec.guidance) ? rec.guidance : [];
    const r = rec.response as { content?: unknown; toolCalls?: unknown } | null;
    const empty = !!r && r.content === '' && Array.isArray(r.toolCalls) && r.toolCalls.length === 0;
    const results = empty && Array.isArray(rec.results) && rec.results.length > 0;
    if ((r === null || empty) && (guidance.length || results)) {
      const list = this.replyLess.get(k) ?? [];
      list.push({ stepId, depth, onBranches, results, guidance: guidance.map((g) => asString((g as { branchId?: unknown } | null)?.branchId)) });
      this.replyLess.set(k, list);
    }
    const ids = (rec.summary as { coveredStepIds?: unknown } | null | undefined)?.coveredStepIds;
    if (Array.isArray(ids)) {
      let c = this.covered.get(k);
      if (!c) this.covered.set(k, (c = new Map()));
      c.set(stepId, new Set(ids.filter((id): id is string => typeof id === 'string')));
    }
  }

  /** The owner of each message of `record` (example `x`, as written): a step id, or null (none, or not known). */
  owners(x: PlannedExample, record: OpenAIRecord): (string | null)[] {
    let turn = 0;
    const base = record.messages.map((m) => (m.role === 'assistant' ? (x.entry.turnSteps[turn++] ?? null) : null));
    const n = replyLessOwners(x);
    if (n <= 0) return base;
    const k = key(x.input.index, x.ex.sessionId);
    const owned = x.entry.turnSteps.filter((s): s is string => s !== null);
    const first = base.findIndex((o, i) => o !== null && record.messages[i]!.role === 'assistant');
    const d1 = owned.length ? this.depths.get(`${k}\u0000${owned[0]}`) : undefined;
    if (first < 0 || d1 === undefined) return base;
    const branch = x.ex.branchId;
    const lineage = new Set([branch, ...(this.lineage.get(k)?.get(branch) ?? [])]);
    // As context.ts renders them: a step on this path with results, or guidance given for its
    // lineage; not one with an assistant turn here (an empty reply as older versions sent it).
    const turns = new Set(owned);
    const rendered = (this.replyLess.get(k) ?? [])
      .filter((r) => !turns.has(r.stepId) && r.onBranches.includes(branch) && (r.results || r.guidance.some((g) => g === null || lineage.has(g))))
      .sort((a, b) => a.depth - b.depth);
    let inside: (r: ReplyLess) => boolean;
    if (x.entry.kind === 'summary') {
      // The summary request holds the path up to the last step it summarized.
      const at = x.entry.trainedSteps[0]?.replace(/^summary:/, '') ?? '';
      const covered = this.covered.get(k)?.get(at);
      inside = (r) => r.depth > d1 && !!covered?.has(r.stepId);
    } else {
      const dLast = this.depths.get(`${k}\u0000${owned.at(-1)}`) ?? d1;
      inside = (r) => r.depth > d1 && r.depth < dLast;
    }
    const before = rendered.filter((r) => r.depth < d1);
    let free = 0;
    while (free < first && record.messages[first - 1 - free]!.role !== 'assistant') free++;
    const lead = Math.min(n - rendered.filter(inside).length, before.length, free);
    if (lead <= 0) return base;
    const out = base.slice();
    for (let j = 0; j < lead; j++) out[first - lead + j] = before[before.length - lead + j]!.stepId;
    return out;
  }
}
