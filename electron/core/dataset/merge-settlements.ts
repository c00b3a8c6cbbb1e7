// A lead's settlements of conflicts, and how they outlive the merge they were made in.
//
// A settlement decides one action (session + step; labels are per step, whichever
// branches share it) and names the conflicting labels it decided between. It applies
// while each of those labels is still given: a person who changed their label re-opens
// the conflict (the policy decides it again, or under manual it is listed to settle),
// while a label from someone new does not (the lead already weighed both labels).
// The Merge view sends each decision with the labels of the conflict it showed (a
// settlement without labels, from the API, applies as long as the action is in conflict).
//
// Every merged bundle stores its settlements: its manifest's merge.conflicts settled
// "manual" (with the labels), and its step records (merge.settledBy). So they come back
//   - by themselves when the merged bundle is an input again (a merge of merges);
//   - with `settlementsFrom` (`apollo merge --settlements PATH`) when the lead merges
//     the original bundles again, perhaps with more: PATH is the earlier merged bundle
//     (or its manifest.json or merge-report.json), or a JSON file of settlements.
// The lead's current decisions come first, then each source in the order given.
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { ApolloError } from '../../../shared/errors';
import { mergeReportSchema } from '../../../shared/merge-report';
import { BUNDLE_FILES } from './bundle';
import { isMergedManifest, parseBundleManifest, type MergeConflict, type Vote } from './manifest-schema';
import type { Label } from './merge-agreement';

const settledVoteSchema = z.object({ annotator: z.string(), source: z.enum(['annotator', 'judge', 'rule']), label: z.enum(['keep', 'mask']) });
export type SettledVote = z.infer<typeof settledVoteSchema>;

export const settlementSchema = z.object({
  sessionId: z.string().min(1),
  stepId: z.string().min(1),
  label: z.enum(['keep', 'mask']),
  /** The conflicting labels it settled; absent: whatever they are. */
  votes: z.array(settledVoteSchema).optional(),
});

export interface Settlement {
  sessionId: string;
  stepId: string;
  label: Label;
  votes?: SettledVote[];
}

/** Does a settlement still decide an action whose counted votes are `counted`? */
export function settlementApplies(s: Settlement, counted: readonly Vote[]): boolean {
  return !s.votes || s.votes.every((v) => counted.some((c) => c.author === v.annotator && c.source === v.source && c.label === v.label));
}

/** The settlements recorded in a merge's conflicts (those the lead decided). */
export function settlementsOfConflicts(conflicts: readonly MergeConflict[]): Settlement[] {
  return conflicts.filter((c) => c.settledBy === 'manual').map((c) => ({
    sessionId: c.sessionId, stepId: c.stepId, label: c.decision, votes: c.votes.map((v) => ({ annotator: v.annotator, source: v.source, label: v.label })),
  }));
}

const fileSchema = z.union([z.array(settlementSchema), z.object({ settlements: z.array(settlementSchema) })]);

/** The settlements stored at `path`: a merged bundle folder, its manifest.json or merge-report.json, or a JSON file of settlements. */
export async function readSettlements(path: string): Promise<Settlement[]> {
  const what = `Settlements ${path}`;
  const isDir = await stat(path).then((s) => s.isDirectory(), (e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') throw new ApolloError('NOT_FOUND', `${what}: no such file or folder`);
    throw e;
  });
  const file = isDir ? join(path, BUNDLE_FILES.manifest) : path;
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, 'utf8'));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new ApolloError('BAD_REQUEST', `${what}: no ${BUNDLE_FILES.manifest} (not a merged bundle)`);
    throw new ApolloError('BAD_REQUEST', `${what}: not JSON (${(e as Error).message})`);
  }
  const r = raw as Record<string, unknown> | null;
  if (r && typeof r === 'object' && 'format' in r && 'merge' in r) {
    const m = parseBundleManifest(raw);
    if ('error' in m) throw new ApolloError('BAD_REQUEST', `${what}: ${m.error}`);
    return isMergedManifest(m.manifest) ? settlementsOfConflicts(m.manifest.merge.conflicts) : [];
  }
  if (r && typeof r === 'object' && 'format' in r) {
    const rep = mergeReportSchema.safeParse(raw);
    if (rep.success) return settlementsOfConflicts(rep.data.conflicts);
    throw new ApolloError('BAD_REQUEST', `${what}: neither a merged bundle's manifest nor a merge report`);
  }
  const list = fileSchema.safeParse(raw);
  if (!list.success) throw new ApolloError('BAD_REQUEST', `${what}: expected a merged bundle, or a JSON list of {sessionId, stepId, label, votes?}`);
  return Array.isArray(list.data) ? list.data : list.data.settlements;
}
