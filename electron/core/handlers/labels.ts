// Labels, rules, the LLM judge and dataset export through the contract. The label
// functions are exported for the CLI (`apollo label`, `apollo judge`), which runs the
// same code against the same workspace.
import { ApolloError } from '../../../shared/errors';
import type { LabelTag, LabelValue, SessionEvent, SessionEventBody } from '../../../shared/events';
import { branchPath, type Step, type Trajectory } from '../../../shared/trajectory';
import type { ApolloCore } from '../app';
import { toErrorShape, type HandlerMap } from '../dispatch';
import type { SessionLog } from '../store/workspace';
import { sessionLocks, trajectoryOf } from '../annotate/index';
import { judgeBranch, judgeErrorText, listRules, previewRules, ruleEvents, RULE_NAMES, type RuleParamOverrides } from '../labels/index';
import { ExportManager, planExport } from '../exports';
import type { SecretSpec } from '../dataset/key-fingerprint';

/** What the label functions need of the core (ApolloCore satisfies it). */
export type LabelsCore = Pick<ApolloCore, 'session' | 'annotator' | 'profiles'>;

// ------------------------------------------------------------------ helpers

const lockLabels = sessionLocks();

/** Run label writes of one session one at a time, so read-decide-append stays consistent. */
async function withSessionLock<T>(sessionId: string, fn: () => Promise<T>): Promise<T> {
  const release = await lockLabels(sessionId);
  try {
    return await fn();
  } finally {
    release();
  }
}

/** Append many events; the log commits them in groups. Resolves to the events, in order. */
async function appendAll(session: SessionLog, bodies: readonly SessionEventBody[]): Promise<SessionEvent[]> {
  const CHUNK = 1000;
  const out: SessionEvent[] = [];
  for (let i = 0; i < bodies.length; i += CHUNK) out.push(...(await Promise.all(bodies.slice(i, i + CHUNK).map((b) => session.append(b)))));
  return out;
}

/** Where an application of labels starts in the log (its first event), for labels.revert; undefined when nothing was written. */
function firstSeq(events: readonly SessionEvent[]): number | undefined {
  return events.length ? Math.min(...events.map((e) => e.seq)) : undefined;
}

function requireSteps(t: Trajectory, sessionId: string, stepIds: readonly string[]): string[] {
  const unique = stepIds.filter((s, i, a) => a.indexOf(s) === i);
  const missing = unique.filter((s) => !t.steps.has(s));
  if (missing.length) {
    const shown = missing.slice(0, 5).join(', ');
    throw new ApolloError('NOT_FOUND', `Session ${sessionId} has no step${missing.length > 1 ? 's' : ''} ${shown}${missing.length > 5 ? ` (and ${missing.length - 5} more)` : ''}`);
  }
  return unique;
}

function requireBranch(t: Trajectory, sessionId: string, branchId: string): void {
  if (!t.branches.has(branchId)) throw new ApolloError('NOT_FOUND', `Session ${sessionId} has no branch ${branchId}`);
}

/** The latest record of one source, or null when none or cleared. */
function current(step: Step, source: 'annotator' | 'judge' | 'rule') {
  for (let i = step.labelHistory.length - 1; i >= 0; i--) {
    const l = step.labelHistory[i]!;
    if (l.source !== source) continue;
    return l.rule === '__cleared__' ? null : l;
  }
  return null;
}

function ruleOverrides(params: Record<string, unknown> | undefined): RuleParamOverrides {
  const out: RuleParamOverrides = {};
  for (const [k, v] of Object.entries(params ?? {})) {
    if (!(RULE_NAMES as readonly string[]).includes(k)) throw new ApolloError('BAD_REQUEST', `Unknown rule ${k} in params`);
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw new ApolloError('BAD_REQUEST', `Parameters of rule ${k} must be an object`);
    out[k as keyof RuleParamOverrides] = v as RuleParamOverrides[keyof RuleParamOverrides];
  }
  return out;
}

// ------------------------------------------------------------------ annotator labels

export async function setLabels(
  core: LabelsCore,
  o: { sessionId: string; stepIds: string[]; label: LabelValue; tags?: LabelTag[]; note?: string },
): Promise<{ count: number }> {
  const session = await core.session(o.sessionId);
  return withSessionLock(o.sessionId, async () => {
    const ids = requireSteps(trajectoryOf(session), o.sessionId, o.stepIds);
    const author = core.annotator();
    const tags = (o.tags ?? []).filter((t, i, a) => a.indexOf(t) === i);
    await appendAll(session, ids.map((stepId) => ({ type: 'label.set', stepId, label: o.label, tags, note: o.note ?? '', source: 'annotator', author })));
    return { count: ids.length };
  });
}

/** Remove the annotator's label of each step (steps without one are left alone). */
export async function clearLabels(core: LabelsCore, o: { sessionId: string; stepIds: string[] }): Promise<{ count: number }> {
  const session = await core.session(o.sessionId);
  return withSessionLock(o.sessionId, async () => {
    const t = trajectoryOf(session);
    const ids = requireSteps(t, o.sessionId, o.stepIds).filter((id) => current(t.steps.get(id)!, 'annotator'));
    const author = core.annotator();
    await appendAll(session, ids.map((stepId) => ({ type: 'label.cleared', stepId, source: 'annotator', author })));
    return { count: ids.length };
  });
}

// ------------------------------------------------------------------ rules

export interface RulePreviewRow {
  rule: string;
  count: number;
  stepIds: string[];
}

/**
 * What applying the rules proposes on a branch path: per rule (in the order given),
 * the steps whose rule label it would name. A step flagged by several rules counts
 * once, for the first of them, so the counts add up to the labels a first
 * application appends.
 */
export function rulesPreview(t: Trajectory, branchId: string, rules: readonly string[], params?: Record<string, unknown>): RulePreviewRow[] {
  const { counts, labels } = previewRules(t, branchId, rules, ruleOverrides(params));
  return Object.keys(counts).map((rule) => {
    const stepIds = labels.filter((l) => l.rule === rule).map((l) => l.stepId);
    return { rule, count: stepIds.length, stepIds };
  });
}

/**
 * The author recorded on labels a machine source wrote for a named person (`rules (alice)`,
 * `judge:model (alice)`): who ran it, without losing what produced them. Just `machine`
 * when nobody is named (the app's rule and judge runs).
 */
export function runAuthor(machine: string, annotator?: string): string {
  return annotator ? `${machine} (${annotator})` : machine;
}

/**
 * The `label.set` events applying the rules would append: the proposals minus steps
 * already masked by the same rule (whatever the note or author says, so applying on
 * branches that share steps, or by another person, settles instead of flip-flopping).
 */
export function pendingRuleEvents(t: Trajectory, branchId: string, rules: readonly string[], params?: Record<string, unknown>, author?: string): SessionEventBody[] {
  return ruleEvents(t, branchId, rules, ruleOverrides(params), { author }).filter((e) => {
    if (e.type !== 'label.set') return true;
    const cur = current(t.steps.get(e.stepId)!, 'rule');
    return !(cur && cur.rule === e.rule && cur.label === e.label);
  });
}

export async function previewSessionRules(core: LabelsCore, o: { sessionId: string; branchId: string; rules: string[]; params?: Record<string, unknown> }): Promise<RulePreviewRow[]> {
  const session = await core.session(o.sessionId);
  const t = trajectoryOf(session);
  requireBranch(t, o.sessionId, o.branchId);
  return rulesPreview(t, o.branchId, o.rules, o.params);
}

/**
 * Append the rules' labels; applying the same rules again appends nothing. `author`
 * (default 'rules') is set by the CLI for a named annotator; the contract carries none.
 */
export async function applySessionRules(
  core: LabelsCore,
  o: { sessionId: string; branchId: string; rules: string[]; params?: Record<string, unknown>; author?: string },
): Promise<{ count: number; stepIds: string[]; fromSeq?: number }> {
  const session = await core.session(o.sessionId);
  return withSessionLock(o.sessionId, async () => {
    const t = trajectoryOf(session);
    requireBranch(t, o.sessionId, o.branchId);
    const events = pendingRuleEvents(t, o.branchId, o.rules, o.params, o.author);
    const written = await appendAll(session, events);
    const fromSeq = firstSeq(written);
    return { count: events.length, stepIds: events.flatMap((e) => (e.type === 'label.set' ? [e.stepId] : [])), ...(fromSeq !== undefined ? { fromSeq } : {}) };
  });
}

/**
 * Put the rule or judge labels of some steps back as they were before log position
 * `beforeSeq`: a step whose latest record of that source came later gets the earlier
 * record again (re-appended as it was) or, when it had none, a clear. This is how
 * one undo takes back a whole rules or judge application (and how a redo takes back
 * the undo: revert to before the undo's own first event). Annotator labels are never
 * touched. Appends nothing for steps already in that state.
 */
export async function revertLabels(
  core: LabelsCore,
  o: { sessionId: string; source: 'rule' | 'judge'; stepIds: string[]; beforeSeq: number },
): Promise<{ count: number; fromSeq?: number }> {
  const session = await core.session(o.sessionId);
  return withSessionLock(o.sessionId, async () => {
    const t = trajectoryOf(session);
    const ids = requireSteps(t, o.sessionId, o.stepIds);
    const author = core.annotator();
    const bodies: SessionEventBody[] = [];
    for (const id of ids) {
      const h = t.steps.get(id)!.labelHistory.filter((l) => l.source === o.source);
      const now = h[h.length - 1];
      if (!now || now.seq < o.beforeSeq) continue; // nothing of that source since then
      const before = [...h].reverse().find((l) => l.seq < o.beforeSeq);
      const was = before && before.rule !== '__cleared__' ? before : null;
      if (!was) {
        if (now.rule !== '__cleared__') bodies.push({ type: 'label.cleared', stepId: id, source: o.source, author });
        continue;
      }
      if (now.rule === was.rule && now.label === was.label && now.note === was.note && now.rationale === was.rationale && now.tags.join() === was.tags.join()) continue;
      bodies.push({
        type: 'label.set', stepId: id, label: was.label, tags: was.tags, note: was.note, source: o.source, author: was.author,
        ...(was.rule !== undefined ? { rule: was.rule } : {}), ...(was.rationale !== undefined ? { rationale: was.rationale } : {}),
      });
    }
    const fromSeq = firstSeq(await appendAll(session, bodies));
    return { count: bodies.length, ...(fromSeq !== undefined ? { fromSeq } : {}) };
  });
}

// ------------------------------------------------------------------ judge

export interface JudgeRunOptions {
  sessionId: string;
  branchId: string;
  endpoint: { baseURL: string; apiKey: string; model: string; temperature?: number };
  /** Actions per judgeBranch call; their labels are appended after each (default 8). */
  chunk?: number;
  batchSize?: number;
  maxRetries?: number;
  timeoutMs?: number;
  signal?: AbortSignal;
  onProgress?(done: number, total: number): void;
  /** Label author (default `judge:<model>`; the CLI names the annotator who ran it, see runAuthor). */
  author?: string;
}

export interface JudgeRunResult {
  labelled: number;
  tokens: number;
  /** Actions still to judge (non-empty after an error). */
  remaining: number;
  /** Actions skipped: already judged, labelled by the annotator or written by a human. */
  skipped: number;
  error?: string;
  /** Steps labelled by this run, and where its labels start in the log (for labels.revert: one undo for the run). */
  stepIds: string[];
  fromSeq?: number;
}

const judging = new Set<string>();

/**
 * Judge a branch's actions and append the labels as each chunk comes back. Steps
 * already judged are skipped, so after an error (or a cancel) running again resumes.
 */
export async function runJudge(core: LabelsCore, o: JudgeRunOptions): Promise<JudgeRunResult> {
  const session = await core.session(o.sessionId);
  const t0 = trajectoryOf(session);
  requireBranch(t0, o.sessionId, o.branchId);
  const key = `${o.sessionId}\u0000${o.branchId}`;
  if (judging.has(key)) throw new ApolloError('CONFLICT', `The judge is already running on branch ${o.branchId} of session ${o.sessionId}`);
  judging.add(key);
  let secrets: SecretSpec[] = [o.endpoint.apiKey];
  try {
    secrets = [...(await core.profiles.secrets()), o.endpoint.apiKey].filter((s) => s && s !== 'no-key');
    const actions = branchPath(t0, o.branchId).filter((s) => s.response).map((s) => s.id);
    const size = Math.max(1, Math.floor(o.chunk ?? 8));
    const out: JudgeRunResult = { labelled: 0, tokens: 0, remaining: 0, skipped: 0, stepIds: [] };
    let handled = 0;
    o.onProgress?.(0, actions.length);
    for (let i = 0; i < actions.length; i += size) {
      const stepIds = actions.slice(i, i + size);
      const r = await judgeBranch({
        baseURL: o.endpoint.baseURL, apiKey: o.endpoint.apiKey, model: o.endpoint.model, temperature: o.endpoint.temperature,
        traj: trajectoryOf(session), branchId: o.branchId, stepIds, secrets,
        batchSize: o.batchSize, maxRetries: o.maxRetries, timeoutMs: o.timeoutMs, signal: o.signal, author: o.author,
      });
      out.tokens += r.usage.totalTokens || r.usage.promptTokens + r.usage.completionTokens;
      out.skipped += r.skipped.length;
      if (r.labels.length) {
        const written = await withSessionLock(o.sessionId, () => appendAll(session, r.labels));
        out.fromSeq ??= firstSeq(written);
        for (const e of r.labels) if (e.type === 'label.set') out.stepIds.push(e.stepId);
        out.labelled += r.labels.length;
      }
      if (r.error) {
        const rest = actions.slice(i + size);
        out.remaining = r.remaining.length + rest.filter((id) => {
          const s = trajectoryOf(session).steps.get(id)!;
          return !current(s, 'judge') && !current(s, 'annotator') && !s.response?.humanAuthored;
        }).length;
        out.error = `${r.error.message} (${out.remaining} action${out.remaining === 1 ? '' : 's'} left; run the judge again to resume)`;
        return out;
      }
      handled += stepIds.length;
      o.onProgress?.(handled, actions.length);
    }
    return out;
  } catch (e) {
    // What judgeBranch throws rather than reports (the SDK, a request it could not build)
    // reaches the window and the CLI's stderr as well: redacted like a reported error.
    const shape = toErrorShape(e);
    throw new ApolloError(shape.code, judgeErrorText(shape.message, o.endpoint, secrets));
  } finally {
    judging.delete(key);
  }
}

// ------------------------------------------------------------------ handlers

const managers = new WeakMap<object, ExportManager>();

/** The export job manager of a core (created with the handlers; progress is broadcast). */
export function exportManager(core: ApolloCore): ExportManager {
  let m = managers.get(core);
  if (!m) managers.set(core, (m = new ExportManager(core, { sink: (p) => core.broadcast('export.progress', p) })));
  return m;
}

export function labelHandlers(core: ApolloCore): HandlerMap {
  const exports = exportManager(core);
  return {
    'labels.set': (a) => setLabels(core, a),
    'labels.clear': (a) => clearLabels(core, a),
    'labels.revert': (a) => revertLabels(core, a),
    'rules.list': () => listRules(),
    'rules.preview': (a) => previewSessionRules(core, a),
    'rules.apply': (a) => applySessionRules(core, a),
    'judge.run': async ({ sessionId, branchId, profile }) => {
      const ep = await core.profiles.resolve(profile);
      const r = await runJudge(core, { sessionId, branchId, endpoint: { baseURL: ep.baseUrl, apiKey: ep.apiKey, model: ep.model } });
      return { labelled: r.labelled, tokens: r.tokens, stepIds: r.stepIds, ...(r.fromSeq !== undefined ? { fromSeq: r.fromSeq } : {}), ...(r.error ? { error: r.error } : {}) };
    },
    'export.start': async (req) => {
      const { exportId } = await exports.start(req);
      return { exportId };
    },
    'export.plan': (req) => planExport(core, req),
    'export.cancel': ({ exportId }) => {
      exports.cancel(exportId);
      return { ok: true as const };
    },
  };
}
