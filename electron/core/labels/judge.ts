// LLM judge: asks a model behind any OpenAI-compatible endpoint whether each action
// of a branch should be trained on. Each action is shown in its context (the last N
// messages of the request the model answered, from the request record), the action,
// its observation, and any guidance the human gave right after it; several actions go
// in one request. The answer is JSON
//   {"results":[{"stepId","label":"keep"|"mask","tags":[…],"rationale"}]}
// and becomes `label.set` bodies with source 'judge'. The caller appends them.
//
// - Resumable: steps whose latest judge label is in force are skipped, so after a
//   failure the caller appends what came back and calls again.
// - Never touches annotator labels: steps an annotator labelled (and actions written
//   by a human) are skipped by default; a judge label could not override them anyway.
// - On a failure after retries (transport errors are retried by the SDK with backoff,
//   unparseable answers by us) the labels gathered so far come back with the error.
// - Secrets are redacted from the prompts (built-in patterns + `secrets`): the endpoint
//   may be remote. And from the errors: an endpoint's error can echo the request (the key,
//   an Authorization header, a prompt), and the error is shown, printed and kept.
import { ApolloError, type ApolloErrorShape } from '../../../shared/errors';
import { LABEL_TAGS, type LabelTag, type LabelValue, type SessionEventBody, type Usage, type WireMessage } from '../../../shared/events';
import { branchPath, type Step, type Trajectory } from '../../../shared/trajectory';
import { realUserText, textOf, wireToolCalls } from '../import/conversation';
import { requestForStep } from '../rollout/request-record';
import { labelUnder } from '../dataset/policy';
import { Redactor } from '../dataset/redact';
import { headAndTail } from '../dataset/secret-cut';
import type { SecretSpec } from '../dataset/key-fingerprint';

export interface JudgeEndpoint {
  baseURL: string;
  apiKey: string;
  model: string;
}

export interface JudgeOptions extends JudgeEndpoint {
  traj: Trajectory;
  branchId: string;
  /** Only these steps (default: every action on the branch path). */
  stepIds?: string[];
  /** Turns of context shown before each action (default 6). */
  contextTurns?: number;
  /** Actions per request (default 4). */
  batchSize?: number;
  /** Retries per request: transport errors (SDK, with backoff) and unusable answers (default 2). */
  maxRetries?: number;
  /** Per-request timeout in ms (default 120 000). */
  timeoutMs?: number;
  /** Characters kept of each shown message (head + tail), default 3000. */
  maxChars?: number;
  /** Skip steps an annotator labelled (default true). */
  skipAnnotated?: boolean;
  /** Label author (default `judge:<model>`). */
  author?: string;
  /** Exact values to redact from prompts (API keys). */
  secrets?: SecretSpec[];
  temperature?: number;
  /** Ask for `response_format: {type: "json_object"}` (not every server supports it). Default false. */
  jsonMode?: boolean;
  /** Extra rubric appended to the judge's instructions. */
  instructions?: string;
  signal?: AbortSignal;
  onProgress?(done: number, total: number): void;
}

export type JudgeLabel = Extract<SessionEventBody, { type: 'label.set' }>;

export interface JudgeResult {
  labels: JudgeLabel[];
  usage: Usage;
  /** Requests made. */
  requests: number;
  /** Steps skipped, with why. */
  skipped: Array<{ stepId: string; reason: 'judged' | 'annotated' | 'human-authored' }>;
  /** Steps still to judge (after an error or abort). */
  remaining: string[];
  error?: ApolloErrorShape;
}

export const JUDGE_SYSTEM_PROMPT = [
  'You review the actions of an AI agent that works through a real shell on a long research or engineering task.',
  'For each action decide whether it should be used as training data:',
  '- "keep": a reasonable, useful step given what the agent knew at that point;',
  '- "mask": a step a good agent would not take: an error it could have avoided, a redundant repetition,',
  '  drifting off the task or ignoring the human, something unsafe, or work the human later had to undo.',
  `Tags (zero or more): ${LABEL_TAGS.join(', ')}.`,
  'Messages wrapped in <real_user>…</real_user> come from the human supervising the agent; guidance the human gave',
  'right after an action is a strong hint that the action (or the ones before it) went wrong.',
  'Answer with JSON only, no prose: {"results":[{"stepId":"<id>","label":"keep"|"mask","tags":[...],"rationale":"<one or two sentences>"}]}',
  'with exactly one entry per action you were given.',
].join('\n');

/**
 * `message` as the judge may report it: an endpoint's error can echo what it was sent
 * (a key in the URL, the Authorization header, a prompt), and the caller shows, prints
 * or keeps the message. Redacted with the patterns, `secrets`, the endpoint's key and
 * the credentials in its URL (a `?key=` that no pattern would take for one).
 */
export function judgeErrorText(message: string, endpoint: Partial<Pick<JudgeEndpoint, 'baseURL' | 'apiKey'>>, secrets: readonly SecretSpec[] = []): string {
  return new Redactor([...secrets, ...(endpoint.apiKey ? [endpoint.apiKey] : []), ...urlCredentials(endpoint.baseURL)]).redact(message).text;
}

/** The password, and the values of parameters named like a credential, in an endpoint's URL. */
function urlCredentials(url: string | undefined): string[] {
  if (!url) return [];
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return [];
  }
  const out = [u.password, decodeURIComponent(u.password)];
  for (const [k, v] of u.searchParams) if (/key|token|secret|sig|auth|pass|code/i.test(k)) out.push(v);
  return out.filter((v) => v.length > 0);
}

/** Never cut through a secret: the prompt is redacted after it is rendered, and a piece of one is found by no rule (secret-cut.ts). */
function clip(s: string, max: number, secrets: readonly SecretSpec[]): string {
  const head = Math.floor(max * 0.6);
  return headAndTail(s, head, max - head, (n) => `\n[… ${n} characters elided …]\n`, secrets);
}

/** One message of the recorded request, as the judge is shown it. */
function renderWire(m: WireMessage, max: number, secrets: readonly SecretSpec[]): string {
  const text = textOf(m.content);
  switch (m.role) {
    case 'user':
      return `[${realUserText(text) !== null ? 'human guidance' : 'user'}]\n${clip(text, max, secrets)}`;
    case 'assistant': {
      const parts = ['[assistant]'];
      const reasoning = typeof m.reasoning_content === 'string' ? m.reasoning_content : typeof m.reasoning === 'string' ? m.reasoning : '';
      if (reasoning) parts.push(`(reasoning) ${clip(reasoning, max, secrets)}`);
      if (text) parts.push(clip(text, max, secrets));
      for (const c of wireToolCalls(m)) parts.push(`call ${c.name || '?'}(${clip(c.arguments, max, secrets)})`);
      return parts.join('\n');
    }
    case 'tool':
      return `[tool result${typeof m.name === 'string' ? `: ${m.name}` : ''}]\n${clip(text, max, secrets)}`;
    default:
      return `[${m.role}]\n${clip(text, max, secrets)}`;
  }
}

/**
 * The prompt section for one action. The context is the tail of the request that
 * produced the action (what the model saw, summaries included, from the request
 * record; older logs get the reconstruction marked as such), then the action, its
 * observations and the guidance the human gave right after it on this branch.
 */
export function renderAction(t: Trajectory, branchId: string, stepId: string, contextTurns: number, maxChars: number, secrets: readonly SecretSpec[] = []): string {
  const step = t.steps.get(stepId);
  const r = step?.response;
  if (!step || !r) throw new ApolloError('INTERNAL', `renderAction needs a step with a reply (${stepId})`);
  const out = [`### Action ${step.id}`];
  const request = requestForStep(t, step.id);
  if (request) {
    // The system prompt and the task are shown once for the whole request.
    const messages = request.body.messages;
    const firstUser = messages.findIndex((m) => m.role === 'user');
    const context = contextTurns > 0 ? messages.slice(firstUser + 1).slice(-contextTurns) : [];
    if (context.length > 0) {
      const source = request.source === 'recorded' ? 'as the model saw it' : 'reconstructed: this log predates the request record';
      out.push(`Context (the last ${context.length} message(s) of the request, ${source}):`, ...context.map((m) => renderWire(m, maxChars, secrets)));
    }
  } else {
    out.push('(No request was recorded for this action: it was replayed or imported without its context.)');
  }
  const head = [`[assistant, step ${step.id}]`];
  if (r.reasoning) head.push(`(reasoning) ${clip(r.reasoning, maxChars, secrets)}`);
  if (r.content) head.push(clip(r.content, maxChars, secrets));
  for (const c of r.toolCalls) head.push(`call ${c.name}(${clip(c.arguments, maxChars, secrets)})`);
  out.push('The action to judge:', head.join('\n'));
  for (const res of step.results) out.push(`[tool result: ${res.name}${res.isError ? ', error' : ''}]\n${clip(res.observation, maxChars, secrets)}`);
  const onPath = new Set([branchId, ...branchPath(t, branchId).map((s) => s.branchId)]);
  const after = step.guidance.map((id) => t.guidance.get(id)).filter((g) => g && (!g.branchId || onPath.has(g.branchId)));
  if (after.length > 0) out.push('What the human said right after:', ...after.map((g) => `[human guidance]\n${clip(g!.text, maxChars, secrets)}`));
  return out.join('\n\n');
}

interface Verdict {
  label: LabelValue;
  tags: LabelTag[];
  rationale: string;
}

/** Pull `{results:[…]}` (or a bare list) out of a model answer. */
export function parseVerdicts(text: string, wanted: ReadonlySet<string>): Map<string, Verdict> {
  const out = new Map<string, Verdict>();
  let body = text.trim().replace(/^```(?:json)?\s*/i, '').replace(/```\s*$/, '');
  const first = body.search(/[[{]/);
  if (first < 0) return out;
  body = body.slice(first);
  let v: unknown;
  try {
    v = JSON.parse(body);
  } catch {
    const last = Math.max(body.lastIndexOf('}'), body.lastIndexOf(']'));
    try {
      v = JSON.parse(body.slice(0, last + 1));
    } catch {
      return out;
    }
  }
  const list = Array.isArray(v) ? v : v && typeof v === 'object' ? (v as { results?: unknown }).results : undefined;
  if (!Array.isArray(list)) return out;
  for (const item of list) {
    if (!item || typeof item !== 'object') continue;
    const r = item as Record<string, unknown>;
    const id = typeof r.stepId === 'string' ? r.stepId : typeof r.step_id === 'string' ? r.step_id : typeof r.id === 'string' ? r.id : null;
    if (!id || !wanted.has(id) || out.has(id)) continue;
    const label = typeof r.label === 'string' ? r.label.toLowerCase().trim() : '';
    if (label !== 'keep' && label !== 'mask') continue;
    const tags = Array.isArray(r.tags) ? r.tags.filter((x): x is LabelTag => typeof x === 'string' && (LABEL_TAGS as readonly string[]).includes(x)) : [];
    const rationale = typeof r.rationale === 'string' ? r.rationale.slice(0, 2000) : '';
    out.set(id, { label, tags: [...new Set(tags)], rationale });
  }
  return out;
}

function latestJudge(step: Step): boolean {
  for (let i = step.labelHistory.length - 1; i >= 0; i--) {
    const l = step.labelHistory[i]!;
    if (l.source === 'judge') return l.rule !== '__cleared__';
  }
  return false;
}

export async function judgeBranch(o: JudgeOptions): Promise<JudgeResult> {
  const usage: Usage = { promptTokens: 0, completionTokens: 0, totalTokens: 0 };
  const labels: JudgeLabel[] = [];
  const skipped: JudgeResult['skipped'] = [];
  const author = o.author ?? `judge:${o.model}`;
  if (!o.traj.branches.has(o.branchId)) throw new ApolloError('NOT_FOUND', `No branch ${o.branchId}`);
  const path = branchPath(o.traj, o.branchId);
  const only = o.stepIds ? new Set(o.stepIds) : null;
  const todo: Array<{ stepId: string }> = [];
  for (const step of path) {
    if (!step.response || (only && !only.has(step.id))) continue;
    if (latestJudge(step)) skipped.push({ stepId: step.id, reason: 'judged' });
    else if ((o.skipAnnotated ?? true) && labelUnder(step, ['annotator'])) skipped.push({ stepId: step.id, reason: 'annotated' });
    else if (step.response.humanAuthored) skipped.push({ stepId: step.id, reason: 'human-authored' });
    else todo.push({ stepId: step.id });
  }
  const rootRollout = path[0] ? o.traj.rollouts.get(path[0].rolloutId) : undefined;
  const task = (rootRollout ?? [...o.traj.rollouts.values()].find((r) => r.branchId === o.branchId))?.task ?? '';

  const redactor = new Redactor(o.secrets ?? []);
  // Loaded here, not at the top: the SDK is a few hundred modules that every CLI command would otherwise parse at startup.
  const { default: OpenAI } = await import('openai');
  const client = new OpenAI({
    baseURL: o.baseURL, apiKey: o.apiKey || 'none', maxRetries: o.maxRetries ?? 2, timeout: o.timeoutMs ?? 120_000,
  });
  const batchSize = Math.max(1, Math.floor(o.batchSize ?? 4));
  const contextTurns = Math.max(0, Math.floor(o.contextTurns ?? 6));
  const maxChars = Math.max(200, Math.floor(o.maxChars ?? 3000));
  const system = o.instructions ? `${JUDGE_SYSTEM_PROMPT}\n\n${o.instructions}` : JUDGE_SYSTEM_PROMPT;
  const secrets = o.secrets ?? [];
  const taskText = redactor.redact(clip(task, maxChars * 2, secrets)).text;
  let requests = 0;
  let done = 0;
  let next = 0;
  o.onProgress?.(0, todo.length);

  const fail = (error: ApolloError): JudgeResult => ({
    labels, usage, requests, skipped, remaining: todo.slice(next).map((x) => x.stepId).filter((id) => !labels.some((l) => l.stepId === id)),
    error: { ...error.toJSON(), message: judgeErrorText(error.message, o, secrets) },
  });

  while (next < todo.length) {
    const batch = todo.slice(next, next + batchSize);
    let pending = batch;
    for (let attempt = 0; pending.length > 0; attempt++) {
      if (o.signal?.aborted) return fail(new ApolloError('CANCELLED', 'Judging cancelled'));
      if (attempt > (o.maxRetries ?? 2)) {
        return fail(new ApolloError('UNAVAILABLE', `The judge gave no usable verdict for ${pending.map((p) => p.stepId).join(', ')} after ${attempt} attempt(s)`));
      }
      const user = [
        `Task given to the agent:\n${taskText}`,
        ...pending.map((p) => redactor.redact(renderAction(o.traj, o.branchId, p.stepId, contextTurns, maxChars, secrets)).text),
        `Judge these ${pending.length} action(s): ${pending.map((p) => p.stepId).join(', ')}.`,
      ].join('\n\n');
      let text: string;
      try {
        requests++;
        const res = await client.chat.completions.create(
          {
            model: o.model,
            messages: [{ role: 'system', content: system }, { role: 'user', content: user }],
            temperature: o.temperature ?? 0,
            ...(o.jsonMode ? { response_format: { type: 'json_object' as const } } : {}),
          },
          { signal: o.signal },
        );
        if (res.usage) {
          usage.promptTokens += res.usage.prompt_tokens ?? 0;
          usage.completionTokens += res.usage.completion_tokens ?? 0;
          usage.totalTokens += res.usage.total_tokens ?? 0;
        }
        text = res.choices[0]?.message?.content ?? '';
      } catch (e) {
        if (o.signal?.aborted) return fail(new ApolloError('CANCELLED', 'Judging cancelled'));
        const err = e as Error & { status?: number };
        return fail(new ApolloError('UNAVAILABLE', `Judge request failed${err.status ? ` (HTTP ${err.status})` : ''}: ${err.message}`));
      }
      const verdicts = parseVerdicts(text, new Set(pending.map((p) => p.stepId)));
      for (const p of pending) {
        const v = verdicts.get(p.stepId);
        if (!v) continue;
        labels.push({ type: 'label.set', stepId: p.stepId, label: v.label, tags: v.tags, note: '', source: 'judge', author, rationale: v.rationale });
        done++;
      }
      pending = pending.filter((p) => !verdicts.has(p.stepId));
    }
    next += batch.length;
    o.onProgress?.(done, todo.length);
  }
  return { labels, usage, requests, skipped, remaining: [] };
}
