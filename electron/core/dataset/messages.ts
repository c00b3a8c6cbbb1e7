// Reading the model's tool-call arguments, shared by every exporter: the model's
// raw text is kept, and whether it is a JSON object decides how a trainer is given it.
import { blankArguments, blankToolName } from '../../../shared/tools';

/** Parse model argument text; valid means a JSON object (blank text counts as {}, the tool runner's rule). */
export function parseArguments(raw: string): { valid: boolean; value: Record<string, unknown> | null } {
  if (blankArguments(raw)) return { valid: true, value: {} };
  try {
    const v: unknown = JSON.parse(raw);
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) return { valid: true, value: v as Record<string, unknown> };
  } catch {
    // fall through
  }
  return { valid: false, value: null };
}

/**
 * A call that can be trained: it names a tool (a blank name is no call; the prompt
 * builder sends it as invalid_tool_call and the tool runner refuses it) and its
 * arguments parse (parseArguments).
 */
export function validToolCall(c: { name: string; arguments: string }): boolean {
  return !blankToolName(c.name) && parseArguments(c.arguments).valid;
}
