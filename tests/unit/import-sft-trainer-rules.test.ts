// SFT datasets imported as their trainers would train them (LLaMA-Factory at ff6d4d12,
// axolotl at 067b021c): a line the trainer skips, a KTO or DPO line, a turn its own flags
// leave out, a function call the trainer cannot read are kept for review but not trained,
// and every such case is said in the notes; a valid file is never refused.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImportWorkspace, type ImportedSession } from '../fixtures/import';
import { effectiveLabel, requestMessages } from '../../shared/trajectory';

let w: ImportWorkspace;
beforeAll(async () => {
  w = await ImportWorkspace.create();
});
afterAll(async () => {
  await w.close();
});

let files = 0;
async function file(name: string, text: string, dir?: string): Promise<string> {
  const d = join(w.root, dir ?? `f${++files}`);
  await mkdir(d, { recursive: true });
  const f = join(d, name);
  await writeFile(f, text);
  return f;
}

const jsonl = (...lines: unknown[]) => `${lines.map((l) => JSON.stringify(l)).join('\n')}\n`;
const notes = (s: ImportedSession) => s.events.flatMap((e) => (e.type === 'warning' ? [e.message] : []));
const request = (s: ImportedSession, k: number) => requestMessages(s.t, s.main[k]!.requestId!)!;
const allSteps = (s: ImportedSession) => [...s.t.steps.values()];

describe('ShareGPT lines LLaMA-Factory skips as abnormal', () => {
  it('trains no step of a line whose turns do not alternate, or whose count is odd, and counts them', async () => {
    const f = await file('abnormal.jsonl', jsonl(
      { conversations: [{ from: 'human', value: 'a' }, { from: 'gpt', value: 'b' }] },
      // Two replies in a row: gpt at an even position.
      { conversations: [{ from: 'human', value: 'a' }, { from: 'gpt', value: 'b' }, { from: 'gpt', value: 'c' }, { from: 'human', value: 'd' }] },
      // A leading system turn is allowed; then an odd count (ends on the person).
      { conversations: [{ from: 'system', value: 's' }, { from: 'human', value: 'a' }, { from: 'gpt', value: 'b' }, { from: 'human', value: 'c' }] },
      // A system turn later on is at no allowed position.
      { conversations: [{ from: 'human', value: 'a' }, { from: 'system', value: 's' }, { from: 'gpt', value: 'b' }] },
    ));
    const { sessions } = await w.import(f);
    expect(sessions).toHaveLength(4);
    expect(sessions[0]!.main.map((s) => s.notTrained)).toEqual([undefined]);
    for (const s of sessions.slice(1)) {
      expect(s.main.length).toBeGreaterThan(0);
      for (const st of s.main) expect(st.notTrained).toMatch(/^not trained: LLaMA-Factory skips this example as abnormal: /);
      expect(notes(s).some((n) => /abnormal/.test(n))).toBe(true);
    }
    expect(sessions[1]!.main[0]!.notTrained).toMatch(/conversations\[2\]/);
    expect(sessions[2]!.main[0]!.notTrained).toMatch(/odd|count/);
    // The file's count, on its last session.
    expect(notes(sessions[3]!).some((n) => /3 line\(s\) LLaMA-Factory skips as abnormal/.test(n))).toBe(true);
  });
});

describe('a turn whose "from" LLaMA-Factory does not read', () => {
  it('keeps the line, as a person\'s turn, trains none of it, and imports the rest of the file', async () => {
    const f = await file('odd-tag.jsonl', jsonl(
      { conversations: [{ from: 'human', value: 'a' }, { from: 'bot', value: 'b' }, { from: 'human', value: 'c' }, { from: 'gpt', value: 'd' }] },
      { conversations: [{ from: 'human', value: 'a' }, { from: 'gpt', value: 'b' }] },
    ));
    const { sessions } = await w.import(f);
    expect(sessions).toHaveLength(2);
    expect(sessions[0]!.main.map((s) => s.notTrained)).toEqual([expect.stringMatching(/abnormal: conversations\[1\] is "bot"/)]);
    expect(request(sessions[0]!, 0).map((m) => [m.role, m.content])).toEqual([['user', 'a'], ['user', 'b'], ['user', 'c']]);
    expect(notes(sessions[0]!).some((n) => /"from" is "bot"/.test(n))).toBe(true);
    expect(sessions[1]!.main.map((s) => s.notTrained)).toEqual([undefined]);
  });
});

describe('KTO lines (a label column)', () => {
  it('does not train a reply labelled undesirable, nor the prompt of a KTO line, and says the labels were read', async () => {
    const f = await file('kto.jsonl', jsonl(
      { conversations: [{ from: 'human', value: 'a' }, { from: 'gpt', value: 'good' }], label: true },
      { conversations: [{ from: 'human', value: 'a' }, { from: 'gpt', value: 'earlier' }, { from: 'human', value: 'b' }, { from: 'gpt', value: 'bad' }], label: false },
    ));
    const { sessions } = await w.import(f);
    expect(sessions[0]!.main.map((s) => s.notTrained)).toEqual([undefined]);
    const [earlier, bad] = sessions[1]!.main;
    expect(bad!.notTrained).toMatch(/^not trained: .*label: false/);
    expect(earlier!.notTrained).toMatch(/^not trained: .*KTO/);
    expect(notes(sessions[1]!).some((n) => /KTO/.test(n) && /label: false/.test(n))).toBe(true);
    expect(notes(sessions[0]!).some((n) => /KTO/.test(n))).toBe(true);
  });

  it('reads the label of OpenAI-shaped records too', async () => {
    const f = await file('kto-messages.jsonl', jsonl({ messages: [{ role: 'user', content: 'a' }, { role: 'assistant', content: 'bad' }], label: false }));
    const { sessions } = await w.import(f);
    expect(sessions[0]!.main[0]!.notTrained).toMatch(/label: false/);
  });
});

describe('DPO lines (chosen / rejected)', () => {
  it('trains none of the line, keeps the chosen reply as a step and the rejected one as a branch beside it', async () => {
    const f = await file('dpo.jsonl', jsonl({
      conversations: [{ from: 'human', value: 'q1' }, { from: 'gpt', value: 'a1' }, { from: 'human', value: 'q2' }],
      chosen: { from: 'gpt', value: 'the good one' },
      rejected: { from: 'gpt', value: 'the bad one' },
    }));
    const { sessions } = await w.import(f);
    const [s] = sessions;
    expect(s!.main.map((st) => st.response!.content)).toEqual(['a1', 'the good one']);
    const steps = allSteps(s!);
    expect(steps).toHaveLength(3);
    for (const st of steps) expect(st.notTrained).toMatch(/^not trained: .*(preference|DPO)/);
    const rejected = steps.find((st) => st.response!.content === 'the bad one')!;
    expect(rejected.parentId).toBe(s!.main[0]!.id);
    expect(rejected.branchId).not.toBe('main');
    // Both replies answer the whole prompt.
    expect(requestMessages(s!.t, rejected.requestId!)).toEqual(request(s!, 1));
    expect(request(s!, 1).map((m) => m.content)).toEqual(['q1', 'a1', 'q2']);
    expect(notes(s!).some((n) => /preference|DPO/.test(n))).toBe(true);
  });

  it('does the same for OpenAI-shaped records, chosen and rejected as plain texts', async () => {
    const f = await file('dpo-messages.jsonl', jsonl({ messages: [{ role: 'user', content: 'q' }], chosen: 'yes', rejected: 'no' }));
    const { sessions } = await w.import(f);
    const steps = allSteps(sessions[0]!);
    expect(steps.map((st) => st.response!.content).sort()).toEqual(['no', 'yes']);
    for (const st of steps) expect(st.notTrained).toBeTruthy();
  });
});

describe('axolotl training flags', () => {
  it('honours train and weight on OpenAI messages, and does not train a reply whose content parts differ', async () => {
    const f = await file('flags.jsonl', jsonl({
      messages: [
        { role: 'user', content: 'a' },
        { role: 'assistant', content: 'no', train: false },
        { role: 'user', content: 'b' },
        { role: 'assistant', content: [{ type: 'text', text: 'think', train: false }, { type: 'text', text: ' answer', train: true }] },
        { role: 'user', content: 'c' },
        { role: 'assistant', content: [{ type: 'text', text: 'all out', weight: 0 }] },
        { role: 'user', content: 'd' },
        { role: 'assistant', content: 'yes', train: true },
      ],
    }));
    const { sessions } = await w.import(f);
    const [s] = sessions;
    expect(s!.main.map((st) => effectiveLabel(st)?.label)).toEqual(['mask', undefined, 'mask', 'keep']);
    expect(s!.main.map((st) => st.notTrained)).toEqual([undefined, expect.stringMatching(/^not trained: .*content parts/), undefined, undefined]);
    // The flags are training attributes, not what the model was sent.
    const last = request(s!, 3);
    expect(JSON.stringify(last)).not.toMatch(/"train"|"weight"/);
    expect(last[3]).toEqual({ role: 'assistant', content: [{ type: 'text', text: 'think' }, { type: 'text', text: ' answer' }] });
    expect(notes(s!).some((n) => /content parts/.test(n))).toBe(true);
  });

  it('honours train and weight on ShareGPT turns', async () => {
    const f = await file('flags-sharegpt.jsonl', jsonl({
      conversations: [
        { from: 'human', value: 'a' }, { from: 'gpt', value: 'no', train: false },
        { from: 'human', value: 'b' }, { from: 'gpt', value: 'no either', weight: 0 },
        { from: 'human', value: 'c' }, { from: 'gpt', value: 'yes' },
      ],
    }));
    const { sessions } = await w.import(f);
    expect(sessions[0]!.main.map((st) => effectiveLabel(st)?.label)).toEqual(['mask', 'mask', 'keep']);
  });
});

describe('ShareGPT system turn and column', () => {
  it('uses a leading system turn and ignores the system column, as LLaMA-Factory does', async () => {
    const f = await file('system.jsonl', jsonl({ system: 'column', conversations: [{ from: 'system', value: 'turn' }, { from: 'human', value: 'a' }, { from: 'gpt', value: 'b' }] }));
    const { sessions } = await w.import(f);
    expect(request(sessions[0]!, 0)).toEqual([{ role: 'system', content: 'turn' }, { role: 'user', content: 'a' }]);
    expect(notes(sessions[0]!).some((n) => /system column/.test(n))).toBe(true);
  });
});

describe('mask_history in llamafactory.yaml', () => {
  for (const v of ['True', 'TRUE', 'yes', 'on', '1', '"false"']) {
    it(`reads mask_history: ${v} as LLaMA-Factory does (true)`, async () => {
      const dir = `mh-${v.replace(/\W/g, '')}`;
      await file('llamafactory.yaml', `stage: sft\nmask_history: ${v}  # a comment\n`, dir);
      const f = await file('data.jsonl', jsonl({ conversations: [{ from: 'human', value: 'a' }, { from: 'gpt', value: 'b' }, { from: 'human', value: 'c' }, { from: 'gpt', value: 'd' }] }), dir);
      const { sessions } = await w.import(f);
      expect(sessions[0]!.main.map((st) => effectiveLabel(st)?.label)).toEqual(['mask', 'keep']);
    });
  }
  for (const v of ['false', 'False', 'no', 'off', '0', '~', '']) {
    it(`reads mask_history: ${v || '(empty)'} as false`, async () => {
      const dir = `mh-no-${v.replace(/\W/g, '') || 'empty'}`;
      await file('llamafactory.yaml', `mask_history: ${v}\n`, dir);
      const f = await file('data.jsonl', jsonl({ conversations: [{ from: 'human', value: 'a' }, { from: 'gpt', value: 'b' }, { from: 'human', value: 'c' }, { from: 'gpt', value: 'd' }] }), dir);
      const { sessions } = await w.import(f);
      expect(sessions[0]!.main.map((st) => effectiveLabel(st)?.label)).toEqual([undefined, undefined]);
    });
  }
});

describe('a JSON list of {messages} records', () => {
  const records = [
    { messages: [{ content: 'q', role: 'user' }, { content: 'a', role: 'assistant' }], label: true },
    { messages: [{ content: 'q2', role: 'user' }, { content: 'a2', role: 'assistant' }], label: false },
  ];
  for (const [how, text] of [['indented', JSON.stringify(records, null, 2)], ['compact', JSON.stringify(records)]] as const) {
    it(`is detected and imported (${how}, as LLaMA-Factory's kto_en_demo.json)`, async () => {
      const f = await file('kto_en_demo.json', `${text}\n`);
      const { result, sessions } = await w.import(f);
      expect(result.format).toBe('openai-chat');
      expect(sessions.map((s) => s.main.map((st) => st.response!.content))).toEqual([['a'], ['a2']]);
    });
  }
});

describe('ShareGPT function_call values LLaMA-Factory cannot read', () => {
  it('does not train a function_call that is not JSON, and imports the rest', async () => {
    const f = await file('badcall.jsonl', jsonl({
      tools: JSON.stringify([{ name: 'ls', description: '', parameters: { type: 'object', properties: {} } }]),
      conversations: [
        { from: 'human', value: 'a' }, { from: 'function_call', value: '{"name": "ls", "arguments": {}}' },
        { from: 'observation', value: 'x' }, { from: 'function_call', value: 'ls, please' },
        { from: 'observation', value: 'y' }, { from: 'gpt', value: 'done' },
      ],
    }));
    const { sessions } = await w.import(f);
    const [s] = sessions;
    expect(s!.main.map((st) => st.notTrained)).toEqual([undefined, expect.stringMatching(/^not trained: .*function_call.*not JSON/), undefined]);
    expect(notes(s!).some((n) => /function_call/.test(n) && /JSON/.test(n))).toBe(true);
  });
});

describe('an observation after a reply with no call, once JSON calls appeared', () => {
  it('is carried in the later requests (as a user turn) and leaves the later steps trained', async () => {
    const f = await file('obs-after-gpt.jsonl', jsonl({
      conversations: [
        { from: 'human', value: 'a' }, { from: 'function_call', value: '{"name": "ls", "arguments": {}}' },
        { from: 'observation', value: 'x' }, { from: 'gpt', value: 'look' },
        { from: 'observation', value: 'y' }, { from: 'gpt', value: 'done' },
      ],
    }));
    const { sessions } = await w.import(f);
    const [s] = sessions;
    expect(s!.main.map((st) => st.notTrained)).toEqual([undefined, undefined, undefined]);
    expect(request(s!, 2).map((m) => [m.role, m.content])).toEqual([['user', 'a'], ['assistant', null], ['tool', 'x'], ['assistant', 'look'], ['user', 'y']]);
    expect(s!.main[1]!.results.map((r) => r.observation)).toEqual(['y']);
  });
});
