// The prompt of any step, rebuilt from its path in the trajectory tree: the events
// store only what each step added (assistant message, tool results, guidance), so
// storage grows with the number of steps, not with its square.
//
// Layout (InnovatorBench / ResearchGym conventions):
//   system   SYSTEM_PROMPT (says that <real_user> turns come from a human and must be followed)
//   user     <task_description>…</task_description> (+ guidance given before the first step)
//   [assistant  summary of the older steps (<state_snapshot>), when the context was summarized
//    user       "continue…" + every guidance delivered in the summarized part, verbatim]
//   per step: assistant (content + tool_calls) → tool results → user <real_user>…</real_user>
import type { Step, Trajectory } from '../../../shared/trajectory';
import { pairResults, pathTo } from '../../../shared/trajectory';
import { blankArguments, blankToolName } from '../../../shared/tools';
import type { ChatMessage, ToolSchema } from './llm';
import { describeToolsForText } from './tools';

export type ToolMode = 'tools' | 'text';

export const SYSTEM_PROMPT = `You are an autonomous AI research and engineering agent. The user gives you a task and a working environment with real terminal sessions. Your mission is to plan, code, run experiments and analyze results until the task is done, working through the tools you are given.

# Core Mandates

- **Plan first:** For every new task or change of scope, make a concise, structured plan before editing code or starting long commands. Use the \`think\` tool to plan and to refine the plan when the direction is unclear.
- **Conventions:** Read the existing code, configuration and documentation before changing them, and follow their style and structure. Never assume a library is available: check the project first.
- **Verify:** Read the place you want to change before editing a file (\`open_file\`), and check the result after every \`edit_file\`. Do not make consecutive edits without checking.
- **Error handling:** On errors, read the message, find the cause and fix it; do not repeat a failing action unchanged.
- **Do not revert changes** unless they cause an error or you are told to. Do not modify provided datasets or checkpoints; make a backup before changing data.
- **Be patient:** Long commands (installs, training, inference) can take minutes or hours. Run them with \`wait_for_completion=false\`, then follow them with \`check_session_idle\` and \`get_session_output\`, and \`sleep\` while they run. Do not kill a command just because it is slow.
- **Separate the information:** The output of a session may contain earlier commands; only the text after the last prompt belongs to the last command.
- **Never give up:** Keep working until the task is fully done, then call \`finish\` with a short summary of what you did and the results.

# Operational Guidelines

## Terminal Sessions
- A \`session_id\` names a terminal session (a shell). Use several sessions to run a long job in one and inspect things in another, e.g. \`main\` and \`train\`.
- Use \`list_sessions\` to see them, \`check_session_idle\` to know whether a command is still running, \`get_session_output\` to read output, \`input_in_session\` to answer interactive prompts, \`kill_session_processes\` to stop a command and \`close_session\` when a session is no longer needed.
- Avoid interactive commands; prefer non-interactive flags (e.g. \`apt-get -y\`, \`git --no-pager\`).

## Follow Instructions From Real User
- A human supervisor watches your work and may step in at any time. Their messages arrive as user turns wrapped in <real_user></real_user> tags, after the result of your latest action.
- Instructions in <real_user></real_user> tags come from a real human: they take precedence over your own plan. Follow them, adjust your plan accordingly, and keep following them later unless told otherwise.

## Tone and Style
- No chitchat: get straight to the action. Before a command that modifies files or the system, explain its purpose in one short sentence.

## Security
- Never expose, log or commit secrets such as API keys or tokens.
- Work inside the given working directory unless the task says otherwise.

## Tool Usage
- Use only the tools provided. All tool calls run without asking for confirmation: be proactive.
- Give every required argument with the right type; omit optional arguments you do not need (do not send "None" or null).`;

export const TEXT_MODE_APPENDIX = `

# Actions
You have no native tool calling. Act by ending each reply with exactly one fenced block:
- a shell command to run in session "main":
\`\`\`bash
ls -la
\`\`\`
- or any tool as JSON:
\`\`\`json
{"name": "get_session_output", "arguments": {"session_id": "main", "start_lines": 50}}
\`\`\`
Tools:
${describeToolsForText()}`;

export const SUMMARY_PROMPT = `The conversation so far is too long. Summarize it into a state snapshot that will REPLACE all of the history above: you will only see the system prompt, the task, this snapshot and your latest steps. Keep every fact you will need to continue: results with numbers, file paths, commands that worked or failed and why, sessions and what runs in them.

Instructions from the real user (<real_user> turns) will be repeated verbatim after your snapshot: do not drop them, and record how far you have followed them.

Do not call any tool. Reply with only this structure:

<state_snapshot>
    <state_of_the_art>
        <!-- The best result so far and the target to beat. -->
    </state_of_the_art>
    <hypotheses>
        <!-- Active, tested or pending hypotheses, marked [COMPLETED], [IN PROGRESS] or [TODO]. -->
    </hypotheses>
    <key_knowledge>
        <!-- Crucial facts, constraints and user instructions to remember. Bullet points. -->
    </key_knowledge>
    <reflection>
        <!-- Lessons learned: what worked, what failed and why. Bullet points. -->
    </reflection>
    <file_and_browser_state>
        <!-- Files created, read, modified or deleted, and their status. The current directory. -->
    </file_and_browser_state>
    <recent_sessions>
        <!-- All open sessions: last command, idle or busy, what runs there. -->
    </recent_sessions>
    <recent_actions>
        <!-- The last significant actions and their outcomes. Facts only. -->
    </recent_actions>
    <experiment_history>
        <!-- Significant experiments and their outcomes. -->
    </experiment_history>
</state_snapshot>`;

export const CONTINUE_AFTER_SUMMARY =
  'OK, continue to finish your task based on the history. Check the state of your sessions first (list_sessions, check_session_idle, get_session_output) if you need to.';

export interface BuildOptions {
  task: string;
  toolMode?: ToolMode;
  /** Defaults to SYSTEM_PROMPT (+ the text-mode appendix in text mode). */
  systemPrompt?: string;
  /** Mentioned in the system prompt when given. */
  cwd?: string;
  /**
   * The branch being continued: guidance is kept when queued for a branch of the path
   * (or for this one), so guidance given on a sibling branch at a shared step stays out.
   */
  branchId?: string;
  /** Keep malformed tool calls from breaking strict servers (default true). */
  sanitizeToolCalls?: boolean;
}

export function systemPromptFor(opts: Pick<BuildOptions, 'toolMode' | 'systemPrompt' | 'cwd'>): string {
  let s = opts.systemPrompt ?? SYSTEM_PROMPT;
  if (opts.cwd) s += `\n\n## Environment\n- Your working directory is \`${opts.cwd}\`; relative paths in tools are relative to it. New sessions start there.`;
  if (opts.toolMode === 'text') s += TEXT_MODE_APPENDIX;
  return s;
}

export function taskMessage(task: string): string {
  return `\n<task_description>\n${task}\n</task_description>\n`;
}

export const realUser = (text: string): string => `<real_user>${text}</real_user>`;

function lineage(path: Step[], branchId?: string): Set<string> {
  const s = new Set(path.map((p) => p.branchId));
  if (branchId) s.add(branchId);
  return s;
}

function guidanceTexts(t: Trajectory, ids: string[], branches: Set<string>): string[] {
  const out: string[] = [];
  for (const id of ids) {
    const g = t.guidance.get(id);
    if (g && (!g.branchId || branches.has(g.branchId))) out.push(g.text);
  }
  return out;
}

/** Guidance delivered before the first step of this lineage, oldest first. */
function initialGuidance(t: Trajectory, branches: Set<string>): string[] {
  return [...t.guidance.values()]
    .filter((g) => g.delivered && g.delivered.stepId === null && (!g.branchId || branches.has(g.branchId)))
    .sort((a, b) => a.delivered!.at - b.delivered!.at || a.queuedAt - b.queuedAt)
    .map((g) => g.text);
}

/**
 * A call's arguments as later requests carry them (sanitized): the model's text when it
 * is a JSON object; "{}" for blank text, which means no arguments (the tool runner ran
 * the call with {}, and the exporter trains it: trainers and strict servers parse the
 * text as JSON, so "" would break them); anything else wrapped as {"invalid_arguments": …}.
 */
function wireArguments(s: string): string {
  if (blankArguments(s)) return '{}';
  try {
    const v = JSON.parse(s) as unknown;
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) return s;
  } catch {
    // not JSON
  }
  return JSON.stringify({ invalid_arguments: s });
}

interface Rendered {
  /** Null for an empty reply, which later requests do not carry (see assistantMessage). */
  assistant: ChatMessage | null;
  /** Tool results, then notes and guidance. */
  after: ChatMessage[];
}

function renderStep(t: Trajectory, step: Step, mode: ToolMode, branches: Set<string>, sanitize: boolean): Rendered | null {
  const r = step.response;
  const guidance = guidanceTexts(t, step.guidance, branches).map(realUser);
  if (!r) return null;
  const after: ChatMessage[] = [];
  const userParts: string[] = [];
  if (mode === 'tools') {
    const assistant = assistantMessage(step, mode, sanitize);
    const calls = assistant?.role === 'assistant' ? assistant.tool_calls ?? [] : [];
    const ids = new Set(calls.map((c) => c.id));
    const results = pairResults(calls, step.results);
    for (const [i, c] of calls.entries()) {
      const res = results[i];
      after.push({ role: 'tool', tool_call_id: c.id, content: res ? res.observation : 'Error: the action was interrupted before it returned a result.' });
    }
    for (const res of step.results) if (!ids.has(res.toolCallId)) userParts.push(res.observation);
    userParts.push(...guidance);
    if (userParts.length) after.push({ role: 'user', content: userParts.join('\n') });
    return { assistant, after };
  }
  for (const res of step.results) userParts.push(`Observation (${res.name || 'none'}):\n${res.observation}`);
  userParts.push(...guidance);
  if (userParts.length) after.push({ role: 'user', content: userParts.join('\n\n') });
  return { assistant: assistantMessage(step, mode, sanitize), after };
}

function textActionBlock(c: { name: string; arguments: string }): string {
  let args: unknown = c.arguments;
  try {
    args = blankArguments(c.arguments) ? {} : JSON.parse(c.arguments);
  } catch {
    // kept as the raw text
  }
  return `\`\`\`json\n${JSON.stringify({ name: c.name, arguments: args })}\n\`\`\``;
}

/** The latest summary on a path, with the steps it covers. */
export function latestSummary(path: Step[]): { step: Step; index: number; covered: Set<string> } | null {
  for (let i = path.length - 1; i >= 0; i--) {
    const s = path[i]!;
    if (s.summary) return { step: s, index: i, covered: new Set(s.summary.coveredStepIds) };
  }
  return null;
}

export function summaryMessage(summary: string, coveredSteps: number): string {
  return (
    `After the last action, I have also made ${coveredSteps} actions and got ${coveredSteps} observations.\n` +
    'However, the context about these actions and observations is too long, so I summarized them.\n' +
    'Here is the summary that may be useful in the future about these actions and observations:\n\n' +
    summary
  );
}

export function guidanceReminder(texts: string[]): string {
  return `The real user gave these instructions earlier; they still apply:\n${texts.map(realUser).join('\n')}`;
}

/** Messages with, for each, the step whose reply, results or guidance it carries (null: system, task, summary). */
export interface OwnedMessages {
  messages: ChatMessage[];
  owners: (string | null)[];
}

/**
 * Messages for a path of steps (root first). With `includeLast` false the last step
 * contributes only its summary: that is the prompt the last step was sent.
 */
export function messagesForPath(t: Trajectory, path: Step[], opts: BuildOptions & { includeLast?: boolean }): ChatMessage[] {
  return ownedMessagesForPath(t, path, opts).messages;
}

export function ownedMessagesForPath(t: Trajectory, path: Step[], opts: BuildOptions & { includeLast?: boolean }): OwnedMessages {
  const mode = opts.toolMode ?? 'tools';
  const sanitize = opts.sanitizeToolCalls ?? true;
  const branches = lineage(path, opts.branchId);
  const msgs: ChatMessage[] = [{ role: 'system', content: systemPromptFor(opts) }];
  const owners: (string | null)[] = [null];
  const push = (owner: string | null, ...m: ChatMessage[]) => {
    for (const x of m) {
      msgs.push(x);
      owners.push(owner);
    }
  };
  const initial = initialGuidance(t, branches);
  push(null, { role: 'user', content: taskMessage(opts.task) + (initial.length ? `\n${initial.map(realUser).join('\n')}` : '') });
  const body = opts.includeLast ? path : path.slice(0, -1);
  const sum = latestSummary(path);
  let rest = body;
  if (sum) {
    const covered = body.filter((s) => sum.covered.has(s.id));
    const kept = guidanceTexts(t, covered.flatMap((s) => s.guidance), branches);
    push(null, { role: 'assistant', content: summaryMessage(sum.step.summary!.text, covered.length) });
    push(null, { role: 'user', content: CONTINUE_AFTER_SUMMARY + (kept.length ? `\n\n${guidanceReminder(kept)}` : '') });
    rest = body.filter((s) => !sum.covered.has(s.id));
  }
  for (const step of rest) push(step.id, ...renderedStep(t, step, mode, branches, sanitize));
  return { messages: msgs, owners };
}

function renderedStep(t: Trajectory, step: Step, mode: ToolMode, branches: Set<string>, sanitize: boolean): ChatMessage[] {
  const r = renderStep(t, step, mode, branches, sanitize);
  if (r) return r.assistant ? [r.assistant, ...r.after] : r.after;
  // A step without a response (interrupted) still carries its guidance.
  const g = guidanceTexts(t, step.guidance, branches);
  return g.length ? [{ role: 'user', content: g.map(realUser).join('\n') }] : [];
}

/**
 * What one step adds to the context of the requests after it (its reply, results
 * and guidance), as the prompt builder renders it for `branchId`'s lineage.
 */
export function stepMessages(t: Trajectory, step: Step, mode: ToolMode, branchId: string, path: Step[]): ChatMessage[] {
  return renderedStep(t, step, mode, lineage(path, branchId), true);
}

/**
 * True for a reply with no text and no tool call (reasoning is never sent back, so a
 * reply of reasoning alone is empty too). OpenAI's and mistral's fine-tuning reject an
 * assistant turn like that, and it teaches nothing, so later requests leave it out:
 * the step carries only the nudge that answers it (and its guidance).
 */
export function emptyResponse(r: NonNullable<Step['response']>): boolean {
  return r.content === '' && r.toolCalls.length === 0;
}

/**
 * A step's reply as the context of later requests carries it (the training target of
 * that step); null with no reply, or an empty one (emptyResponse), which they do not carry.
 */
export function assistantMessage(step: Step, mode: ToolMode, sanitize = true): ChatMessage | null {
  const r = step.response;
  if (!r || emptyResponse(r)) return null;
  if (mode === 'text') {
    // A hand-written or human step has no text of its own: in a text-mode context it
    // reads as the fenced block the model would have written for it.
    if (r.content === '' && r.toolCalls.length) return { role: 'assistant', content: r.toolCalls.map(textActionBlock).join('\n') };
    return { role: 'assistant', content: r.content };
  }
  const calls = r.toolCalls.map((c) => ({
    id: c.id,
    type: 'function' as const,
    function: {
      name: sanitize && blankToolName(c.name) ? 'invalid_tool_call' : c.name,
      arguments: sanitize ? wireArguments(c.arguments) : c.arguments,
    },
  }));
  return calls.length ? { role: 'assistant', content: r.content || null, tool_calls: calls } : { role: 'assistant', content: r.content };
}

/** The prompt of step `stepId` (null: of a first step not started yet). */
export function buildMessages(t: Trajectory, stepId: string | null, opts: BuildOptions): ChatMessage[] {
  return messagesForPath(t, pathTo(t, stepId), { ...opts, includeLast: false });
}

export function buildOwnedMessages(t: Trajectory, stepId: string | null, opts: BuildOptions): OwnedMessages {
  return ownedMessagesForPath(t, pathTo(t, stepId), { ...opts, includeLast: false });
}

/** Rough token count: UTF-8 bytes / 4, plus a little per message. */
export function estimateTokens(messages: ChatMessage[], tools?: ToolSchema[]): number {
  let bytes = 0;
  for (const m of messages) {
    bytes += Buffer.byteLength(m.content ?? '', 'utf8') + 16;
    if (m.role === 'assistant' && m.tool_calls) for (const c of m.tool_calls) bytes += Buffer.byteLength(c.function.name + c.function.arguments, 'utf8') + 24;
  }
  if (tools) bytes += Buffer.byteLength(JSON.stringify(tools), 'utf8');
  return Math.ceil(bytes / 4);
}

/**
 * Tokens of the prompt of `stepId`. Uses the endpoint's reported usage of the latest
 * earlier step when no summary changed the context since, plus an estimate of what
 * was added after it; otherwise an estimate of the whole prompt.
 */
export function estimatePromptTokens(t: Trajectory, stepId: string, opts: BuildOptions, tools?: ToolSchema[]): number {
  const path = pathTo(t, stepId);
  const messages = messagesForPath(t, path, { ...opts, includeLast: false });
  const whole = estimateTokens(messages, tools);
  const sum = latestSummary(path);
  for (let i = path.length - 2; i >= 0; i--) {
    const u = path[i]!.response?.usage;
    if (!u || !u.promptTokens) continue;
    if (sum && sum.index > i) break; // the context changed after that request
    const mode = opts.toolMode ?? 'tools';
    const branches = lineage(path, opts.branchId);
    const sanitize = opts.sanitizeToolCalls ?? true;
    const tail: ChatMessage[] = [];
    const first = renderStep(t, path[i]!, mode, branches, sanitize);
    if (first) tail.push(...first.after);
    for (let j = i + 1; j < path.length - 1; j++) {
      const r = renderStep(t, path[j]!, mode, branches, sanitize);
      if (r) tail.push(...(r.assistant ? [r.assistant] : []), ...r.after);
    }
    return u.promptTokens + u.completionTokens + estimateTokens(tail);
  }
  return whole;
}
