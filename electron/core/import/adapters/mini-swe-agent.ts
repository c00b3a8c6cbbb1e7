// mini-swe-agent trajectories (.traj.json): {info, messages, trajectory_format,
// instance_id?}. The agent's history is linear and append-only, so the request of
// each assistant turn is exactly the messages before it (less `extra`, the agent's
// own bookkeeping, which it does not send).
//   mini-swe-agent-1     actions are ```bash blocks in the assistant's text; the
//                        observation is the next user turn (<returncode>/<output>)
//   mini-swe-agent-1.1   native tool calls (function `bash`); results are tool turns
//                        with extra.returncode; a final role "exit" turn carries the
//                        exit status and the submission (not part of any request)
//
// Not every reply ran. The agent parses a text reply with its own pattern and runs it
// only when that finds exactly one action; otherwise it answers with a format error
// (FormatError: "Please always provide EXACTLY ONE action…", in 2.x marked
// extra.interrupt_type). Such a reply is a step with no action and that error as its
// (failed) result, and it is not trained: the agent rejected it. It stays, as it was, in
// the context of the next step. A command that timed out is a failed result. A user
// turn after a step's result (a step-limit message, a 2.x format error whose reply the
// agent did not keep) is context, not a result.
//
// mini-swe-agent 2 with a Responses API model (litellm_response_model.py, the OpenRouter
// and Portkey ones) keeps the API's own items: a reply is the response object
// (object "response", its `output` items: message, function_call, reasoning), a result
// a function_call_output, the agent's other turns `{type: "message", role, content:
// [input_text]}`. The request was those items with each response flattened into its
// output (_prepare_messages_for_api): read here as the same conversation in wire form.
// A reasoning item went back to the model with the request after it, and no chat-format
// record can carry it: from the first such reply on, no step is trained. The same holds
// for a chat reply's reasoning_content or thinking_blocks, which 2.x keeps on the message
// (litellm's model_dump) and sends back, and for an image in a content list. 1.x's
// Responses API models kept the conversation on the server (previous_response_id) and
// recorded nothing beside their replies: none of their steps is trained.
//
// A person takes part in an interactive run (agents/interactive.py): a command rejected,
// a step interrupted, a new task given. Their turn (2.x: extra.interrupt_type; 1.x: the
// text its exceptions carry) is guidance, not the command's output; the reply they
// rejected or interrupted ran nothing (or not to its end) and is not trained.
import { z } from 'zod';
import type { Usage, WireMessage } from '../../../../shared/events';
import { BASH_BLOCK, bashBlocks, conversationSteps, returncodeObservation, textOf, type ConversationOptions } from '../conversation';
import { check, readJsonFile, toMs, versionAtLeast } from '../source';
import { ImportError, type ImportAdapter, type RunIR } from '../types';

// `role` for chat messages; `object` (a response) or `type` (an input item) for a Responses API run's.
const message = z.looseObject({ role: z.string().optional(), type: z.string().optional(), object: z.string().optional(), content: z.unknown().optional(), extra: z.unknown().optional() }).refine(
  (m) => typeof m.role === 'string' || m.object === 'response' || typeof m.type === 'string',
  { message: 'a message needs a role (or, from a Responses API run, an object "response" or an item type)' },
);
const traj = z.looseObject({
  messages: z.array(message),
  trajectory_format: z.string().optional(),
  instance_id: z.string().optional(),
  info: z.looseObject({
    exit_status: z.string().nullable().optional(),
    submission: z.string().nullable().optional(),
    mini_version: z.string().optional(),
    model_stats: z.looseObject({ api_calls: z.number().optional(), instance_cost: z.number().optional() }).optional(),
    // action_regex: 2.x's model config (litellm_textbased_model.py), 1.x's agent config (agents/default.py).
    config: z.looseObject({
      model: z.looseObject({ model_name: z.string().optional(), action_regex: z.string().optional() }).optional(),
      agent: z.looseObject({ action_regex: z.string().optional() }).optional(),
      /** The model's class (1.x serializes it): a Responses API one kept the conversation on the server. */
      model_type: z.string().optional(),
    }).optional(),
  }).optional(),
});

type Extra = {
  interrupt_type?: string;
  response?: { model?: string; created?: number; usage?: { prompt_tokens?: number; completion_tokens?: number; total_tokens?: number }; choices?: Array<{ finish_reason?: string; message?: { reasoning_content?: string } }> };
  returncode?: number;
  timestamp?: number;
};

/** A Responses API reply as the step reads it (the fields stepMeta reads of a chat run's extra.response). */
interface ResponsesReply {
  usage: Usage | null;
  finishReason: string | null;
  at?: number;
  reasoning: string;
  /** It held a reasoning item, which the next request sent back. */
  reasoned: boolean;
}

type Item = { type?: unknown; role?: unknown; content?: unknown; text?: unknown; refusal?: unknown; call_id?: unknown; id?: unknown; name?: unknown; arguments?: unknown; output?: unknown; summary?: unknown; encrypted_content?: unknown };

/** The text parts of a Responses API content list (input_text, output_text, refusal). */
function itemText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return (content as Item[]).map((p) => (typeof p?.text === 'string' ? p.text : typeof p?.refusal === 'string' ? p.refusal : '')).join('');
}

/**
 * One message of a Responses API run as a wire message, and what its reply says of the
 * step (null for chat messages, which are wire already). `where`: for the error on an
 * item this cannot read.
 */
function fromResponses(m: Record<string, unknown>, where: string, name: string): { wire: WireMessage; reply?: ResponsesReply } | null {
  if (m.object === 'response') {
    const output = Array.isArray(m.output) ? (m.output as Item[]) : [];
    let content = '';
    const calls: Array<{ id: string; type: 'function'; function: { name: string; arguments: string } }> = [];
    const reasoning: string[] = [];
    let reasoned = false;
    for (const it of output) {
      if (it?.type === 'message') content += itemText(it.content);
      else if (it?.type === 'function_call') {
        calls.push({ id: String(it.call_id ?? it.id ?? `call_${calls.length}`), type: 'function', function: { name: String(it.name ?? ''), arguments: typeof it.arguments === 'string' ? it.arguments : JSON.stringify(it.arguments ?? {}) } });
      } else if (it?.type === 'reasoning') {
        const summary = Array.isArray(it.summary) ? itemText(it.summary) : '';
        const text = itemText(it.content);
        if (summary || text) reasoning.push(text || summary);
        // Sent back whatever it shows: an item with no summary still names the reasoning the server holds (GPT-5's default).
        reasoned = true;
      }
    }
    const u = m.usage as { input_tokens?: unknown; output_tokens?: unknown; total_tokens?: unknown } | undefined;
    const usage: Usage | null = typeof u?.input_tokens === 'number'
      ? { promptTokens: u.input_tokens, completionTokens: typeof u.output_tokens === 'number' ? u.output_tokens : 0, totalTokens: typeof u.total_tokens === 'number' ? u.total_tokens : u.input_tokens + (typeof u.output_tokens === 'number' ? u.output_tokens : 0) }
      : null;
    // finish_reason_from_responses_api: a max_output_tokens cut reads as "length".
    const details = m.incomplete_details as { reason?: unknown } | undefined;
    const finishReason = m.status === 'incomplete' && details?.reason === 'max_output_tokens' ? 'length' : typeof m.status === 'string' ? m.status : null;
    const wire: WireMessage = calls.length ? { role: 'assistant', content: content || null, tool_calls: calls } : { role: 'assistant', content };
    return {
      wire,
      reply: { usage, finishReason, ...(typeof m.created_at === 'number' ? { at: toMs(m.created_at) } : {}), reasoning: reasoning.join('\n\n'), reasoned },
    };
  }
  if (typeof m.role === 'string' && m.type === undefined) return null;
  if (m.type === 'function_call_output') {
    const out = typeof m.output === 'string' ? m.output : itemText(m.output);
    return { wire: { role: 'tool', tool_call_id: String(m.call_id ?? ''), content: out } };
  }
  if (m.type === 'message' && typeof m.role === 'string') return { wire: { role: m.role, content: itemText(m.content) } };
  throw new ImportError(name, null, `${where} is a Responses API item of type ${JSON.stringify(m.type ?? null)}, which a mini-swe-agent run does not hold`);
}

function usageOf(u: NonNullable<Extra['response']>['usage']): Usage | null {
  if (!u || typeof u.prompt_tokens !== 'number') return null;
  const completion = u.completion_tokens ?? 0;
  return { promptTokens: u.prompt_tokens, completionTokens: completion, totalTokens: u.total_tokens ?? u.prompt_tokens + completion };
}

/**
 * A person's turn in an interactive run: 2.x marks it (extra.interrupt_type); 1.x's
 * NonTerminatingException texts (agents/interactive.py at v1.17) say it. 'rejected': the
 * command was not run; 'interrupted': the step was stopped; 'said': a new task, a mode.
 */
function personTurn(x: Extra | undefined, text: string): 'rejected' | 'interrupted' | 'said' | null {
  const t = text.trimStart();
  const kind = x?.interrupt_type;
  if (kind === 'UserRejection' || (kind === undefined && /^Commands? not executed\b/.test(t))) return 'rejected';
  if ((kind === 'UserInterruption' || kind === undefined) && t.startsWith('Interrupted by user: ')) return 'interrupted';
  if (kind === 'UserInterruption' || kind === 'UserNewTask') return 'said';
  if (kind === undefined && /^(The user added a new task: |Switched to human mode\.)/.test(t)) return 'said';
  return null;
}

/** A content list (multimodal_regex turns text into one) as the text it holds, and whether it held anything else. */
function flatContent(content: unknown[]): { text: string; media: boolean } {
  let media = false;
  const text = content.map((p) => {
    const part = p as { type?: unknown; text?: unknown };
    if (typeof p === 'string') return p;
    if (typeof part?.text === 'string' && (part.type === undefined || part.type === 'text' || part.type === 'input_text' || part.type === 'output_text')) return part.text;
    media = true;
    return '[image]';
  }).join('');
  return { text, media };
}

/** The reply a 2.x format error answers, as its extra keeps it (null: not kept, as before 2.3.1 for tool-call models). */
function rejectedReply(x: Extra | undefined): { wire: WireMessage; usage: Usage | null } | null {
  const o = x as (Extra & { model_response?: unknown; response?: unknown }) | undefined;
  if (typeof o?.model_response === 'string') return { wire: { role: 'assistant', content: o.model_response }, usage: null };
  const r = o?.response as (Record<string, unknown> & { choices?: Array<{ message?: { content?: unknown; tool_calls?: unknown } }>; usage?: NonNullable<Extra['response']>['usage'] }) | undefined;
  if (!r || typeof r !== 'object') return null;
  if (r.object === 'response') {
    const read = fromResponses(r, 'a format error\'s response', '');
    return read ? { wire: read.wire, usage: read.reply?.usage ?? null } : null;
  }
  const msg = r.choices?.[0]?.message;
  if (!msg) return null;
  const calls = Array.isArray(msg.tool_calls) && msg.tool_calls.length ? msg.tool_calls : null;
  return { wire: calls ? { role: 'assistant', content: typeof msg.content === 'string' ? msg.content : null, tool_calls: calls } : { role: 'assistant', content: typeof msg.content === 'string' ? msg.content : '' }, usage: usageOf(r.usage) };
}

/** How the format-error template of mini-swe-agent 1.x's configs starts (a custom one is caught by the action count). */
const FORMAT_ERROR = /^\s*Please always provide EXACTLY ONE action\b/;
/** How its timeout template starts: the command was killed. */
const TIMED_OUT = /^\s*The last command <command>[\s\S]*?<\/command> timed out and has been killed\b/;

/** mini-swe-agent 2's text-action fence (litellm_textbased_model.py action_regex), where 1.x had ```bash. */
const MSWEA_BLOCK = /```mswea_bash_command\s*\n([\s\S]*?)\n```/g;

/**
 * The pattern the agent found its text actions with (re.findall(action_regex, content,
 * re.DOTALL)): its config's action_regex as a JavaScript one when the log has it, else
 * 1.x's ```bash blocks, or 2's ```mswea_bash_command when the replies hold those and no other.
 */
function actionPattern(source: string | undefined, wire: readonly WireMessage[], notes: string[]): RegExp {
  if (source) {
    try {
      // Python's named groups read (?P<name>…); DOTALL is the s flag.
      return new RegExp(source.replace(/\(\?P</g, '(?<'), 'gs');
    } catch {
      notes.push(`The agent's action_regex ${JSON.stringify(source)} is not one this app can run: its actions are read as \`\`\`bash blocks.`);
    }
  }
  const replies = wire.filter((m) => m.role === 'assistant').map((m) => textOf(m.content));
  return !replies.some((r) => /```bash\s*\n/.test(r)) && replies.some((r) => /```mswea_bash_command\s*\n/.test(r)) ? MSWEA_BLOCK : BASH_BLOCK;
}

function observationOf(text: string): { observation: string; isError: boolean; exitCode?: number | null } {
  const o = returncodeObservation(text);
  return o.exitCode === undefined && (TIMED_OUT.test(text) || FORMAT_ERROR.test(text)) ? { ...o, isError: true } : o;
}

export const miniSweAgentAdapter: ImportAdapter = {
  format: 'mini-swe-agent',
  description: 'mini-swe-agent .traj.json (mini-swe-agent-1 text actions, 1.1 tool calls, 2.x Responses API items)',
  detect(input) {
    if (input.isDir) return 0;
    const ends = input.head.toString('utf8', 0, 4096) + input.tail.toString('utf8');
    if (/"trajectory_format"\s*:\s*"mini-swe-agent/.test(ends)) return 0.99;
    if (/"mini_version"\s*:/.test(input.head.toString('utf8')) && /"messages"\s*:/.test(ends)) return 0.9;
    if (/\.traj\.json$/i.test(input.name) && /"messages"\s*:/.test(ends)) return 0.6;
    return 0;
  },
  async read(input, ctx) {
    const raw = await readJsonFile(input.path, input.name);
    ctx.progress(input.size);
    // The agent's messages alone (its own tests keep runs so: tests/test_data/*.traj.json), read
    // when named with --format: the same conversation, without the run's info.
    const bare = Array.isArray(raw);
    const t = check(traj, bare ? { messages: raw } : raw, input.name, null, 'a mini-swe-agent trajectory ({info, messages, trajectory_format}) or the list of its messages');
    const format = t.trajectory_format ?? 'mini-swe-agent-1';
    const extras = new Map<number, Extra>();
    const exit = t.messages.find((m) => m.role === 'exit');
    // The wire messages: every turn the agent sent, without its bookkeeping.
    const wire: WireMessage[] = [];
    const sourceIndex: number[] = [];
    // A Responses API run's replies, by wire index.
    const replies = new Map<number, ResponsesReply>();
    // The first reply whose reasoning went back with later requests, and the first turn with an image: no step after them is trained.
    let firstReasoned = -1;
    let firstMedia = -1;
    t.messages.forEach((m, i) => {
      if (m.role === 'exit') return;
      const { extra, ...rest } = m;
      if (extra && typeof extra === 'object') extras.set(wire.length, extra as Extra);
      const read = fromResponses(rest, `messages[${i}]`, input.name);
      if (read?.reply) replies.set(wire.length, read.reply);
      let w = read?.wire ?? (rest as WireMessage);
      if (Array.isArray(w.content)) {
        const flat = flatContent(w.content as unknown[]);
        if (flat.media && firstMedia < 0) firstMedia = wire.length;
        w = { ...w, content: flat.text };
      }
      const sentReasoning = read?.reply?.reasoned
        || (w.role === 'assistant' && ((typeof w.reasoning_content === 'string' && w.reasoning_content !== '') || (Array.isArray(w.thinking_blocks) && w.thinking_blocks.length > 0)));
      if (sentReasoning && firstReasoned < 0) firstReasoned = wire.length;
      wire.push(w);
      sourceIndex.push(i);
    });
    // 1.x's Responses API models (litellm_response_api_model.py, portkey_response_api_model.py).
    const modelType = t.info?.config?.model_type ?? '';
    const serverHeld = /response_api/i.test(modelType) && !versionAtLeast(t.info?.mini_version, [2]);
    const persons = new Map<number, NonNullable<ReturnType<typeof personTurn>>>();
    wire.forEach((m, i) => {
      if (m.role !== 'user') return;
      const p = personTurn(extras.get(i), textOf(m.content));
      if (p) persons.set(i, p);
    });
    const tools = wire.some((m) => Array.isArray(m.tool_calls) && m.tool_calls.length > 0);
    // The replies the agent rejected (see the header), by wire index: the turn after it
    // says so, or (text actions) the agent's pattern finds other than one action and no
    // command output follows. The count only speaks for runs whose actions are ```bash
    // blocks (a config may set another pattern: then no reply has exactly one).
    const patternNotes: string[] = [];
    const pattern = actionPattern(t.info?.config?.model?.action_regex ?? t.info?.config?.agent?.action_regex, wire, patternNotes);
    const counts = wire.map((m) => (!tools && m.role === 'assistant' ? bashBlocks(textOf(m.content), 0, 'bash', pattern).length : null));
    const bashActions = counts.some((n) => n === 1);
    const rejected = new Map<number, string>();
    const replyAt: number[] = [];
    wire.forEach((m, i) => {
      if (m.role !== 'assistant') return;
      replyAt.push(i);
      const next = wire[i + 1];
      if (next?.role !== 'user') return;
      const text = textOf(next.content);
      const n = counts[i] ?? null;
      if (persons.has(i + 1)) return;
      if (extras.get(i + 1)?.interrupt_type === 'FormatError' || FORMAT_ERROR.test(text) || (bashActions && n !== null && n !== 1 && !/<returncode>/.test(text))) {
        rejected.set(i, n === null ? 'mini-swe-agent rejected this reply as a format error' : `mini-swe-agent rejected this reply as a format error (its pattern found ${n} actions, it runs exactly one)`);
      }
    });
    // The run records the model's responses (extra.response) beside its replies.
    const modelReplies = wire.some((m, i) => m.role === 'assistant' && !!extras.get(i)?.response);
    const options: ConversationOptions = {
      toolMode: tools ? 'tools' : 'text',
      where: (i) => `messages[${sourceIndex[i]}]`,
      // A rejected reply ran nothing.
      parseActions: (text, n) => (rejected.has(replyAt[n]!) ? [] : bashBlocks(text, n, 'bash', pattern)),
      observation: (text) => observationOf(text),
      // No person takes part in a mini-swe-agent run: the user turn right after a reply is
      // what the environment or the agent said about it (the output, a format error, a
      // timeout); a later one is the agent's own (a step-limit message, a 2.x format error
      // about a reply it did not keep): context.
      userTurn: (_m, i) => (persons.has(i) ? 'guidance' : wire[i - 1]?.role === 'assistant' ? 'observation' : 'context'),
      stepMeta: (_m, i) => {
        const r = replies.get(i);
        if (r) return { usage: r.usage, finishReason: r.finishReason, ...(r.at !== undefined ? { at: r.at } : {}), ...(r.reasoning ? { reasoning: r.reasoning } : {}) };
        const x = extras.get(i)?.response;
        if (!x) return {};
        const choice = x.choices?.[0];
        return {
          usage: usageOf(x.usage), finishReason: choice?.finish_reason ?? null, at: toMs(x.created),
          ...(choice?.message?.reasoning_content ? { reasoning: choice.message.reasoning_content } : {}),
        };
      },
    };
    const conv = conversationSteps(wire, options);
    // Tool results of 1.1 carry the return code beside the text; a 2.x format error says
    // what it is in `extra`.
    for (const [n, step] of conv.steps.entries()) {
      for (const r of step.results) {
        const idx = conv.resultAt.get(r) ?? -1;
        const x = idx >= 0 ? extras.get(idx) : undefined;
        if (typeof x?.returncode === 'number') {
          r.exitCode = x.returncode;
          r.isError = x.returncode !== 0;
        }
        if (x?.interrupt_type === 'FormatError') r.isError = true;
        if (x?.timestamp) step.finishedAt = toMs(x.timestamp);
      }
      const why = rejected.get(replyAt[n]!);
      const at = replyAt[n]!;
      // The person's turn after this reply (and its results), before the next reply.
      const next = replyAt[n + 1] ?? wire.length;
      const person = [...persons].find(([i]) => i > at && i < next)?.[1];
      if (why) {
        for (const r of step.results) r.isError = true;
        step.notTrained = `not trained: ${why}; nothing ran`;
      } else if (modelReplies && !extras.get(replyAt[n]!)?.response) {
        // Human mode (interactive.py): the command a person typed is added as an assistant
        // turn with no model response beside it.
        step.notTrained = 'not trained: a command a person typed in human mode (the file records no model response for it), not the model\'s reply';
      } else if (serverHeld) {
        step.notTrained = 'not trained: this 1.x Responses API model kept the conversation on the server (previous_response_id) and recorded nothing beside its replies: what the model was sent, and which replies were its own, the file does not say';
      } else if (firstReasoned >= 0 && at > firstReasoned) {
        step.notTrained = 'not trained: its request sent the model\'s earlier reasoning back (a Responses API reasoning item, or a reply\'s reasoning_content or thinking blocks), which the exported context cannot carry';
      } else if (firstMedia >= 0 && at > firstMedia) {
        step.notTrained = 'not trained: its request holds an image, which the exported context cannot carry (it reads "[image]")';
      } else if (person === 'rejected') {
        step.notTrained = 'not trained: the person rejected this command (it did not run)';
      } else if (person === 'interrupted') {
        // Stopped while it ran, or while the next reply was awaited: either way the person stopped the run here.
        step.notTrained = 'not trained: the person interrupted the run at this step';
      }
    }
    // Format errors answering a reply the agent did not keep (2.x): the agent's own turns, never
    // the task (nor guidance: userTurn says 'context', before the first step too).
    const agentTurns = new Set(wire.flatMap((m, i) => (m.role === 'user' && wire[i - 1]?.role !== 'assistant' && extras.get(i)?.interrupt_type === 'FormatError' ? [i] : [])));
    const dropped = agentTurns.size;
    // The replies they answer, which 2.x keeps in the error's extra (model_response for text
    // models, the whole response for tool-call ones from 2.3.1): steps beside the main line,
    // each with the request the builder gives a reply there, for review; never trained.
    let shownRejected = 0;
    for (const i of agentTurns) {
      const reply = rejectedReply(extras.get(i));
      if (!reply) continue;
      const s = conversationSteps([...wire.slice(0, i), reply.wire], options).steps.at(-1);
      if (!s) continue;
      const before = conv.steps.filter((_, n) => replyAt[n]! < i).at(-1);
      const calls = tools ? s.toolCalls : [];
      const error = textOf(wire[i]!.content);
      conv.steps.push({
        ...s, key: `rejected-${i}`, parent: before?.key ?? null, where: `messages[${sourceIndex[i]}].extra`, branchName: 'Rejected reply (format error)',
        toolCalls: calls, usage: reply.usage ?? s.usage ?? null, guidance: [],
        results: [{ toolCallId: calls[0]?.id ?? '', name: calls[0]?.name ?? '', observation: error, isError: true }],
        notTrained: 'not trained: mini-swe-agent rejected this reply as a format error and did not keep it in its messages (it is in the error\'s extra); nothing ran',
      });
      shownRejected++;
    }
    const info = t.info ?? {};
    const status = info.exit_status ?? (exit ? textOf(exit.extra && (exit.extra as { exit_status?: unknown }).exit_status) : '');
    const task = textOf(conv.head.filter((m, i) => m.role === 'user' && !agentTurns.has(i)).at(-1)?.content);
    const notes: string[] = [...patternNotes, ...conv.notes];
    if (bare) notes.push('The file is the list of the agent\'s messages alone: no exit status, model or configuration came with it (its action pattern is read from the replies).');
    const after = (at: number): number => conv.steps.filter((_, n) => replyAt[n]! > at).length;
    if (serverHeld) notes.push(`The run used a 1.x Responses API model (${modelType}): it sent only the newest message each time and the server kept the rest (previous_response_id), with any reasoning it never returned; none of its ${conv.steps.length} step(s) is trained.`);
    if (firstReasoned >= 0) {
      notes.push(`The model's replies hold reasoning (Responses API reasoning items, or a reply's reasoning_content or thinking blocks), which mini-swe-agent sent back with every later request; a chat-format record cannot carry it, so the ${after(firstReasoned)} step(s) after the first such reply are not trained.`);
    }
    if (firstMedia >= 0) notes.push(`messages[${sourceIndex[firstMedia]}] holds an image (shown as "[image]"); the ${after(firstMedia)} step(s) after it are not trained.`);
    const rejectedByPerson = [...persons.values()].filter((p) => p === 'rejected').length;
    if (persons.size) notes.push(`${persons.size} turn(s) are a person's (an interactive run): guidance, not command output${rejectedByPerson ? `; ${rejectedByPerson} rejected the command before them, which did not run and is not trained` : ''}.`);
    if (rejected.size) notes.push(`${rejected.size} repl${rejected.size === 1 ? 'y' : 'ies'} the agent rejected as a format error: steps with no action and the error as their result, not trained.`);
    if (dropped) notes.push(`${dropped} format error(s) answer a reply the agent did not keep in its messages; they are part of the next step's context${shownRejected ? `, and the ${shownRejected} repl${shownRejected === 1 ? 'y' : 'ies'} they answer (kept in their extra) are branches beside the main line, not trained` : ''}.`);
    if (tools) notes.push('The schema of the bash tool is not in the trajectory; exported requests list no tools.');
    if (info.submission) notes.push(`Submission (${status || 'no exit status'}):\n${info.submission}`);
    const run: RunIR = {
      name: t.instance_id ?? input.name.replace(/\.traj\.json$/i, ''), task,
      model: info.config?.model?.model_name,
      config: { ...(info.config?.model?.model_name ? { model: info.config.model.model_name } : {}), ...(tools ? { tools: [] } : {}) },
      context: 'exact', steps: conv.steps, initialGuidance: conv.initialGuidance,
      toolVersion: [format, info.mini_version].filter(Boolean).join(' '),
      end: endState(status), notes, unknown: [],
    };
    return [run];
  },
};

export function endState(status: string | null | undefined): RunIR['end'] {
  if (!status) return { state: 'stopped', reason: 'the source records no exit status' };
  if (/^submitted/i.test(status)) return { state: 'finished', reason: status };
  if (/error|exception|fail/i.test(status)) return { state: 'failed', reason: status };
  return { state: 'stopped', reason: status };
}
