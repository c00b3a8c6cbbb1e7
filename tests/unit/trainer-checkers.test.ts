// Tests of the trainer checkers in tests/fixtures/trainers/ (ports of LLaMA-Factory, Axolotl,
// mistral-finetune and OpenAI rules) on small hand-made examples. They pin the upstream
// behaviour the exporter tests rely on; see tests/fixtures/trainers/README.md.
import { describe, expect, it } from 'vitest';
import { TrainerError, parseJsonl } from '../fixtures/trainers/common';
import * as lf from '../fixtures/trainers/llamafactory';
import * as ax from '../fixtures/trainers/axolotl';
import * as mi from '../fixtures/trainers/mistral';
import * as oa from '../fixtures/trainers/openai';
import { parseYamlSubset, YamlSubsetError } from '../fixtures/trainers/yaml-subset';

const idx = (r: { trained: Array<{ index: number }> }): number[] => r.trained.map((t) => t.index);

// ---------------------------------------------------------------- LLaMA-Factory

const DATASET_INFO = {
  apollo: {
    file_name: 'sharegpt.jsonl',
    formatting: 'sharegpt',
    columns: { messages: 'conversations', system: 'system', tools: 'tools' },
    tags: { role_tag: 'from', content_tag: 'value', user_tag: 'human', assistant_tag: 'gpt', observation_tag: 'observation', function_tag: 'function_call', system_tag: 'system' },
  },
};
const ENTRY = DATASET_INFO.apollo;
const LS_TOOLS = JSON.stringify([{ name: 'ls', description: 'list', parameters: { type: 'object', properties: { path: { type: 'string' } } } }]);
const call = (path: string): string => JSON.stringify({ name: 'ls', arguments: { path } });

function sharegpt(mask: number[] = []): Record<string, unknown> {
  return {
    conversations: [
      { from: 'human', value: 'task' },
      { from: 'function_call', value: call('/a') },
      { from: 'observation', value: 'a.txt' },
      { from: 'function_call', value: call('/b') },
      { from: 'observation', value: 'b.txt' },
      { from: 'gpt', value: 'done' },
    ],
    system: 'sys',
    tools: LS_TOOLS,
    mask,
  };
}

describe('LLaMA-Factory checker', () => {
  it('resolves dataset_info.json like parser.py (formatting defaults to alpaca; a partial tags object nulls the rest)', () => {
    const a = lf.resolveDatasetAttr(DATASET_INFO, 'apollo');
    expect(a).toMatchObject({ load_from: 'file', dataset_name: 'sharegpt.jsonl', formatting: 'sharegpt', messages: 'conversations', user_tag: 'human', function_tag: 'function_call' });
    expect(lf.resolveDatasetAttr({ d: { file_name: 'x.json' } }, 'd').formatting).toBe('alpaca');
    const partial = lf.resolveDatasetAttr({ d: { file_name: 'x', formatting: 'sharegpt', tags: { role_tag: 'from', content_tag: 'value' } } }, 'd');
    expect(partial.user_tag).toBeNull();
    expect(lf.trainedTurns(sharegpt(), partial).dropped).toMatch(/Dropped invalid example.*Invalid role tag/);
    expect(() => lf.resolveDatasetAttr(DATASET_INFO, 'other')).toThrow(TrainerError);
  });

  it('ignores a mask column and trains every gpt / function_call turn', () => {
    const r = lf.trainedTurns(sharegpt([1, 3]), ENTRY);
    expect(r.dropped).toBeUndefined();
    expect(idx(r)).toEqual([1, 3, 5]);
    expect(r.trained.map((t) => t.role)).toEqual(['function_call', 'function_call', 'gpt']);
    expect(r.trained[0]!.text).toBe(call('/a'));
  });

  it('with mask_history trains only the last turn', () => {
    expect(idx(lf.trainedTurns(sharegpt([1, 3]), ENTRY, { mask_history: true }))).toEqual([5]);
  });

  it('with train_on_prompt also trains the human / observation turns; mask_history with it is refused', () => {
    expect(idx(lf.trainedTurns(sharegpt(), ENTRY, { train_on_prompt: true }))).toEqual([0, 1, 2, 3, 4, 5]);
    expect(() => lf.trainedTurns(sharegpt(), ENTRY, { train_on_prompt: true, mask_history: true })).toThrow(/incompatible/);
  });

  it('takes a leading system-tag turn as the system prompt (indices stay those of conversations)', () => {
    const ex = { conversations: [{ from: 'system', value: 'S' }, { from: 'human', value: 'q' }, { from: 'gpt', value: 'a' }], tools: '' };
    const r = lf.trainedTurns(ex, ENTRY);
    expect(r.aligned?.system).toBe('S');
    expect(idx(r)).toEqual([2]);
  });

  it('drops examples that break the even/odd role positions or have an odd number of turns', () => {
    const conv = (...from: string[]): Record<string, unknown> => ({ conversations: from.map((f) => ({ from: f, value: f === 'function_call' ? call('/') : 'x' })), system: '', tools: '' });
    expect(lf.trainedTurns(conv('gpt', 'human'), ENTRY).dropped).toMatch(/Invalid role tag "gpt" at conversations\[0\]/);
    expect(lf.trainedTurns(conv('human', 'gpt', 'gpt', 'human'), ENTRY).dropped).toMatch(/Invalid role tag "gpt" at conversations\[2\]/);
    expect(lf.trainedTurns(conv('human', 'gpt', 'human'), ENTRY).dropped).toMatch(/Invalid message count 3/);
    expect(lf.trainedTurns(conv('human', 'gpt', 'system', 'gpt'), ENTRY).dropped).toMatch(/Invalid role tag "system"/);
    expect(lf.trainedTurns(conv(), ENTRY).dropped).toMatch(/Dropped invalid example/);
    // observation may open a pair and gpt may follow it: only positions matter
    expect(idx(lf.trainedTurns(conv('observation', 'gpt', 'human', 'function_call'), ENTRY))).toEqual([1, 3]);
  });

  it('stops the run on a function_call value that is not {"name","arguments"} JSON, or on tools that are not JSON text', () => {
    const bad = sharegpt();
    (bad.conversations as Array<{ value: string }>)[1]!.value = 'ls /a';
    expect(() => lf.trainedTurns(bad, ENTRY)).toThrow(/Invalid JSON format in function message/);
    const noArgs = sharegpt();
    (noArgs.conversations as Array<{ value: string }>)[1]!.value = JSON.stringify({ name: 'ls' });
    expect(lf.validate(noArgs, ENTRY)[0]).toMatch(/needs "name" and "arguments"/);
    const listTools = { ...sharegpt(), tools: JSON.parse(LS_TOOLS) as unknown };
    expect(lf.validate(listTools, ENTRY)[0]).toMatch(/JSON text/);
    const noParams = { ...sharegpt(), tools: JSON.stringify([{ name: 'ls', description: 'list' }]) };
    expect(lf.validate(noParams, ENTRY)[0]).toMatch(/parameters/);
    expect(lf.validate(noParams, ENTRY, { toolFormat: 'qwen' })).toEqual([]);
    expect(lf.validate(sharegpt(), ENTRY)).toEqual([]);
  });

  it('cutoff_len: without mask_history the latest turns are lost first, with it the earliest', () => {
    const tokens = (): number => 10;
    // 3 pairs of 20 tokens; budget 45: pair 1 and 2 fit (40), pair 3 gets 5 tokens
    const plain = lf.trainedTurns(sharegpt(), ENTRY, { cutoff: { cutoff_len: 45, tokens } });
    expect(plain.trained.map((t) => [t.index, !!t.partial])).toEqual([[1, false], [3, false], [5, true]]);
    const tight = lf.trainedTurns(sharegpt(), ENTRY, { cutoff: { cutoff_len: 40, tokens } });
    expect(idx(tight)).toEqual([1, 3]);
    const mh = lf.trainedTurns(sharegpt(), ENTRY, { mask_history: true, cutoff: { cutoff_len: 25, tokens } });
    expect(idx(mh)).toEqual([5]);
    expect(lf.inferSeqlen(100, 10, 50)).toEqual([40, 10]); // short target: the source is cut
    expect(lf.inferSeqlen(10, 100, 50)).toEqual([10, 40]); // short source: the target is cut
    expect(lf.inferSeqlen(60, 40, 50)).toEqual([30, 20]); // both long: proportional
  });

  it('one example per kept action + mask_history trains each kept action exactly once and no masked one', () => {
    const full = sharegpt().conversations as Array<{ from: string; value: string }>;
    const kept = [3, 5]; // the function_call at 1 is masked
    const lines = kept.map((k) => ({ conversations: full.slice(0, k + 1), system: 'sys', tools: LS_TOOLS }));
    const trained = lines.flatMap((l) => lf.trainedTurns(l, ENTRY, { mask_history: true }).trained.map((t) => t.index));
    expect(trained).toEqual(kept);
    // the same lines without the flag train the masked action twice
    const without = lines.flatMap((l) => idx(lf.trainedTurns(l, ENTRY)));
    expect(without.filter((i) => i === 1)).toHaveLength(2);
  });
});

// ---------------------------------------------------------------- Axolotl

function openaiLine(): Record<string, unknown> {
  return {
    messages: [
      { role: 'system', content: 'sys' },
      { role: 'user', content: 'task' },
      { role: 'assistant', tool_calls: [{ id: 'c1', type: 'function', function: { name: 'ls', arguments: '{"path":"/a"}' } }], weight: 0 },
      { role: 'tool', tool_call_id: 'c1', content: 'a.txt' },
      { role: 'assistant', content: 'done', weight: 1 },
      { role: 'user', content: 'more' },
      { role: 'assistant', content: 'unweighted' },
    ],
    tools: [{ type: 'function', function: { name: 'ls', parameters: { type: 'object', properties: {} } } }],
  };
}
const CT: ax.AxolotlDatasetConfig = { path: 'openai.jsonl', type: 'chat_template' };

describe('Axolotl chat_template checker', () => {
  it('resolves the loader defaults (roles_to_train [assistant], train_on_eos turn, json for .jsonl)', () => {
    const r = ax.resolveDatasetConfig(CT);
    expect(r).toMatchObject({ dsType: 'json', chatTemplate: 'tokenizer_default', fieldMessages: 'messages', rolesToTrain: ['assistant'], trainOnEos: 'turn', trainOnEot: 'turn', messageFieldTraining: null });
    expect(r.messagePropertyMappings).toEqual({ role: 'role', content: 'content' });
    expect(ax.resolveDatasetConfig({ ...CT, roles_to_train: ['gpt'], train_on_eos: null }).rolesToTrain).toEqual(['assistant']);
    expect(ax.resolveDatasetConfig({ ...CT, train_on_eos: null }).trainOnEos).toBe('turn');
  });

  it('without message_field_training trains every assistant turn (weight is ignored)', () => {
    const r = ax.trainedTurns(openaiLine(), CT);
    expect(idx(r)).toEqual([2, 4, 6]);
    expect(r.trained[0]!.toolCalls).toHaveLength(1);
  });

  it('with message_field_training: weight trains weight-1 turns, and weight-less turns by role', () => {
    const r = ax.trainedTurns(openaiLine(), { ...CT, message_field_training: 'weight' });
    expect(idx(r)).toEqual([4, 6]);
    expect(r.eosAfter).toEqual([4, 6]);
    // a weight on a non-assistant turn is honoured too
    const line = openaiLine();
    (line.messages as Array<Record<string, unknown>>)[1]!.weight = 1;
    expect(idx(ax.trainedTurns(line, { ...CT, message_field_training: 'weight' }))).toEqual([1, 4, 6]);
    // roles_to_train: [] leaves only explicit weights
    expect(idx(ax.trainedTurns(openaiLine(), { ...CT, message_field_training: 'weight', roles_to_train: [] }))).toEqual([4]);
  });

  it('a null weight (Arrow schema merge) is the same as no weight', () => {
    const line = openaiLine();
    (line.messages as Array<Record<string, unknown>>)[6]!.weight = null;
    expect(idx(ax.trainedTurns(line, { ...CT, message_field_training: 'weight' }))).toEqual([4, 6]);
  });

  it('tool turns are trained only when the tool role is in roles_to_train; train_on_inputs trains all', () => {
    expect(idx(ax.trainedTurns(openaiLine(), { ...CT, message_field_training: 'weight', roles_to_train: ['assistant', 'tool'] }))).toEqual([3, 4, 6]);
    expect(idx(ax.trainedTurns(openaiLine(), CT, { train_on_inputs: true }))).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });

  it('a tool-call-only turn has nothing to train if the template does not read tool_calls', () => {
    expect(idx(ax.trainedTurns(openaiLine(), CT, {}, { templateMessageVars: [] }))).toEqual([4, 6]);
  });

  it('a top-level system key becomes a first system turn unless messages[0] is one', () => {
    const line = { system: 'S', messages: [{ role: 'user', content: 'q' }, { role: 'assistant', content: 'a' }] };
    const r = ax.trainedTurns(line, CT);
    expect(r.turns?.[0]).toMatchObject({ index: -1, role: 'system', content: 'S' });
    expect(idx(r)).toEqual([1]);
  });

  it('maps legacy message_field_role/content and ShareGPT role names; conflicting mappings raise', () => {
    const line = { conversations: [{ from: 'human', value: 'q' }, { from: 'gpt', value: 'a' }] };
    const ds = { ...CT, field_messages: 'conversations', message_field_role: 'from', message_field_content: 'value' };
    expect(ax.trainedTurns(line, ds).trained).toEqual([{ index: 1, role: 'assistant', text: 'a' }]);
    expect(() => ax.resolveDatasetConfig({ ...ds, message_property_mappings: { role: 'role' } })).toThrow(/Conflicting message role fields/);
  });

  it('stops the run on tool-call arguments that are not JSON and on null messages', () => {
    const line = openaiLine();
    ((line.messages as Array<Record<string, unknown>>)[2]!.tool_calls as Array<{ function: { arguments: string } }>)[0]!.function.arguments = '{bad';
    expect(ax.validate(line, CT)[0]).toMatch(/JSONDecodeError/);
    expect(ax.validate({ messages: null }, CT)[0]).toMatch(/Messages is null/);
    expect(ax.validate(openaiLine(), CT)).toEqual([]);
  });

  it('train_on_eos: all trains the EOS after every turn, none after no turn', () => {
    const ds = { ...CT, message_field_training: 'weight' };
    expect(ax.trainedTurns(openaiLine(), { ...ds, train_on_eos: 'all' }).eosAfter).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(ax.trainedTurns(openaiLine(), { ...ds, train_on_eos: 'none' }).eosAfter).toEqual([]);
    expect(ax.trainedTurns(openaiLine(), { ...ds, train_on_eos: 'last' }).eosAfter).toEqual([6]);
  });

  it('drops rows longer than sequence_len (or raises), and zero-trainable rows only with sample_packing', () => {
    const ds = { ...CT, message_field_training: 'weight' };
    expect(ax.trainedTurns(openaiLine(), ds, { sequence_len: 100 }, { tokenCount: 101 }).dropped).toMatch(/sequence_len/);
    expect(ax.trainedTurns(openaiLine(), ds, {}, { tokenCount: 513 }).dropped).toMatch(/513 > 512/);
    expect(() => ax.trainedTurns(openaiLine(), ds, { excess_length_strategy: 'raise' }, { tokenCount: 600 })).toThrow(/exceeds the maximum 512/);
    const allMasked = { messages: [{ role: 'user', content: 'q' }, { role: 'assistant', content: 'a', weight: 0 }] };
    const nEos = { ...ds, train_on_eos: 'none' as const };
    expect(ax.trainedTurns(allMasked, nEos).dropped).toBeUndefined();
    expect(ax.trainedTurns(allMasked, nEos, { sample_packing: true }).dropped).toMatch(/no trainable tokens/);
  });

  it('list contents with per-part weights train part of a turn', () => {
    const line = { messages: [{ role: 'user', content: 'q' }, { role: 'assistant', content: [{ type: 'text', text: 'think', weight: 0 }, { type: 'text', text: ' answer' }] }] };
    expect(ax.trainedTurns(line, CT).trained).toEqual([{ index: 1, role: 'assistant', text: 'think answer', partial: true }]);
  });

  it('reads the recommended axolotl.yml through the YAML subset', () => {
    const yml = [
      '# written by the exporter',
      'datasets:',
      '  - path: openai.jsonl',
      '    ds_type: json',
      '    type: chat_template',
      '    field_messages: messages',
      '    message_property_mappings:',
      '      role: role',
      '      content: content',
      '    message_field_training: weight',
      '    roles_to_train: ["assistant"]',
      '    train_on_eos: turn',
      'train_on_inputs: false',
      'sequence_len: 8192',
      '',
    ].join('\n');
    const cfg = parseYamlSubset(yml) as ax.AxolotlConfig;
    const [ds] = ax.chatTemplateDatasets(cfg);
    expect(ds).toMatchObject({ path: 'openai.jsonl', dsType: 'json', messageFieldTraining: 'weight', rolesToTrain: ['assistant'], trainOnEos: 'turn' });
    expect(cfg.sequence_len).toBe(8192);
    expect(idx(ax.trainedTurns(openaiLine(), ds!, cfg))).toEqual([4, 6]);
  });
});

describe('YAML subset', () => {
  it('parses block mappings, sequences, flow sequences and scalars', () => {
    expect(parseYamlSubset('a: 1\nb: "x: y"\nc: [a, \'b c\']\nd:\n- 1.5\n- null\n- true\ne: {}\nf:\n')).toEqual({ a: 1, b: 'x: y', c: ['a', 'b c'], d: [1.5, null, true], e: {}, f: null });
    expect(parseYamlSubset('l:\n  - k: v\n    n:\n      - - x\n')).toEqual({ l: [{ k: 'v', n: [['x']] }] });
    expect(parseYamlSubset("a: 'it''s' # note\n")).toEqual({ a: "it's" });
  });

  it('refuses what PyYAML could read differently', () => {
    for (const bad of ['a: yes', 'a: on', 'a: 1e5', 'a: 2024-01-01', 'a: 0o17', 'a: &x 1', 'a: |\n  t', 'a: b: c', 'a: 1\na: 2', 'a:\n\t- x', 'a: {b: 1}', 'a: x\n  y']) {
      expect(() => parseYamlSubset(bad), bad).toThrow(YamlSubsetError);
    }
  });
});

// ---------------------------------------------------------------- mistral-finetune

const M_TOOLS = [{ type: 'function', function: { name: 'ls', description: 'list', parameters: { type: 'object', properties: {} } } }];

function mistralLine(): Record<string, unknown> {
  return {
    messages: [
      { role: 'system', content: 'sys' },
      { role: 'user', content: 'task' },
      { role: 'assistant', tool_calls: [{ id: 'abcDEF123', type: 'function', function: { name: 'ls', arguments: '{"path":"/a"}' } }], weight: 0 },
      { role: 'tool', tool_call_id: 'abcDEF123', content: 'a.txt' },
      { role: 'assistant', tool_calls: [{ id: 'Zz9Zz9Zz9', type: 'function', function: { name: 'ls', arguments: '{"path":"/b"}' } }] },
      { role: 'tool', tool_call_id: 'Zz9Zz9Zz9', content: 'b.txt' },
      { role: 'assistant', content: 'done', weight: 1 },
    ],
    tools: M_TOOLS,
  };
}
type Msgs = Array<Record<string, unknown>>;

describe('mistral-finetune checker', () => {
  it('accepts a well-formed function-calling line', () => {
    expect(mi.validate(mistralLine())).toEqual([]);
    const s = mi.buildInstructSample(mistralLine());
    expect(s.systemPrompt).toBe('sys');
    expect(s.onlyLast).toBe(true);
  });

  it('rejects tool call ids that are not 9 alphanumerics', () => {
    for (const id of ['call_1', 'abcdefgh', 'abcdefghij', 'abcd-fgh1']) {
      const l = mistralLine();
      ((l.messages as Msgs)[2]!.tool_calls as Array<{ id: string }>)[0]!.id = id;
      expect(mi.validate(l)[0], id).toMatch(/Tool call id was .* length of 9/);
    }
    const l = mistralLine();
    (l.messages as Msgs)[3]!.tool_call_id = 'short';
    expect(mi.validate(l)[0]).toMatch(/InvalidToolMessageException/);
  });

  it('rejects a last message that is not the assistant\'s', () => {
    const l = mistralLine();
    (l.messages as Msgs).push({ role: 'user', content: 'thanks' });
    expect(mi.validate(l)[0]).toMatch(/Expected last role Assistant for finetuning but got user/);
    const r = mi.trainedTurns(l);
    expect(r.error).toMatch(/Expected last role/);
    expect(r.trained).toEqual([]);
  });

  it('rejects content beside tool calls, a user right after a tool, a second system message, missing description', () => {
    const both = mistralLine();
    (both.messages as Msgs)[2]!.content = 'let me look';
    expect(mi.validate(both)[0]).toMatch(/either content or tool_calls, but not both/);
    const afterTool = mistralLine();
    (afterTool.messages as Msgs).splice(4, 0, { role: 'user', content: 'hint' });
    expect(mi.validate(afterTool)[0]).toMatch(/Unexpected role 'user' after role 'tool'/);
    const twoSys = mistralLine();
    (twoSys.messages as Msgs).splice(1, 0, { role: 'system', content: 'again' });
    expect(mi.validate(twoSys)[0]).toMatch(/Multiple messages with role 'system'/);
    const noDesc = { ...mistralLine(), tools: [{ type: 'function', function: { name: 'ls', parameters: {} } }] };
    expect(mi.validate(noDesc)[0]).toMatch(/does not have a description key/);
    const objArgs = mistralLine();
    ((objArgs.messages as Msgs)[2]!.tool_calls as Array<{ function: { arguments: unknown } }>)[0]!.function.arguments = { path: '/a' };
    expect(mi.validate(objArgs)[0]).toMatch(/of type str/);
    const unanswered = mistralLine();
    (unanswered.messages as Msgs).splice(3, 1);
    expect(mi.validate(unanswered)[0]).toMatch(/Not the same number of function calls and responses/);
    const w = mistralLine();
    (w.messages as Msgs)[6]!.weight = 0.5;
    expect(mi.validate(w)[0]).toMatch(/weight must be either 0 or 1/);
  });

  it('without tools trains every assistant message whose weight is not 0', () => {
    const l = { messages: [{ role: 'user', content: 'q' }, { role: 'assistant', content: 'a', weight: 0 }, { role: 'user', content: 'q2' }, { role: 'assistant', content: 'b' }, { role: 'user', content: 'q3' }, { role: 'assistant', content: 'c', weight: 1 }] };
    const r = mi.trainedTurns(l);
    expect(idx(r)).toEqual([3, 5]);
    expect(r.samples).toHaveLength(1);
  });

  it('with tools trains only the last message of a sample; dynamic chunking makes every earlier assistant a last message once', () => {
    const noChunk = mi.trainedTurns(mistralLine(), { dynamicChunkFnCall: false });
    expect(idx(noChunk)).toEqual([6]);
    expect(idx(mi.trainedTurns(mistralLine(), { eval: true }))).toEqual([6]);
    const chunked = mi.trainedTurns(mistralLine());
    expect(chunked.samples.map((s) => s.messages.at(-1))).toEqual([6, 4, 2]);
    expect(chunked.samples.map((s) => s.trained)).toEqual([[6], [4], []]); // messages[2] has weight 0
    expect(idx(chunked)).toEqual([4, 6]);
    expect(chunked.warnings.join()).toMatch(/no token in the loss/);
    expect(() => mi.trainedTurns(mistralLine(), { shuffle: false })).toThrow(/dynamic_chunk_fn_call/);
  });

  it('only_last also comes from an empty available_tools list (not from an empty tools list)', () => {
    const base = { messages: [{ role: 'user', content: 'q' }, { role: 'assistant', content: 'a' }, { role: 'user', content: 'q2' }, { role: 'assistant', content: 'b' }] };
    expect(mi.buildInstructSample({ ...base, tools: [] }).onlyLast).toBe(false);
    expect(mi.buildInstructSample({ ...base, available_tools: [] }).onlyLast).toBe(true);
    expect(idx(mi.trainedTurns({ ...base, available_tools: [] }, { dynamicChunkFnCall: false }))).toEqual([3]);
  });

  it('one line per kept action with earlier weights 0 trains each kept action once, chunking or not', () => {
    const full = mistralLine().messages as Msgs;
    const kept = [4, 6];
    const lines = kept.map((k) => ({
      messages: full.slice(0, k + 1).map((m, i) => (m.role === 'assistant' ? { ...m, weight: i === k ? 1 : 0 } : m)),
      tools: M_TOOLS,
    }));
    for (const opts of [{}, { dynamicChunkFnCall: false }]) {
      expect(lines.flatMap((l) => idx(mi.trainedTurns(l, opts)))).toEqual(kept);
    }
  });
});

// ---------------------------------------------------------------- OpenAI

describe('OpenAI checker', () => {
  const line = (): Record<string, unknown> => ({
    messages: [
      { role: 'system', content: 'sys' },
      { role: 'user', content: 'task' },
      { role: 'assistant', tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'ls', arguments: '{}' } }], weight: 0 },
      { role: 'tool', tool_call_id: 'call_1', content: 'a.txt' },
      { role: 'assistant', content: 'done', weight: 1 },
      { role: 'user', content: 'more' },
      { role: 'assistant', content: 'again' },
    ],
    tools: [{ type: 'function', function: { name: 'ls', description: 'list', parameters: { type: 'object', properties: {} } } }],
  });

  it('trains assistant messages with weight 1 or no weight', () => {
    const r = oa.trainedTurns(line());
    expect(r.error).toBeUndefined();
    expect(idx(r)).toEqual([4, 6]);
  });

  it('rejects weights other than 0/1, weights off assistant messages, unknown keys, missing content', () => {
    const w = line();
    (w.messages as Msgs)[4]!.weight = 0.5;
    expect(oa.validate(w).join()).toMatch(/weight must be 0 or 1/);
    const wu = line();
    (wu.messages as Msgs)[1]!.weight = 1;
    expect(oa.validate(wu).join()).toMatch(/only defined on assistant messages/);
    const rc = line();
    (rc.messages as Msgs)[4]!.reasoning_content = 'hmm';
    expect(oa.validate(rc).join()).toMatch(/message_unrecognized_key reasoning_content/);
    const empty = line();
    (empty.messages as Msgs)[4] = { role: 'assistant' };
    expect(oa.validate(empty).join()).toMatch(/missing_content/);
    const noAsst = { messages: [{ role: 'user', content: 'q' }] };
    expect(oa.validate(noAsst)).toContain('example_missing_assistant_message');
    const args = line();
    ((args.messages as Msgs)[2]!.tool_calls as Array<{ function: { arguments: unknown } }>)[0]!.function.arguments = {};
    expect(oa.validate(args).join()).toMatch(/arguments: string/);
    expect(oa.trainedTurns(w).error).toMatch(/weight/);
  });

  it('the cookbook notebook checks count errors as it does (and predate tool calls)', () => {
    const data = parseJsonl([
      JSON.stringify({ messages: [{ role: 'user', content: 'q' }, { role: 'assistant', content: 'a', weight: 0 }] }),
      JSON.stringify({ messages: [] }),
      JSON.stringify([1]),
      JSON.stringify({ messages: [{ role: 'user', content: '' }, { role: 'bot', content: 'a' }] }),
      JSON.stringify(line()),
      '',
    ].join('\n'));
    expect(data).toHaveLength(5);
    expect(oa.cookbookFormatErrors(data.slice(0, 1))).toEqual({});
    expect(oa.cookbookFormatErrors(data.slice(1, 4))).toEqual({ missing_messages_list: 1, data_type: 1, missing_content: 1, unrecognized_role: 1, example_missing_assistant_message: 1 });
    expect(oa.cookbookFormatErrors(data.slice(4))).toEqual({ message_unrecognized_key: 2, unrecognized_role: 1, missing_content: 1, message_missing_key: 1 });
  });
});
