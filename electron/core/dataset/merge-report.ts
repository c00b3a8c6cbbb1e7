// The report of a merge (shared/merge-report.ts has its schema), computed from the
// plan alone: a dry run shows exactly what the merge would write, and the merged
// bundle saves the same object as merge-report.json (rendered as merge-report.html
// by merge-report-html.ts). No clock and no randomness: the same inputs give the same
// report, byte for byte.
//
// Time spent per annotator is an estimate: the labels carry their times (the
// `at` of every label entry of the step records' labelHistory, kept through merges),
// not how long anyone looked at a step. Per annotator, every label set or cleared
// (each once, whichever copies hold it) is sorted by time and the gaps between
// consecutive ones are summed, each gap capped at TIME_GAP_CAP_MS: a longer gap is a
// break, counted as that much reading before the next label. The first label of all
// counts nothing, and labels set together (one bulk action) count nothing between them.
import {
  MERGE_REPORT_FORMAT, TIME_GAP_CAP_MS, mergeReportSchema, type MergeReport,
} from '../../../shared/merge-report';
import { ApolloError } from '../../../shared/errors';
import { describeIssues, isMergedManifest } from './manifest-schema';
import { rereadSteps, type Input, type InputStep } from './merge-read';
import type { MergeConflictStep } from '../../../shared/contract/merge';
import type { MergePlan } from './merge-plan';
import { formatMergePolicy } from './merge-votes';

export const TIME_SPENT_METHOD =
  `sum of the gaps between consecutive labels (set or cleared) by the same annotator, ordered by time across every session, each gap capped at ${TIME_GAP_CAP_MS / 60_000} minutes; the first label counts nothing`;

export { estimateTimeSpent } from './merge-time';

/** The report of a planned merge; `warnings` are the merged manifest's (the plan's and any found while writing). */
export function mergeReport(plan: MergePlan, inputs: readonly Input[], warnings: readonly string[] = plan.warnings): MergeReport {
  const { stats } = plan;
  const keys = new Set(plan.examples.map((x) => x.ex.key));
  const kept = stats.kept;
  const annotators = plan.annotators.map((a) => {
    const { trained, notTrained } = stats.trainedBy.get(a.annotator) ?? { trained: 0, notTrained: 0 };
    const t = stats.labelTimes.get(a.annotator);
    return {
      ...a, bundles: [...a.bundles], trained, notTrained, labelEvents: t?.events ?? 0, sessions: t?.sessions ?? 0,
      timeSpentMs: t?.timeSpentMs ?? 0, firstLabelAt: t?.first ?? null, lastLabelAt: t?.last ?? null,
    };
  });
  const report: MergeReport = {
    format: MERGE_REPORT_FORMAT,
    version: 1,
    policy: formatMergePolicy(plan.policy),
    bundles: inputs.map((b) => ({
      path: b.path, manifestSha256: b.manifestSha256, merged: isMergedManifest(b.manifest), signer: b.signer, annotators: [...b.manifest.annotators],
      examples: { total: b.examples.length, used: b.examples.filter((x) => keys.has(x.key)).length },
    })),
    origins: plan.origins.length,
    sessions: plan.manifestSessions.length,
    examples: { in: plan.examplesIn, distinct: plan.distinctExamples, out: plan.examples.length, duplicates: plan.examplesIn - plan.distinctExamples, nothingToTrain: plan.nothingToTrain },
    actions: {
      total: stats.actions,
      multiplyLabelled: stats.multiplyLabelled,
      conflicts: plan.conflicts.length,
      unsettled: plan.unsettled,
      kept,
      masked: stats.actions - kept,
      unlabelled: stats.unlabelled,
      noContext: plan.noContext,
    },
    conflicts: plan.conflicts,
    agreement: plan.agreement,
    annotators,
    timeSpent: { method: TIME_SPENT_METHOD, gapCapMs: TIME_GAP_CAP_MS },
    casts: { written: plan.casts.length, duplicatesDropped: plan.castsDeduplicated, renamed: plan.casts.filter((c) => c.out !== c.file.path).length },
    warnings: [...warnings],
  };
  // Our own output must read back (the Merge view and the next reader parse it).
  const check = mergeReportSchema.safeParse(report);
  if (!check.success) throw new ApolloError('INTERNAL', `Merge report does not fit its schema: ${describeIssues(check.error)}`);
  return report;
}

const TEXT_MAX = 8_000;
const cut = (t: string): string => (t.length > TEXT_MAX ? `${t.slice(0, TEXT_MAX)}\n… (${t.length - TEXT_MAX} more characters in trajectory.jsonl)` : t);
const asString = (v: unknown): string => (typeof v === 'string' ? v : v === undefined || v === null ? '' : JSON.stringify(v));

/**
 * Each conflict's step as the first bundle holding it recorded it (copies of a step are
 * the same step: merge-plan.ts checks it): what the agent did and what it saw, for the
 * lead who settles it. Long texts are cut (the bundle has them whole).
 */
export async function conflictSteps(plan: MergePlan): Promise<MergeConflictStep[]> {
  const names = new Map(plan.manifestSessions.map((s) => [s.sessionId, s.name]));
  // The plan keeps no record's text: read each conflict's first copy again, one pass per input.
  const firsts = plan.conflictCopies.map((c) => ({ input: c.input, step: { line: c.line, digest: c.digest } }));
  const byInput = new Map<Input, Array<Pick<InputStep, 'line' | 'digest'>>>();
  for (const f of firsts) byInput.set(f.input, [...(byInput.get(f.input) ?? []), f.step]);
  const read = new Map<Input, Map<number, Record<string, unknown>>>();
  for (const [input, steps] of byInput) read.set(input, await rereadSteps(input, steps));
  return plan.conflicts.map((c, i) => {
    const rec = read.get(firsts[i]!.input)!.get(firsts[i]!.step.line)! as {
      branchId?: unknown; branchName?: unknown; depth?: unknown; response?: { content?: unknown; reasoning?: unknown; toolCalls?: Array<{ name?: unknown; arguments?: unknown }> } | null;
      results?: Array<{ name?: unknown; observation?: unknown; isError?: unknown }>;
    };
    return {
      sessionId: c.sessionId,
      stepId: c.stepId,
      sessionName: names.get(c.sessionId) ?? null,
      branchName: asString(rec.branchName ?? rec.branchId),
      depth: typeof rec.depth === 'number' ? rec.depth : 0,
      content: cut(asString(rec.response?.content)),
      reasoning: rec.response?.reasoning ? cut(asString(rec.response.reasoning)) : null,
      toolCalls: (rec.response?.toolCalls ?? []).map((t) => ({ name: asString(t.name), arguments: cut(asString(t.arguments)) })),
      results: (Array.isArray(rec.results) ? rec.results : []).map((r) => ({ name: asString(r.name), observation: cut(asString(r.observation)), isError: r.isError === true })),
      settleable: plan.conflictSettleable[i]!,
    };
  });
}
