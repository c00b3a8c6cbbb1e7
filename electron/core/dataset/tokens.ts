// Token counts for the manifest, the dry run and --max-tokens splits. The bundle's
// models are often not OpenAI's (Qwen, GLM, Llama…), whose tokenizers are not on npm
// in a form that runs offline; o200k_base (gpt-tokenizer, pure JS, ranks bundled) is
// a real BPE whose counts are within a few percent of those families on English text
// and code, and it is exact for GPT-4o-family models. The manifest names the
// encoding so nobody mistakes the figures for the target model's own.
import { createRequire } from 'node:module';
import type { WireMessage } from '../../../shared/events';
import { textKey, type TokenCountStore } from './token-store';

type CountTokens = typeof import('gpt-tokenizer/encoding/o200k_base').countTokens;
/**
 * Loaded on the first count: its ranks take ~0.1 s to load, which every `apollo`
 * command and host start paid although most never count a token.
 */
let countTokens: CountTokens | null = null;

export const TOKENIZER = 'o200k_base (gpt-tokenizer)';

/** Per-message overhead of chat templates (role markers, separators): OpenAI's documented 3. */
const PER_MESSAGE = 3;

// By object, for one export (resetTokenCache): a message met again in a later export must reach countText, which notes it in that export's store.
let cache = new WeakMap<object, number>();

/**
 * Counts by text. The same turn reaches the counter as many objects: the request
 * record's message, its OpenAI form, its redacted copy, and one copy per per-action
 * line that carries it as history (weights changed), so a cache by object identity
 * alone counted a long observation once per line it appears in. The cache is emptied
 * when it holds LIMIT texts and after each export (resetTokenCache), so it never
 * outlives the strings it names. A text met again in another session's export is
 * noted in that session's store by its key, made once (exportTextKey).
 */
const byText = new Map<string, number>();
const LIMIT = 500_000;
/** The store of the session whose examples are being counted (useTokenStore). */
let store: TokenCountStore | null = null;

/**
 * Special-token text (`<|endoftext|>`, `<|im_start|>`) is counted as the text it is:
 * gpt-tokenizer's default throws on it, and an agent that printed a tokenizer config
 * or a dataset then made its whole session impossible to export. This also skips the
 * scan for special tokens over every text counted.
 */
const AS_TEXT = { disallowedSpecial: new Set<string>() };

/** Texts handed to the tokenizer in this process (tests: what the store spared). */
let tokenized = 0;
export function tokenizedTexts(): number {
  return tokenized;
}

function count(s: string): number {
  tokenized++;
  countTokens ??= (createRequire(import.meta.url)('gpt-tokenizer/encoding/o200k_base') as { countTokens: CountTokens }).countTokens;
  return countTokens(s, AS_TEXT);
}

/** The exact count of one text, as an export counts it (no cache, no store). */
export function countTokensOf(s: string): number {
  return count(s);
}

/**
 * Store keys by text, for one export (resetTokenCache): redaction (redaction-memo.ts)
 * and counting look up the same texts, and hashing them twice was a tenth of a
 * repeated export. byText already holds these texts as long.
 */
const keys = new Map<string, string>();

/**
 * A session's keys by text, kept with it for as long as it is open (sessionTextKeys):
 * the host notes the key of each text as its event is recorded (token-warmer.ts), a few
 * KB per step, so that its first export hashes none of them. On a 48-hour session those
 * texts are 10 MB, and hashing them (the SHA-256, and V8's own hash of each string as a
 * Map key) was a sixth of that export. Exports add the keys they make, so a session
 * opened from disk hashes its texts once, not at every export.
 */
export type TextKeys = Map<string, string>;
const sessionKeys = new WeakMap<object, TextKeys>();

/** The keys by text of `session` (the host's SessionLog, or any object standing for one). */
export function sessionTextKeys(session: object): TextKeys {
  let k = sessionKeys.get(session);
  if (!k) sessionKeys.set(session, (k = new Map()));
  return k;
}

/** The keys of the session being exported (null: none kept), until the next call. */
let inUse: TextKeys | null = null;
export function useTextKeys(k: TextKeys | null): void {
  inUse = k;
}

/** textKey, made once per text (kept for the session in use, else for this export; at most LIMIT texts, the strings a session holds anyway). */
export function exportTextKey(s: string): string {
  return inUse?.get(s) ?? keys.get(s) ?? keyInto(inUse ?? keys, s);
}

/** Note the keys of `texts` in `into` (a session's, as they are recorded). */
export function noteTextKeys(into: TextKeys, texts: readonly string[]): void {
  for (const t of texts) if (!into.has(t)) keyInto(into, t);
}

function keyInto(into: TextKeys, s: string): string {
  const k = textKey(s);
  if (into.size >= LIMIT) into.clear();
  into.set(s, k);
  return k;
}

function countText(s: string): number {
  // Short texts too: with every text in the store the tokenizer is never loaded.
  const key = store ? exportTextKey(s) : null;
  let n = byText.get(s);
  if (n === undefined) {
    n = (key !== null ? store!.get(key) : undefined) ?? count(s);
    if (byText.size >= LIMIT) byText.clear();
    byText.set(s, n);
  }
  if (key !== null) store!.put(key, n);
  return n;
}

/**
 * Count with `s` as the session's store of known counts (null: none) until the next
 * call. The counts themselves never depend on it: the store only spares recounting.
 */
export function useTokenStore(s: TokenCountStore | null): void {
  store = s;
}

/** Forget the counts by text (the texts of one export are not needed by the next). */
export function resetTokenCache(): void {
  byText.clear();
  keys.clear();
  cache = new WeakMap();
  toolsCache = new WeakMap();
  store = null;
}

/** Tokens of one message as a chat template would render it (content, tool calls). */
export function messageTokens(m: WireMessage): number {
  const hit = cache.get(m);
  if (hit !== undefined) return hit;
  let n = PER_MESSAGE;
  if (typeof m.content === 'string') n += countText(m.content);
  if (Array.isArray(m.tool_calls)) {
    for (const c of m.tool_calls as Array<{ function?: { name?: string; arguments?: string } }>) {
      n += countText(c.function?.name ?? '') + countText(c.function?.arguments ?? '') + PER_MESSAGE;
    }
  }
  cache.set(m, n);
  return n;
}

let toolsCache = new WeakMap<object, number>();

/** Tokens of the tool schemas, which templates render into the prompt. */
export function toolsTokens(tools: readonly unknown[] | undefined): number {
  if (!tools || !tools.length) return 0;
  const hit = toolsCache.get(tools);
  if (hit !== undefined) return hit;
  const n = countText(JSON.stringify(tools));
  toolsCache.set(tools, n);
  return n;
}
