/** Deepest nesting of arrays and objects a client message may have. */
export const MAX_MESSAGE_DEPTH = 64;

/**
 * Does `value` nest arrays/objects deeper than `max` levels? Iterative, so the check
 * itself cannot overflow the stack on the input it exists to refuse (JSON.parse takes
 * 100k nested arrays in its stride; the zod, JSON.stringify and structuredClone calls
 * that come after it recurse and would throw "Maximum call stack size exceeded").
 */
export function nestedDeeperThan(value: unknown, max: number): boolean {
  const stack: Array<{ v: unknown; depth: number }> = [{ v: value, depth: 0 }];
  while (stack.length > 0) {
    const { v, depth } = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (depth + 1 > max) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v)) {
      if (child !== null && typeof child === 'object') stack.push({ v: child, depth: depth + 1 });
    }
  }
  return false;
}
