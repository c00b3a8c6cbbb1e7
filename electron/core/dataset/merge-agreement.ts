// Agreement between annotators on the actions more than one of them labelled:
// observed pairwise agreement, Cohen's kappa for every pair of annotators and
// Fleiss' kappa over everyone. Only annotator labels count (a judge or a rule is not
// a rater whose reliability a lead wants to know), one label per person per action.
//
// Fleiss' kappa is the form for a varying number of raters per item (Fleiss 1971,
// as generalised in e.g. Fleiss, Levin & Paik, "Statistical Methods for Rates and
// Proportions", §18): P_i = Σ_k n_ik(n_ik − 1) / (n_i(n_i − 1)), P̄ = mean P_i,
// p_k = Σ_i n_ik / Σ_i n_i, P̄e = Σ_k p_k², κ = (P̄ − P̄e) / (1 − P̄e). With two raters
// on every item it equals Scott's pi, not Cohen's kappa (Cohen uses each rater's own
// marginals): both are reported for that reason.
import type { Agreement } from './manifest-schema';

export type Label = 'keep' | 'mask';

/** Per action, each annotator's label (annotator name → label). */
export type Ratings = ReadonlyArray<ReadonlyMap<string, Label>>;

/** Four decimals: enough to read, and the manifest stays stable across platforms' last bits. */
function round(x: number): number {
  return Math.round(x * 10_000) / 10_000;
}

function kappaOf(observed: number, chance: number): number | null {
  // Chance agreement of 1 (everyone used one label only): kappa is undefined.
  if (chance >= 1 - 1e-12) return null;
  return round((observed - chance) / (1 - chance));
}

export function cohensKappa(pairs: ReadonlyArray<readonly [Label, Label]>): { items: number; agreed: number; agreement: number | null; kappa: number | null } {
  const n = pairs.length;
  if (n === 0) return { items: 0, agreed: 0, agreement: null, kappa: null };
  let agreed = 0;
  let aKeep = 0;
  let bKeep = 0;
  for (const [a, b] of pairs) {
    if (a === b) agreed++;
    if (a === 'keep') aKeep++;
    if (b === 'keep') bKeep++;
  }
  const po = agreed / n;
  const pe = (aKeep / n) * (bKeep / n) + (1 - aKeep / n) * (1 - bKeep / n);
  return { items: n, agreed, agreement: round(po), kappa: kappaOf(po, pe) };
}

/** Fleiss' kappa over items with at least two ratings each (others are ignored). */
export function fleissKappa(items: ReadonlyArray<{ keep: number; mask: number }>): { items: number; pairwise: number | null; kappa: number | null } {
  const rated = items.filter((i) => i.keep + i.mask >= 2);
  if (!rated.length) return { items: 0, pairwise: null, kappa: null };
  let sumP = 0;
  let keepTotal = 0;
  let ratings = 0;
  let agreeingPairs = 0;
  let pairs = 0;
  for (const { keep, mask } of rated) {
    const n = keep + mask;
    const same = keep * (keep - 1) + mask * (mask - 1);
    sumP += same / (n * (n - 1));
    agreeingPairs += same / 2;
    pairs += (n * (n - 1)) / 2;
    keepTotal += keep;
    ratings += n;
  }
  const pBar = sumP / rated.length;
  const pk = keepTotal / ratings;
  const pe = pk * pk + (1 - pk) * (1 - pk);
  return { items: rated.length, pairwise: round(agreeingPairs / pairs), kappa: kappaOf(pBar, pe) };
}

/** The agreement section of a merged manifest. */
export function agreementOf(ratings: Ratings): Agreement {
  const multi = ratings.filter((r) => r.size >= 2);
  const names = [...new Set(multi.flatMap((r) => [...r.keys()]))].sort();
  const pairs: Agreement['pairs'] = [];
  for (let i = 0; i < names.length; i++) {
    for (let j = i + 1; j < names.length; j++) {
      const a = names[i]!;
      const b = names[j]!;
      const both: Array<[Label, Label]> = [];
      for (const r of multi) {
        const la = r.get(a);
        const lb = r.get(b);
        if (la && lb) both.push([la, lb]);
      }
      if (both.length) pairs.push({ annotators: [a, b], ...cohensKappa(both) });
    }
  }
  const counts = multi.map((r) => {
    let keep = 0;
    for (const l of r.values()) if (l === 'keep') keep++;
    return { keep, mask: r.size - keep };
  });
  const f = fleissKappa(counts);
  return { items: f.items, pairwise: f.pairwise, fleissKappa: f.kappa, pairs };
}
