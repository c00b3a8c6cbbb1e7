// One-line summaries of trajectory steps for lists.
import type { Step } from '../../../shared/trajectory';
import { truncate } from './format';

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
  durationMs?: number;
  tokens?: number;
  isError: boolean;
  running: boolean;
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
    durationMs: step.finishedAt !== undefined ? step.finishedAt - step.startedAt : undefined,
    tokens: step.response?.usage?.totalTokens ?? step.promptTokens,
    isError: step.results.some((r) => r.isError),
    running: step.finishedAt === undefined,
  };
}
