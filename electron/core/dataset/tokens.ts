// Token counts for the manifest, the dry run and --max-tokens splits. The bundle's
// models are often not OpenAI's (Qwen, GLM, Llama…), whose tokenizers are not on npm
// in a form that runs offline; o200k_base (gpt-tokenizer, pure JS, ranks bundled) is
// a real BPE whose counts are within a few percent of those families on English text
// and code, and it is exact for GPT-4o-family models. The manifest names the
// encoding so nobody mistakes the figures for the target model's own.
import { countTokens } from 'gpt-tokenizer/encoding/o200k_base';
import type { WireMessage } from '../../../shared/events';

export const TOKENIZER = 'o200k_base (gpt-tokenizer)';

/** Per-message overhead of chat templates (role markers, separators): OpenAI's documented 3. */
const PER_MESSAGE = 3;

const cache = new WeakMap<object, number>();

/** Tokens of one message as a chat template would render it (content, tool calls). */
export function messageTokens(m: WireMessage): number {
  const hit = cache.get(m);
  if (hit !== undefined) return hit;
  let n = PER_MESSAGE;
  if (typeof m.content === 'string') n += countTokens(m.content);
  if (Array.isArray(m.tool_calls)) {
    for (const c of m.tool_calls as Array<{ function?: { name?: string; arguments?: string } }>) {
      n += countTokens(c.function?.name ?? '') + countTokens(c.function?.arguments ?? '') + PER_MESSAGE;
    }
  }
  cache.set(m, n);
  return n;
}

const toolsCache = new WeakMap<object, number>();

/** Tokens of the tool schemas, which templates render into the prompt. */
export function toolsTokens(tools: readonly unknown[] | undefined): number {
  if (!tools || !tools.length) return 0;
  const hit = toolsCache.get(tools);
  if (hit !== undefined) return hit;
  const n = countTokens(JSON.stringify(tools));
  toolsCache.set(tools, n);
  return n;
}
