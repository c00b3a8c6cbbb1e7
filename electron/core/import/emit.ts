// A RunIR as the events a live rollout writes: rollout.started per branch,
// step.started, request.config + model.request (the exact or derived context, as a
// chain of base/keep/append records like RequestRecorder writes), model.response,
// action.result, step.finished, guidance.*, summary.created, label.set and
// rollout.state. Ids are derived from the source's hash and the step keys, so the
// same file always imports to the same step ids (merges and round trips compare
// them), while session ids stay fresh.
import { createHash } from 'node:crypto';
import type { EndpointRecord, WireMessage } from '../../../shared/events';
import { canonicalJson, configHash } from '../rollout/request-record';
import type { StagedSession } from './staging';
import { ImportError, type ImportContext, type RunIR, type StepIR } from './types';

export const NO_ENVIRONMENT =
  'Imported run: the environment it ran in was not recorded, so there is no checkpoint to restore. Branch from this step to record a hand-written action (it is kept offline, never run).';

/** A UUID-shaped id derived from its parts. */
export function stableId(...parts: string[]): string {
  const h = createHash('sha256').update(parts.join('\u0000')).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

// Messages of consecutive requests are usually the same objects (an adapter slices
// one conversation), so compare references first and cache canonical JSON.
const canon = new WeakMap<object, string>();
function canonOf(m: WireMessage): string {
  let s = canon.get(m);
  if (s === undefined) {
    s = canonicalJson(m);
    canon.set(m, s);
  }
  return s;
}

function commonPrefix(a: readonly WireMessage[], b: readonly WireMessage[]): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && (a[i] === b[i] || canonOf(a[i]!) === canonOf(b[i]!))) i++;
  return i;
}

interface Placed {
  id: string;
  branchId: string;
  rolloutId: string;
  depth: number;
  /** The step's request (for the prefix of its descendants' requests). */
  request: { id: string; messages: WireMessage[] } | null;
  parent: Placed | null;
  children: number;
}

/** What of a step's time its source does not record (step.started.timing): the events then hold stand-ins. */
function stepTiming(step: StepIR): 'none' | 'no-durations' | null {
  if (step.at === undefined) return 'none';
  if (step.durationMs === undefined || step.results.some((r) => r.durationMs === undefined)) return 'no-durations';
  return null;
}

/** Write `run` into a new staged session; returns it. */
export async function emitRun(ctx: ImportContext, run: RunIR): Promise<StagedSession> {
  const idOf = (...p: string[]) => stableId(ctx.sha256, run.item ?? '', ...p);
  const firstAt = run.startedAt ?? run.steps.find((s) => s.at !== undefined)?.at;
  const unknownCounts: Record<string, number> = {};
  for (const u of run.unknown) unknownCounts[u.type] = (unknownCounts[u.type] ?? 0) + 1;
  const s = await ctx.session({
    name: run.name, item: run.item, context: run.context, toolVersion: run.toolVersion, sourceCwd: run.sourceCwd,
    unknown: run.unknown.length ? unknownCounts : undefined, startTs: firstAt,
  });
  for (const u of run.unknown) await s.side('import/unknown.jsonl', JSON.stringify(u));
  if (run.unknown.length) {
    const list = Object.entries(unknownCounts).map(([k, n]) => `${k} ×${n}`).join(', ');
    await s.append({ type: 'warning', message: `${run.unknown.length} source record(s) of types this importer does not map were kept verbatim in import/unknown.jsonl: ${list}.` });
  }
  for (const n of run.notes) await s.append({ type: 'warning', message: n });

  const endpoint: EndpointRecord | null = run.model ? { profile: `import:${ctx.format}`, baseUrl: '', model: run.model } : null;
  const configs = new Set<string>();
  const configFor = async (c: Record<string, unknown>): Promise<string> => {
    const cfg = JSON.parse(JSON.stringify(c)) as Record<string, unknown>;
    const hash = configHash(cfg);
    if (!configs.has(hash)) {
      configs.add(hash);
      await s.append({ type: 'request.config', hash, config: cfg });
    }
    return hash;
  };

  const rollouts: string[] = [];
  const mainRollout = idOf('rollout', 'main');
  rollouts.push(mainRollout);
  await s.append({ type: 'rollout.started', rolloutId: mainRollout, branchId: 'main', task: run.task, endpoint, policy: 'model', maxSteps: Math.max(1, run.steps.length), parentStepId: null }, firstAt);
  const guide = async (text: string, key: string, stepId: string | null, branchId: string) => {
    const guidanceId = idOf('guidance', key);
    await s.append({ type: 'guidance.queued', guidanceId, text, author: 'import', branchId });
    await s.append({ type: 'guidance.delivered', guidanceId, stepId });
  };
  for (const [i, g] of (run.initialGuidance ?? []).entries()) await guide(g, `initial:${i}`, null, 'main');

  const placed = new Map<string, Placed>();
  const root = { children: 0 };
  let prev: StepIR | null = null;
  for (const step of run.steps) {
    if (placed.has(step.key)) throw new ImportError(ctx.input.name, step.where, `step ${step.key} appears twice`);
    const parentKey = step.parent === undefined ? (prev?.key ?? null) : step.parent;
    const parent = parentKey === null ? null : placed.get(parentKey);
    if (parent === undefined) throw new ImportError(ctx.input.name, step.where, `its parent ${parentKey} is not in the input (or comes after it)`);
    const holder = parent ?? root;
    let branchId = parent?.branchId ?? 'main';
    let rolloutId = parent?.rolloutId ?? mainRollout;
    if (holder.children > 0) {
      // A second child: a branch from its parent, with a rollout of its own (as a live branch has).
      branchId = `b-${idOf('branch', step.key).slice(0, 8)}`;
      rolloutId = idOf('rollout', step.key);
      rollouts.push(rolloutId);
      await s.append({
        type: 'branch.created', branchId, fromStepId: parent?.id ?? null, author: 'import', reason: 'branch',
        name: step.branchName ?? (parent ? `Branch from step ${parent.depth}` : 'Branch from the start'),
      }, step.at);
      await s.append({ type: 'rollout.started', rolloutId, branchId, task: run.task, endpoint, policy: 'model', maxSteps: 1, parentStepId: parent?.id ?? null }, step.at);
    }
    holder.children++;
    const p: Placed = { id: idOf('step', step.key), branchId, rolloutId, depth: (parent?.depth ?? 0) + 1, request: null, parent, children: 0 };
    placed.set(step.key, p);
    const src = { where: step.where };
    const timing = stepTiming(step);
    await s.append({
      type: 'step.started', stepId: p.id, parentId: parent?.id ?? null, branchId, depth: p.depth, rolloutId,
      ...(step.notTrained ? { notTrained: step.notTrained } : {}), ...(timing ? { timing } : {}),
    }, step.at, src);

    let requestId: string | undefined;
    if (step.request) {
      const cfg = await configFor(step.request.config ?? run.config);
      requestId = idOf('request', step.key);
      await writeRequest(s, { requestId, stepId: p.id, purpose: 'step', config: cfg, messages: step.request.messages, owners: step.request.owners }, p.parent, placed, step.at, src);
      p.request = { id: requestId, messages: step.request.messages };
    }
    const origin = step.origin ?? 'model';
    await s.append({
      type: 'model.response', stepId: p.id, content: step.content, reasoning: step.reasoning ?? '', toolCalls: step.toolCalls,
      usage: step.usage ?? null, finishReason: step.finishReason ?? null, durationMs: Math.max(0, step.durationMs ?? 0),
      ...(origin !== 'model' ? { humanAuthored: true, author: step.author ?? 'import' } : {}),
      ...(requestId ? { requestId } : {}), toolMode: step.toolMode ?? (Array.isArray(run.config.tools) ? 'tools' : 'text'), origin,
    }, step.at, src);
    const doneAt = step.finishedAt ?? step.at;
    for (const r of step.results) {
      await s.append({
        type: 'action.result', stepId: p.id, toolCallId: r.toolCallId, name: r.name, observation: r.observation, isError: r.isError,
        durationMs: Math.max(0, r.durationMs ?? 0), ...(r.exitCode !== undefined ? { exitCode: r.exitCode } : {}),
      }, doneAt, src);
    }
    await s.append({ type: 'checkpoint.failed', stepId: p.id, error: NO_ENVIRONMENT }, doneAt, src);
    for (const [i, g] of (step.guidance ?? []).entries()) await guide(g, `${step.key}:${i}`, p.id, branchId);
    await s.append({ type: 'step.finished', stepId: p.id, promptTokens: step.usage?.promptTokens ?? 0 }, doneAt, src);
    if (step.summary) {
      let summaryRequest: string | undefined;
      if (step.summary.request) {
        summaryRequest = idOf('summary-request', step.key);
        const cfg = await configFor(run.config);
        await writeRequest(s, { requestId: summaryRequest, stepId: p.id, purpose: 'summary', config: cfg, messages: step.summary.request.messages, owners: step.summary.request.owners }, p, placed, doneAt, src);
      }
      const covered = step.summary.covered.map((k) => placed.get(k)?.id).filter((x): x is string => !!x);
      await s.append({ type: 'summary.created', stepId: p.id, summary: step.summary.text, coveredStepIds: covered, ...(summaryRequest ? { requestId: summaryRequest } : {}) }, doneAt, src);
    }
    if (step.label) {
      await s.append({ type: 'label.set', stepId: p.id, label: step.label.label, tags: [], note: step.label.note, source: 'annotator', author: 'import' }, doneAt, src);
    }
    prev = step;
  }
  const end = run.end ?? { state: 'finished' as const };
  for (const r of rollouts) await s.append({ type: 'rollout.state', rolloutId: r, state: end.state, ...(end.reason ? { reason: end.reason } : {}) });
  return s;
}

/** The request as base (the nearest ancestor's request) cut to the common prefix, plus what differs. */
async function writeRequest(
  s: StagedSession,
  r: { requestId: string; stepId: string; purpose: 'step' | 'summary'; config: string; messages: WireMessage[]; owners: (string | null)[] },
  from: Placed | null,
  placed: Map<string, Placed>,
  ts: number | undefined,
  src: { where: string },
): Promise<void> {
  let anc = from;
  while (anc && !anc.request) anc = anc.parent;
  let base: string | null = null;
  let keep = 0;
  if (anc?.request) {
    keep = commonPrefix(anc.request.messages, r.messages);
    if (keep > 0) base = anc.request.id;
  }
  const owners = r.owners.map((k) => (k === null ? null : (placed.get(k)?.id ?? null)));
  await s.append({
    type: 'model.request', requestId: r.requestId, stepId: r.stepId, purpose: r.purpose, base, keep, append: r.messages.slice(keep), config: r.config,
    owners: owners.slice(keep),
  }, ts, src);
}
