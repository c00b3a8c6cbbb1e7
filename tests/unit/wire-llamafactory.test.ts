// sharegpt.jsonl read by LLaMA-Factory's own rules (tests/fixtures/trainers/llamafactory.ts,
// ported from its formatter, converter, template and supervised processor) against what
// the scripted endpoint received, for what its ShareGPT form makes hard to carry:
//   - the text a model wrote beside its tool calls: trained and shown with the calls
//     (FunctionFormatter keeps the text around its tool-call words), not dropped;
//   - parallel results: one observation joined as LLaMA-Factory joins them, so each
//     result reads as it was sent (not the escaped JSON of a list);
//   - a line without a system prompt: encoded without one (default_system ""), not with
//     the template's own ("You are Qwen, …");
//   - a reply whose text holds the tool-call words, and an argument holding the closing
//     word: each still read back exactly;
// and the bundle imported back gives the same replies and results.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SessionEvent } from '../../shared/events';
import { branchPath, foldTrajectory } from '../../shared/trajectory';
import type { SessionLog } from '../../electron/core/store/workspace';
import { Rollout } from '../../electron/core/rollout/engine';
import { exportBundle } from '../../electron/core/dataset/bundle';
import { validateShareGPTLine } from '../../electron/core/dataset/validate';
import { wireRig, type WireRig } from '../fixtures/wire-rig';
import { ImportWorkspace } from '../fixtures/import';
import * as lf from '../fixtures/trainers/llamafactory';
import { parseJsonl } from '../fixtures/trainers/common';
import { parseYamlSubset } from '../fixtures/trainers/yaml-subset';

/** The qwen template's own system prompt (LLaMA-Factory template.py, register_template name="qwen"). */
const QWEN_DEFAULT_SYSTEM = 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.';

type WireMsg = { role: string; content?: string | null; tool_call_id?: string; tool_calls?: Array<{ id: string; function: { name: string; arguments: string } }> };
type Line = { conversations: Array<{ from: string; value: string }>; system: string; tools: string };
type TrainArgs = { mask_history: boolean; dataset: string; default_system?: string; enable_thinking?: boolean };

let rig: WireRig;
let session: SessionLog;
let dir: string;
let lines: Line[];
let info: Record<string, unknown>;
let train: TrainArgs;

const run = (id: string, command: string) => ({ id, name: 'run_command', arguments: { session_id: 'main', command, wait_for_completion: true } });

beforeAll(async () => {
  rig = await wireRig('llamafactory', (_req, n) => {
    if (n === 0) return { content: 'MARK-L1 I will look at the folder first.', toolCalls: [run('callL1', 'echo one')] };
    // Two calls at once, whose results hold newlines and quotes.
    if (n === 1) return { content: 'MARK-L2 Both at once.', toolCalls: [run('callL2a', "printf 'alpha\\nbeta\\n'"), run('callL2b', 'echo \'say "hi"\'')] };
    // Text that names the tool-call words, and an argument holding the closing one.
    if (n === 2) return { content: 'MARK-L3 The format wraps calls in <tool_call> tags.', toolCalls: [run('callL3', "echo '</tool_call>'")] };
    if (n === 3) return { content: 'MARK-L4 Checking the closing word.', toolCalls: [run('callL4', "echo 'a</tool_call>b'")] };
    return { content: 'MARK-L5 Done.', toolCalls: [{ id: 'callL5', name: 'finish', arguments: { message: 'done' } }] };
  });
  session = await rig.ws.create({ cwd: rig.cwd, name: 'llamafactory' });
  const r = new Rollout({
    session, pty: rig.pty, endpoint: rig.endpoint('sk-test-wire-lf'), policy: 'model', task: 'Look around.', maxSteps: 10, cwd: rig.cwd,
    llm: rig.llm, tools: { commandTimeoutMs: 10_000, settleMs: 100 },
  });
  expect(await r.run()).toBe('finished');
  for (const s of branchPath(foldTrajectory(session.events), 'main')) {
    await session.append({ type: 'label.set', stepId: s.id, label: 'keep', tags: [], note: '', source: 'annotator', author: 'ann' });
  }
  dir = join(rig.home, 'bundle');
  await exportBundle({ home: rig.home, sessions: [{ sessionId: session.id, events: session.events.slice() as SessionEvent[], sessionDir: session.dir }], outDir: dir, formats: ['openai', 'sharegpt'], secrets: [], appVersion: 'test' });
  lines = parseJsonl(await readFile(join(dir, 'sharegpt.jsonl'), 'utf8')) as Line[];
  info = JSON.parse(await readFile(join(dir, 'dataset_info.json'), 'utf8')) as Record<string, unknown>;
  train = parseYamlSubset(await readFile(join(dir, 'llamafactory.yaml'), 'utf8')) as TrainArgs;
}, 120_000);

afterAll(async () => {
  await rig?.close();
});

/** The assistant turns and tool results the endpoint was sent back, by marker: the last request holds them all. */
function wire(): WireMsg[] {
  return rig.bodies.at(-1)!.body.messages as WireMsg[];
}

describe('sharegpt.jsonl, as LLaMA-Factory reads it', () => {
  it('loads, and trains each kept action once, as the endpoint received it', () => {
    expect(train.mask_history).toBe(true);
    lines.forEach((l, i) => expect(validateShareGPTLine(JSON.stringify(l), i + 1)).toEqual([]));
    const results = lf.trainedTurnsOfFile(lines, info, train.dataset, { mask_history: train.mask_history });
    const sent = wire().filter((m) => m.role === 'assistant');
    // The finish reply is the last line's action; every other reply is in the last request.
    expect(results).toHaveLength(sent.length + 1);
    results.slice(0, -1).forEach((r, k) => {
      expect(r.trained).toHaveLength(1);
      const read = lf.functionValue(r.trained[0]!.text);
      const m = sent[k]!;
      // The text LLaMA-Factory keeps before the formatted calls: the reply's text, then the newline Qwen's template puts there.
      const fits = !/<\/?tool_call>/.test(m.content ?? '');
      expect(read.text).toBe(fits ? `${m.content}\n` : '');
      expect(read.calls).toEqual(m.tool_calls!.map((c) => ({ name: c.function.name, arguments: JSON.parse(c.function.arguments) })));
    });
    expect(lf.functionValue(results.at(-1)!.trained[0]!.text).text).toBe('MARK-L5 Done.\n');
  });

  it('parallel results are one observation that LLaMA-Factory renders as the results that were sent', () => {
    const msgs = wire();
    const i = msgs.findIndex((m) => m.tool_calls?.length === 2);
    const sent = msgs.slice(i + 1, i + 3);
    expect(sent.map((m) => m.role)).toEqual(['tool', 'tool']);
    expect((JSON.parse(sent[0]!.content!) as { output: string }).output).toContain('alpha\nbeta');
    const last = lines.at(-1)!.conversations;
    const obs = last[last.findIndex((t) => t.from === 'function_call' && t.value.includes('MARK-L2')) + 1]!;
    expect(obs.from).toBe('observation');
    // converter.py joins an OpenAI row's results so; Qwen's observation slot then shows each in its own block.
    expect(obs.value).toBe(sent.map((m) => m.content).join('\n</tool_response>\n<tool_response>\n'));
  });

  it('a line without a system prompt is encoded without one, not with the template\'s', async () => {
    expect(train.default_system).toBe('');
    expect(train.enable_thinking).toBe(false);
    // Without the setting LLaMA-Factory would fill it in.
    expect(lf.effectiveSystem('', QWEN_DEFAULT_SYSTEM)).toBe(QWEN_DEFAULT_SYSTEM);
    // A session imported from a transcript the model was sent no system prompt in.
    const w = await ImportWorkspace.create();
    try {
      const f = join(w.root, 'chat.jsonl');
      await writeFile(f, `${JSON.stringify({ messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'MARK-N hello' }] })}\n`);
      const { sessions } = await w.import(f, { format: 'openai-chat' });
      const out = await w.export(sessions.map((s) => s.id), ['sharegpt']);
      const yaml = parseYamlSubset(await readFile(join(out.dir, 'llamafactory.yaml'), 'utf8')) as TrainArgs;
      const line = out.sharegpt[0] as Line;
      expect(line.system).toBe('');
      expect(lf.effectiveSystem(line.system, QWEN_DEFAULT_SYSTEM, yaml)).toBe('');
    } finally {
      await w.close();
    }
  });

  it('says where mask_history still trains a token of a masked reply (efficient_eos templates)', async () => {
    const yaml = await readFile(join(dir, 'llamafactory.yaml'), 'utf8');
    expect(yaml).toMatch(/efficient_eos/);
    // What it warns of: the end of each earlier reply but the last two is in the loss.
    const r = lf.trainedTurnsOfFile([lines.at(-1)!], info, train.dataset, { mask_history: true, efficientEos: true })[0]!;
    expect(r.trained).toHaveLength(1);
    const replies = lines.at(-1)!.conversations.flatMap((t, i) => (t.from === 'function_call' ? [i] : []));
    expect(r.eosAfter).toEqual(replies.slice(0, -2));
  });

  it('a literal <image> in a line\'s text is written as it was, and said to stop LLaMA-Factory\'s multimodal templates', async () => {
    const w = await ImportWorkspace.create();
    try {
      const f = join(w.root, 'html.jsonl');
      // mm_plugin.py _validate_messages counts IMAGE_PLACEHOLDER ("<image>") in every turn against the line's images (none).
      const lines = [
        { messages: [{ role: 'user', content: 'read the page' }, { role: 'assistant', content: 'It says: <img> then <image> tags; MARK-I' }] },
        { messages: [{ role: 'user', content: 'plain' }, { role: 'assistant', content: 'MARK-J nothing odd' }] },
      ];
      await writeFile(f, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
      const { sessions } = await w.import(f, { format: 'openai-chat' });
      const out = await w.export(sessions.map((s) => s.id), ['sharegpt']);
      const manifest = JSON.parse(await readFile(join(out.dir, 'manifest.json'), 'utf8')) as { warnings: string[] };
      expect(manifest.warnings.filter((x) => /sharegpt\.jsonl: 1 example\(s\) hold a literal <image>.*IMAGE_PLACEHOLDER/.test(x))).toHaveLength(1);
      expect(JSON.stringify(out.sharegpt)).toContain('then <image> tags');
      // Without sharegpt.jsonl nothing is said.
      const plain = await w.export(sessions.map((s) => s.id), ['openai']);
      const m2 = JSON.parse(await readFile(join(plain.dir, 'manifest.json'), 'utf8')) as { warnings: string[] };
      expect(m2.warnings.some((x) => /IMAGE_PLACEHOLDER/.test(x))).toBe(false);
    } finally {
      await w.close();
    }
  });

  it('a tool schema without "properties" is written as the model was sent it, and said to stop LLaMA-Factory\'s default format', async () => {
    const w = await ImportWorkspace.create();
    try {
      const f = join(w.root, 'tools.jsonl');
      const probe = { type: 'function', function: { name: 'probe', description: 'no arguments', parameters: { type: 'object' } } };
      await writeFile(f, `${JSON.stringify({
        messages: [
          { role: 'user', content: 'probe it' },
          { role: 'assistant', tool_calls: [{ id: 'c1', type: 'function', function: { name: 'probe', arguments: '{}' } }] },
          { role: 'tool', tool_call_id: 'c1', content: 'ok' },
          { role: 'assistant', content: 'MARK-P done' },
        ],
        tools: [probe],
      })}\n`);
      const { sessions } = await w.import(f, { format: 'openai-chat' });
      const out = await w.export(sessions.map((s) => s.id), ['sharegpt']);
      const manifest = JSON.parse(await readFile(join(out.dir, 'manifest.json'), 'utf8')) as { warnings: string[] };
      expect(manifest.warnings.filter((x) => /tool schema\(s\) \(probe\) have parameters without "properties"/.test(x))).toHaveLength(1);
      const outInfo = JSON.parse(await readFile(join(out.dir, 'dataset_info.json'), 'utf8')) as Record<string, unknown>;
      const line = out.sharegpt.at(-1) as Line;
      expect(JSON.parse(line.tools)).toEqual([{ name: 'probe', description: 'no arguments', parameters: { type: 'object' } }]);
      const entry = outInfo.apollo as lf.DatasetInfoEntry;
      expect(lf.validate(line, entry).join()).toMatch(/KeyError 'parameters'\/'properties'/);
      expect(lf.validate(line, entry, { toolFormat: 'qwen' })).toEqual([]);
    } finally {
      await w.close();
    }
  });

  it('imported back, the bundle gives the same replies and results', async () => {
    const w = await ImportWorkspace.create();
    try {
      const { sessions } = await w.import(join(dir, 'sharegpt.jsonl'));
      const back = sessions.at(-1)!;
      const steps = back.main.filter((s) => s.response);
      const sent = wire().filter((m) => m.role === 'assistant');
      for (const [k, m] of sent.entries()) {
        const r = steps[k]!.response!;
        const fits = !/<\/?tool_call>/.test(m.content ?? '');
        expect(r.content).toBe(fits ? m.content : '');
        expect(r.toolCalls.map((c) => [c.name, JSON.parse(c.arguments)])).toEqual(m.tool_calls!.map((c) => [c.function.name, JSON.parse(c.function.arguments)]));
      }
      const two = steps.find((s) => s.response!.toolCalls.length === 2)!;
      const msgs = wire();
      const i = msgs.findIndex((m) => m.tool_calls?.length === 2);
      expect(two.results.map((x) => x.observation)).toEqual(msgs.slice(i + 1, i + 3).map((m) => m.content));
    } finally {
      await w.close();
    }
  });
});
