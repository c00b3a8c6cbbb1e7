// LLaMA-Factory's ShareGPT values for a reply's tool calls and for their results: what
// the export writes (trainers.ts), checks as it writes (validate.ts) and what the import
// reads back (import/adapters/sft.ts), so the three agree on one form.
//
// From LLaMA-Factory's source (hiyouga/LLaMA-Factory, read at ff6d4d12):
//   - data/formatter.py FunctionFormatter.apply (since v0.9.4, #9610): a function_call
//     value is JSON ({"name","arguments"} or a list of them), or text holding that JSON
//     between the template's tool-call words, `<tool_call>` and `</tool_call>` unless a
//     template names others (template.py register_template). The first such pair is the
//     calls; the text around it is kept before them ("thought_content + function_str"),
//     so the text a model wrote beside its calls is trained and seen as it was.
//   - data/converter.py OpenAIDatasetConverter: parallel results are one observation,
//     joined by "\n</tool_response>\n<tool_response>\n", which Qwen-style observation
//     slots (`<tool_response>\n{{content}}\n</tool_response>`) render as the separate
//     result blocks the model was shown.

export const TOOL_CALL_OPEN = '<tool_call>';
export const TOOL_CALL_CLOSE = '</tool_call>';
export const RESULTS_JOIN = '\n</tool_response>\n<tool_response>\n';

/** The first calls between the default tool-call words, across lines (formatter.py's regex). */
const FIRST_CALLS = /<tool_call>([\s\S]*?)<\/tool_call>/;
/** LLaMA-Factory's default thought words (template.py), which a function value may lead with when it has no tool-call words. */
const THOUGHT = /<think>\n([\s\S]*?)\n<\/think>\n\n/;

/**
 * True when `text` can go beside its calls: text holding the tool-call words would be
 * taken for the calls, so such a reply keeps its calls alone (as before LLaMA-Factory
 * 0.9.4, and as mistral-finetune must).
 */
export function textFitsBesideCalls(text: string | null | undefined): text is string {
  return !!text && !text.includes(TOOL_CALL_OPEN) && !text.includes(TOOL_CALL_CLOSE);
}

/**
 * A function_call value: the JSON of the calls (one object, or a list for parallel
 * calls), after the reply's text and a newline (as Qwen's chat template puts one between
 * them) when it has a text that fits (textFitsBesideCalls). Inside the words every `<`
 * of the JSON is written `\u003c` (the same JSON), so no argument can close them early.
 */
export function functionCallValue(text: string | null | undefined, calls: unknown): string {
  const json = JSON.stringify(calls);
  if (!textFitsBesideCalls(text)) return json;
  return `${text}\n${TOOL_CALL_OPEN}${json.replace(/</g, '\\u003c')}${TOOL_CALL_CLOSE}`;
}

/**
 * A function_call value read as LLaMA-Factory reads it: the reply's text (what is around
 * the first tool-call words, less the newline functionCallValue puts before them; a
 * leading thought block when there are none) and the parsed JSON of the calls. Null when
 * that JSON does not parse (LLaMA-Factory stops the run there).
 */
export function readFunctionCallValue(value: string): { text: string; calls: unknown } | null {
  let text = '';
  let json = value;
  const m = FIRST_CALLS.exec(value);
  if (m) {
    text = value.slice(0, m.index) + value.slice(m.index + m[0].length);
    if (m.index === text.length && text.endsWith('\n')) text = text.slice(0, -1);
    json = m[1]!;
  } else {
    const t = THOUGHT.exec(value);
    if (t) {
      text = t[0];
      json = value.slice(0, t.index) + value.slice(t.index + t[0].length);
    }
  }
  try {
    return { text, calls: JSON.parse(json) as unknown };
  } catch {
    return null;
  }
}

/** The observation of a reply's results: one as it is, several joined as LLaMA-Factory joins them. */
export function joinResults(results: readonly string[]): string {
  return results.join(RESULTS_JOIN);
}

/**
 * The results of `n` calls out of one observation: split where joinResults joined them,
 * else (bundles before it, other tools) a JSON list of `n`; null when neither gives `n`.
 */
export function splitResults(value: string, n: number): string[] | null {
  if (n <= 1) return [value];
  const parts = value.split(RESULTS_JOIN);
  if (parts.length === n) return parts;
  try {
    const v = JSON.parse(value) as unknown;
    if (Array.isArray(v) && v.length === n) return v.map((x) => (typeof x === 'string' ? x : JSON.stringify(x)));
  } catch {
    // not a list
  }
  return null;
}
