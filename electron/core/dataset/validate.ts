// Checks run on every file of a bundle before it is published. The OpenAI checks
// follow OpenAI's "data preparation and analysis for chat model fine-tuning" guide,
// extended to tool calls as the chat fine-tuning API requires them:
//   - each line is valid JSON, an object with a non-empty `messages` list (and
//     optionally `tools`, `parallel_tool_calls`);
//   - each message has role system/user/assistant/tool and only the keys allowed for
//     that role; content, when present, is a string; system/user/tool have content;
//   - an assistant message has text content or tool_calls;
//   - at least one assistant message per example;
//   - tool_calls are {id, type:"function", function:{name, arguments}} with unique ids
//     and `arguments` a string that parses as a JSON object (the exporter turns
//     unparseable model arguments into {"_raw": "…"} so this holds);
//   - the tool messages answering an assistant's calls follow it directly; every call
//     is answered by exactly one tool message with its id, and every tool message
//     answers a call made before it; only the calls of the example's last message
//     (the trained action) may be unanswered, as in OpenAI's function-calling examples;
//   - `weight` appears only on assistant messages and is 0 or 1;
//   - `tools` entries are {type:"function", function:{name (^[a-zA-Z0-9_-]{1,64}$), …}}.
// ShareGPT checks follow LLaMA-Factory's loader (role alternation, even length,
// function_call values it can parse (sharegpt-values.ts), tools as JSON text).
// mistral checks follow mistral-common's finetuning validator (V3): roles, the last
// message the assistant's, content XOR tool_calls, call ids ^[a-zA-Z0-9]{9}$, no user
// turn right after a tool turn, every call answered before the next assistant turn.
// asciicast checks follow the v2 spec (header fields, [time, code, data] events,
// non-decreasing times, known event codes).

import { readFunctionCallValue, TOOL_CALL_CLOSE, TOOL_CALL_OPEN } from './sharegpt-values';

export interface ValidationError {
  /** 1-based line number (0 = the file as a whole). */
  line: number;
  message: string;
}

export const MAX_ERRORS = 100;

const ROLE_KEYS: Record<string, readonly string[]> = {
  system: ['role', 'content', 'name'],
  user: ['role', 'content', 'name'],
  assistant: ['role', 'content', 'name', 'tool_calls', 'weight'],
  tool: ['role', 'content', 'tool_call_id'],
};
const TOOL_NAME = /^[a-zA-Z0-9_-]{1,64}$/;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Line `n` parsed, or the error saying it is not JSON. */
function parseJson(line: string, n: number): { value: unknown } | { error: ValidationError } {
  try {
    return { value: JSON.parse(line) as unknown };
  } catch (e) {
    return { error: { line: n, message: `invalid JSON: ${(e as Error).message}` } };
  }
}

/** The record a line's value must be (null when it is not an object), its errors so far and a reporter adding to them. */
function valueRecord(v: unknown, n: number): { rec: Record<string, unknown> | null; errors: ValidationError[]; err(message: string): void } {
  const errors: ValidationError[] = [];
  const err = (message: string): void => {
    errors.push({ line: n, message });
  };
  if (isObject(v)) return { rec: v, errors, err };
  err('line is not a JSON object');
  return { rec: null, errors, err };
}

export interface OpenAIValidateOptions {
  /** Accept `reasoning_content` on assistant messages (export option reasoning: 'field'). */
  allowReasoning?: boolean;
}

export function validateOpenAILine(line: string, n: number, opts: OpenAIValidateOptions = {}): ValidationError[] {
  const p = parseJson(line, n);
  return 'error' in p ? [p.error] : validateOpenAIValue(p.value, n, opts);
}

/** The checks of validateOpenAILine on the value a line was written from (JSON.stringify's text is that value: nothing to parse back). */
export function validateOpenAIValue(v: unknown, n: number, opts: OpenAIValidateOptions = {}): ValidationError[] {
  const p = valueRecord(v, n);
  return p.rec ? openaiChecks(p.rec, p.errors, p.err, opts) : p.errors;
}

function openaiChecks(rec: Record<string, unknown>, errors: ValidationError[], err: (message: string) => void, opts: OpenAIValidateOptions): ValidationError[] {
  for (const k of Object.keys(rec)) if (!['messages', 'tools', 'parallel_tool_calls'].includes(k)) err(`unrecognized top-level key "${k}"`);
  if (rec.tools !== undefined) validateTools(rec.tools, err);
  const messages = rec.messages;
  if (!Array.isArray(messages) || messages.length === 0) {
    err('"messages" must be a non-empty list');
    return errors;
  }
  const callIds = new Set<string>();
  const answered = new Set<string>();
  let open: Set<string> | null = null; // calls of the last assistant message not yet answered
  let assistants = 0;
  messages.forEach((m: unknown, i) => {
    const at = `message ${i}`;
    if (!isObject(m)) {
      err(`${at}: not an object`);
      return;
    }
    const role = m.role;
    if (typeof role !== 'string' || !(role in ROLE_KEYS)) {
      err(`${at}: unrecognized role ${JSON.stringify(role)}`);
      return;
    }
    const allowed = role === 'assistant' && opts.allowReasoning ? [...ROLE_KEYS[role]!, 'reasoning_content'] : ROLE_KEYS[role]!;
    for (const k of Object.keys(m)) if (!allowed.includes(k)) err(`${at}: key "${k}" is not allowed on a ${role} message`);
    if ('content' in m && typeof m.content !== 'string') err(`${at}: content must be a string`);
    if (role !== 'assistant' && !('content' in m)) err(`${at}: missing content`);
    if ('weight' in m && m.weight !== 0 && m.weight !== 1) err(`${at}: weight must be 0 or 1`);
    if ('reasoning_content' in m && typeof m.reasoning_content !== 'string') err(`${at}: reasoning_content must be a string`);

    if (open && open.size > 0 && role !== 'tool') {
      err(`${at}: tool call(s) ${[...open].join(', ')} not answered before the next ${role} message`);
      open = null;
    }
    if (role === 'assistant') {
      assistants++;
      const calls = m.tool_calls;
      const hasText = typeof m.content === 'string' && m.content !== '';
      if (calls !== undefined) {
        if (!Array.isArray(calls) || calls.length === 0) err(`${at}: tool_calls must be a non-empty list`);
        else {
          open = new Set();
          calls.forEach((c: unknown, j) => {
            const cat = `${at} tool_calls[${j}]`;
            if (!isObject(c)) return err(`${cat}: not an object`);
            for (const k of Object.keys(c)) if (!['id', 'type', 'function'].includes(k)) err(`${cat}: unrecognized key "${k}"`);
            if (typeof c.id !== 'string' || c.id === '') err(`${cat}: id must be a non-empty string`);
            else if (callIds.has(c.id)) err(`${cat}: duplicate tool call id ${c.id}`);
            else {
              callIds.add(c.id);
              open!.add(c.id);
            }
            if (c.type !== 'function') err(`${cat}: type must be "function"`);
            const f = c.function;
            if (!isObject(f)) return err(`${cat}: function must be an object`);
            if (typeof f.name !== 'string' || f.name === '') err(`${cat}: function.name must be a non-empty string`);
            if (typeof f.arguments !== 'string') err(`${cat}: function.arguments must be a string`);
            else {
              try {
                if (!isObject(JSON.parse(f.arguments))) err(`${cat}: function.arguments must encode a JSON object`);
              } catch {
                err(`${cat}: function.arguments is not valid JSON`);
              }
            }
          });
        }
      } else if (!hasText) err(`${at}: assistant message has neither content nor tool_calls`);
    } else if (role === 'tool') {
      const id = m.tool_call_id;
      if (typeof id !== 'string' || id === '') err(`${at}: tool_call_id must be a non-empty string`);
      else if (!callIds.has(id)) err(`${at}: tool message answers no earlier tool call (${id})`);
      else if (answered.has(id)) err(`${at}: tool call ${id} answered more than once`);
      else if (!open?.has(id)) err(`${at}: tool message for ${id} does not directly follow its assistant message`);
      else {
        answered.add(id);
        open.delete(id);
      }
    }
  });
  const lastIsAssistant = isObject(messages[messages.length - 1]) && (messages[messages.length - 1] as Record<string, unknown>).role === 'assistant';
  if (open !== null && (open as Set<string>).size > 0 && !lastIsAssistant) err(`tool call(s) ${[...(open as Set<string>)].join(', ')} never answered`);
  if (assistants === 0) err('example has no assistant message');
  return errors;
}

function validateTools(tools: unknown, err: (m: string) => void): void {
  if (!Array.isArray(tools)) return err('"tools" must be a list');
  const names = new Set<string>();
  tools.forEach((t: unknown, i) => {
    const at = `tools[${i}]`;
    if (!isObject(t) || t.type !== 'function' || !isObject(t.function)) return err(`${at}: must be {type:"function", function:{…}}`);
    const f = t.function;
    if (typeof f.name !== 'string' || !TOOL_NAME.test(f.name)) return err(`${at}: function.name must match ${TOOL_NAME.source}`);
    if (names.has(f.name)) err(`${at}: duplicate tool name ${f.name}`);
    names.add(f.name);
    if (f.description !== undefined && typeof f.description !== 'string') err(`${at}: description must be a string`);
    if (f.parameters !== undefined && !isObject(f.parameters)) err(`${at}: parameters must be a JSON schema object`);
  });
}

const SHAREGPT_FROM = ['human', 'gpt', 'function_call', 'observation', 'system'];

export function validateShareGPTLine(line: string, n: number): ValidationError[] {
  const p = parseJson(line, n);
  return 'error' in p ? [p.error] : validateShareGPTValue(p.value, n);
}

/** The checks of validateShareGPTLine on the value a line was written from (JSON.stringify's text is that value: nothing to parse back). */
export function validateShareGPTValue(v: unknown, n: number): ValidationError[] {
  const p = valueRecord(v, n);
  return p.rec ? sharegptChecks(p.rec, p.errors, p.err) : p.errors;
}

function sharegptChecks(rec: Record<string, unknown>, errors: ValidationError[], err: (message: string) => void): ValidationError[] {
  if (rec.system !== undefined && typeof rec.system !== 'string') err('"system" must be a string');
  // An empty tools text means no tools (LLaMA-Factory skips a falsy column).
  if (rec.tools !== undefined && rec.tools !== '') {
    if (typeof rec.tools !== 'string') err('"tools" must be a JSON string');
    else {
      try {
        const t: unknown = JSON.parse(rec.tools);
        if (!Array.isArray(t)) err('"tools" must encode a list');
        else t.forEach((x: unknown, i) => {
          const f = isObject(x) && x.type === 'function' && isObject(x.function) ? x.function : x;
          if (!isObject(f) || typeof f.name !== 'string' || !TOOL_NAME.test(f.name)) err(`tools[${i}]: needs a valid "name"`);
        });
      } catch {
        err('"tools" is not valid JSON');
      }
    }
  }
  const conv = rec.conversations;
  if (!Array.isArray(conv) || conv.length === 0) {
    err('"conversations" must be a non-empty list');
    return errors;
  }
  let base = 0;
  conv.forEach((m: unknown, i) => {
    const at = `turn ${i}`;
    if (!isObject(m)) return err(`${at}: not an object`);
    for (const k of Object.keys(m)) if (k !== 'from' && k !== 'value') err(`${at}: unrecognized key "${k}"`);
    if (typeof m.value !== 'string') err(`${at}: value must be a string`);
    if (typeof m.from !== 'string' || !SHAREGPT_FROM.includes(m.from)) return err(`${at}: unrecognized "from" ${JSON.stringify(m.from)}`);
    if (m.from === 'system') {
      if (i === 0) base = 1;
      else err(`${at}: a system turn may only come first`);
      return;
    }
    const even = (i - base) % 2 === 0;
    if (even && m.from !== 'human' && m.from !== 'observation') err(`${at}: expected human or observation, got ${m.from}`);
    if (!even && m.from !== 'gpt' && m.from !== 'function_call') err(`${at}: expected gpt or function_call, got ${m.from}`);
    if (m.from === 'function_call' && typeof m.value === 'string') {
      // As LLaMA-Factory reads it: JSON, or text with the JSON in its tool-call words.
      const read = readFunctionCallValue(m.value);
      if (!read) err(`${at}: function_call value is not valid JSON (nor text with JSON between ${TOOL_CALL_OPEN} and ${TOOL_CALL_CLOSE})`);
      else {
        const calls = Array.isArray(read.calls) ? read.calls : [read.calls];
        if (calls.length === 0) err(`${at}: function_call list is empty`);
        for (const c of calls) {
          if (!isObject(c) || typeof c.name !== 'string' || !('arguments' in c)) err(`${at}: function_call needs {"name","arguments"}`);
        }
      }
    }
  });
  if ((conv.length - base) % 2 !== 0) err('conversation must end with a gpt or function_call turn (even number of turns)');
  if (rec.mask !== undefined) err('unexpected "mask" column: LLaMA-Factory ignores it (masking is by mask_history, one action per line)');
  return errors;
}

const MISTRAL_ID = /^[a-zA-Z0-9]{9}$/;
const MISTRAL_NEXT: Record<string, readonly string[]> = { system: ['user', 'assistant', 'system'], user: ['assistant', 'user', 'system'], assistant: ['assistant', 'user', 'tool'], tool: ['assistant', 'tool'] };

export function validateMistralLine(line: string, n: number): ValidationError[] {
  const p = parseJson(line, n);
  return 'error' in p ? [p.error] : validateMistralValue(p.value, n);
}

/** The checks of validateMistralLine on the value a line was written from (JSON.stringify's text is that value: nothing to parse back). */
export function validateMistralValue(v: unknown, n: number): ValidationError[] {
  const p = valueRecord(v, n);
  return p.rec ? mistralChecks(p.rec, p.errors, p.err) : p.errors;
}

function mistralChecks(rec: Record<string, unknown>, errors: ValidationError[], err: (message: string) => void): ValidationError[] {
  if (rec.tools !== undefined) {
    validateTools(rec.tools, err);
    if (Array.isArray(rec.tools)) rec.tools.forEach((t: unknown, i) => {
      const f = isObject(t) && isObject(t.function) ? t.function : null;
      if (f && (typeof f.description !== 'string' || !isObject(f.parameters))) err(`tools[${i}]: mistral needs a description and parameters`);
    });
  }
  const messages = rec.messages;
  if (!Array.isArray(messages) || messages.length === 0) {
    err('"messages" must be a non-empty list');
    return errors;
  }
  let prev: string | null = null;
  let pending = new Set<string>();
  let systems = 0;
  messages.forEach((m: unknown, i) => {
    const at = `message ${i}`;
    if (!isObject(m) || typeof m.role !== 'string' || !(m.role in MISTRAL_NEXT)) return err(`${at}: unrecognized message`);
    const role = m.role;
    if (role === 'system') systems++;
    if (prev && !MISTRAL_NEXT[prev]!.includes(role)) err(`${at}: a ${role} message may not follow a ${prev} message`);
    if (role === 'assistant') {
      if (pending.size) err(`${at}: tool call(s) ${[...pending].join(', ')} not answered`);
      pending = new Set();
      const calls = Array.isArray(m.tool_calls) ? m.tool_calls : null;
      const text = typeof m.content === 'string' && m.content !== '';
      if (!!calls === text) err(`${at}: an assistant message needs content or tool_calls, not both`);
      if (m.weight !== undefined && m.weight !== 0 && m.weight !== 1) err(`${at}: weight must be 0 or 1`);
      for (const c of calls ?? []) {
        const id = isObject(c) ? c.id : undefined;
        if (typeof id !== 'string' || !MISTRAL_ID.test(id)) err(`${at}: tool call id ${JSON.stringify(id)} must match ${MISTRAL_ID.source}`);
        else pending.add(id);
        const f = isObject(c) && isObject(c.function) ? c.function : null;
        if (!f || typeof f.name !== 'string' || !TOOL_NAME.test(f.name) || typeof f.arguments !== 'string') err(`${at}: tool call needs function {name, arguments as a string}`);
      }
    } else if (role === 'tool') {
      const id = m.tool_call_id;
      if (typeof id !== 'string' || !MISTRAL_ID.test(id)) err(`${at}: tool_call_id ${JSON.stringify(id)} must match ${MISTRAL_ID.source}`);
      else if (!pending.delete(id)) err(`${at}: tool message answers no open call (${id})`);
    } else if (typeof m.content !== 'string') err(`${at}: content must be a string`);
    prev = role;
  });
  if (systems > 1) err('at most one system message');
  if (prev !== 'assistant') err('the last message must be the assistant\'s');
  return errors;
}

export function validateMistralJsonl(text: string): ValidationError[] {
  return validateJsonl(text, validateMistralLine);
}

/** Validate a JSONL text with a per-line validator; an empty file is valid. */
export function validateJsonl(text: string, check: (line: string, n: number) => ValidationError[]): ValidationError[] {
  const errors: ValidationError[] = [];
  const lines = text.split('\n');
  if (text !== '' && !text.endsWith('\n')) errors.push({ line: lines.length, message: 'file does not end with a newline' });
  if (text.endsWith('\n')) lines.pop();
  lines.forEach((l, i) => {
    if (errors.length >= MAX_ERRORS) return;
    if (l === '') errors.push({ line: i + 1, message: 'empty line' });
    else errors.push(...check(l, i + 1));
  });
  return errors.slice(0, MAX_ERRORS);
}

export function validateOpenAIJsonl(text: string, opts?: OpenAIValidateOptions): ValidationError[] {
  return validateJsonl(text, (l, n) => validateOpenAILine(l, n, opts));
}

export function validateShareGPTJsonl(text: string): ValidationError[] {
  return validateJsonl(text, validateShareGPTLine);
}

/** Line-by-line asciicast v2 checker, for streaming large files. */
export class AsciicastValidator {
  readonly errors: ValidationError[] = [];
  private n = 0;
  private lastT = 0;

  private err(message: string): void {
    if (this.errors.length < MAX_ERRORS) this.errors.push({ line: this.n, message });
  }

  line(text: string): void {
    this.n++;
    if (this.errors.length >= MAX_ERRORS) return;
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch {
      return this.err('invalid JSON');
    }
    this.check(v);
  }

  /**
   * The next line as the value it encodes, for a writer that serialises it with
   * JSON.stringify (valid JSON on one line by construction): the same checks as
   * `line` without parsing back what was just encoded, a gigabyte of it in an export.
   */
  value(v: unknown): void {
    this.n++;
    if (this.errors.length >= MAX_ERRORS) return;
    this.check(v);
  }

  private check(v: unknown): void {
    if (this.n === 1) {
      if (!isObject(v)) return this.err('header is not a JSON object');
      if (v.version !== 2) this.err('header: version must be 2');
      for (const k of ['width', 'height'] as const) {
        if (typeof v[k] !== 'number' || !Number.isInteger(v[k]) || (v[k] as number) <= 0) this.err(`header: ${k} must be a positive integer`);
      }
      if (v.timestamp !== undefined && (typeof v.timestamp !== 'number' || !Number.isInteger(v.timestamp))) this.err('header: timestamp must be an integer');
      if (v.title !== undefined && typeof v.title !== 'string') this.err('header: title must be a string');
      if (v.env !== undefined && (!isObject(v.env) || Object.values(v.env).some((x) => typeof x !== 'string'))) this.err('header: env must map names to strings');
      return;
    }
    if (!Array.isArray(v) || v.length !== 3) return this.err('event must be [time, code, data]');
    const [t, code, data] = v as [unknown, unknown, unknown];
    if (typeof t !== 'number' || !Number.isFinite(t) || t < 0) return this.err('event time must be a non-negative number');
    if (t < this.lastT) this.err(`event time ${t} goes back (previous ${this.lastT})`);
    this.lastT = Math.max(this.lastT, t);
    if (code !== 'o' && code !== 'i' && code !== 'm' && code !== 'r') this.err(`unknown event code ${JSON.stringify(code)}`);
    if (typeof data !== 'string') this.err('event data must be a string');
    else if (code === 'r' && !/^\d+x\d+$/.test(data)) this.err('resize data must be "COLSxROWS"');
  }

  end(): ValidationError[] {
    if (this.n === 0) this.errors.push({ line: 0, message: 'empty file: no header' });
    return this.errors;
  }
}

export function validateAsciicast(text: string): ValidationError[] {
  const v = new AsciicastValidator();
  const lines = text.split('\n');
  if (text.endsWith('\n')) lines.pop();
  else if (text !== '') return [{ line: lines.length, message: 'file does not end with a newline' }];
  for (const l of lines) {
    if (l === '') {
      v.line('');
      continue;
    }
    v.line(l);
  }
  return v.end();
}
