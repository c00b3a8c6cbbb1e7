// The request record: every model request a rollout sends is recoverable exactly
// from the session log. What stays the same from request to request (model, tools,
// tool_choice, sampling, stream options) is stored once per session as a
// `request.config` event under its SHA-256; each request stores only the messages
// that differ from its base request (usually the previous step's): the base's
// messages cut to their first `keep`, then `append`. Storage per step therefore
// follows what the step added, not the length of the context, and nothing is ever
// rebuilt from today's code when the log has the record.
import { createHash, randomUUID } from 'node:crypto';
import type { WireMessage } from '../../../shared/events';
import { pathTo, requestMessages, type Trajectory } from '../../../shared/trajectory';
import type { SessionLog } from '../store/workspace';
import { buildMessages } from './context';
import { TOOL_SCHEMAS } from './tools';

/** JSON with object keys sorted, so equal configs hash equally whatever their key order. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o).filter((k) => o[k] !== undefined).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

export function configHash(config: Record<string, unknown>): string {
  return createHash('sha256').update(canonicalJson(config)).digest('hex');
}

/** Messages as plain JSON, the way the SDK serializes them (undefined fields vanish). */
function wireCopy(messages: readonly unknown[]): WireMessage[] {
  return JSON.parse(JSON.stringify(messages)) as WireMessage[];
}

function commonPrefix(a: readonly WireMessage[], b: readonly WireMessage[]): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  // Content is compared through its canonical JSON: a message is equal when it
  // would go over the wire the same way.
  while (i < n && (a[i] === b[i] || canonicalJson(a[i]) === canonicalJson(b[i]))) i++;
  return i;
}

export interface RecordedRequest {
  requestId: string;
  messages: WireMessage[];
}

/**
 * Writes `request.config` and `model.request` events for one rollout. Keeps the
 * messages of the requests it recorded recently, so finding the common prefix
 * does not rebuild the base from the log on every step.
 */
export class RequestRecorder {
  private readonly recent = new Map<string, WireMessage[]>();

  constructor(
    private readonly session: SessionLog,
    private readonly trajectory: () => Trajectory,
  ) {}

  private messagesOf(requestId: string): WireMessage[] | null {
    return this.recent.get(requestId) ?? requestMessages(this.trajectory(), requestId);
  }

  /** The best base for a request of `stepId`: its own last request, else its nearest ancestor's. */
  private candidates(stepId: string, extra: string[]): string[] {
    const t = this.trajectory();
    const out: string[] = [];
    const own = t.steps.get(stepId)?.requestId;
    if (own) out.push(own);
    const path = pathTo(t, stepId);
    for (let i = path.length - 2; i >= 0; i--) {
      const id = path[i]!.requestId;
      if (id) {
        out.push(id);
        break;
      }
    }
    out.push(...extra);
    return out;
  }

  /**
   * Record the request `body` (the exact wire body, messages included) built for
   * step `stepId`. `alsoTry` names more base candidates (a summary request shares
   * most of its prefix with the last summarized step's request).
   */
  async record(stepId: string, purpose: 'step' | 'summary', body: Record<string, unknown>, owners: (string | null)[], alsoTry: string[] = []): Promise<RecordedRequest> {
    const { messages: raw, ...config } = body;
    const messages = wireCopy(Array.isArray(raw) ? raw : []);
    const cfg = JSON.parse(JSON.stringify(config)) as Record<string, unknown>;
    const hash = configHash(cfg);
    if (!this.trajectory().configs.has(hash)) await this.session.append({ type: 'request.config', hash, config: cfg });
    let base: string | null = null;
    let keep = 0;
    for (const id of this.candidates(stepId, alsoTry)) {
      const prev = this.messagesOf(id);
      if (!prev) continue;
      const k = commonPrefix(prev, messages);
      if (k > keep || base === null) {
        base = id;
        keep = k;
      }
      if (k === prev.length) break; // a full prefix: nothing better to find
    }
    if (base !== null && keep === 0) base = null;
    const requestId = randomUUID();
    await this.session.append({
      type: 'model.request', requestId, stepId, purpose, base, keep, append: messages.slice(keep), config: hash,
      owners: messages.slice(keep).map((_, i) => owners[keep + i] ?? null),
    });
    this.recent.set(requestId, messages);
    // Only the latest few are useful as bases.
    while (this.recent.size > 4) this.recent.delete(this.recent.keys().next().value!);
    return { requestId, messages };
  }
}

export interface RebuiltRequest {
  /** The wire body: config plus messages. */
  body: Record<string, unknown> & { messages: WireMessage[] };
  requestId: string;
}

/** The recorded request `requestId` as it was sent, or null when the log lacks it. */
export function rebuildRequest(t: Trajectory, requestId: string): RebuiltRequest | null {
  const r = t.requests.get(requestId);
  if (!r) return null;
  const config = t.configs.get(r.config);
  const messages = requestMessages(t, requestId);
  if (!config || !messages) return null;
  return { body: { ...config, messages }, requestId };
}

export interface StepRequest {
  /** The wire body the step's reply was produced from (config plus messages). */
  body: Record<string, unknown> & { messages: WireMessage[] };
  /** 'recorded': exactly as sent. 'reconstructed': rebuilt by today's code (a log older than the request record). */
  source: 'recorded' | 'reconstructed';
  requestId?: string;
  /** Why the context is reconstructed, for people. */
  note?: string;
}

export interface ReconstructOptions {
  /** The session's working directory (named in the system prompt of old rollouts). */
  cwd?: string;
}

/**
 * The request that produced step `stepId`'s reply: from the record when the log has
 * it; for older logs rebuilt with today's prompt code and marked so. Null for a
 * step without a model reply (hand-written, human, replayed) or unknown id.
 */
export function requestForStep(t: Trajectory, stepId: string, opts: ReconstructOptions = {}): StepRequest | null {
  const step = t.steps.get(stepId);
  if (!step) return null;
  const recordedId = step.response?.requestId ?? step.requestId;
  if (recordedId) {
    const r = rebuildRequest(t, recordedId);
    if (r) return { body: r.body, source: 'recorded', requestId: r.requestId };
  }
  const origin = step.response?.origin ?? (step.response?.humanAuthored ? 'hand' : 'model');
  if (!step.response || origin !== 'model') return null;
  const rollout = t.rollouts.get(step.rolloutId);
  if (!rollout || rollout.policy !== 'model') return null;
  const toolMode = step.response.toolMode ?? 'tools';
  const messages = wireCopy(buildMessages(t, stepId, { task: rollout.task, toolMode, cwd: opts.cwd, branchId: step.branchId }));
  const ep = rollout.endpoint;
  const body: Record<string, unknown> & { messages: WireMessage[] } = { model: ep?.model ?? '', messages };
  if (ep?.temperature !== undefined) body.temperature = ep.temperature;
  if (ep?.topP !== undefined) body.top_p = ep.topP;
  if (ep?.maxTokens !== undefined) body.max_tokens = ep.maxTokens;
  if (toolMode === 'tools') body.tools = TOOL_SCHEMAS;
  return {
    body, source: 'reconstructed',
    note: recordedId
      ? 'The request record of this step is damaged; its context was rebuilt from the trajectory with the current prompt code.'
      : 'This step was recorded before requests were logged; its context was rebuilt from the trajectory with the current prompt code and may differ from what the model saw.',
  };
}
