// A seeded pseudo-random generator (mulberry32): the same numbers for the same seed on
// every machine, for generated sessions and randomised tests that must be reproducible.
// Not for anything secret (ids, keys and tokens use node:crypto).

/** Numbers in [0, 1), the same sequence for the same seed. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
