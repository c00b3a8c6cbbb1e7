// Reading the model's tool-call arguments, shared by every exporter: the model's
// raw text is kept, and whether it is a JSON object decides how a trainer is given it.

/** Parse model argument text; valid means a JSON object (empty text counts as {}). */
export function parseArguments(raw: string): { valid: boolean; value: Record<string, unknown> | null } {
  if (raw.trim() === '') return { valid: true, value: {} };
  try {
    const v: unknown = JSON.parse(raw);
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) return { valid: true, value: v as Record<string, unknown> };
  } catch {
    // fall through
  }
  return { valid: false, value: null };
}
