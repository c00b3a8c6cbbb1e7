// OpenAI chat and ShareGPT datasets imported one session per example: the steps are
// the assistant turns, their requests the exact messages before them, weights become
// labels, and an export of the imported sessions gives back the same training lines.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImportWorkspace, haveSamples, origin, sample } from '../fixtures/import';
import { effectiveLabel } from '../../shared/trajectory';

type Msg = { role: string; content?: unknown; tool_calls?: Array<{ id: string; function: { name: string; arguments: string } }> | null; tool_call_id?: string | null; name?: string | null };

/**
 * A source message as OpenAI's fine-tuning form writes it (nulls left out). The last
 * turn is the step's reply as the exporter renders it, where an empty text beside a
 * tool call is no content at all; earlier turns are the request record, verbatim.
 */
function normal(m: Msg, last: boolean): Record<string, unknown> {
  const o: Record<string, unknown> = { role: m.role };
  if (typeof m.content === 'string' && !(last && m.content === '' && m.tool_calls?.length)) o.content = m.content;
  if (m.tool_calls?.length) o.tool_calls = m.tool_calls.map((c) => ({ id: c.id, type: 'function', function: { name: c.function.name, arguments: c.function.arguments } }));
  if (typeof m.tool_call_id === 'string') o.tool_call_id = m.tool_call_id;
  // Tool turns lose their (non-OpenAI) name on import, with a note.
  if (typeof m.name === 'string' && m.role !== 'tool') o.name = m.name;
  return o;
}

function withoutWeights(messages: Array<Record<string, unknown>>): Array<Record<string, unknown>> {
  return messages.map(({ weight: _w, ...m }) => m);
}

let w: ImportWorkspace;
beforeAll(async () => {
  w = await ImportWorkspace.create();
});
afterAll(async () => {
  await w.close();
});

describe.skipIf(!haveSamples)('OpenAI chat JSONL (real sample)', () => {
  const file = sample('sft/openai-chat-tools_swe-gym-openhands.jsonl');

  it('imports one session per line with exact requests, and exports the same lines', async () => {
    const source = (await readFile(file, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { messages: Msg[]; tools: unknown[] });
    const { result, sessions } = await w.import(file);
    expect(result.format).toBe('openai-chat');
    expect(sessions).toHaveLength(source.length);
    for (const [i, s] of sessions.entries()) {
      const src = source[i]!;
      const assistants = src.messages.filter((m) => m.role === 'assistant');
      expect(s.main).toHaveLength(assistants.length);
      expect(origin(s)).toMatchObject({ format: 'openai-chat', file: 'openai-chat-tools_swe-gym-openhands.jsonl', sha256: result.sha256, item: `line ${i + 1}`, context: 'exact' });
      // Tool calls and their results, step by step.
      s.main.forEach((step, k) => {
        const calls = assistants[k]!.tool_calls ?? [];
        expect(step.response!.toolCalls.map((c) => [c.id, c.name, c.arguments])).toEqual(calls.map((c) => [c.id, c.function.name, c.function.arguments]));
        for (const c of calls) {
          const tool = src.messages.find((m) => m.role === 'tool' && m.tool_call_id === c.id);
          if (tool) expect(step.results.find((r) => r.toolCallId === c.id)?.observation).toBe(tool.content);
        }
        expect(step.checkpointError).toMatch(/not recorded/);
      });
    }
    const out = await w.export(result.sessionIds, ['openai']);
    expect(out.openai).toHaveLength(source.length);
    out.openai.forEach((line, i) => {
      const l = line as { messages: Array<Record<string, unknown>>; tools: unknown[] };
      const src = source[i]!;
      let end = src.messages.length;
      while (src.messages[end - 1]!.role !== 'assistant') end--;
      expect(withoutWeights(l.messages)).toEqual(src.messages.slice(0, end).map((m, k) => normal(m, k === end - 1)));
      // The same tools, but a null field (finish's "parameters": null) left out, with a note.
      const tools = (src.tools as Array<{ function: Record<string, unknown> }>).map((t) => ({ ...t, function: Object.fromEntries(Object.entries(t.function).filter(([, v]) => v !== null)) }));
      expect(l.tools).toEqual(tools);
      if (JSON.stringify(src.tools).includes('"parameters":null')) {
        expect(sessions[i]!.events.some((e) => e.type === 'warning' && /function\.parameters was null/.test(e.message))).toBe(true);
      }
    });
  });
});

describe.skipIf(!haveSamples)('ShareGPT (real sample)', () => {
  it('imports text-form function calls as text actions with their observations', async () => {
    const file = sample('sft/sharegpt-tools_agenttuning-os.json');
    const source = JSON.parse(await readFile(file, 'utf8')) as Array<{ id: string; conversations: Array<{ from: string; value: string }> }>;
    const { result, sessions } = await w.import(file);
    expect(result.format).toBe('sharegpt');
    expect(sessions).toHaveLength(source.length);
    for (const [i, s] of sessions.entries()) {
      const conv = source[i]!.conversations;
      const replies = conv.filter((t) => t.from === 'gpt' || t.from === 'function_call');
      expect(s.main).toHaveLength(replies.length);
      s.main.forEach((step, k) => {
        expect(step.response!.content).toBe(replies[k]!.value);
        expect(step.response!.toolMode).toBe('text');
        const m = /<function=([^>]+)>/.exec(replies[k]!.value);
        expect(step.response!.toolCalls.map((c) => c.name)).toEqual(m ? [m[1]] : []);
        // A function_call value that is not JSON stops LLaMA-Factory's run (FunctionFormatter
        // raises): the step is kept, not trained.
        if (replies[k]!.from === 'function_call') expect(step.notTrained).toMatch(/^not trained: its function_call value is not JSON/);
        else expect(step.notTrained).toBeUndefined();
      });
      // Every observation turn is the result of the call before it.
      const obs = conv.filter((t) => t.from === 'observation').map((t) => t.value);
      expect(s.main.flatMap((st) => st.results.map((r) => r.observation))).toEqual(obs);
    }
    // Every trained reply (the gpt ones) is trained once, in one line per example, and passes the exporters' checks.
    const out = await w.export(result.sessionIds, ['openai', 'sharegpt']);
    expect(out.openai).toHaveLength(source.length);
    const replies = source.flatMap((r) => r.conversations.filter((t) => t.from === 'gpt'));
    expect(out.sharegpt).toHaveLength(replies.length);
  });
});

describe('SFT edge cases', () => {
  it('turns weights into labels and keeps them out of the request', async () => {
    const f = join(w.root, 'weights.jsonl');
    const line = {
      messages: [
        { role: 'system', content: 'sys' },
        { role: 'user', content: 'do it' },
        { role: 'assistant', content: 'bad try', weight: 0 },
        { role: 'user', content: 'again' },
        { role: 'assistant', content: 'good', weight: 1 },
      ],
    };
    await writeFile(f, `${JSON.stringify(line)}\n`);
    const { sessions } = await w.import(f);
    const [s] = sessions;
    expect(s!.main.map((st) => effectiveLabel(st)?.label)).toEqual(['mask', 'keep']);
    expect(s!.main[1]!.requestId).toBeTruthy();
    const req = [...s!.t.requests.values()].flatMap((r) => r.append);
    expect(req.some((m) => 'weight' in m)).toBe(false);
    // The person's turn between the replies is guidance of the first step.
    expect(s!.main[0]!.guidance).toHaveLength(1);
    const out = await w.export([s!.id], ['openai']);
    expect(out.openai).toEqual([{ messages: line.messages }]);
    // A dataset line has no times: the steps say their times and durations stand in, and trajectory.jsonl says so too.
    expect(s!.main.map((st) => st.timing)).toEqual(['none', 'none']);
    const t = await w.export([s!.id], ['trajectory']);
    const steps = (await readFile(join(t.dir, 'trajectory.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { kind: string; timing?: string }).filter((l) => l.kind === 'step');
    expect(steps.map((x) => x.timing)).toEqual(['none', 'none']);
  });

  it('names the line and column of truncated JSON, and imports nothing', async () => {
    const f = join(w.root, 'truncated.jsonl');
    await writeFile(f, '{"messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"}]}\n{"messages":[{"role":"user","con');
    const before = w.ws.list().length;
    await expect(w.import(f, { format: 'openai-chat' })).rejects.toThrow(/truncated\.jsonl, line 2, column \d+: not valid JSON: the text ends inside a string/);
    expect(w.ws.list().length).toBe(before);
  });

  it('names the field of a record that is not a chat record', async () => {
    const f = join(w.root, 'bad.jsonl');
    await writeFile(f, '{"messages":[{"role":"user","content":"a"}]}\n{"messages":[{"content":"no role"}]}\n');
    await expect(w.import(f, { format: 'openai-chat' })).rejects.toThrow(/bad\.jsonl, line 2: not an OpenAI chat record .*field messages\[0\]\.role/);
  });

  it('refuses a JSON list where lines were expected, saying so', async () => {
    const f = join(w.root, 'list.jsonl');
    await writeFile(f, '[\n  {"messages": [{"role": "user", "content": "a"}]}\n]\n');
    await expect(w.import(f, { format: 'openai-chat' })).rejects.toThrow(/list\.jsonl, line 1: a JSON list where JSON Lines/);
  });

  it('says when a JSON file is cut short, not that its format is unknown; JSON Lines cut short is not that', async () => {
    const doc = JSON.stringify({
      info: { config: { agent: { system_template: 'You are a helpful assistant. '.repeat(3000) } } },
      messages: Array.from({ length: 40 }, (_, i) => ({ role: i % 2 ? 'assistant' : 'user', content: `turn ${i} `.repeat(40) })),
      trajectory_format: 'mini-swe-agent-1',
    }, null, 2);
    // As mini-swe-agent writes it: a long info first, its messages and format last, so the cut leaves nothing to detect it by.
    const f = join(w.root, 'run.traj.json');
    await writeFile(f, doc.slice(0, Math.floor(doc.length * 0.6)));
    await expect(w.import(f)).rejects.toThrow(/run\.traj\.json: cut short: it starts as a JSON document but ends in the middle of one/);
    // Nothing of it is kept.
    expect(w.ws.list().some((e) => e.name.includes('run.traj'))).toBe(false);
    const notes = join(w.root, 'notes.json');
    await writeFile(notes, '{"a": 1}\n{"b": 2}\n');
    await expect(w.import(notes)).rejects.toThrow(/notes\.json: not a format this app imports/);
  });

  it('says when a file is of no known format', async () => {
    const f = join(w.root, 'notes.txt');
    await writeFile(f, 'just some notes\n');
    await expect(w.import(f)).rejects.toThrow(/notes\.txt: not a format this app imports/);
  });
});
