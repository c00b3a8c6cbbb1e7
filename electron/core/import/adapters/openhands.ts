// OpenHands event streams, in three containers:
//   - a trajectory: a JSON list of events (or {history: [...]});
//   - an evaluation output.jsonl: one instance per line {instance_id, instruction,
//     history, metadata, test_result, error}, each its own session;
//   - a session folder: events/<n>.json, one event per file.
// An event is {id, timestamp, source (agent | user | environment), message, cause,
// action + args | observation + content + extras, tool_call_metadata}.
//
//   agent actions of one model response   → one step (tool_call_metadata.model_response:
//                                           its text, every tool call, usage, model); a
//                                           finish call is carried by later requests as the
//                                           reply's text, as OpenHands' conversation memory
//                                           renders AgentFinishAction
//   an agent message without it           → a step: its text is the model's reply
//   other agent actions without it        → a step each, the action as a call named by
//   (older CodeAct logs)                    its type, NOT trained: the model wrote text
//                                           (<execute_bash>…) the log does not keep, and
//                                           the call is the importer's (arguments: the
//                                           action's args without the thought and the
//                                           runtime's own fields)
//   the system prompt (action "system")   → the context's system message and tools
//   controller actions with source agent  → not steps (the model did not produce them):
//   (condensation, change_agent_state, …)   kept in import/unknown.jsonl; a condensation
//                                           is also said in a note, and the steps after it
//                                           are not trained (their prompts were condensed
//                                           views the log does not keep)
//   observations                          → the result of the action they answer (cause);
//                                           command output with its exit code; an error
//                                           or a rejection by the user is a failed result,
//                                           with the note OpenHands adds for the agent; an
//                                           error no action caused is a user turn of later
//                                           requests
//   user messages                         → the task (the first), then guidance
//   a command the user ran (action run,   → context of later requests, as OpenHands renders
//   source user) and its output             them: "User executed the command:\n…" and
//                                           "\nObserved result of command executed by user:\n…"
//   environment events (state changes, null observations) and anything else: not
//   steps; kept verbatim in import/unknown.jsonl and counted
//
// The prompt the agent was sent is not in the events, so the contexts are derived: the
// conversation as wire messages (with the system prompt where a "system" event has it),
// rendered as OpenHands' conversation memory renders events, where the log shows which
// version's rules apply (a system event's openhands_version: command output with its
// working directory and exit code lines from 0.21, a blank line before a user turn that
// follows another from 0.34; a finish as text once the log shows 0.16 or later). From the
// first point where the derived context is known to leave the prompt OpenHands sent, no
// step is trained: a condensation (or a condense observation, a loop recovery, a prompt
// with fewer tokens than the one before), a recall whose findings OpenHands rendered into
// a user turn (unless an evaluation says prompt extensions were off), a third browser page
// in an app session (its default condenser keeps the last two), an importer-made call
// standing where the model wrote text.
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import type { ToolCall, Usage, WireMessage } from '../../../../shared/events';
import { conversationSteps, wireToolCalls } from '../conversation';
import { asText, check, parseJson, readJsonFile, readRecords, readUtf8, toMs, versionAtLeast } from '../source';
import { ImportError, type ImportAdapter, type ImportContext, type ImportInput, type RunIR } from '../types';

const event = z.looseObject({
  id: z.number().optional(),
  timestamp: z.string().optional(),
  source: z.string().optional(),
  message: z.string().optional(),
  action: z.string().optional(),
  observation: z.string().optional(),
  args: z.record(z.string(), z.unknown()).optional(),
  content: z.unknown().optional(),
  extras: z.record(z.string(), z.unknown()).optional(),
  cause: z.number().nullable().optional(),
  tool_call_metadata: z.looseObject({
    function_name: z.string().optional(),
    tool_call_id: z.string().optional(),
    model_response: z.looseObject({
      id: z.string().optional(),
      model: z.string().optional(),
      choices: z.array(z.looseObject({ message: z.looseObject({ content: z.unknown().optional(), tool_calls: z.array(z.unknown()).nullable().optional() }).optional(), finish_reason: z.string().nullable().optional() })).optional(),
      usage: z.looseObject({ prompt_tokens: z.number().optional(), completion_tokens: z.number().optional(), total_tokens: z.number().optional() }).nullable().optional(),
    }).optional(),
  }).nullable().optional(),
});
type Ev = z.infer<typeof event>;

const instance = z.looseObject({
  instance_id: z.union([z.string(), z.number()]).optional(),
  instruction: z.string().optional(),
  history: z.array(z.unknown()),
  metadata: z.looseObject({
    model_name: z.string().optional(), agent_class: z.string().optional(), llm_config: z.looseObject({ model: z.string().optional(), max_message_chars: z.number().int().optional() }).optional(),
    agent_config: z.looseObject({ enable_prompt_extensions: z.boolean().optional() }).nullable().optional(),
  }).nullable().optional(),
  error: z.string().nullable().optional(),
  test_result: z.unknown().optional(),
});

/**
 * OpenHands V1 (the software-agent-sdk: conversations/<id>/events/event-<n>-<id>.json,
 * each event tagged by "kind") keeps another event model, with its own rendering for the
 * model (events_to_messages): not read as V0's, it is refused by name rather than guessed.
 */
const V1_EVENT = /"kind"\s*:\s*"(?:SystemPromptEvent|MessageEvent|ActionEvent|ObservationEvent|AgentErrorEvent|UserRejectObservation|Condensation|CondensationRequest|ConversationStateUpdateEvent|PauseEvent)"/;
const V1_FILE = /(^|\/)event-\d{5,}-[0-9a-fA-F-]{8,}\.json$/;

function isV1(input: ImportInput): boolean {
  return input.isDir ? (input.files ?? []).some((f) => V1_FILE.test(f)) : V1_EVENT.test(input.head.toString('utf8'));
}

function refuseV1(name: string): never {
  throw new ImportError(name, null, 'is an OpenHands V1 conversation (the agent SDK\'s events, tagged by "kind"), which this app does not import yet: only V0 event lists (the trajectory download of OpenHands 0.x, evaluation output.jsonl, a session\'s events/<n>.json) are read');
}

function looksLikeEvents(text: string): boolean {
  return /"source"\s*:\s*"(agent|user|environment)"/.test(text) && /"(action|observation)"\s*:/.test(text);
}

export const openHandsAdapter: ImportAdapter = {
  format: 'openhands',
  description: 'OpenHands event lists (trajectory .json, evaluation output.jsonl, or a session folder of events/<n>.json)',
  detect(input) {
    const t = input.head.toString('utf8');
    if (isV1(input)) return 0.9;
    if (input.isDir) return (input.files ?? []).some((f) => /(^|\/)events\/\d+\.json$|^\d+\.json$/.test(f)) && looksLikeEvents(t) ? 0.9 : 0;
    if (/"instance_id"\s*:/.test(t) && /"history"\s*:\s*\[/.test(t) && (looksLikeEvents(t) || /"metadata"\s*:/.test(t))) return 0.9;
    if (/^\s*\[\s*{/.test(t) && looksLikeEvents(t)) return 0.9;
    if (/^\s*{\s*"history"\s*:/.test(t) && looksLikeEvents(t)) return 0.8;
    // The server's GET /api/conversations/{id}/trajectory answer, saved as it came: {"trajectory": [events]}.
    if (/^\s*{\s*"trajectory"\s*:\s*\[/.test(t) && looksLikeEvents(t)) return 0.8;
    return 0;
  },
  read: (input, ctx) => {
    if (isV1(input)) refuseV1(input.name);
    return input.isDir ? readFolder(input, ctx) : readFile1(input, ctx);
  },
};

async function* readFile1(input: ImportInput, ctx: ImportContext): AsyncGenerator<RunIR> {
  if (input.head.toString('utf8').trimStart().startsWith('[') && !/\.jsonl$/i.test(input.name)) {
    // A JSON list is the events of one trajectory.
    const list = await readJsonFile(input.path, input.name);
    ctx.progress(input.size);
    yield runOf(input, list as unknown[], input.name, {});
    return;
  }
  for await (const rec of readRecords(input.path, input.name, input.head, (n) => ctx.progress(n))) {
    const v = rec.value;
    if (!isObject(v)) throw new ImportError(input.name, rec.where, 'not an OpenHands trajectory (a list of events) or evaluation record ({instance_id, history})');
    if ('history' in v && ('instance_id' in v || 'instruction' in v || 'metadata' in v)) {
      const inst = check(instance, v, input.name, rec.where, 'an OpenHands evaluation record ({instance_id, history, ...})');
      const item = inst.instance_id !== undefined ? `instance ${inst.instance_id}` : (rec.where ?? 'record 1');
      const model = inst.metadata?.llm_config?.model ?? inst.metadata?.model_name;
      const run = runOf(input, inst.history, `${input.name}, ${item}`, {
        item, model, task: inst.instruction, toolVersion: inst.metadata?.agent_class ? `OpenHands ${inst.metadata.agent_class}` : 'OpenHands',
        promptExtensions: inst.metadata?.agent_config?.enable_prompt_extensions, maxMessageChars: inst.metadata?.llm_config?.max_message_chars,
      });
      if (inst.error) run.notes.push(`The evaluation recorded an error: ${inst.error}`);
      if (inst.test_result !== undefined) run.notes.push(`Test result: ${JSON.stringify(inst.test_result).slice(0, 4000)}`);
      yield run;
      continue;
    }
    if (Array.isArray(v.history)) {
      yield runOf(input, v.history, input.name, {});
      continue;
    }
    // The server's trajectory answer (the UI's download is its list alone).
    if (Array.isArray(v.trajectory) && Object.keys(v).length === 1) {
      yield runOf(input, v.trajectory, input.name, {});
      continue;
    }
    throw new ImportError(input.name, rec.where, 'not an OpenHands trajectory (a list of events) or evaluation record ({instance_id, history})');
  }
}

async function readFolder(input: ImportInput, ctx: ImportContext): Promise<RunIR[]> {
  const files = (input.files ?? (await readdir(input.path)))
    .filter((f) => /(^|\/)\d+\.json$/.test(f))
    .sort((a, b) => Number(/(\d+)\.json$/.exec(a)![1]) - Number(/(\d+)\.json$/.exec(b)![1]));
  const events: unknown[] = [];
  let bytes = 0;
  for (const f of files) {
    const text = await readUtf8(join(input.path, f), f);
    bytes += text.length;
    ctx.progress(bytes);
    events.push(parseJson(text, `${input.name}/${f}`));
  }
  if (!events.length) throw new ImportError(input.name, null, 'holds no OpenHands event files (events/<n>.json)');
  return [runOf(input, events, input.name, {})];
}

function usageOf(u: { prompt_tokens?: number; completion_tokens?: number; total_tokens?: number } | null | undefined): Usage | null {
  if (!u || typeof u.prompt_tokens !== 'number') return null;
  const c = u.completion_tokens ?? 0;
  return { promptTokens: u.prompt_tokens, completionTokens: c, totalTokens: u.total_tokens ?? u.prompt_tokens + c };
}

/**
 * What the agent was shown for an observation (after `lead`, a user command's header):
 * its content with the command's prefix and suffix. The function-calling agent (actions
 * with tool_call_metadata, 0.14 on) was shown an error and a rejection with their notes
 * and a long observation with its middle cut out; the text-action agent before it
 * prefixed every observation and kept no call of the model's (its steps are not
 * trained), so its observations stay as the log has them.
 */
function observationText(e: Ev, r: Rendering, lead = ''): string {
  const meta = (e.extras?.metadata ?? {}) as { prefix?: unknown; suffix?: unknown; working_dir?: unknown; py_interpreter_path?: unknown; exit_code?: unknown };
  const content = asText(e.content);
  // The agent's prompts cut the middle of a long observation (truncate_content, 0.14 on).
  const cut = (s: string) => (r.functionCalling && TRUNCATED_OBSERVATIONS.has(e.observation ?? '') ? truncateContent(s, r.maxChars) : s);
  if (r.functionCalling && e.observation === 'error') return `${cut(content || (e.message ?? ''))}\n[Error occurred in processing last action]`;
  if (r.functionCalling && e.observation === 'user_rejected') return `OBSERVATION:\n${cut(content || (e.message ?? ''))}\n[Last action has been rejected by the user]`;
  let text = `${typeof meta.prefix === 'string' ? meta.prefix : ''}${content || (e.observation === 'run' ? '' : (e.message ?? ''))}${typeof meta.suffix === 'string' ? meta.suffix : ''}`;
  if (r.functionCalling && e.observation === 'run_ipython') {
    // An image the cell drew is not sent again: its line is a placeholder in the prompt.
    text = text.split('\n').map((l) => (l.includes('![image](data:image/png;base64,') ? '![image](data:image/png;base64, ...) already displayed to user' : l)).join('\n');
  }
  if (e.observation === 'run' && versionAtLeast(r.version, [0, 21])) {
    // CmdOutputObservation.to_agent_observation (0.21 on), which the agent is shown.
    if (typeof meta.working_dir === 'string' && meta.working_dir) text += `\n[Current working directory: ${meta.working_dir}]`;
    if (typeof meta.py_interpreter_path === 'string' && meta.py_interpreter_path) text += `\n[Python interpreter: ${meta.py_interpreter_path}]`;
    if (typeof meta.exit_code === 'number' && meta.exit_code !== -1) text += `\n[Command finished with exit code ${meta.exit_code}]`;
  }
  return cut(lead + text);
}

/** How the log's agent rendered observations into its prompts (see observationText). */
interface Rendering {
  functionCalling: boolean;
  /** As the system event gives it (versionOf). */
  version: string | null;
  /** llm_config.max_message_chars (OpenHands' default 30000). */
  maxChars: number;
}

/** Observations the conversation memory passes through truncate_content (not a file read's, already cut, nor a browser page's). */
const TRUNCATED_OBSERVATIONS = new Set(['run', 'run_ipython', 'edit', 'error', 'user_rejected', 'delegate', 'think', 'mcp', 'download', 'task_tracking']);

/** OpenHands' truncate_content: the middle of a text longer than `max` cut out, said where. */
function truncateContent(s: string, max: number): string {
  if (max < 0 || s.length <= max) return s;
  const half = Math.floor(max / 2);
  return `${s.slice(0, half)}\n[... Observation truncated due to length ...]\n${s.slice(s.length - half)}`;
}

function exitCodeOf(e: Ev): number | undefined {
  const meta = e.extras?.metadata as { exit_code?: unknown } | undefined;
  if (typeof meta?.exit_code === 'number') return meta.exit_code;
  return typeof e.extras?.exit_code === 'number' ? (e.extras.exit_code as number) : undefined;
}

const UNMAPPED_OBSERVATIONS = new Set(['agent_state_changed', 'null', 'recall', 'agent_condensation', 'condensation']);
/** Observations that say the action failed (the source's own flag: its type). */
const ERROR_OBSERVATIONS = new Set(['error', 'user_rejected']);

/**
 * Actions the controller, the condenser or the runtime records with source "agent" that
 * no model reply produced (OpenHands ActionType): never steps.
 */
const CONTROLLER_ACTIONS = new Set(['system', 'start', 'null', 'pause', 'resume', 'stop', 'change_agent_state', 'recall', 'condensation', 'condensation_request', 'loop_recovery']);

/**
 * Fields of an action's args that OpenHands' dataclasses and runtime fill in, not the
 * model: left out of the importer's call for an action without tool_call_metadata.
 */
const RUNTIME_ARGS = new Set([
  'thought', 'blocking', 'keep_prompt', 'is_confirmed', 'confirmation_state', 'hidden', 'is_static', 'cwd', 'security_risk',
  'kernel_init_code', 'impl_source', 'translated_ipython_code', 'wait_for_response', 'image_urls', 'images_urls', 'is_input',
]);

/** A tool schema a trainer accepts ({type: function, function: {name, description, parameters}}). */
function toolSchema(t: unknown): boolean {
  const f = t && typeof t === 'object' ? (t as { type?: unknown; function?: { name?: unknown; description?: unknown; parameters?: unknown } }) : null;
  return f?.type === 'function' && typeof f.function?.name === 'string' && /^[a-zA-Z0-9_-]{1,64}$/.test(f.function.name)
    && typeof f.function.description === 'string' && !!f.function.parameters && typeof f.function.parameters === 'object';
}

/**
 * `promptExtensions`: the agent's enable_prompt_extensions as an evaluation's metadata gives
 * it (undefined: not said; OpenHands' default is on, and a recall is then in its prompts).
 */
function runOf(input: ImportInput, raw: unknown[], where: string, o: { item?: string; model?: string; task?: string; toolVersion?: string; promptExtensions?: boolean; maxMessageChars?: number }): RunIR {
  const unknown: RunIR['unknown'] = [];
  // Older evaluation logs keep [action, observation] pairs.
  const flat: unknown[] = raw.flatMap((x) => (Array.isArray(x) ? x : [x]));
  const events: Ev[] = flat.map((x, i) => check(event, x, input.name, `${where === input.name ? '' : `${where.slice(input.name.length + 2)}, `}event ${i + 1}`, 'an OpenHands event'));
  const wire: WireMessage[] = [];
  const meta: Array<{ at?: number; usage?: Usage | null; finishReason?: string | null; exitCode?: number; isError?: boolean; model?: string }> = [];
  const push = (m: WireMessage, x: (typeof meta)[number] = {}) => {
    wire.push(m);
    meta.push(x);
  };
  const callOfAction = new Map<number, ToolCall>();
  const responseSeen = new Set<string>();
  // The steps whose call the importer made (wire index of their assistant turn).
  const importerCalls = new Map<number, string>();
  // The agent's finish replies (wire index → how its later prompts carry them): OpenHands'
  // conversation memory renders AgentFinishAction as the assistant's text (its thought, and
  // the reply's text after it when they differ), never as a call awaiting a result.
  const finishedAs = new Map<number, WireMessage>();
  // Commands a person ran in the agent's shell (event ids), and the wire turns that are
  // context only (those commands and their output: neither guidance nor a step's result).
  const userCommands = new Set<number>();
  const contextTurns = new Set<number>();
  // From where on the steps are not trained (a wire index), and why: the first point at which
  // the derived context stops being the prompt OpenHands sent.
  let untrainedFrom: { at: number; why: string } | null = null;
  let pagesSeen = 0;
  const stopTraining = (at: number, why: string) => {
    if (!untrainedFrom || at < untrainedFrom.at) untrainedFrom = { at, why };
  };
  const notes: string[] = [];
  let tools: unknown[] | undefined;
  let system = false;
  let model = o.model;
  const functionCalling = events.some((e) => !!e.tool_call_metadata);
  const version = versionOf(events);
  const rendering: Rendering = { functionCalling, version, maxChars: o.maxMessageChars ?? 30_000 };
  // What the log shows of its version: a system event (0.34 on, with openhands_version) or
  // command metadata (0.19 on) means OpenHands 0.16 or later, which carries a finish as text.
  const finishAsText = version !== null || events.some((e) => e.action === 'system' || (e.observation === 'run' && isObject(e.extras?.metadata)));
  for (const e of events) {
    if (e.action) {
      if (e.source === 'user' && e.action === 'message') {
        push({ role: 'user', content: asText(e.args?.content ?? e.message) }, { at: toMs(e.timestamp) });
        continue;
      }
      if (e.source === 'user' && e.action === 'run' && typeof e.args?.command === 'string' && wire.some((m) => m.role === 'assistant')) {
        if (e.id !== undefined) userCommands.add(e.id);
        contextTurns.add(wire.length);
        push({ role: 'user', content: `User executed the command:\n${e.args.command}` }, { at: toMs(e.timestamp) });
        continue;
      }
      if (e.source !== 'agent') {
        unknown.push({ type: `${e.source ?? 'unknown'} action ${e.action}`, record: e });
        continue;
      }
      const tm = e.tool_call_metadata;
      if (!tm?.model_response && CONTROLLER_ACTIONS.has(e.action)) {
        // The system prompt the agent's first request began with (and the tools it was given).
        const content = asText(e.args?.content ?? e.message);
        if (e.action === 'system' && !system && !wire.length && content) {
          push({ role: 'system', content }, { at: toMs(e.timestamp) });
          system = true;
          const ts = e.args?.tools;
          if (Array.isArray(ts) && ts.length) {
            if (ts.every(toolSchema)) tools = ts;
            else notes.push('The system event lists tools in a form trainers do not take; exported requests list no tools.');
          }
          continue;
        }
        unknown.push({ type: `agent action ${e.action}`, record: e });
        if (e.action === 'condensation') {
          const a = (e.args ?? {}) as { forgotten_event_ids?: unknown; forgotten_events_start_id?: unknown; forgotten_events_end_id?: unknown; summary?: unknown };
          const which = Array.isArray(a.forgotten_event_ids) ? `events ${a.forgotten_event_ids.join(', ')}`
            : typeof a.forgotten_events_start_id === 'number' ? `events ${a.forgotten_events_start_id}–${String(a.forgotten_events_end_id)}` : 'earlier events';
          notes.push(`At event ${e.id ?? '?'} the agent's context was condensed (${which} forgotten${typeof a.summary === 'string' && a.summary ? `; summary: ${a.summary}` : ''}); the derived contexts after it hold the whole conversation, which the model no longer saw, so the steps after it are not trained.`);
          stopTraining(wire.length, `OpenHands condensed the agent's context at event ${e.id ?? '?'}; the prompt it was sent after that is not in the log, and the derived context (the whole conversation) is not it`);
        }
        if (e.action === 'loop_recovery') stopTraining(wire.length, `OpenHands recovered from a loop at event ${e.id ?? '?'} by cutting the agent's history back; the derived context (the whole conversation) is not what it was sent`);
        continue;
      }
      const mr = tm?.model_response;
      if (mr) {
        model ??= mr.model;
        const msg = mr.choices?.[0]?.message;
        const calls = wireToolCalls({ role: 'assistant', tool_calls: msg?.tool_calls ?? [] });
        const mine = calls.find((c) => c.id === tm.tool_call_id);
        if (e.id !== undefined && mine) callOfAction.set(e.id, mine);
        const key = mr.id ?? `event ${e.id}`;
        if (responseSeen.has(key)) continue; // another action of the same reply
        responseSeen.add(key);
        if (finishAsText && e.action === 'finish' && calls.length === 1 && calls[0]!.name === 'finish') {
          const content = asText(msg?.content);
          const thought = typeof e.args?.thought === 'string' ? e.args.thought : '';
          finishedAs.set(wire.length, { role: 'assistant', content: thought ? (thought !== content ? `${thought}\n${content}` : thought) : content });
        }
        push(
          { role: 'assistant', content: asText(msg?.content) || (calls.length ? null : ''), ...(calls.length ? { tool_calls: calls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments } })) } : {}) },
          { at: toMs(e.timestamp), usage: usageOf(mr.usage), finishReason: mr.choices?.[0]?.finish_reason ?? null },
        );
        continue;
      }
      // No metadata. A message is the model's reply as it wrote it.
      const args = (e.args ?? {}) as Record<string, unknown>;
      if (e.action === 'message') {
        push({ role: 'assistant', content: asText(args.content ?? e.message) }, { at: toMs(e.timestamp) });
        continue;
      }
      // Another action was parsed from text the log does not keep: a call named by its
      // type stands for it (its result needs one), with its args less the fields the
      // runtime filled in, and the step is not trained.
      const modelArgs = Object.fromEntries(Object.entries(args).filter(([k, v]) => !RUNTIME_ARGS.has(k) && !(k === 'outputs' && isEmptyObject(v))));
      const call: ToolCall = { id: `call_${e.id ?? wire.length}`, name: e.action, arguments: JSON.stringify(modelArgs) };
      if (e.id !== undefined) callOfAction.set(e.id, call);
      importerCalls.set(wire.length, e.action);
      // Its call stands in later contexts where the model's own text was: they are the importer's.
      stopTraining(wire.length + 1, `the context holds the importer's call for the "${e.action}" action of event ${e.id ?? '?'} (no tool_call_metadata), where the model wrote text the log does not keep`);
      push({ role: 'assistant', content: (typeof args.thought === 'string' ? args.thought : '') || null, tool_calls: [{ id: call.id, type: 'function', function: { name: call.name, arguments: call.arguments } }] }, { at: toMs(e.timestamp) });
      continue;
    }
    if (e.observation) {
      if (e.observation === 'condense' || e.observation === 'agent_condensation') {
        unknown.push({ type: `observation ${e.observation}`, record: e });
        stopTraining(wire.length, `OpenHands cut or condensed the agent's context at event ${e.id ?? '?'} (${e.observation}); the derived context (the whole conversation) is not what it was sent after that`);
        continue;
      }
      if (e.observation === 'recall' && o.promptExtensions !== false && recallRenders(e)) {
        unknown.push({ type: `observation ${e.observation}`, record: e });
        stopTraining(wire.length, `OpenHands put what the recall of event ${e.id ?? '?'} found (workspace context or microagent knowledge) into the agent's prompts as a user turn, which the derived context does not hold`);
        continue;
      }
      if (e.observation === 'run' && e.cause !== undefined && e.cause !== null && userCommands.has(e.cause) && !e.tool_call_metadata) {
        contextTurns.add(wire.length);
        push({ role: 'user', content: observationText(e, rendering, '\nObserved result of command executed by user:\n') }, { at: toMs(e.timestamp) });
        continue;
      }
      const call = e.cause !== undefined && e.cause !== null ? callOfAction.get(e.cause) : undefined;
      if (!call && functionCalling && e.observation === 'error' && wire.some((m) => m.role === 'assistant')) {
        // An error no call of the agent's caused (the controller's, a bad response): a user turn of the agent's later prompts.
        contextTurns.add(wire.length);
        push({ role: 'user', content: observationText(e, rendering) }, { at: toMs(e.timestamp) });
        continue;
      }
      if (!call || UNMAPPED_OBSERVATIONS.has(e.observation)) {
        unknown.push({ type: `observation ${e.observation}`, record: e });
        continue;
      }
      push({ role: 'tool', tool_call_id: call.id, content: observationText(e, rendering) }, { at: toMs(e.timestamp), exitCode: exitCodeOf(e), isError: ERROR_OBSERVATIONS.has(e.observation) });
      // The app's default condenser (BrowserOutputCondenser, attention window 2) shows only the
      // last two browser pages; the older ones read "Content omitted" in the prompt, not here.
      if (e.observation === 'browse' && o.item === undefined && ++pagesSeen === 3) {
        stopTraining(wire.length, `OpenHands' default condenser leaves out all but the last two browser pages of the agent's prompts (a third came at event ${e.id ?? '?'}), which the derived context holds whole`);
      }
      continue;
    }
    unknown.push({ type: 'event without action or observation', record: e });
  }
  // 0.34 on: a user turn right after another starts with a blank line (_apply_user_message_formatting).
  if (versionAtLeast(version, [0, 34])) {
    for (let i = 1; i < wire.length; i++) {
      const m = wire[i]!;
      if (m.role === 'user' && wire[i - 1]!.role === 'user' && typeof m.content === 'string') wire[i] = { ...m, content: `\n\n${m.content}` };
    }
  }
  const conv = conversationSteps(wire, { toolMode: 'tools', where: (i) => `${where}, message ${i + 1}`, sentAs: (_m, i) => finishedAs.get(i), userTurn: (_m, i) => (contextTurns.has(i) ? 'context' : null), stepMeta: (_m, i) => ({ at: meta[i]?.at, usage: meta[i]?.usage ?? null, finishReason: meta[i]?.finishReason ?? null }) });
  // Exit codes, the source's error flags and result times. The error is the source's
  // (the observation's type, the exit code), not a guess from the text.
  for (const step of conv.steps) {
    for (const r of step.results) {
      const x = meta[conv.resultAt.get(r) ?? -1];
      if (!x) continue;
      r.isError = !!x.isError || (x.exitCode !== undefined && x.exitCode !== 0);
      if (x.exitCode !== undefined) r.exitCode = x.exitCode;
      if (x.at) step.finishedAt = x.at;
    }
  }
  let n = 0;
  let lastPrompt: number | undefined;
  const assistantAt = wire.flatMap((m, i) => (m.role === 'assistant' ? [i] : []));
  wire.forEach((m, i) => {
    if (m.role !== 'assistant') return;
    const step = conv.steps[n++]!;
    const action = importerCalls.get(i);
    if (action && !step.notTrained) step.notTrained = `not trained: the log keeps the "${action}" action this step ran, not the model's text that asked for it (it has no tool_call_metadata); the call is the importer's`;
    // A prompt shorter than the one before: OpenHands cut or condensed the context (a
    // condenser that logs nothing, a truncation), so the derived context is not it.
    const prompt = step.usage?.promptTokens;
    if (prompt !== undefined && lastPrompt !== undefined && prompt < lastPrompt) {
      stopTraining(i, `the model's prompt for the step at ${step.where} was ${prompt} tokens, fewer than the ${lastPrompt} of the one before: OpenHands cut or condensed the context, and the derived context (the whole conversation) is not what it was sent`);
    }
    if (prompt !== undefined) lastPrompt = prompt;
    const from: { at: number; why: string } | null = untrainedFrom;
    if (from && i >= from.at && !step.notTrained) step.notTrained = `not trained: ${from.why}`;
  });
  // (Asserted: TypeScript does not see stopTraining's assignments and takes it for null here.)
  const stopped = untrainedFrom as { at: number; why: string } | null;
  if (stopped) notes.push(`The steps from the one at ${conv.steps.find((_, k) => assistantAt[k]! >= stopped.at)?.where ?? 'the end'} on are not trained: ${stopped.why}.`);
  if (importerCalls.size) notes.push(`${importerCalls.size} action(s) have no tool_call_metadata (an older log): each is a step with a call the importer named by its type, not trained, since the model's own text for it is not in the log.`);
  const task = o.task ?? asText(wire.find((m) => m.role === 'user')?.content);
  const name = o.item ? `${input.name} ${o.item}` : input.name.replace(/\.json$/i, '');
  const hasCalls = wire.some((m) => Array.isArray(m.tool_calls));
  return {
    name, task, model, item: o.item, config: { ...(model ? { model } : {}), ...(tools ? { tools } : hasCalls ? { tools: [] } : {}) }, context: 'derived',
    steps: conv.steps, initialGuidance: conv.initialGuidance, startedAt: toMs(events[0]?.timestamp), toolVersion: o.toolVersion ?? 'OpenHands',
    end: { state: 'stopped', reason: 'imported OpenHands run' },
    notes: [
      system
        ? `OpenHands events do not hold the requests the agent sent: each step's context is the system prompt of the log's "system" event${tools ? ' (and its tools)' : ''}, then the conversation before it.`
        : 'OpenHands events do not hold the prompt the agent was sent: each step\'s context is the conversation before it, with no system prompt or tool schemas.',
      ...notes, ...conv.notes,
    ],
    unknown,
  };
}

/** The OpenHands version the log's system event gives (0.34 on); null when none does. */
function versionOf(events: readonly Ev[]): string | null {
  for (const e of events) {
    const v = e.action === 'system' ? e.args?.openhands_version : undefined;
    if (versionAtLeast(v, [0])) return v as string;
  }
  return null;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return !!v && typeof v === 'object' && !Array.isArray(v);
}

/**
 * A recall observation whose findings OpenHands renders into a user turn of the agent's
 * prompts (conversation_memory.py, with prompt extensions on): a workspace context with
 * repository, runtime or instructions, or microagent knowledge.
 */
function recallRenders(e: Ev): boolean {
  const x = e.extras ?? {};
  const nonEmpty = (v: unknown) => (typeof v === 'string' ? v.trim() !== '' : Array.isArray(v) ? v.length > 0 : isObject(v) ? Object.keys(v).length > 0 : false);
  return ['repo_name', 'repo_directory', 'repo_instructions', 'runtime_hosts', 'additional_agent_instructions', 'date', 'custom_secrets_descriptions', 'conversation_instructions', 'microagent_knowledge'].some((k) => nonEmpty(x[k]));
}

function isEmptyObject(v: unknown): boolean {
  return isObject(v) && Object.keys(v).length === 0;
}
