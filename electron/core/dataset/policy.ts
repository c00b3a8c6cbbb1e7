// How labels become training weights. One place, shared by every exporter and the
// manifest, so the counts in the manifest always match the weights in the files.
import type { LabelSource } from '../../../shared/events';
import { effectiveLabel, type LabelRecord } from '../../../shared/trajectory';

export interface LabelPolicy {
  /**
   * An action that has no label from an honoured source (unreviewed): 'keep' trains
   * it, 'mask' does not, 'refuse' refuses to export while any is left. Default 'keep'.
   */
  unlabelled: 'keep' | 'mask' | 'refuse';
  /**
   * Label sources honoured, highest precedence first is fixed (annotator > judge > rule);
   * this only filters. E.g. ['annotator'] trains on human decisions only. Default all three.
   */
  sources: LabelSource[];
  /**
   * Tool calls whose arguments are not a JSON object cannot be exported faithfully (they
   * are wrapped as {"_raw": "..."}), so their assistant turn gets weight 0. Default true.
   */
  maskInvalidArguments: boolean;
}

export const DEFAULT_LABEL_POLICY: LabelPolicy = Object.freeze({
  unlabelled: 'keep',
  sources: ['annotator', 'judge', 'rule'],
  maskInvalidArguments: true,
}) as LabelPolicy;

export function resolvePolicy(p?: Partial<LabelPolicy>): LabelPolicy {
  const sources = (p?.sources ?? DEFAULT_LABEL_POLICY.sources).filter((s, i, a) => a.indexOf(s) === i);
  return {
    unlabelled: p?.unlabelled ?? DEFAULT_LABEL_POLICY.unlabelled,
    // Canonical order so the manifest is stable whatever order the caller used.
    sources: (['annotator', 'judge', 'rule'] as LabelSource[]).filter((s) => sources.includes(s)),
    maskInvalidArguments: p?.maskInvalidArguments ?? DEFAULT_LABEL_POLICY.maskInvalidArguments,
  };
}

/** The label in force among the honoured sources (the shared precedence rule). */
export const labelUnder = effectiveLabel;

/** Why an action got its weight. */
export type WeightReason = 'annotator' | 'judge' | 'rule' | 'unlabelled' | 'invalid-arguments';

export interface WeightDecision {
  weight: 0 | 1;
  reason: WeightReason;
  /** True when no honoured source labelled the action. */
  unlabelled: boolean;
}

export function decideWeight(label: LabelRecord | null, argumentsValid: boolean, policy: LabelPolicy): WeightDecision {
  if (policy.maskInvalidArguments && !argumentsValid) return { weight: 0, reason: 'invalid-arguments', unlabelled: label === null };
  // 'refuse' plans as 'keep': the export stops before writing when any is left.
  if (!label) return { weight: policy.unlabelled === 'mask' ? 0 : 1, reason: 'unlabelled', unlabelled: true };
  return { weight: label.label === 'keep' ? 1 : 0, reason: label.source, unlabelled: false };
}
