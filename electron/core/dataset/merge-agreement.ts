// Agreement between annotators on the actions more than one of them labelled:
// observed pairwise agreement, Cohen's kappa for every pair of annotators and
// Fleiss' kappa over everyone. Only annotator labels count (a judge or a rule is not
// a rater whose reliability a lead wants to know), one label per person per action.
//
// Fleiss' kappa in the form for a varying number of raters per item with two
// categories, Fleiss & Cuzick (1979), as Fleiss, Levin & Paik give it ("Statistical
// Methods for Rates and Proportions", §18.2): over the N items with n_i ≥ 2 ratings,
// x_i of them keep, n̄ = Σ n_i / N, p̄ = Σ x_i / Σ n_i, q̄ = 1 − p̄,
// κ = 1 − Σ_i x_i(n_i − x_i)/n_i / (N (n̄ − 1) p̄ q̄). With the same number of raters on
// every item it is Fleiss' (1971) kappa, and with two it equals Scott's pi, not Cohen's
// kappa (Cohen uses each rater's own marginals): both are reported for that reason.
// (An earlier version averaged Fleiss' per-item agreement P_i with pooled marginals,
// which is neither this nor Gwet's form when the number of raters varies.)
import type { Agreement } from './manifest-schema';

export type Label = 'keep' | 'mask';

/** Four decimals: enough to read, and the manifest stays stable across platforms' last bits. */
function round(x: number): number {
  return Math.round(x * 10_000) / 10_000;
}

function kappaOf(observed: number, chance: number): number | null {
  // Chance agreement of 1 (everyone used one label only): kappa is undefined.
  if (chance >= 1 - 1e-12) return null;
  return round((observed - chance) / (1 - chance));
}

/** What Cohen's kappa needs of the items two raters both labelled. */
interface PairCounts {
  n: number;
  agreed: number;
  aKeep: number;
  bKeep: number;
}

export function cohensKappa(pairs: ReadonlyArray<readonly [Label, Label]>): { items: number; agreed: number; agreement: number | null; kappa: number | null } {
  const c: PairCounts = { n: 0, agreed: 0, aKeep: 0, bKeep: 0 };
  for (const [a, b] of pairs) count(c, a, b);
  return kappaOfCounts(c);
}

function count(c: PairCounts, a: Label, b: Label): void {
  c.n++;
  if (a === b) c.agreed++;
  if (a === 'keep') c.aKeep++;
  if (b === 'keep') c.bKeep++;
}

function kappaOfCounts({ n, agreed, aKeep, bKeep }: PairCounts): { items: number; agreed: number; agreement: number | null; kappa: number | null } {
  if (n === 0) return { items: 0, agreed: 0, agreement: null, kappa: null };
  const po = agreed / n;
  const pe = (aKeep / n) * (bKeep / n) + (1 - aKeep / n) * (1 - bKeep / n);
  return { items: n, agreed, agreement: round(po), kappa: kappaOf(po, pe) };
}

/** Fleiss' kappa over items with at least two ratings each (others are ignored). */
export function fleissKappa(items: ReadonlyArray<{ keep: number; mask: number }>): { items: number; pairwise: number | null; kappa: number | null } {
  const t = new FleissTally();
  for (const { keep, mask } of items) t.add(keep, mask);
  return t.result();
}

/** Fleiss–Cuzick sums, item by item (the items in a fixed order: the same sums to the last bit). */
class FleissTally {
  private rated = 0;
  /** Σ x_i(n_i − x_i)/n_i: the disagreement within items. */
  private within = 0;
  private keepTotal = 0;
  private ratings = 0;
  private agreeingPairs = 0;
  private pairs = 0;

  add(keep: number, mask: number): void {
    const n = keep + mask;
    if (n < 2) return;
    this.rated++;
    this.within += (keep * mask) / n;
    this.agreeingPairs += (keep * (keep - 1) + mask * (mask - 1)) / 2;
    this.pairs += (n * (n - 1)) / 2;
    this.keepTotal += keep;
    this.ratings += n;
  }

  result(): { items: number; pairwise: number | null; kappa: number | null } {
    if (!this.rated) return { items: 0, pairwise: null, kappa: null };
    const p = this.keepTotal / this.ratings;
    const nBar = this.ratings / this.rated;
    const between = this.rated * (nBar - 1) * p * (1 - p);
    // Everyone used one label only: kappa is undefined.
    const kappa = between <= 1e-12 ? null : round(1 - this.within / between);
    return { items: this.rated, pairwise: round(this.agreeingPairs / this.pairs), kappa };
  }
}

/**
 * The agreement section of a merged manifest, an action at a time: what it holds is a
 * count per pair of annotators and Fleiss' sums, not the ratings.
 */
export class AgreementTally {
  // Counted per item over the pairs rating it (not per pair over every item: 50 annotators
  // are 1,225 pairs, most of whom share no item).
  private readonly byPair = new Map<string, PairCounts & { a: string; b: string }>();
  private readonly fleiss = new FleissTally();

  /** One action's ratings (annotator name → label); fewer than two count for nothing. */
  add(r: ReadonlyMap<string, Label>): void {
    if (r.size < 2) return;
    const rated = [...r.entries()].sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0));
    for (let i = 0; i < rated.length; i++) {
      for (let j = i + 1; j < rated.length; j++) {
        const [a, la] = rated[i]!;
        const [b, lb] = rated[j]!;
        const key = `${a}\u0000${b}`;
        let c = this.byPair.get(key);
        if (!c) this.byPair.set(key, (c = { a, b, n: 0, agreed: 0, aKeep: 0, bKeep: 0 }));
        count(c, la, lb);
      }
    }
    let keep = 0;
    for (const l of r.values()) if (l === 'keep') keep++;
    this.fleiss.add(keep, r.size - keep);
  }

  result(): Agreement {
    const pairs: Agreement['pairs'] = [...this.byPair.values()]
      .sort((x, y) => (x.a < y.a ? -1 : x.a > y.a ? 1 : x.b < y.b ? -1 : x.b > y.b ? 1 : 0))
      .map((c) => ({ annotators: [c.a, c.b], ...kappaOfCounts(c) }));
    const f = this.fleiss.result();
    return { items: f.items, pairwise: f.pairwise, fleissKappa: f.kappa, pairs };
  }
}
