// One linear conversation in OpenAI wire form (system, user, assistant with
// tool_calls, tool results) as steps: each assistant turn is a step whose request is
// every message before it (what an append-only agent sent), whose results are the
// tool turns (or, for text actions, the user turn) that answer it, and whose
// guidance is a person's turn after them. Most adapters convert their source to wire
// messages and let this build the steps, so they agree on what a step is.
//
// A request must be a context a trainer accepts, since the export writes it verbatim:
// each call answered by exactly one tool turn before anything else. Where the source
// breaks that (a call with no result before the next turn, a second answer to a call,
// a tool turn that answers no call of the step before it), the later requests carry a
// stand-in tool turn for the missing result and leave the stray tool turn out (it stays
// a result of its step, as a record), every step whose request was so changed is not
// trained (its context is not the source's), and a note says what was changed.
import type { ToolCall, WireMessage } from '../../../shared/events';
import type { ResultIR, StepIR } from './types';

export interface ConversationOptions {
  toolMode: 'tools' | 'text';
  /** Step keys: `${keyPrefix}${n}`. */
  keyPrefix?: string;
  /** Where message i is in the source ("line 3, message 12"). */
  where(i: number): string;
  /** Text mode: the actions written in an assistant turn. */
  parseActions?(content: string, stepIndex: number): ToolCall[];
  /** Text mode: a user turn as the observation of the step before it. */
  observation?(text: string): { observation: string; isError: boolean; exitCode?: number | null };
  /**
   * What a user turn after a step is: its observation (text mode default), a person's
   * guidance (tools mode default), part of the context only ('context': what the agent
   * itself added, such as a step-limit message, which is neither), or null to decide by
   * the default. Asked of a user turn between the task and the first step too: 'context'
   * there is not initial guidance.
   */
  userTurn?(m: WireMessage, i: number): 'observation' | 'guidance' | 'context' | null;
  /** More about the step of assistant message i (usage, model, time, reasoning). */
  stepMeta?(m: WireMessage, i: number): Partial<StepIR>;
  /** Whether an assistant message is a step (default: all are); others are context only (a summary turn). */
  isStep?(m: WireMessage, i: number): boolean;
  /** Parent of the first step (default null). */
  firstParent?: string | null;
  /**
   * How later requests carry the step of assistant message i, when not as the message itself
   * (the source's agent renders it otherwise in its own prompts: OpenHands' finish call as the
   * reply's text). Calls the rendering leaves out await no result.
   */
  sentAs?(m: WireMessage, i: number): WireMessage | undefined;
}

export interface Conversation {
  /** Messages before the first assistant turn (system, task). */
  head: WireMessage[];
  steps: StepIR[];
  /** User turns after the task and before the first step. */
  initialGuidance: string[];
  /** What the requests changed from the source to be valid wire (see the header), for the run's notes. */
  notes: string[];
  /** The message each result was read from (index into the input messages). */
  resultAt: Map<ResultIR, number>;
}

/** The tool turn later requests carry for a call the source has no result for. */
export const MISSING_RESULT = 'Error: the source records no result for this call.';

/** Why a step is not trained when its request is not the source's context (see the header). */
export const CHANGED_CONTEXT_NOTE = 'not trained: the source\'s context for it is not valid wire (a tool result missing, repeated or out of place), so its recorded request was changed (see the import notes)';

export function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content
      .map((p: unknown) => (typeof p === 'string' ? p : p && typeof p === 'object' && typeof (p as { text?: unknown }).text === 'string' ? (p as { text: string }).text : ''))
      .join('');
  }
  return '';
}

/** Tool calls of a wire assistant message (OpenAI shape), arguments as raw text. */
export function wireToolCalls(m: WireMessage): ToolCall[] {
  const calls = Array.isArray(m.tool_calls) ? (m.tool_calls as unknown[]) : [];
  return calls.map((c, i) => {
    const o = (c ?? {}) as { id?: unknown; function?: { name?: unknown; arguments?: unknown }; name?: unknown; arguments?: unknown };
    const f = o.function ?? o;
    const args = f.arguments;
    return {
      id: typeof o.id === 'string' && o.id ? o.id : `call_${i}`,
      name: typeof f.name === 'string' ? f.name : '',
      arguments: typeof args === 'string' ? args : JSON.stringify(args ?? {}),
    };
  });
}

/** A person's turn wrapped as <real_user>…</real_user> (InnovatorBench, this app): its text. */
export function realUserText(text: string): string | null {
  const m = /^\s*<real_user>([\s\S]*)<\/real_user>\s*$/.exec(text);
  return m ? m[1]! : null;
}

export function conversationSteps(messages: readonly WireMessage[], o: ConversationOptions): Conversation {
  const steps: StepIR[] = [];
  // The messages later requests carry, and the step each belongs to: the input, except
  // where the source's tool turns are not valid wire (see the header).
  const sent: WireMessage[] = [];
  const owners: (string | null)[] = [];
  const head: WireMessage[] = [];
  const initialGuidance: string[] = [];
  const notes: string[] = [];
  const resultAt = new Map<ResultIR, number>();
  let cur: StepIR | null = null;
  const prefix = o.keyPrefix ?? 's';
  let taskSeen = false;
  // Tools mode: the calls of the current step not yet answered on the wire (each id as
  // many times as the step has calls with it), and whether its tool turns may still come
  // (only tool turns since its reply: one after anything else is out of place); `changed`
  // once a request differs from the source's messages.
  const open: string[] = [];
  let answering = false;
  let changed = false;
  const send = (m: WireMessage, owner: string | null) => {
    sent.push(m);
    owners.push(owner);
  };
  // Before anything but a tool turn: a stand-in for each call still unanswered.
  const closeCalls = (i: number) => {
    if (!answering) return;
    answering = false;
    const step = cur!;
    for (const id of open.splice(0)) {
      const call = step.toolCalls.find((c) => c.id === id);
      send({ role: 'tool', tool_call_id: id, content: MISSING_RESULT }, step.key);
      changed = true;
      notes.push(`${o.where(i)}: call ${id}${call?.name ? ` (${call.name})` : ''} of the step at ${step.where} has no result before it; later requests carry "${MISSING_RESULT}" in its place, and the steps after it are not trained.`);
    }
  };

  messages.forEach((m, i) => {
    if (m.role === 'assistant' && (o.isStep?.(m, i) ?? true)) {
      closeCalls(i);
      const n = steps.length;
      const content = textOf(m.content);
      const calls = o.toolMode === 'tools' ? wireToolCalls(m) : (o.parseActions?.(content, n) ?? []);
      const step: StepIR = {
        key: `${prefix}${n}`,
        ...(n === 0 ? { parent: o.firstParent ?? null } : {}),
        where: o.where(i),
        request: { messages: sent.slice(), owners: owners.slice() },
        content,
        toolCalls: calls,
        toolMode: o.toolMode,
        results: [],
        ...(typeof m.reasoning_content === 'string' && m.reasoning_content ? { reasoning: m.reasoning_content } : {}),
        ...o.stepMeta?.(m, i),
        ...(changed ? { notTrained: CHANGED_CONTEXT_NOTE } : {}),
      };
      steps.push(step);
      cur = step;
      const carried = o.sentAs?.(m, i) ?? m;
      send(carried, step.key);
      const awaited = carried === m ? calls : wireToolCalls(carried);
      if (o.toolMode === 'tools' && awaited.length) {
        open.push(...awaited.map((c) => c.id));
        answering = true;
      }
      return;
    }
    if (!cur) {
      // Before the first step: the fixed head, and people's turns after the task (a
      // turn answering a summary in the head is not a person's).
      const afterSummary = head.length > 0 && head[head.length - 1]!.role === 'assistant';
      if (m.role === 'user' && taskSeen && !afterSummary && o.userTurn?.(m, i) !== 'context') initialGuidance.push(realUserText(textOf(m.content)) ?? textOf(m.content));
      if (m.role === 'user') taskSeen = true;
      head.push(m);
      send(m, null);
      return;
    }
    const step: StepIR = cur;
    const text = textOf(m.content);
    if (m.role === 'tool' || m.role === 'function' || m.role === 'ipython') {
      const id = typeof m.tool_call_id === 'string' ? m.tool_call_id : undefined;
      const call = (id ? step.toolCalls.find((c) => c.id === id) : undefined) ?? step.toolCalls[step.results.length];
      const r: ResultIR = {
        toolCallId: id ?? call?.id ?? '', name: call?.name ?? (typeof m.name === 'string' ? m.name : ''), observation: text,
        isError: isErrorText(text),
      };
      step.results.push(r);
      resultAt.set(r, i);
      if (o.toolMode === 'tools' && m.role === 'tool') {
        // Valid wire: it answers a call of this step still open, before anything else.
        const k = answering && id !== undefined ? open.indexOf(id) : -1;
        if (k < 0) {
          changed = true;
          const why = id === undefined ? 'names no call' : !step.toolCalls.some((c) => c.id === id) ? `answers no call of the step at ${step.where} (${id})` : answering ? `answers call ${id} a second time` : `answers call ${id} after another turn came between`;
          notes.push(`${o.where(i)}: this tool turn ${why}; it is kept as a result of that step but left out of later requests, and the steps after it are not trained.`);
          return;
        }
        open.splice(k, 1);
      }
      send(m, step.key);
      return;
    }
    closeCalls(i);
    send(m, step.key);
    if (m.role === 'user' && !(messages[i - 1]?.role === 'assistant' && !(o.isStep?.(messages[i - 1]!, i - 1) ?? true))) {
      const kind = o.userTurn?.(m, i) ?? (o.toolMode === 'text' && step.results.length === 0 && !step.guidance?.length ? 'observation' : 'guidance');
      if (kind === 'observation') {
        const call = step.toolCalls[step.results.length];
        const obs = o.observation?.(text) ?? { observation: text, isError: false };
        const r: ResultIR = { toolCallId: call?.id ?? '', name: call?.name ?? '', ...obs };
        step.results.push(r);
        resultAt.set(r, i);
      } else if (kind === 'guidance') {
        (step.guidance ??= []).push(realUserText(text) ?? text);
      }
      return;
    }
    // system turns mid-run, or roles this builder does not know: part of the context,
    // owned by the step they follow, nothing more.
  });
  return { head, steps, initialGuidance, notes, resultAt };
}

function isErrorText(text: string): boolean {
  return /^\s*(error|traceback|exception)\b/i.test(text);
}

/** An assistant message in the shape the app's own context builder gives a step's reply. */
export function assistantWire(content: string, calls: readonly ToolCall[]): WireMessage {
  return calls.length
    ? { role: 'assistant', content: content || null, tool_calls: calls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments } })) }
    : { role: 'assistant', content };
}

/** mini-swe-agent 1.x's action pattern (see bashBlocks). */
export const BASH_BLOCK = /```bash\s*\n([\s\S]*?)\n```/g;

/**
 * The ```bash blocks of a text action, as `bash` tool calls. mini-swe-agent's own pattern
 * (r"```bash\s*\n(.*?)\n```", DOTALL): it runs a reply only when this finds exactly one,
 * so counting any other fence (```sh, a bare ```) would record actions it never ran.
 */
export function bashBlocks(content: string, stepIndex: number, name = 'bash', pattern: RegExp = BASH_BLOCK): ToolCall[] {
  const out: ToolCall[] = [];
  const re = new RegExp(pattern.source, pattern.flags.includes('g') ? pattern.flags : `${pattern.flags}g`);
  let m: RegExpExecArray | null;
  while ((m = re.exec(content))) {
    // As Python's re.findall: the first group when the pattern has one, else the whole match.
    out.push({ id: `call_${stepIndex}_${out.length}`, name, arguments: JSON.stringify({ command: (m[1] ?? m[0]).trim() }) });
    if (m[0] === '') re.lastIndex++;
  }
  return out;
}


/** `<returncode>N</returncode><output>…</output>` (mini-swe-agent) and similar observation texts. */
export function returncodeObservation(text: string): { observation: string; isError: boolean; exitCode?: number | null } {
  const rc = /<returncode>\s*(-?\d+)\s*<\/returncode>/.exec(text);
  if (!rc) return { observation: text, isError: false };
  const exitCode = Number(rc[1]);
  return { observation: text, isError: exitCode !== 0, exitCode };
}
