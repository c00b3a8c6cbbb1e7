// The agent's tools, declared once: name, description, argument schema (zod, with a
// description per argument) and the template the "Branch here" dialog starts a
// hand-written action from. The names and arguments are InnovatorBench / ResearchGym's.
//
// Everything else derives from these declarations: the OpenAI `tools` of the chat
// request, the text-mode instructions, the validation of every call (the model's, a
// hand-written one, a replayed one) and the dialog's tool list. The host pairs each
// tool with its run function (electron/core/rollout/tools.ts), and the compiler makes
// sure every tool declared here has one.
//
// This module runs on both sides, so it holds no behaviour beyond parsing.
import { z } from 'zod';
import type { ToolCall } from './events';

/** Every invalid call's observation starts with this (label rules match it). */
export const INVALID_TOOL_CALL = 'Error: invalid tool call';

// Models often quote numbers and booleans ("10", "true"); an unambiguous string is
// accepted as what it spells rather than spending a step on a retry.
const toNumber = (v: unknown): unknown => (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v)) ? Number(v) : v);
const toBoolean = (v: unknown): unknown => (typeof v === 'string' && /^(true|false)$/i.test(v.trim()) ? v.trim().toLowerCase() === 'true' : v);

const str = (description: string) => z.string().describe(description);
const int = (description: string) => z.preprocess(toNumber, z.number().int()).describe(description);
const num = (description: string) => z.preprocess(toNumber, z.number()).describe(description);
const bool = (description: string) => z.preprocess(toBoolean, z.boolean()).describe(description);

const sessionId = () => str('Name of the terminal session, e.g. "main" or "gpu_train".');
const filePath = () => str('File path (absolute, or relative to the working directory).');

export interface ToolDecl<S extends z.ZodObject = z.ZodObject> {
  /** What the model reads about the tool. */
  description: string;
  /** The arguments; unknown keys are dropped, `null` counts as absent. */
  args: S;
  /** The arguments a hand-written action starts from in the UI. */
  template: z.output<S>;
  /** One line for the UI next to the tool's name. */
  hint: string;
}

const tool = <S extends z.ZodObject>(decl: ToolDecl<S>): ToolDecl<S> => decl;

/** In the order the model and the UI list them. */
export const TOOLS = {
  run_command: tool({
    description:
      'Run a shell command in the terminal session `session_id` (created on first use). With wait_for_completion=true, wait until the command ends (or a timeout passes; it then keeps running) and return its output and exit code. Use wait_for_completion=false for long-running commands (training, servers, downloads) and follow them with get_session_output / check_session_idle.',
    args: z.object({
      session_id: sessionId(),
      command: str('The command line to run.'),
      wait_for_completion: bool('Wait for the command to finish (default true).').optional(),
    }),
    template: { session_id: 'main', command: '', wait_for_completion: true },
    hint: 'Run a shell command in a terminal and wait for it.',
  }),
  create_session: tool({
    description: 'Create a new terminal session (a shell in the working directory) named `session_id`.',
    args: z.object({ session_id: sessionId() }),
    template: { session_id: 'work' },
    hint: 'Open a new terminal.',
  }),
  list_sessions: tool({
    description: 'List the terminal sessions with their status (idle or busy, working directory, last activity).',
    args: z.object({}),
    template: {},
    hint: 'List the terminals.',
  }),
  get_session_output: tool({
    description:
      'Return the output of a terminal session. If `since_timestamp` is given, the output since that time; otherwise a window of lines counted from the end: from `start_lines` lines before the end to `end_lines` lines before the end (default: to the end). It may contain the output of earlier commands.',
    args: z.object({
      session_id: sessionId(),
      start_lines: int('Start of the window, in lines counted from the end (e.g. 50 = the last 50 lines).'),
      end_lines: int('End of the window, in lines counted from the end (omit for the newest output).').optional(),
      since_timestamp: str('ISO time or Unix epoch seconds; return output produced after it.').optional(),
    }),
    template: { session_id: 'main', start_lines: 50 },
    hint: 'Read the last lines of a terminal.',
  }),
  check_session_idle: tool({
    description: 'Check whether a terminal session is idle (no command running) or busy, with the processes it runs.',
    args: z.object({ session_id: sessionId() }),
    template: { session_id: 'main' },
    hint: 'Is a terminal idle or busy?',
  }),
  input_in_session: tool({
    description:
      'Type text into a terminal session, e.g. to answer an interactive prompt. A trailing "\\n" presses Enter; control characters such as "\\u0003" (Ctrl-C) are sent as they are.',
    args: z.object({ session_id: sessionId(), input_text: str('The text to type.') }),
    template: { session_id: 'main', input_text: '\n' },
    hint: 'Type into a terminal (\\u0003 is Ctrl-C).',
  }),
  kill_session_processes: tool({
    description: 'Interrupt (Ctrl-C) and kill the processes running in a terminal session; the session stays open.',
    args: z.object({ session_id: sessionId() }),
    template: { session_id: 'main' },
    hint: 'Interrupt and kill what a terminal runs.',
  }),
  close_session: tool({
    description: 'Close a terminal session and kill everything running in it.',
    args: z.object({ session_id: sessionId() }),
    template: { session_id: 'work' },
    hint: 'Close a terminal.',
  }),
  open_file: tool({
    description: 'Show a text file with line numbers: `context_lines` lines around `line_number` (default: the first 100 lines).',
    args: z.object({
      path: filePath(),
      line_number: int('Line to center on (1-based).').optional(),
      context_lines: int('Number of lines to show (default 100).').optional(),
    }),
    template: { path: '', line_number: 1, context_lines: 100 },
    hint: 'Show a file with line numbers.',
  }),
  create_file: tool({
    description: 'Create (or overwrite) a file with the given content; parent folders are created.',
    args: z.object({ filename: filePath(), content: str('The full content of the file.') }),
    template: { filename: '', content: '' },
    hint: 'Create or overwrite a file.',
  }),
  edit_file: tool({
    description:
      'Replace lines `start` to `end` (1-based, both included) of a file with `content` (empty content deletes them; end = start - 1 inserts before `start`). Read the lines first with open_file; line numbers change after an edit.',
    args: z.object({
      path: filePath(),
      start: int('First line to replace (1-based).'),
      end: int('Last line to replace (included).'),
      content: str('The new lines.'),
    }),
    template: { path: '', start: 1, end: 1, content: '' },
    hint: 'Replace lines of a file.',
  }),
  list_files: tool({
    description: 'List the files and folders in a folder (folders end with "/").',
    args: z.object({ path: str('Folder path (default: the working directory).').optional() }),
    template: { path: '.' },
    hint: 'List a folder.',
  }),
  sleep: tool({
    description: 'Wait for `sleep_time` seconds, e.g. while a training job runs.',
    args: z.object({ sleep_time: num('Seconds to wait.') }),
    template: { sleep_time: 10 },
    hint: 'Wait some seconds.',
  }),
  think: tool({
    description: 'Write down a thought or plan; it does not change anything.',
    args: z.object({ thought: str('The thought.') }),
    template: { thought: '' },
    hint: 'Record a thought.',
  }),
  finish: tool({
    description: 'Finish the task, with a short summary of what was done and the results.',
    args: z.object({ message: str('Summary of the outcome.').optional() }),
    template: { message: '' },
    hint: 'Finish the task.',
  }),
};

export type ToolName = keyof typeof TOOLS;
/** A tool's arguments after validation (numbers and booleans coerced, unknown keys dropped). */
export type ToolArgs<N extends ToolName> = z.output<(typeof TOOLS)[N]['args']>;

export const TOOL_NAMES = Object.keys(TOOLS) as ToolName[];

export function isToolName(name: string): name is ToolName {
  return Object.hasOwn(TOOLS, name);
}

// ------------------------------------------------------------------ JSON schema

export type JsonParam = { type: 'string' | 'integer' | 'number' | 'boolean'; description?: string } & Record<string, unknown>;
/** What OpenAI-compatible servers take as a function's `parameters`. */
export type ToolParameters = { type: 'object'; properties: Record<string, JsonParam>; required: string[] };

const parameterCache = new Map<ToolName, ToolParameters>();

/** A tool's arguments as JSON Schema, derived from its zod declaration. */
export function toolParameters(name: ToolName): ToolParameters {
  const hit = parameterCache.get(name);
  if (hit) return hit;
  // 'input': what the model may send, so no additionalProperties: false (extra
  // arguments are tolerated and dropped).
  const js = z.toJSONSchema(TOOLS[name].args, {
    io: 'input',
    override: ({ jsonSchema: s }) => {
      // z.int()'s safe-integer bounds say nothing to a model and trip some grammar-constrained decoders.
      if (s.type === 'integer' && s.minimum === Number.MIN_SAFE_INTEGER && s.maximum === Number.MAX_SAFE_INTEGER) {
        delete s.minimum;
        delete s.maximum;
      }
    },
  }) as { properties?: Record<string, JsonParam>; required?: string[] };
  const properties: Record<string, JsonParam> = {};
  for (const [k, { type, description, ...rest }] of Object.entries(js.properties ?? {})) properties[k] = { type, description, ...rest };
  // `required: []` is spelled out: a few servers reject an object schema without it.
  const out: ToolParameters = { type: 'object', properties, required: js.required ?? [] };
  parameterCache.set(name, out);
  return out;
}

/** `run_command(session_id: string, command: string, wait_for_completion?: boolean)` */
export function toolSignature(name: ToolName): string {
  const { properties, required } = toolParameters(name);
  const ps = Object.entries(properties).map(([p, s]) => `${p}${required.includes(p) ? '' : '?'}: ${s.type}`);
  return `${name}(${ps.join(', ')})`;
}

/** A plain-text description of the tools, for models without tool calling. */
export function describeToolsForText(): string {
  return TOOL_NAMES.map((n) => `- ${toolSignature(n)}: ${TOOLS[n].description}`).join('\n');
}

// ------------------------------------------------------------------ validation

export type InvalidToolCall = { ok: false; error: string; reason: string };
/** A valid call, typed per tool. */
export type ValidToolCall = { [N in ToolName]: { ok: true; name: N; args: ToolArgs<N> } }[ToolName];
export type ParsedCall = { ok: true; name: ToolName; args: Record<string, unknown> } | InvalidToolCall;

/** The observation of an invalid call: what is wrong, how the tool is called, a nudge to retry. */
function invalid(reason: string, name?: ToolName): InvalidToolCall {
  const usage = name ? ` Usage: ${toolSignature(name)}.` : ` Available tools: ${TOOL_NAMES.join(', ')}.`;
  return { ok: false, reason, error: `${INVALID_TOOL_CALL}: ${reason}.${usage} Fix the call and try again.` };
}

const article = (type: string) => (type === 'integer' ? 'an integer' : `a ${type}`);

/** Validate a tool's arguments (already parsed from JSON) against its declaration. */
export function validateToolArgs(rawName: string, raw: unknown): ValidToolCall | InvalidToolCall {
  const name = rawName.trim();
  if (!isToolName(name)) return invalid(name ? `unknown tool "${name}"` : 'the call has no tool name');
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return invalid(`the arguments of ${name} must be a JSON object`, name);
  // `null` is how many models spell "not given".
  const given = Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== null));
  const r = TOOLS[name].args.safeParse(given);
  if (r.success) return { ok: true, name, args: r.data } as ValidToolCall;
  const { properties } = toolParameters(name);
  const reasons = r.error.issues.map((issue) => {
    const p = String(issue.path[0] ?? '');
    const type = properties[p]?.type;
    if (!p || !type) return `the arguments of ${name} are invalid: ${issue.message}`;
    if (given[p] === undefined) return `missing required argument "${p}" (${type}) for ${name}`;
    if (issue.code === 'invalid_type') return `argument "${p}" of ${name} must be ${article(type)}, got ${JSON.stringify(given[p]).slice(0, 80)}`;
    return `argument "${p}" of ${name} is invalid: ${issue.message}`;
  });
  return invalid(reasons.join('; '), name);
}

/**
 * The one rule for a call's argument text, which the tool runner, the prompt builder
 * and the exporter all follow: blank text (empty or whitespace, what some servers send
 * for a call without arguments) is no arguments, the object {}.
 */
export function blankArguments(text: string | undefined): boolean {
  return (text ?? '').trim() === '';
}

/** The one rule for a call's name: a blank one (empty or whitespace) names no tool, so it is no valid call. */
export function blankToolName(name: string | undefined): boolean {
  return (name ?? '').trim() === '';
}

/** Parse and validate a call as the model (or a person) wrote it. */
export function parseToolCall(call: Pick<ToolCall, 'name' | 'arguments'>): ParsedCall {
  const name = call.name?.trim() ?? '';
  if (!isToolName(name)) return validateToolArgs(name, {});
  const text = (call.arguments ?? '').trim();
  let raw: unknown = {};
  if (!blankArguments(text)) {
    try {
      raw = JSON.parse(text);
    } catch (e) {
      return invalid(`the arguments of ${name} are not valid JSON (${(e as Error).message})`, name);
    }
  }
  return validateToolArgs(name, raw);
}
