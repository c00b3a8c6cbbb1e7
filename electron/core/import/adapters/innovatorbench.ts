// InnovatorBench / ResearchGym node dumps: the agent saves every node of its context
// tree as <type>_<id>_<timestamp>.json: {id, parent_id, timestamp, node_type (root,
// react, summary, done), messages, response, source (generate | duplicate), depth,
// observation, action, summary_content?}. A react node's `messages` is the whole
// context it was sent (system, task, an optional <state_snapshot> summary, then the
// path's actions and results). It is not the whole request, though: the tool schemas
// the agent offered are not in the dump, so the context is 'derived' (the export says
// what it lacks), and in a single node file the requests of the steps before it are cuts
// of its context, which differed at least in the remaining time the task message stated.
//
// Messages are LLMMessage {role, content, reasoning, tool_call, tool_result}; they
// become OpenAI wire messages: a tool_call is an assistant turn with one call
// (arguments as JSON text), a tool_result a tool turn with that call id.
//
//   one node file   its step is the node's response, on its exact context; the
//                   actions in that context (after its summary, if any) become the
//                   steps before it, each with the prefix of that context as its
//                   request (the source keeps only the last request: earlier ones
//                   differed at least in the remaining time the task message states).
//   a folder        every react node is a step, linked by parent_id into a tree
//                   (siblings are branches). After a summary the agent copies the
//                   uncovered nodes under the summary node (source "duplicate"): those
//                   copies are the same actions, so they map onto the originals and the
//                   run continues on one line; the summary is recorded on the step it
//                   followed, covering the steps it replaced.
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import type { ToolCall, Usage, WireMessage } from '../../../../shared/events';
import { conversationSteps, realUserText, textOf } from '../conversation';
import { argsText, check, parseJson, pyJson, readUtf8, toMs } from '../source';
import { ImportError, type ImportAdapter, type ImportContext, type ImportInput, type RunIR, type StepIR } from '../types';

const ibCall = z.looseObject({ call_id: z.string().optional(), id: z.string().nullable().optional(), name: z.string(), arguments: z.unknown().optional() });
const ibResult = z.looseObject({ call_id: z.string().optional(), name: z.string().optional(), content: z.unknown().optional(), result: z.unknown().optional(), error: z.unknown().optional() });
const ibMessage = z.looseObject({
  role: z.string(),
  content: z.string().nullable().optional(),
  reasoning: z.string().nullable().optional(),
  tool_call: ibCall.nullable().optional(),
  tool_result: ibResult.nullable().optional(),
});
const ibUsage = z.looseObject({ input_tokens: z.number().optional(), output_tokens: z.number().optional(), total_tokens: z.number().optional() });
const ibResponse = z.looseObject({
  role: z.string().optional(),
  content: z.string().nullable().optional(),
  reasoning: z.string().nullable().optional(),
  usage: ibUsage.nullable().optional(),
  model: z.string().nullable().optional(),
  finish_reason: z.string().nullable().optional(),
  tool_calls: z.array(ibCall).nullable().optional(),
});
const ibNode = z.looseObject({
  id: z.string().min(1),
  parent_id: z.string().nullable(),
  timestamp: z.string().optional(),
  node_type: z.string(),
  messages: z.array(ibMessage).optional().default([]),
  response: ibResponse.nullable().optional(),
  source: z.string().optional(),
  depth: z.number().optional(),
  observation: z.unknown().optional(),
  action: z.looseObject({ call_id: z.string().optional(), action_type: z.string().optional(), thought: z.string().nullable().optional() }).nullable().optional(),
  summary_content: z.string().optional(),
});
type Node = z.infer<typeof ibNode> & { file: string };
type IbMessage = z.infer<typeof ibMessage>;

function callId(c: { call_id?: string; id?: string | null }, fallback: string): string {
  return c.call_id || c.id || fallback;
}

function resultText(r: z.infer<typeof ibResult>): string {
  if (r.content !== undefined && r.content !== null) return typeof r.content === 'string' ? r.content : pyJson(r.content);
  // Older dumps: result and error, joined as the agent's client sends them.
  const parts = [r.result, r.error].filter((x) => x !== undefined && x !== null && x !== '').map((x) => (typeof x === 'string' ? x : pyJson(x)));
  return parts.join('\n').trim();
}

/** An LLMMessage as the OpenAI wire message the agent's chat client sends for it. */
export function ibWire(m: IbMessage, i: number): WireMessage {
  if (m.tool_result) return { role: 'tool', tool_call_id: callId(m.tool_result, `call_${i}`), content: resultText(m.tool_result) };
  if (m.tool_call) {
    const c = m.tool_call;
    return { role: 'assistant', content: m.content || null, tool_calls: [{ id: callId(c, `call_${i}`), type: 'function', function: { name: c.name, arguments: argsText(c.arguments) } }] };
  }
  return { role: m.role, content: m.content ?? '' };
}

/** An assistant turn that carries a summary of earlier actions instead of an action. */
function isSummaryTurn(m: WireMessage): boolean {
  if (m.role !== 'assistant' || (Array.isArray(m.tool_calls) && m.tool_calls.length)) return false;
  const t = textOf(m.content);
  return t.includes('<state_snapshot>') || /^After the last action, I have also made \d+ actions/.test(t);
}

function usageOf(u: z.infer<typeof ibUsage> | null | undefined): Usage | null {
  if (!u || typeof u.input_tokens !== 'number') return null;
  const out = u.output_tokens ?? 0;
  return { promptTokens: u.input_tokens, completionTokens: out, totalTokens: u.total_tokens ?? u.input_tokens + out };
}

function responseCalls(r: z.infer<typeof ibResponse>, key: string): ToolCall[] {
  return (r.tool_calls ?? []).map((c, k) => ({ id: callId(c, `call_${key}_${k}`), name: c.name, arguments: argsText(c.arguments) }));
}

function observationText(o: unknown): string {
  return typeof o === 'string' ? o : o === undefined || o === null ? '' : pyJson(o);
}

function observationError(o: unknown): boolean {
  return !!o && typeof o === 'object' && (o as { success?: unknown }).success === false;
}

/**
 * Calls the agent made itself, not its model (InnovatorBench agents/agents/react_agent.py,
 * react_manager.py): when the context is due for a summary it writes a `summarize` call with
 * no model call (summarize is not among the tools it offers), and a reply with no call gets a
 * `null` call. A node whose reply is the first is not trained; the second is dropped from the
 * reply (which was its text alone), and stays, unowned, in the contexts after it.
 */
function withoutAgentCalls(step: StepIR): StepIR {
  if (step.toolCalls.some((c) => c.name === 'summarize')) {
    return { ...step, notTrained: 'not trained: the agent\'s own summarize call (react_agent.py writes it when the context is due for a summary; no model produced it)' };
  }
  const made = new Set(step.toolCalls.filter((c) => c.name === 'null').map((c) => c.id));
  if (!made.size) return step;
  return { ...step, toolCalls: step.toolCalls.filter((c) => !made.has(c.id)), results: step.results.filter((r) => !made.has(r.toolCallId)) };
}

/** The step of a node's own reply (its request set by the caller). */
function nodeStep(node: Node, key: string): StepIR | null {
  const r = node.response;
  if (!r) return null;
  const calls = responseCalls(r, key);
  const obs = node.observation;
  return {
    key, where: `node ${node.id}`, at: toMs(node.timestamp), content: r.content ?? '', reasoning: r.reasoning ?? '', toolCalls: calls,
    usage: usageOf(r.usage), finishReason: r.finish_reason ?? null, toolMode: 'tools',
    results: calls.length && obs !== undefined && obs !== null
      ? [{ toolCallId: calls[0]!.id, name: calls[0]!.name, observation: observationText(obs), isError: observationError(obs) }]
      : [],
  };
}

function taskOf(messages: readonly WireMessage[]): string {
  const u = textOf(messages.find((m) => m.role === 'user')?.content);
  const m = /<task_description>\n?([\s\S]*?)\n?<\/task_description>/.exec(u);
  return m ? m[1]! : u;
}

function looksLikeNode(text: string): boolean {
  return /"node_type"\s*:/.test(text) && /"parent_id"\s*:/.test(text);
}

export const innovatorBenchAdapter: ImportAdapter = {
  format: 'innovatorbench',
  description: 'InnovatorBench / ResearchGym node dumps (one node .json, or a folder of nodes)',
  detect(input) {
    const head = input.head.toString('utf8');
    if (!looksLikeNode(head)) return 0;
    if (input.isDir) return (input.files ?? []).some((f) => /\.json$/i.test(f)) ? 0.95 : 0;
    return 0.95;
  },
  read: (input, ctx) => (input.isDir ? readFolder(input, ctx) : readOne(input, ctx)),
};

async function readNode(path: string, file: string): Promise<Node> {
  const raw = parseJson(await readUtf8(path, file), file);
  return { ...check(ibNode, raw, file, null, 'an InnovatorBench node ({id, parent_id, node_type, messages, response, ...})'), file };
}

async function readOne(input: ImportInput, ctx: ImportContext): Promise<RunIR[]> {
  const node = await readNode(input.path, input.name);
  ctx.progress(input.size);
  if (!node.response) throw new ImportError(input.name, `node ${node.id}`, 'has no response: there is no step to import');
  const wire = node.messages.map(ibWire);
  const final = withoutAgentCalls(nodeStep(node, 'node')!);
  const conv = conversationSteps(wire, { toolMode: 'tools', where: (i) => `node ${node.id}, messages[${i}]`, isStep: (m) => !isSummaryTurn(m), keyPrefix: 'h' });
  const summary = wire.find(isSummaryTurn);
  // After a summary the agent copies the nodes it did not cover under it (react_agent.py):
  // those actions were produced on the whole history before the summary, which this file
  // does not hold, so the steps before this node are context here, not trained.
  // The task message states the working time left (react_manager.py): each earlier request
  // stated its own, which this file does not hold, so a cut of this context is not one.
  const timed = wire.some((m) => m.role === 'user' && /<remaining_working_time>/.test(textOf(m.content)));
  conv.steps = conv.steps.map((st) => {
    const own = withoutAgentCalls(st);
    if (own.notTrained) return own;
    if (summary) return { ...own, notTrained: 'not trained: in a context after a summary, it may be a copy of an action the model took before it, on a context this file does not hold (import the folder of nodes)' };
    if (timed) return { ...own, notTrained: 'not trained: its request stated the working time left at that moment, which this file does not hold (its context here is the last node\'s, cut before it, with the last node\'s time; import the folder of nodes)' };
    return own;
  });
  const owners = conv.steps.length ? wireOwners(wire, conv.steps) : wire.map(() => null);
  final.request = { messages: wire, owners };
  const notes: string[] = [];
  if (conv.steps.length) {
    notes.push(`Only the last step (node ${node.id}, depth ${node.depth ?? '?'}) has its own request in this file; the ${conv.steps.length} steps before it are the actions in its context, and their requests are that context cut before each (the agent's task message also stated the remaining time, which differed).`);
  }
  if (summary) notes.push(`The context begins with a summary of earlier actions that are not in this file (the ${conv.steps.length} steps after it are not trained: some are the agent's copies of actions taken before the summary):\n${textOf(summary.content)}`);
  if (node.parent_id) notes.push(`Node ${node.id} follows node ${node.parent_id}, which is not in this file: import the folder of nodes to get the whole tree.`);
  return [{
    name: `${input.name.replace(/\.json$/i, '')}`, task: taskOf(wire), model: node.response.model ?? undefined, config: configOf(node),
    context: 'derived', steps: [...conv.steps, final], initialGuidance: conv.initialGuidance, toolVersion: `node dump (${node.node_type})`,
    end: { state: 'stopped', reason: 'one node of a longer run' }, notes, unknown: [],
  }];
}

function configOf(node: Node): Record<string, unknown> {
  const model = node.response?.model;
  // The tool schemas the agent offered are not in the dump.
  return { ...(model ? { model } : {}), tools: [] };
}

/** For each message: the step whose reply or results it carries (by call id, then by position). */
function wireOwners(wire: readonly WireMessage[], steps: readonly StepIR[], byCall?: Map<string, string>): (string | null)[] {
  const calls = byCall ?? new Map(steps.flatMap((s) => s.toolCalls.map((c) => [c.id, s.key] as const)));
  let cur: string | null = null;
  return wire.map((m) => {
    if (m.role === 'assistant' && Array.isArray(m.tool_calls) && m.tool_calls.length) {
      const id = (m.tool_calls[0] as { id?: string }).id;
      cur = (id && calls.get(id)) ?? null;
      return cur;
    }
    if (m.role === 'assistant') {
      cur = null; // a summary turn: the head
      return null;
    }
    return m.role === 'system' ? null : cur;
  });
}

async function readFolder(input: ImportInput, ctx: ImportContext): Promise<RunIR[]> {
  const files = (input.files ?? (await readdir(input.path))).filter((f) => /\.json$/i.test(f));
  const nodes = new Map<string, Node>();
  let bytes = 0;
  for (const f of files) {
    const text = await readUtf8(join(input.path, f), f);
    bytes += text.length;
    ctx.progress(bytes);
    if (!looksLikeNode(text.slice(0, 64 * 1024))) continue; // other files of the run (configs, logs)
    const n = { ...check(ibNode, parseJson(text, `${input.name}/${f}`), `${input.name}/${f}`, null, 'an InnovatorBench node'), file: f };
    const seen = nodes.get(n.id);
    // The agent rewrites a node's file as it fills in; keep the most complete copy.
    if (!seen || (!seen.response && n.response) || (!seen.observation && n.observation)) nodes.set(n.id, n);
  }
  if (!nodes.size) throw new ImportError(input.name, null, 'holds no InnovatorBench node files');
  for (const n of nodes.values()) {
    if (n.parent_id && !nodes.has(n.parent_id)) throw new ImportError(`${input.name}/${n.file}`, `node ${n.id}`, `its parent node ${n.parent_id} is not in the folder`);
  }
  // In creation order, which puts parents first (a node is made after its parent);
  // a child whose clock says otherwise waits for its parent.
  const byTime = [...nodes.values()].sort((a, b) => (toMs(a.timestamp) ?? 0) - (toMs(b.timestamp) ?? 0) || (a.depth ?? 0) - (b.depth ?? 0));
  const ordered: Node[] = [];
  const done = new Set<string>();
  const waiting = new Map<string, Node[]>();
  const place = (n: Node): void => {
    ordered.push(n);
    done.add(n.id);
    for (const c of waiting.get(n.id) ?? []) place(c);
    waiting.delete(n.id);
  };
  for (const n of byTime) {
    if (!n.parent_id || done.has(n.parent_id)) place(n);
    else waiting.set(n.parent_id, [...(waiting.get(n.parent_id) ?? []), n]);
  }
  if (waiting.size) {
    const n = [...waiting.values()][0]![0]!;
    throw new ImportError(`${input.name}/${n.file}`, `node ${n.id}`, 'its parent links form a cycle');
  }

  const root = ordered.find((n) => n.node_type === 'root');
  const rootTask = root && root.observation && typeof root.observation === 'object' ? (root.observation as { message?: unknown }).message : undefined;
  // Step key of each node (a duplicate, a summary or the root maps onto another node's step or the start).
  const alias = new Map<string, string | null>();
  const byCall = new Map<string, string>();
  const steps: StepIR[] = [];
  const notes: string[] = [];
  const summaries: Node[] = [];
  let lastGenerated: { key: string; at: number } | null = null;
  const parentKey = (n: Node): string | null => (n.parent_id ? (alias.get(n.parent_id) ?? null) : null);

  for (const n of ordered) {
    if (n.node_type === 'root' || !n.response) {
      alias.set(n.id, parentKey(n));
      if (n.node_type !== 'root' && n.node_type !== 'done') notes.push(`Node ${n.id} (${n.node_type}) has no response; its children follow its parent.`);
      continue;
    }
    if (n.node_type === 'summary') {
      // The summary follows the latest action taken before it (its parent is where the
      // summarized part began, not where it ended).
      const at = toMs(n.timestamp) ?? 0;
      const before = steps.filter((s) => (s.at ?? 0) <= at).at(-1);
      alias.set(n.id, before?.key ?? parentKey(n));
      summaries.push(n);
      continue;
    }
    const firstCall = n.response.tool_calls?.[0];
    const original = firstCall ? byCall.get(callId(firstCall, '')) : undefined;
    if (n.source === 'duplicate' && original) {
      alias.set(n.id, original);
      continue;
    }
    const key = n.id;
    const step = withoutAgentCalls(nodeStep(n, key)!);
    step.parent = parentKey(n);
    const wire = n.messages.map(ibWire);
    for (const c of step.toolCalls) byCall.set(c.id, key);
    step.request = { messages: wire, owners: wireOwners(wire, steps, byCall) };
    steps.push(step);
    alias.set(n.id, key);
    const at = step.at ?? 0;
    if (!lastGenerated || at >= lastGenerated.at) lastGenerated = { key, at };
  }
  // Summaries: on the step they followed, covering the steps their copies did not keep.
  for (const s of summaries) {
    const on = alias.get(s.id);
    const step = on ? steps.find((x) => x.key === on) : undefined;
    if (!step) {
      notes.push(`Summary node ${s.id} comes before any action; its summary is not attached to a step:\n${s.summary_content ?? s.response?.content ?? ''}`);
      continue;
    }
    const kept = new Set(ordered.filter((n) => n.source === 'duplicate' && isUnder(n, s.id, nodes)).map((n) => alias.get(n.id)));
    const path: string[] = [];
    for (let k: string | null | undefined = on; k; k = steps.find((x) => x.key === k)?.parent ?? null) path.unshift(k);
    const text = s.summary_content || s.response?.content || textOf(s.response?.tool_calls?.[0]?.arguments);
    const wire = s.messages.map(ibWire);
    step.summary = { text, covered: path.filter((k) => !kept.has(k)), ...(wire.length ? { request: { messages: wire, owners: wireOwners(wire, steps, byCall) } } : {}) };
  }
  // A person's <real_user> turn in a node's context is guidance after the step it follows.
  const keyed = new Map(steps.map((s) => [s.key, s]));
  for (const st of steps) {
    const req = st.request!;
    req.messages.forEach((m, i) => {
      const owner = req.owners[i];
      const text = m.role === 'user' && owner ? realUserText(textOf(m.content)) : null;
      const target = owner ? keyed.get(owner) : undefined;
      if (text !== null && target && !(target.guidance ?? []).includes(text)) (target.guidance ??= []).push(text);
    });
  }
  const first = ordered.find((n) => n.messages.length);
  const task = typeof rootTask === 'string' ? rootTask : taskOf(first ? first.messages.map(ibWire) : []);
  const model = steps.length ? ordered.find((n) => n.response?.model)?.response?.model ?? undefined : undefined;
  return [{
    name: input.name, task, model, config: { ...(model ? { model } : {}), tools: [] }, context: 'derived', steps,
    toolVersion: 'node dump (folder)', end: { state: 'stopped', reason: 'imported node dump' }, notes, unknown: [],
  }];
}

function isUnder(n: Node, ancestor: string, nodes: Map<string, Node>): boolean {
  const seen = new Set<string>();
  for (let p = n.parent_id; p && !seen.has(p); p = nodes.get(p)?.parent_id ?? null) {
    if (p === ancestor) return true;
    seen.add(p);
  }
  return false;
}
