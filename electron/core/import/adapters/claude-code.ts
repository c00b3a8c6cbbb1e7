// Claude Code sessions (~/.claude/projects/<project>/<session>.jsonl): one record per
// line, chained by parentUuid → uuid. `message` is the Anthropic API message: an
// assistant reply is split over several records (one per content block) sharing
// message.id; tool results come back as tool_result blocks in user records.
//
//   assistant message (all its records)  → a step: text → content, thinking →
//                                          reasoning, tool_use → tool calls, usage, model
//   tool_result blocks                   → the results of the step that made the call
//   a person's text turn                 → the task (the first), then guidance after
//                                          the step it answers
//   <bash-input>…</bash-input> + its     → a step the person took in their own shell
//   <bash-stdout>/<bash-stderr> record     (origin "terminal")
//   two replies to the same record       → a branch (an edited prompt, a retry)
//   system, summary, sidechain (subagent) and other records: not steps; kept verbatim
//   in import/unknown.jsonl and counted
//   Claude Code's own assistant records   → not steps, not context (kept verbatim as
//   (model "<synthetic>", isApiErrorMessage)  unknown, and noted): "API Error: 529 …" and
//                                          "No response requested." are its text, not
//                                          the model's, so they must never be trained
//   a record written again (same uuid, or → the first one only (noted): merging the
//   the same part of a message again)      copy too doubles the reply and its calls
//
// Claude Code does not log its system prompt or tool schemas, so each step's request
// is derived: the conversation on its path, converted to OpenAI wire messages, a tool
// result Claude Code replaced before sending (a content-replacement record) as the
// replacement. A step is not trained when its path holds what that cannot carry: an
// image or a document (only "[image]"), an attachment Claude Code turned into a reminder
// the reply answers (a queued message, a hook's context or blocking error), or, from 2.1,
// an hour between a reply and the next request (its time-based microcompact cleared older
// tool results, unrecorded), or the model's earlier thinking: Claude Code sends thinking
// blocks back, and the API keeps those of the current tool loop (since the person's last
// message; every earlier one from Claude Opus 4.5) in the model's context, which the
// exported records cannot carry.
import { z } from 'zod';
import type { ToolCall, Usage, WireMessage } from '../../../../shared/events';
import { check, readRecords, toMs, versionAtLeast } from '../source';
import { ImportError, type ImportAdapter, type ImportContext, type ImportInput, type RunIR, type StepIR } from '../types';

const block = z.looseObject({ type: z.string() });
const record = z.looseObject({
  type: z.string(),
  uuid: z.string().optional(),
  parentUuid: z.string().nullable().optional(),
  /** A compact_boundary system record's link to the record before the compaction (its parentUuid is null). */
  logicalParentUuid: z.string().nullable().optional(),
  /** The user record holding a compaction's summary, sent to the model as the person's message. */
  isCompactSummary: z.boolean().optional(),
  sessionId: z.string().optional(),
  timestamp: z.string().optional(),
  cwd: z.string().optional(),
  version: z.string().optional(),
  isSidechain: z.boolean().optional(),
  isMeta: z.boolean().optional(),
  isApiErrorMessage: z.boolean().optional(),
  message: z.looseObject({
    role: z.string().optional(),
    id: z.string().optional(),
    model: z.string().optional(),
    content: z.union([z.string(), z.array(block)]).optional(),
    usage: z.looseObject({ input_tokens: z.number().optional(), output_tokens: z.number().optional(), cache_creation_input_tokens: z.number().optional(), cache_read_input_tokens: z.number().optional() }).nullable().optional(),
    stop_reason: z.string().nullable().optional(),
  }).optional(),
});
type Rec = z.infer<typeof record> & { where: string };
type Block = { type: string; text?: string; thinking?: string; id?: string; name?: string; input?: unknown; tool_use_id?: string; content?: unknown; is_error?: boolean };

function blocks(r: Rec): Block[] {
  const c = r.message?.content;
  if (typeof c === 'string') return [{ type: 'text', text: c }];
  return (c ?? []) as Block[];
}

function blockText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) return content.map((b: Block) => (b.type === 'text' ? (b.text ?? '') : b.type === 'image' ? '[image]' : '')).join('');
  return '';
}

/** Content the training formats carry only as "[image]" (or not at all): an image, a document. */
function holdsMedia(content: unknown): boolean {
  return Array.isArray(content) && content.some((b: Block) => b.type === 'image' || b.type === 'document' || (b.type === 'tool_result' && holdsMedia(b.content)));
}

/**
 * Attachments (Claude Code 2.x) it sends the model as a reminder the person or a hook
 * wrote, which the reply answers and the derived context does not hold.
 */
const SENT_ATTACHMENTS = new Set(['queued_command', 'hook_blocking_error', 'hook_additional_context']);

/** A gap after which Claude Code 2.1 clears older tool results from its prompts (time-based microcompact). */
const MICROCOMPACT_GAP_MS = 60 * 60_000;
/** Models whose earlier thinking the API keeps in context across turns, not only within a tool loop (Claude Opus 4.5 on). */
const KEEPS_ALL_THINKING = /claude-opus-(?:4-[5-9]|[5-9])(?:\D|$)/;

const BASH_IN = /^<bash-input>([\s\S]*)<\/bash-input>$/;
/** What Claude Code writes as the person's turn when they stop a reply, or the tool use it asked for. */
const INTERRUPTED = /^\[Request interrupted by user(?: for tool use)?\]$/;
const SHELL_NOT_TRAINED = 'not trained: the person ran it in their own shell (!), and the model saw it as their messages; the Bash call is the importer\'s';
const BASH_OUT = /<bash-(stdout|stderr)>([\s\S]*?)<\/bash-\1>/g;

/** The model name Claude Code gives the assistant messages it writes itself. */
const SYNTHETIC_MODEL = '<synthetic>';

/** An assistant record Claude Code made up (an API error, "No response requested."), not a reply of the model. */
function synthetic(r: Rec): boolean {
  return r.type === 'assistant' && (r.isApiErrorMessage === true || r.message?.model === SYNTHETIC_MODEL);
}

export const claudeCodeAdapter: ImportAdapter = {
  format: 'claude-code',
  description: 'Claude Code session JSONL (~/.claude/projects/…/<session>.jsonl)',
  detect(input) {
    if (input.isDir) return 0;
    const t = input.head.toString('utf8');
    if (/"parentUuid"\s*:/.test(t) && /"sessionId"\s*:/.test(t) && /"type"\s*:\s*"(user|assistant|summary|system)"/.test(t)) return 0.95;
    return 0;
  },
  read: (input, ctx) => readSession(input, ctx),
};

function usageOf(u: NonNullable<Rec['message']>['usage']): Usage | null {
  if (!u || typeof u.input_tokens !== 'number') return null;
  // What the model read: new input plus what came from (or went into) the prompt cache.
  const prompt = u.input_tokens + (u.cache_creation_input_tokens ?? 0) + (u.cache_read_input_tokens ?? 0);
  const out = u.output_tokens ?? 0;
  return { promptTokens: prompt, completionTokens: out, totalTokens: prompt + out };
}

async function readSession(input: ImportInput, ctx: ImportContext): Promise<RunIR[]> {
  const recs: Rec[] = [];
  // Claude Code writes some records twice (same uuid): the first is the record, a copy
  // adds nothing, and merging it would double its text, calls and results.
  const byUuid = new Map<string, Rec>();
  let repeated = 0;
  let repeatedDiffer = 0;
  for await (const r of readRecords(input.path, input.name, input.head, (n) => ctx.progress(n))) {
    const rec: Rec = { ...check(record, r.value, input.name, r.where, 'a Claude Code record ({type, uuid, parentUuid, message})'), where: r.where ?? `record ${r.index}` };
    if (rec.uuid) {
      const first = byUuid.get(rec.uuid);
      if (first) {
        repeated++;
        if (JSON.stringify(stripWhere(first)) !== JSON.stringify(stripWhere(rec))) repeatedDiffer++;
        continue;
      }
      byUuid.set(rec.uuid, rec);
    }
    recs.push(rec);
  }
  const unknown: RunIR['unknown'] = [];
  const notes: string[] = [];
  if (repeated) {
    notes.push(`${repeated} record(s) repeat an earlier record's uuid (Claude Code writes some twice): only the first of each was read${repeatedDiffer ? `; ${repeatedDiffer} of the repeats differ from it` : ''}.`);
  }
  const steps: StepIR[] = [];
  const stepByKey = new Map<string, StepIR>();
  /** The step a record belongs to (assistant records, and a person's shell command). */
  const stepOfRecord = new Map<string, string>();
  const stepByCall = new Map<string, StepIR>();
  const firstRecord = new Map<string, Rec>();
  let task: string | null = null;
  const initialGuidance: string[] = [];
  let missingParents = 0;

  const stepAbove = (r: Rec): string | null => {
    const seen = new Set<string>();
    for (let p = r.parentUuid ?? null; p && !seen.has(p); ) {
      seen.add(p);
      const s = stepOfRecord.get(p);
      if (s) return s;
      const pr = byUuid.get(p);
      if (!pr) {
        missingParents++;
        return null;
      }
      // Through a compaction's boundary to the conversation it compacted: one line, not a new branch.
      p = pr.parentUuid ?? pr.logicalParentUuid ?? null;
    }
    return null;
  };
  const newStep = (key: string, r: Rec, s: Omit<StepIR, 'key' | 'where' | 'parent' | 'at'>): StepIR => {
    const step: StepIR = { key, where: r.where, parent: stepAbove(r), at: toMs(r.timestamp), ...s };
    steps.push(step);
    stepByKey.set(key, step);
    firstRecord.set(key, r);
    return step;
  };

  const models = new Map<string, string>();
  /** Per message id, the content of each of its records read so far. */
  const partsOf = new Map<string, unknown[]>();
  let repeatedParts = 0;
  let synthetics = 0;
  let pendingShell: StepIR | null = null;
  for (const r of recs) {
    if (r.isSidechain || (r.type !== 'user' && r.type !== 'assistant') || !r.message) {
      unknown.push({ type: r.isSidechain ? `sidechain ${r.type}` : r.type, record: stripWhere(r) });
      continue;
    }
    if (synthetic(r)) {
      // Not a step: the records after it chain through it (byUuid) to the step before it.
      synthetics++;
      unknown.push({ type: 'synthetic assistant', record: stripWhere(r) });
      continue;
    }
    if (r.type === 'assistant') {
      const key = r.message.id ?? r.uuid ?? r.where;
      let step = stepByKey.get(key);
      if (!step) step = newStep(key, r, { content: '', reasoning: '', toolCalls: [], toolMode: 'tools', results: [] });
      if (r.uuid) stepOfRecord.set(r.uuid, key);
      // Each record of a message holds a part of it; the same part again, under another
      // uuid, is a copy (the model does not write one block twice).
      const parts = partsOf.get(key);
      if (!parts) partsOf.set(key, [r.message.content]);
      else {
        const part = JSON.stringify(r.message.content ?? null);
        if (parts.some((p) => JSON.stringify(p ?? null) === part)) {
          repeatedParts++;
          continue;
        }
        parts.push(r.message.content);
      }
      for (const b of blocks(r)) {
        if (b.type === 'text') step.content += b.text ?? '';
        else if (b.type === 'thinking') step.reasoning = (step.reasoning ?? '') + (b.thinking ?? '');
        else if (b.type === 'tool_use') {
          const call: ToolCall = { id: b.id ?? `call_${step.toolCalls.length}`, name: b.name ?? '', arguments: JSON.stringify(b.input ?? {}) };
          step.toolCalls.push(call);
          stepByCall.set(call.id, step);
        }
      }
      step.usage = usageOf(r.message.usage) ?? step.usage ?? null;
      step.finishReason = r.message.stop_reason ?? step.finishReason ?? null;
      if (r.message.model) models.set(key, r.message.model);
      continue;
    }
    // user records
    const bs = blocks(r);
    const results = bs.filter((b) => b.type === 'tool_result');
    if (results.length) {
      for (const b of results) {
        const step = b.tool_use_id ? stepByCall.get(b.tool_use_id) : undefined;
        if (!step) {
          unknown.push({ type: 'tool_result without its tool_use', record: stripWhere(r) });
          continue;
        }
        const call = step.toolCalls.find((c) => c.id === b.tool_use_id)!;
        step.results.push({ toolCallId: call.id, name: call.name, observation: blockText(b.content), isError: b.is_error === true });
        step.finishedAt = toMs(r.timestamp);
      }
      if (r.uuid) {
        const s = stepByCall.get(results[0]!.tool_use_id ?? '');
        if (s) stepOfRecord.set(r.uuid, s.key);
      }
      continue;
    }
    const text = blockText(r.message.content);
    const shell = BASH_IN.exec(text.trim());
    if (shell) {
      const key = r.uuid ?? r.where;
      pendingShell = newStep(key, r, { content: '', toolCalls: [{ id: `shell_${key}`, name: 'Bash', arguments: JSON.stringify({ command: shell[1] }) }], toolMode: 'tools', origin: 'terminal', author: 'user', results: [] });
      // The model saw it as the user's messages, not as a call of its own: the call is the importer's.
      pendingShell.notTrained = SHELL_NOT_TRAINED;
      if (r.uuid) stepOfRecord.set(r.uuid, key);
      continue;
    }
    if (pendingShell && /<bash-(stdout|stderr)>/.test(text)) {
      const out: string[] = [];
      let err = false;
      for (const m of text.matchAll(BASH_OUT)) {
        if (m[2]) out.push(m[2]);
        if (m[1] === 'stderr' && m[2]?.trim()) err = true;
      }
      pendingShell.results.push({ toolCallId: pendingShell.toolCalls[0]!.id, name: 'Bash', observation: out.join('\n'), isError: err });
      if (r.uuid) stepOfRecord.set(r.uuid, pendingShell.key);
      pendingShell = null;
      continue;
    }
    pendingShell = null;
    if (r.isMeta || /^<(command-name|local-command-stdout|command-message)>/.test(text.trim())) continue; // context, not a person's request
    const above = stepAbove(r);
    // A compaction's summary: what the model was sent in place of the conversation before it,
    // as the person's message; a summary on the step before, covering its path, not guidance.
    if (r.isCompactSummary) {
      const on = above !== null ? stepByKey.get(above) : undefined;
      if (on) {
        const covered: string[] = [];
        for (let k: string | null | undefined = on.key; k; k = stepByKey.get(k)?.parent) covered.unshift(k);
        on.summary = { text, covered };
      }
      continue;
    }
    // Claude Code's own marker when the person stopped a reply or the tool use it asked for: the
    // context holds it, but no one wrote it as guidance, and the reply it stopped is not trained.
    if (INTERRUPTED.test(text.trim())) {
      const stopped = above !== null ? stepByKey.get(above) : undefined;
      if (stopped && !stopped.notTrained) stopped.notTrained = 'not trained: the person interrupted this reply (Claude Code\'s "[Request interrupted by user]")';
      continue;
    }
    // The person's first request is the task, even after a shell command of their own.
    if (task === null) task = text;
    else if (above === null) initialGuidance.push(text);
    else {
      const s = stepByKey.get(above)!;
      (s.guidance ??= []).push(text);
    }
  }
  partsOf.clear();
  if (!steps.length && task === null) throw new ImportError(input.name, null, 'holds no conversation (no user or assistant records)');
  if (missingParents) notes.push(`${missingParents} record(s) name a parent that is not in the file; they start from the beginning.`);
  if (repeatedParts) notes.push(`${repeatedParts} record(s) repeat a part of their message that an earlier record of it holds: read once.`);
  if (synthetics) {
    notes.push(`${synthetics} assistant record(s) were written by Claude Code itself (model "${SYNTHETIC_MODEL}": API errors, "No response requested."), not the model's replies: they are not steps, nor in any step's context; kept in import/unknown.jsonl.`);
  }

  // Requests: the conversation on each step's path, as OpenAI wire messages.
  const replaced = new Map<string, string>();
  for (const r of recs) {
    const x = r as Rec & { toolUseId?: unknown; tool_use_id?: unknown; replacement?: unknown };
    const id = typeof x.toolUseId === 'string' ? x.toolUseId : typeof x.tool_use_id === 'string' ? x.tool_use_id : null;
    if (r.type === 'content-replacement' && id && typeof x.replacement === 'string') replaced.set(id, x.replacement);
  }
  const wireOf = new Map<string, WireMessage | null>();
  const merged = new Map<string, WireMessage>();
  const ownerOf = (r: Rec): string | null => (r.uuid ? (stepOfRecord.get(r.uuid) ?? stepAbove(r)) : null);
  const messageOf = (r: Rec): WireMessage[] => {
    if (r.type === 'assistant' && r.message) {
      const key = r.message.id ?? r.uuid ?? r.where;
      const step = stepByKey.get(key);
      if (!step || firstRecord.get(key) !== r) return [];
      let m = merged.get(key);
      if (!m) {
        m = step.toolCalls.length
          ? { role: 'assistant', content: step.content || null, tool_calls: step.toolCalls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments } })) }
          : { role: 'assistant', content: step.content };
        merged.set(key, m);
      }
      return [m];
    }
    if (r.type !== 'user' || !r.message) return [];
    const bs = blocks(r);
    const results = bs.filter((b) => b.type === 'tool_result');
    if (results.length) {
      // A result Claude Code replaced before sending it (a content-replacement record) is sent as
      // that; text beside the results (a reminder Claude Code appended) follows them as a user turn.
      const out: WireMessage[] = results.map((b) => ({ role: 'tool', tool_call_id: b.tool_use_id ?? '', content: replaced.get(b.tool_use_id ?? '') ?? blockText(b.content) }));
      const beside = blockText(bs.filter((b) => b.type !== 'tool_result'));
      if (beside) out.push({ role: 'user', content: beside });
      return out;
    }
    const cached = r.uuid ? wireOf.get(r.uuid) : undefined;
    if (cached !== undefined) return cached ? [cached] : [];
    const m: WireMessage = { role: 'user', content: blockText(r.message.content) };
    if (r.uuid) wireOf.set(r.uuid, m);
    return [m];
  };
  const toolResultCache = new Map<string, WireMessage[]>();
  const messagesOfRecord = (r: Rec): WireMessage[] => {
    if (r.uuid && toolResultCache.has(r.uuid)) return toolResultCache.get(r.uuid)!;
    const ms = messageOf(r);
    if (r.uuid) toolResultCache.set(r.uuid, ms);
    return ms;
  };
  for (const step of steps) {
    const first = firstRecord.get(step.key)!;
    // A person's own shell command was not a model call, but giving it the context it
    // happened in keeps the run one context window for the exporter.
    const path: Rec[] = [];
    const seen = new Set<string>();
    for (let p = first.parentUuid ?? null; p && !seen.has(p); p = byUuid.get(p)?.parentUuid ?? null) {
      seen.add(p);
      const pr = byUuid.get(p);
      if (!pr) break;
      if (!pr.isSidechain) path.push(pr);
    }
    path.reverse();
    const messages: WireMessage[] = [];
    const owners: (string | null)[] = [];
    // What the model was sent that the derived context cannot hold (see the header).
    let lost: string | null = null;
    let lastReplyAt: number | null = null;
    // Thinking on the path that the API kept in this request's context.
    let thoughtSeen = false;
    const keepsAllThinking = KEEPS_ALL_THINKING.test(models.get(step.key) ?? '');
    for (const pr of path) {
      if (pr.type === 'assistant' && blocks(pr).some((b) => b.type === 'thinking' || b.type === 'redacted_thinking')) thoughtSeen = true;
      // A person's message starts a new turn: the API drops the thinking before it.
      else if (pr.type === 'user' && !keepsAllThinking && !blocks(pr).some((b) => b.type === 'tool_result')) thoughtSeen = false;
      const kind = pr.type === 'attachment' ? (pr as Rec & { attachment?: { type?: unknown } }).attachment?.type : undefined;
      if (typeof kind === 'string' && SENT_ATTACHMENTS.has(kind)) lost ??= `Claude Code sent the model a ${kind.replace(/_/g, ' ')} (an attachment record) that the derived context does not hold`;
      if (pr.type === 'user' && holdsMedia(pr.message?.content)) lost ??= 'its context held an image or a document, which the training formats carry only as "[image]"';
      const at = toMs(pr.timestamp);
      if (pr.type === 'assistant' && at !== undefined) lastReplyAt = at;
      else if (pr.type === 'user' && at !== undefined && lastReplyAt !== null && at - lastReplyAt > MICROCOMPACT_GAP_MS && versionAtLeast(pr.version, [2, 1])) {
        lost ??= 'after an hour between a reply and the next request, Claude Code 2.1 clears older tool results from its prompts, which the transcript does not record';
      }
      for (const m of messagesOfRecord(pr)) {
        messages.push(m);
        owners.push(ownerOf(pr));
      }
    }
    step.request = { messages, owners };
    if (thoughtSeen) lost ??= 'its request sent the model\'s earlier thinking back (the API keeps a tool loop\'s thinking blocks in context), which the exported context cannot carry';
    if (lost && !step.notTrained) step.notTrained = `not trained: ${lost}`;
  }
  const first = recs.find((r) => r.type === 'user' || r.type === 'assistant');
  const model = [...models.values()][0];
  notes.push('Claude Code does not log its system prompt or tool schemas: each step\'s context is the conversation on its path, and exported requests list no tools.');
  const name = (task ?? first?.sessionId ?? input.name).replace(/\s+/g, ' ').trim().slice(0, 80);
  return [{
    name: name || input.name, task: task ?? '', model, sourceCwd: first?.cwd, config: { ...(model ? { model } : {}), tools: [] },
    context: 'derived', steps, initialGuidance, startedAt: toMs(first?.timestamp), toolVersion: first?.version ? `Claude Code ${first.version}` : 'Claude Code',
    end: { state: 'stopped', reason: 'imported Claude Code session' }, notes, unknown, item: undefined,
  }];
}

function stripWhere(r: Rec): unknown {
  const { where: _w, ...rest } = r;
  return rest;
}
