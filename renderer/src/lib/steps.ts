// One-line summaries of trajectory steps for lists.
import type { Step } from '../../../shared/trajectory';
import { formatDuration, truncate } from './format';

/** Argument keys that best describe an action, in order of preference. */
const SUMMARY_KEYS = ['command', 'cmd', 'keys', 'path', 'file', 'query', 'text', 'seconds', 'terminal'];

export function summarizeArguments(raw: string): string {
  let args: unknown;
  try {
    args = JSON.parse(raw);
  } catch {
    return truncate(raw, 160);
  }
  if (args === null || typeof args !== 'object') return truncate(String(args), 160);
  const obj = args as Record<string, unknown>;
  for (const k of SUMMARY_KEYS) {
    const v = obj[k];
    if (typeof v === 'string' && v) return truncate(v, 160);
    if (typeof v === 'number') return `${k}=${v}`;
  }
  const first = Object.entries(obj).find(([, v]) => typeof v === 'string' || typeof v === 'number');
  return first ? truncate(`${first[0]}=${String(first[1])}`, 160) : '';
}

export interface StepSummary {
  tool: string;
  detail: string;
  /** Active time of a finished step: wall time minus time paused. */
  durationMs?: number;
  tokens?: number;
  isError: boolean;
  running: boolean;
}

/**
 * summarizeStep for a step that may still be waiting for its details (a paged open,
 * stepDetailsReady): such a step is not one waiting for its model.
 */
export function summarizeShownStep(step: Step, loading: boolean): StepSummary {
  return loading ? { ...summarizeStep(step), tool: '…', detail: 'loading…' } : summarizeStep(step);
}

export function summarizeStep(step: Step): StepSummary {
  const call = step.response?.toolCalls[0];
  const result = step.results[0];
  let tool = call?.name ?? result?.name ?? '';
  let detail = call ? summarizeArguments(call.arguments) : '';
  if (!tool && step.response) {
    tool = step.response.finishReason === 'stop' ? 'reply' : 'message';
    detail = truncate(step.response.content, 160);
  }
  const extra = (step.response?.toolCalls.length ?? 0) - 1;
  if (extra > 0) detail = `${detail} (+${extra} more)`;
  return {
    tool: tool || (step.response ? '…' : 'awaiting model'),
    detail,
    durationMs: stepTimings(step)?.activeMs,
    tokens: step.response?.usage?.totalTokens ?? step.promptTokens,
    isError: step.results.some((r) => r.isError),
    running: step.finishedAt === undefined,
  };
}

export interface ObservationView {
  /** The tool's one-line message (JSON observations), else ''. */
  message: string;
  /** Command output or file text carried by the observation, else ''. */
  output: string;
  /** The observation as recorded. */
  raw: string;
  exitCode?: number | null;
  json: boolean;
}

/** Split a ResearchGym-style JSON observation into its message and output. */
export function parseObservation(raw: string): ObservationView {
  const trimmed = raw.trimStart();
  if (trimmed.startsWith('{')) {
    try {
      const o = JSON.parse(raw) as Record<string, unknown>;
      if (o && typeof o === 'object') {
        const message = typeof o.message === 'string' ? o.message : '';
        const output = typeof o.output === 'string' ? o.output : typeof o.content === 'string' ? o.content : '';
        const exitCode = typeof o.exit_code === 'number' || o.exit_code === null ? (o.exit_code as number | null) : undefined;
        return { message, output, raw, exitCode, json: true };
      }
    } catch {
      /* not JSON after all */
    }
  }
  return { message: '', output: raw, raw, json: false };
}

const observations = new WeakMap<object, ObservationView>();

/**
 * parseObservation of a recorded tool result, cached on the result object: rows of
 * the trajectory re-render on every change of it, and observations can be large.
 */
export function observationOf(result: { observation: string }): ObservationView {
  const hit = observations.get(result);
  if (hit && hit.raw === result.observation) return hit;
  const view = parseObservation(result.observation);
  observations.set(result, view);
  return view;
}

/** One line for the collapsed observation. */
export function observationPreview(step: Step): string {
  if (!step.results.length) return '';
  const parts = step.results.map((r) => {
    const o = observationOf(r);
    const out = o.output.trim();
    const lastLine = out ? out.split('\n').filter((l) => l.trim()).pop() ?? '' : '';
    return truncate(lastLine || o.message || o.raw, 200);
  });
  return parts.join(' · ');
}

/** Arguments pretty-printed when they are JSON, else as recorded. */
export function prettyArguments(raw: string): string {
  try {
    return JSON.stringify(JSON.parse(raw), null, 2);
  } catch {
    return raw;
  }
}

/** The thought of a step: reasoning (if the model exposes it) and the visible content. */
export function thoughtOf(step: Step): { reasoning: string; content: string } {
  return { reasoning: step.response?.reasoning.trim() ?? '', content: step.response?.content.trim() ?? '' };
}

export interface StepTimings {
  wallMs: number;
  /** Wall time minus time paused: what the step cost. */
  activeMs: number;
  pausedMs: number;
  /** Time waiting on the endpoint, retries and backoff included (absent in older logs). */
  modelMs?: number;
  /** Time the step's tool calls took. */
  toolMs: number;
}

/**
 * The timings of a finished step. Wall time alone lies about a step that waited out a
 * pause (2 m 41 s of an endpoint outage is not 2 m 53 s of work), so the active time
 * is wall − paused; null while the step runs.
 */
export function stepTimings(step: Step): StepTimings | null {
  if (step.finishedAt === undefined) return null;
  const wallMs = Math.max(0, step.finishedAt - step.startedAt);
  const pausedMs = Math.min(wallMs, Math.max(0, step.pausedMs ?? 0));
  return {
    wallMs,
    activeMs: wallMs - pausedMs,
    pausedMs,
    ...(step.modelMs !== undefined ? { modelMs: step.modelMs } : {}),
    toolMs: step.results.reduce((n, r) => n + r.durationMs, 0),
  };
}

/** "41 s active · paused 2 m 41 s · 12 s waiting on the endpoint", for a finished step. */
export function describeTimings(t: StepTimings): string {
  const parts = [`${formatDuration(t.activeMs)} active`];
  if (t.pausedMs > 0) parts.push(`paused ${formatDuration(t.pausedMs)}`);
  if (t.modelMs !== undefined) parts.push(`${formatDuration(t.modelMs)} waiting on the endpoint`);
  if (t.toolMs > 0) parts.push(`${formatDuration(t.toolMs)} in tools`);
  return parts.join(' · ');
}

/** A span of time a rollout spent paused (`to` absent: still paused). */
export interface PauseSpan {
  from: number;
  to?: number;
}

/**
 * Active time of a running step at `now`: the time since it started minus the parts
 * of its rollout's pauses that fall after its start (a paused step does not age).
 */
export function runningActiveMs(startedAt: number, pauses: readonly PauseSpan[] | undefined, now: number): number {
  let paused = 0;
  for (const p of pauses ?? []) {
    const from = Math.max(p.from, startedAt);
    const to = Math.min(p.to ?? now, now);
    if (to > from) paused += to - from;
  }
  return Math.max(0, now - startedAt - paused);
}
