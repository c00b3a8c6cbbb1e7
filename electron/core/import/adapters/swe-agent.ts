// SWE-agent trajectories (.traj): {trajectory, history, info, environment,
// replay_config?}. The steps are `trajectory` (action, observation, response,
// thought, state, execution_time); the context is, in order of preference:
//   - the step's own `query` (1.1 and later: agents.py forward, `step.query =
//     copy.deepcopy(history)`, the history after its processors): the exact messages
//     sent, once made the messages SWE-agent's model sends (below);
//   - the `messages` stored with the step before (1.0: step() sends `self.messages`, then
//     add_step_to_trajectory stores `self.messages` after add_step_to_history, so the
//     step before's are what this step was sent, the processors' view included); the
//     first step's own messages cut before its reply, derived; a step answering a retry
//     is not trained (its request held the rejected reply and the error);
//   - otherwise the `history` up to that step's assistant turn (0.x, and 1.x logs
//     without queries or messages): derived, and a step is not trained once the history
//     processors would have changed it (last_n_observations as replay_config lists it;
//     0.x, which does not record it: its default config's last 5), nor under any other
//     processor that changes the text.
// SWE-agent's own exit (an exit_* action, an "Exit due to …" reply) is not trained, and a
// step that queried nothing (the default query [{}], an autosubmission) has no query.
// History items become wire messages as models.py _history_to_messages sends them: role
// (a system turn as a user turn with the model's convert_system_to_user) and content,
// tool_calls on assistant turns, tool_call_ids[0] as a tool turn's tool_call_id; nothing
// else of the item (agent, message_type, thought, action). Demonstrations (is_demo) are
// part of the prompt and stay in it.
//
// A reply SWE-agent rejected (a format error, a blocked or malformed command:
// handle_error_with_retry adds it to the trajectory with no action, then asks again with
// the history plus that reply and the error) is a step of its own: not trained, matched
// to no reply of the history, and the owner of that reply in the retry's query only.
//
// A step's reply is the model's output as the trajectory has it: `response` and, with
// function calling (1.x), the tool call of its history turn. With text actions (0.x)
// the action is in the response itself, and the step's `bash` call is only how this app
// records a text action. A function-calling step whose history turn is missing (the
// final submit often is) or has no call has no model call on record: its action is
// kept as the step's result, with no call made up for it, and it is not trained.
import { z } from 'zod';
import type { ToolCall, WireMessage } from '../../../../shared/events';
import { textOf, wireToolCalls } from '../conversation';
import { check, readJsonFile } from '../source';
import type { ImportAdapter, RunIR, StepIR } from '../types';
import { endState } from './mini-swe-agent';

const historyItem = z.looseObject({
  role: z.string(),
  content: z.unknown().optional(),
  tool_calls: z.array(z.unknown()).nullable().optional(),
  tool_call_ids: z.array(z.string()).nullable().optional(),
  tool_call_id: z.string().optional(),
  is_demo: z.boolean().optional(),
  agent: z.string().optional(),
});
const step = z.looseObject({
  action: z.string().nullable().optional(),
  observation: z.unknown().optional(),
  response: z.string().nullable().optional(),
  thought: z.string().nullable().optional(),
  execution_time: z.number().nullable().optional(),
  state: z.unknown().optional(),
  // StepOutput.query defaults to [{}] (types.py): a step that queried nothing (autosubmission).
  query: z.array(z.unknown()).optional(),
  messages: z.array(historyItem).optional(),
});
const traj = z.looseObject({
  trajectory: z.array(step),
  history: z.array(historyItem).optional(),
  environment: z.string().optional(),
  info: z.looseObject({
    exit_status: z.string().nullable().optional(),
    submission: z.string().nullable().optional(),
    swe_agent_version: z.string().optional(),
    model_stats: z.looseObject({ tokens_sent: z.number().optional(), tokens_received: z.number().optional(), api_calls: z.number().optional() }).optional(),
  }).optional(),
  replay_config: z.unknown().optional(),
});

type History = z.infer<typeof historyItem>;

/** A step's query as history items; none for the default [{}] of a step that sent nothing. */
function queryOf(q: unknown[] | undefined, file: string, n: number): History[] | undefined {
  if (!q || q.every((x) => !x || typeof x !== 'object' || !('role' in x))) return undefined;
  return q.map((x, i) => check(historyItem, x, file, `trajectory[${n}].query[${i}]`, 'a history item ({role, content, ...})'));
}

/** SWE-agent's own exit actions and messages (agents.py: exit_cost, exit_context, exit_format, …; "Exit due to …"). */
function exitOf(action: string, response: string | null | undefined): string | null {
  if (/^exit_[a-z_]+$/.test(action.trim())) return action.trim();
  if (!action.trim() && /^Exit due to /.test(response ?? '')) return (response ?? '').split('\n')[0]!.slice(0, 120);
  return null;
}

/**
 * How many of the history's observations (non-demo user turns after the first) reach the
 * model unchanged: SWE-agent's history processors put "Old output omitted" in the place of
 * older ones (last_n_observations; 0.x's default config: the last 5). Infinity when none
 * changes what the model reads (cache_control, none); null when one does, but not so.
 */
function observationsKept(rc: Record<string, unknown> | null): number | null {
  if (!rc) return 5;
  const hp = (rc.agent as { history_processors?: unknown } | undefined)?.history_processors;
  if (!Array.isArray(hp)) return Infinity;
  let kept = Infinity;
  for (const p of hp as Array<{ type?: unknown; n?: unknown }>) {
    if (p?.type === 'cache_control') continue;
    if (p?.type === 'last_n_observations' && typeof p.n === 'number') kept = Math.min(kept, p.n);
    else return null;
  }
  return kept;
}

function toWire(h: History, systemAsUser = false): WireMessage {
  const m: WireMessage = { role: h.role === 'system' && systemAsUser ? 'user' : h.role, content: h.content ?? '' };
  if (h.tool_calls?.length) m.tool_calls = h.tool_calls;
  if (h.role === 'tool' && h.tool_call_ids?.length) m.tool_call_id = h.tool_call_ids[0];
  else if (h.role === 'tool' && h.tool_call_id) m.tool_call_id = h.tool_call_id;
  return m;
}


function stateOf(v: unknown): Record<string, unknown> {
  if (typeof v === 'string') {
    try {
      const o = JSON.parse(v) as unknown;
      return o && typeof o === 'object' ? (o as Record<string, unknown>) : {};
    } catch {
      return {};
    }
  }
  return v && typeof v === 'object' ? (v as Record<string, unknown>) : {};
}

function replayConfig(v: unknown): Record<string, unknown> | null {
  if (typeof v === 'string') {
    try {
      return JSON.parse(v) as Record<string, unknown>;
    } catch {
      return null;
    }
  }
  return v && typeof v === 'object' ? (v as Record<string, unknown>) : null;
}

export const sweAgentAdapter: ImportAdapter = {
  format: 'swe-agent',
  description: 'SWE-agent .traj (0.x and 1.x)',
  detect(input) {
    if (input.isDir) return 0;
    const head = input.head.toString('utf8');
    const ends = head + input.tail.toString('utf8');
    if (!/"trajectory"\s*:\s*\[/.test(ends)) return 0;
    if (/"history"\s*:\s*\[/.test(ends) && /"(action|observation|thought)"\s*:/.test(ends)) return /\.traj$/i.test(input.name) ? 0.95 : 0.85;
    return /\.traj$/i.test(input.name) ? 0.6 : 0;
  },
  async read(input, ctx) {
    const raw = await readJsonFile(input.path, input.name);
    ctx.progress(input.size);
    const t = check(traj, raw, input.name, null, 'a SWE-agent trajectory ({trajectory, history, info})');
    const rc = replayConfig(t.replay_config);
    const agent = (rc?.agent ?? {}) as { model?: { name?: string; model_name?: string; convert_system_to_user?: boolean } };
    const model = agent.model?.name ?? agent.model?.model_name;
    const systemAsUser = agent.model?.convert_system_to_user === true;
    const history = t.history ?? [];
    const wire = history.map((h) => toWire(h, systemAsUser));
    const replies = history.map((h, i) => ({ h, i })).filter((x) => x.h.role === 'assistant' && !x.h.is_demo);
    const tools = history.some((h) => h.role === 'assistant' && (h.tool_calls?.length ?? 0) > 0);
    const notes: string[] = [];
    const queries = t.trajectory.map((s, n) => queryOf(s.query, input.name, n));
    const kept = observationsKept(rc);
    /** Non-demo user turns of the history before each index (the task, then observations). */
    const usersBefore = [0];
    for (const h of history) usersBefore.push(usersBefore.at(-1)! + (h.role === 'user' && !h.is_demo ? 1 : 0));
    // More model calls than replies: some were retries after a format error (0.x
    // retry_after_format_fail), each sent the history plus the bad reply and the error, and
    // the reply after it answered that. Without queries nothing says which step it was.
    const calls = t.info?.model_stats?.api_calls;
    const replyCount = t.trajectory.filter((s) => !exitOf(s.action ?? '', s.response)).length;
    const hiddenRetries = t.trajectory.every((s) => !s.query && !s.messages) && typeof calls === 'number' && calls > replyCount ? calls - replyCount : 0;
    // Rejected replies (see the header): no action, and the next step's query ends with the
    // reply and the error it was answered with; without queries, no action and nothing observed
    // before a later step (every step that ran has its action; the retry may repeat the text).
    // With function calling an observation is a tool turn, so a next query ending with the
    // reply and a user turn is a retry even when the reply had an action: SWE-agent blocked it
    // or found its command malformed (agents.py _BlockedActionError, a bash syntax error), and
    // it never ran. With text actions an observation is a user turn too: only a step with no
    // action can be told rejected.
    const rejected = t.trajectory.map((s, n) => {
      if (n === t.trajectory.length - 1) return false;
      const q = queries[n + 1];
      if (s.action?.trim() && !(tools && q)) return false;
      if (q) {
        const [a, u] = q.slice(-2);
        return a?.role === 'assistant' && u?.role === 'user' && textOf(a.content) === (s.response ?? '');
      }
      return !textOf(s.observation).trim();
    });
    const nRejected = rejected.filter(Boolean).length;
    if (nRejected) notes.push(`${nRejected} reply(ies) SWE-agent rejected and asked again for (a format error, a blocked or malformed command) are steps of their own, not trained.`);
    // Each step's reply in the history, matched in order by its action or text. Steps
    // after the last reply the history kept (the final submit is often missing) were
    // sent the whole history.
    const matchOf: Array<{ h: History; i: number } | 'end' | null> = [];
    let next = 0;
    for (const [n, s] of t.trajectory.entries()) {
      if (rejected[n]) {
        matchOf.push(null);
        continue;
      }
      let found: number | null = null;
      for (let j = next; j < replies.length; j++) {
        const h = replies[j]!.h as History & { action?: unknown; thought?: unknown };
        if ((s.action && h.action === s.action) || (s.response && textOf(h.content) === s.response) || (s.thought && h.thought === s.thought)) {
          found = j;
          break;
        }
      }
      if (found !== null) {
        matchOf.push(replies[found]!);
        next = found + 1;
      } else matchOf.push(next >= replies.length ? 'end' : null);
    }
    const unmatched = matchOf.filter((m, n) => m === null && !rejected[n]).length;
    if (unmatched) notes.push(`${unmatched} step(s) of the trajectory could not be matched to a reply in the history; they have no recorded context.`);
    let exact = t.trajectory.length > 0;
    let messagesAfter = false;
    /** The history items each step's request was made of (for its owners and demonstrations). */
    const requestItems = new Map<number, History[]>();
    let cwd: string | undefined;
    const steps: StepIR[] = t.trajectory.map((s, n): StepIR => {
      const where = `trajectory[${n}]`;
      const key = `s${n}`;
      const m = matchOf[n];
      const reply = m && m !== 'end' ? m : undefined;
      const content = s.response ?? (reply ? textOf(reply.h.content) : '');
      // The step's own query may end with its reply (its text, its call): the model's
      // output for a step the history does not hold.
      const query = queries[n];
      const after = query ? undefined : s.messages;
      const own = (query ?? after)?.map((h) => toWire(h, systemAsUser));
      // Its own reply: the query's last turn, or the last assistant turn of 1.0's messages.
      let ownAt = own ? own.length - 1 : -1;
      if (after) while (ownAt >= 0 && own![ownAt]!.role !== 'assistant') ownAt--;
      const ownLast = own && ownAt >= 0 ? own[ownAt]! : undefined;
      const ownReply = ownLast?.role === 'assistant' && textOf(ownLast.content) === (reply ? textOf(reply.h.content) : content) ? ownLast : undefined;
      let calls: ToolCall[] = reply && reply.h.tool_calls?.length ? wireToolCalls(toWire(reply.h)) : [];
      if (!calls.length && ownReply && Array.isArray(ownReply.tool_calls) && ownReply.tool_calls.length) calls = wireToolCalls(ownReply);
      const action = s.action?.trim() ? s.action.replace(/\n$/, '') : '';
      // No call of the model's for an action that ran (see the header).
      let untrained: string | null = rejected[n] ? 'a reply SWE-agent rejected and asked the model again for' : null;
      const exit = exitOf(s.action ?? '', s.response);
      if (exit) untrained = `SWE-agent's own exit (${exit}), not a reply of the model's`;
      if (!calls.length && action && !exit && !rejected[n]) {
        if (tools) untrained = `the trajectory does not hold the model's tool call for the action ${JSON.stringify(action.slice(0, 200))}`;
        else {
          calls = [{ id: `call_${n}`, name: 'bash', arguments: JSON.stringify({ command: action }) }];
          // A text step is trained as its text: with none, nothing the model wrote is on record.
          if (!content) untrained = `the trajectory does not hold the model's text for the action ${JSON.stringify(action.slice(0, 200))}`;
        }
      }
      const st = stateOf(s.state);
      if (typeof st.working_dir === 'string') cwd = st.working_dir;
      const observation = typeof s.observation === 'string' ? s.observation : JSON.stringify(s.observation ?? '');
      // A rejected reply's action (blocked, malformed) never ran.
      const ran = !rejected[n] && (calls.length > 0 || !!action);
      const out: StepIR = {
        key, where, content, toolCalls: calls, toolMode: tools ? 'tools' : 'text',
        // The action's result; with no call on record it answers none.
        results: ran ? [{ toolCallId: calls[0]?.id ?? '', name: calls[0]?.name ?? '', observation, isError: /^(error|traceback|usage:)/im.test(observation.slice(0, 200)), ...(typeof s.execution_time === 'number' ? { durationMs: s.execution_time * 1000 } : {}) }] : [],
        ...(untrained ? { notTrained: `not trained: ${untrained}` } : {}),
      };
      if (untrained && !rejected[n]) notes.push(`${where}: ${untrained}; the step keeps the action's result and is not trained.`);
      if (own?.length && query) {
        // What the model was sent for this step, verbatim; its own reply may close it.
        const end = ownReply ? own.length - 1 : own.length;
        out.request = { messages: own.slice(0, end), owners: own.slice(0, end).map(() => null) };
        requestItems.set(n, query.slice(0, end));
      } else if (after && n > 0 && t.trajectory[n - 1]!.messages && !rejected[n]) {
        // 1.0: the messages stored with the step before are what this step was sent
        // (step() passes self.messages to the model, then stores them with the step);
        // after a rejected reply it was sent those plus that reply and the error, not here.
        const prev = t.trajectory[n - 1]!.messages!;
        out.request = { messages: prev.map((h) => toWire(h, systemAsUser)), owners: prev.map(() => null) };
        requestItems.set(n, prev);
        if (rejected[n - 1] && !untrained) untrained = 'it answered a retry, whose request held the rejected reply and the error, which the trajectory does not keep';
      } else if (own?.length && after && !rejected[n]) {
        // 1.0's first step: its messages after it, up to its own reply, derived.
        exact = false;
        const end = ownReply ? ownAt : own.length;
        out.request = { messages: own.slice(0, end), owners: own.slice(0, end).map(() => null) };
        requestItems.set(n, after.slice(0, end));
        if (ownReply) messagesAfter = true;
      } else if (m) {
        exact = false;
        const upto = m === 'end' ? wire.length : m.i;
        out.request = { messages: wire.slice(0, upto), owners: ownersBefore(matchOf.map((x) => (x && x !== 'end' ? x.i : -1)), upto) };
        // The history is kept whole; the model was sent it through the history processors.
        const observations = usersBefore[upto]! - 1;
        if (!untrained && hiddenRetries) {
          untrained = `the run made ${hiddenRetries} model call(s) more than the replies it kept (retries after a format error, sent the history with the rejected reply and the error), and the trajectory does not say which steps answered one`;
        }
        if (!untrained && (kept === null ? observations > 0 : observations > kept)) {
          untrained = kept === null
            ? 'the run\'s history processors changed what the model was sent, and the trajectory keeps only the history they ran over'
            : `the model was sent only the last ${kept} of the ${observations} observations in full (SWE-agent's history processor; the older ones read "Old output omitted"), and the trajectory keeps them whole`;
        }
      } else exact = false;
      if (untrained && !out.notTrained) out.notTrained = `not trained: ${untrained}`;
      return out;
    });
    if (messagesAfter) notes.push('SWE-agent 1.0 records each step\'s messages after the step (its own reply and observation, the history processors run over them): each step\'s context is those messages up to its own reply, derived, not exact.');
    // Owners of queries and messages: their assistant turns are the replies of the steps
    // before that were kept, in order; the reply a retry's query ends with is the rejected step's.
    for (const [n, s] of steps.entries()) {
      const items = requestItems.get(n);
      if (!s.request || !items) continue;
      const kept = steps.slice(0, n).map((_, k) => k).filter((k) => !rejected[k]);
      const retryOf = n > 0 && rejected[n - 1] ? items.length - 2 : -1;
      let k = -1;
      let owner: string | null = null;
      s.request.owners = items.map((h, i) => {
        if (h.role === 'assistant' && !h.is_demo) {
          if (i === retryOf) owner = `s${n - 1}`;
          else if (k + 1 < kept.length) owner = `s${kept[++k]!}`;
        }
        return owner;
      });
    }
    const info = t.info ?? {};
    if (info.submission) notes.push(`Submission (${info.exit_status ?? 'no exit status'}):\n${info.submission}`);
    if (tools) notes.push('The schemas of the SWE-agent tools are not in the trajectory; exported requests list no tools.');
    const version = info.swe_agent_version ?? (rc ? '1.x' : '0.x');
    const task = textOf(history.find((h) => h.role === 'user' && !h.is_demo)?.content);
    const run: RunIR = {
      name: input.name.replace(/\.traj$/i, ''), task, model, sourceCwd: cwd,
      config: { ...(model ? { model } : {}), ...(tools ? { tools: [] } : {}) },
      context: steps.some((s) => s.request) ? (exact ? 'exact' : 'derived') : 'none', steps,
      toolVersion: `SWE-agent ${version}`, end: endState(info.exit_status), notes, unknown: [],
    };
    if (info.model_stats?.tokens_sent !== undefined) {
      notes.push(`Model stats: ${info.model_stats.api_calls ?? '?'} calls, ${info.model_stats.tokens_sent} tokens sent, ${info.model_stats.tokens_received ?? '?'} received.`);
    }
    return [run];
  },
};

/** For each history message before `upto`: the step of the latest reply at or before it (null before the first). */
function ownersBefore(replyOfStep: readonly number[], upto: number): (string | null)[] {
  const stepAt = new Map(replyOfStep.map((i, n) => [i, n] as const).filter(([i]) => i >= 0));
  const out: (string | null)[] = [];
  let cur: string | null = null;
  for (let i = 0; i < upto; i++) {
    const n = stepAt.get(i);
    if (n !== undefined) cur = `s${n}`;
    out.push(cur);
  }
  return out;
}
