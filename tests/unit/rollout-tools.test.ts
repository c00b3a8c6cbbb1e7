import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  capText, DEFAULT_TOOL_OPTIONS, executeTool, executeToolCall, INVALID_TOOL_CALL, parseTextAction, parseToolCall, TOOL_SCHEMAS, withNote, type ToolContext,
} from '../../electron/core/rollout/tools';
import { describeToolsForText, TOOL_NAMES, TOOLS, toolParameters, toolSignature, validateToolArgs, type ToolName } from '../../shared/tools';
import { PtyHost } from '../../electron/core/pty/pty-host';
import { Workspace, type SessionLog } from '../../electron/core/store/workspace';

interface Env {
  home: string;
  cwd: string;
  ws: Workspace;
  session: SessionLog;
  pty: PtyHost;
  cleanup(): Promise<void>;
}

async function makeEnv(): Promise<Env> {
  const home = await mkdtemp(join(tmpdir(), 'apollo-tools-'));
  const cwd = await mkdtemp(join(tmpdir(), 'apollo-tools-cwd-'));
  const ws = await Workspace.open(home);
  const session = await ws.create({ cwd, name: 'tools test' });
  const pty = new PtyHost({
    resourcesDir: resolve('resources'),
    events: { data: () => undefined, changed: () => undefined },
    env: { ...process.env, SHELL: '/bin/bash', HISTFILE: '/dev/null' },
  });
  return {
    home, cwd, ws, session, pty,
    async cleanup() {
      await pty.dispose();
      await ws.close();
      await rm(home, { recursive: true, force: true });
      await rm(cwd, { recursive: true, force: true });
    },
  };
}

describe('tool schemas and validation', () => {
  it('has the ResearchGym tool names and arguments', () => {
    const names = TOOL_SCHEMAS.map((t) => t.function.name);
    expect(names).toEqual([
      'run_command', 'create_session', 'list_sessions', 'get_session_output', 'check_session_idle', 'input_in_session', 'kill_session_processes',
      'close_session', 'open_file', 'create_file', 'edit_file', 'list_files', 'sleep', 'think', 'finish',
    ]);
    const run = TOOL_SCHEMAS[0]!.function.parameters as { properties: Record<string, { type: string }>; required: string[] };
    expect(Object.keys(run.properties)).toEqual(['session_id', 'command', 'wait_for_completion']);
    expect(run.required).toEqual(['session_id', 'command']);
    const gso = TOOL_SCHEMAS.find((t) => t.function.name === 'get_session_output')!.function.parameters as { properties: Record<string, { type: string }> };
    expect(Object.keys(gso.properties)).toEqual(['session_id', 'start_lines', 'end_lines', 'since_timestamp']);
  });

  it('rejects unknown tools, bad JSON, missing and mistyped arguments with the marker', () => {
    const cases = [
      parseToolCall({ name: 'rm_rf', arguments: '{}' }),
      parseToolCall({ name: 'run_command', arguments: '{"session_id": "main", "command": ' }),
      parseToolCall({ name: 'run_command', arguments: '{"session_id": "main"}' }),
      parseToolCall({ name: 'open_file', arguments: '{"path": "a", "line_number": "ten"}' }),
      parseToolCall({ name: 'run_command', arguments: '["main", "ls"]' }),
      parseToolCall({ name: '', arguments: '{}' }),
    ];
    for (const c of cases) {
      expect(c.ok).toBe(false);
      if (!c.ok) expect(c.error.startsWith(INVALID_TOOL_CALL)).toBe(true);
    }
    expect(!cases[0]!.ok && cases[0]!.error).toMatch(/unknown tool "rm_rf".*Available tools: run_command/);
    expect(!cases[2]!.ok && cases[2]!.error).toMatch(/missing required argument "command".*Usage: run_command\(session_id: string, command: string, wait_for_completion\?: boolean\)/);
    expect(!cases[3]!.ok && cases[3]!.error).toMatch(/"line_number" of open_file must be an integer/);
  });

  it('accepts unambiguous strings for numbers and booleans, empty arguments, extra arguments', () => {
    expect(parseToolCall({ name: 'run_command', arguments: '{"session_id":"main","command":"ls","wait_for_completion":"false","computer_ip":"1.2.3.4"}' }))
      .toEqual({ ok: true, name: 'run_command', args: { session_id: 'main', command: 'ls', wait_for_completion: false } });
    expect(parseToolCall({ name: 'sleep', arguments: '{"sleep_time":"2.5"}' })).toEqual({ ok: true, name: 'sleep', args: { sleep_time: 2.5 } });
    expect(parseToolCall({ name: 'list_sessions', arguments: '' })).toEqual({ ok: true, name: 'list_sessions', args: {} });
  });

  it('parses text actions: the last bash block or a JSON tool call', () => {
    const bash = parseTextAction('I will list.\n```bash\nls -la\n```\n', 3);
    expect(bash).toEqual([{ id: 'text_3', name: 'run_command', arguments: JSON.stringify({ session_id: 'main', command: 'ls -la', wait_for_completion: true }) }]);
    const json = parseTextAction('Example:\n```bash\necho no\n```\nNow:\n```json\n{"name": "open_file", "arguments": {"path": "a.txt"}}\n```');
    expect(json[0]).toMatchObject({ name: 'open_file', arguments: '{"path":"a.txt"}' });
    expect(parseTextAction('no block here')).toEqual([]);
    expect(parseTextAction('```json\n{oops\n```')[0]).toMatchObject({ name: '' });
  });

  it('caps long text head + tail with an elision note', () => {
    const s = 'A'.repeat(5_000) + 'B'.repeat(5_000);
    const c = capText(s, 1_000);
    expect(c.length).toBeLessThan(1_200);
    expect(c.startsWith('AAA')).toBe(true);
    expect(c.endsWith('BBB')).toBe(true);
    expect(c).toMatch(/9000 characters omitted; the full output is in the terminal recording/);
    expect(capText('short', 10)).toBe('short');
  });

  it('adds notes to JSON and plain observations', () => {
    expect(JSON.parse(withNote('{"success":true}', 'hi'))).toEqual({ success: true, note: 'hi' });
    expect(withNote('Error: x', 'hi')).toBe('Error: x\n\nNote: hi');
  });
});

describe('the tool registry', () => {
  const shapeOf = (n: ToolName) => TOOLS[n].args.shape as Record<string, { safeParse(v: unknown): { success: boolean } }>;
  // A value of the wrong type for each JSON type, that no coercion accepts.
  const wrong = { string: 42, integer: 'ten', number: 'ten', boolean: 'maybe' } as const;

  it('derives every OpenAI schema from the zod declaration', () => {
    expect(TOOL_SCHEMAS.map((t) => t.function.name)).toEqual(TOOL_NAMES);
    for (const t of TOOL_SCHEMAS) {
      const n = t.function.name as ToolName;
      const shape = shapeOf(n);
      expect(t.function.description).toBe(TOOLS[n].description);
      // Exactly what OpenAI-compatible servers take: no $schema, no closed object (extra arguments are tolerated).
      expect(Object.keys(t.function.parameters).sort()).toEqual(['properties', 'required', 'type']);
      const params = t.function.parameters as ReturnType<typeof toolParameters>;
      expect(params.type).toBe('object');
      expect(Object.keys(params.properties)).toEqual(Object.keys(shape));
      expect(params.required).toEqual(Object.keys(shape).filter((k) => !shape[k]!.safeParse(undefined).success));
      for (const [p, s] of Object.entries(params.properties)) {
        expect(['string', 'integer', 'number', 'boolean'], `${n}.${p}`).toContain(s.type);
        expect(s.description, `${n}.${p} has a description`).toBeTruthy();
        expect(Object.keys(s).sort(), `${n}.${p} carries nothing but type and description`).toEqual(['description', 'type']);
      }
    }
    const run = TOOL_SCHEMAS[0]!.function.parameters as ReturnType<typeof toolParameters>;
    expect(run.properties.wait_for_completion).toEqual({ type: 'boolean', description: 'Wait for the command to finish (default true).' });
    expect(toolParameters('list_sessions')).toEqual({ type: 'object', properties: {}, required: [] });
    expect(toolParameters('sleep').properties.sleep_time!.type).toBe('number');
    expect(toolParameters('edit_file').properties.start!.type).toBe('integer');
  });

  it('rejects each missing required argument and each mistyped one, naming it, its type and the usage', () => {
    for (const n of TOOL_NAMES) {
      const { properties, required } = toolParameters(n);
      const base = { ...TOOLS[n].template } as Record<string, unknown>;
      for (const [p, s] of Object.entries(properties)) {
        base[p] ??= s.type === 'string' ? 'x' : s.type === 'boolean' ? true : 1;
        const bad = validateToolArgs(n, { ...base, [p]: wrong[s.type] });
        expect(bad.ok, `${n}.${p} = ${JSON.stringify(wrong[s.type])}`).toBe(false);
        if (!bad.ok) {
          expect(bad.error.startsWith(`${INVALID_TOOL_CALL}: argument "${p}" of ${n} must be ${s.type === 'integer' ? 'an integer' : `a ${s.type}`}, got ${JSON.stringify(wrong[s.type])}.`)).toBe(true);
          expect(bad.error).toContain(`Usage: ${toolSignature(n)}.`);
        }
      }
      for (const p of required) {
        const { [p]: _drop, ...rest } = base;
        for (const args of [rest, { ...rest, [p]: null }]) {
          const miss = validateToolArgs(n, args);
          expect(miss.ok, `${n} without ${p}`).toBe(false);
          if (!miss.ok) expect(miss.reason).toBe(`missing required argument "${p}" (${properties[p]!.type}) for ${n}`);
        }
      }
    }
  });

  it('reports every problem of a call at once and rejects non-integers for integers', () => {
    const r = parseToolCall({ name: 'edit_file', arguments: '{"path": "a", "start": 1.5}' });
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.reason).toBe('argument "start" of edit_file must be an integer, got 1.5; missing required argument "end" (integer) for edit_file; missing required argument "content" (string) for edit_file');
      expect(r.error).toBe(`${INVALID_TOOL_CALL}: ${r.reason}. Usage: edit_file(path: string, start: integer, end: integer, content: string). Fix the call and try again.`);
    }
    expect(parseToolCall({ name: 'open_file', arguments: '{"path": "a", "line_number": null}' })).toEqual({ ok: true, name: 'open_file', args: { path: 'a' } });
  });

  it('validates the UI templates of hand-written actions against the same schemas', () => {
    for (const n of TOOL_NAMES) {
      const r = validateToolArgs(n, TOOLS[n].template);
      expect(r, n).toEqual({ ok: true, name: n, args: TOOLS[n].template });
      expect(TOOLS[n].hint, n).toBeTruthy();
    }
  });

  it('lists every tool with its signature in the text-mode instructions', () => {
    const lines = describeToolsForText().split('\n');
    expect(lines).toEqual(TOOL_NAMES.map((n) => `- ${toolSignature(n)}: ${TOOLS[n].description}`));
    expect(lines[0]).toMatch(/^- run_command\(session_id: string, command: string, wait_for_completion\?: boolean\): Run a shell command/);
    expect(describeToolsForText()).toContain('- get_session_output(session_id: string, start_lines: integer, end_lines?: integer, since_timestamp?: string): ');
  });

  it('validates calls handed to executeTool directly', async () => {
    const ctx = { session: {} as SessionLog, pty: {} as ToolContext['pty'], cwd: '/', options: DEFAULT_TOOL_OPTIONS };
    const bad = await executeTool('sleep', { sleep_time: 'soon' }, ctx);
    expect(bad.isError).toBe(true);
    expect(bad.observation).toMatch(/^Error: invalid tool call: argument "sleep_time" of sleep must be a number, got "soon"/);
    const unknown = await executeTool('rm_rf', {}, ctx);
    expect(unknown.observation).toMatch(/^Error: invalid tool call: unknown tool "rm_rf"\. Available tools: run_command, create_session/);
  });
});

describe('tools against real terminals and files', () => {
  let env: Env;
  let ctx: ToolContext;
  beforeAll(async () => {
    env = await makeEnv();
    ctx = { session: env.session, pty: env.pty, cwd: env.cwd, options: { ...DEFAULT_TOOL_OPTIONS, outputCap: 2_000, commandTimeoutMs: 10_000, settleMs: 800 } };
  });
  afterAll(async () => env.cleanup());

  const run = (name: string, args: Record<string, unknown>) => executeTool(name, args, ctx);
  /** Wait until a terminal's command has ended (shell integration says idle), instead of a fixed sleep. */
  const idle = async (session: string, ms = 15_000): Promise<void> => {
    const end = Date.now() + ms;
    while (!parse(await run('check_session_idle', { session_id: session })).is_idle) {
      if (Date.now() > end) throw new Error(`terminal ${session} did not become idle`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  /** Poll a tool until its parsed result satisfies `ok`. */
  const poll = async (name: string, args: Record<string, unknown>, ok: (r: Record<string, unknown>) => boolean, ms = 10_000): Promise<Record<string, unknown>> => {
    const end = Date.now() + ms;
    for (;;) {
      const r = parse(await run(name, args));
      if (ok(r)) return r;
      if (Date.now() > end) throw new Error(`${name} never gave the awaited result: ${JSON.stringify(r).slice(0, 300)}`);
      await new Promise((res) => setTimeout(res, 50));
    }
  };
  const parse = (o: { observation: string }) => JSON.parse(o.observation) as Record<string, unknown>;

  it('creates, opens, edits and lists files relative to the cwd', async () => {
    const c = await run('create_file', { filename: 'src/a.py', content: 'one\ntwo\nthree\n' });
    expect(parse(c)).toMatchObject({ success: true, observation_type: 'file_write', added_context: '1|one\n2|two\n3|three' });
    expect(await readFile(join(env.cwd, 'src/a.py'), 'utf8')).toBe('one\ntwo\nthree\n');

    const e = await run('edit_file', { path: 'src/a.py', start: 2, end: 2, content: 'TWO\ntwo and a half' });
    expect(parse(e)).toMatchObject({ removed_context: '2|two', added_context: '2|TWO\n3|two and a half' });
    expect(await readFile(join(env.cwd, 'src/a.py'), 'utf8')).toBe('one\nTWO\ntwo and a half\nthree\n');

    const bad = await run('edit_file', { path: 'src/a.py', start: 9, end: 12, content: 'x' });
    expect(bad.isError).toBe(true);
    expect(bad.observation.startsWith(INVALID_TOOL_CALL)).toBe(true);

    await writeFile(join(env.cwd, 'big.txt'), Array.from({ length: 727 }, (_, i) => `line ${i + 1}`).join('\n'));
    const o = parse(await run('open_file', { path: 'big.txt', line_number: 500, context_lines: 50 }));
    expect(o.output).toMatch(/^\[File: .*big\.txt \(727 lines total\)\]\n\(474 more lines above\)\n\(202 more lines below\)\n475\|line 475\n/);
    const first = parse(await run('open_file', { path: 'big.txt' }));
    expect(first.output).toMatch(/\(627 more lines below\)\n1\|line 1\n/);

    const l = parse(await run('list_files', {}));
    expect(l.output).toMatch(/big\.txt \(\d+ bytes\)\nsrc\//);

    const missing = await run('open_file', { path: 'nope.txt' });
    expect(missing.isError).toBe(true);
    expect(parse(missing).message).toMatch(/No such file/);
  });

  it('runs commands in named sessions and reads their output', async () => {
    const r = await run('run_command', { session_id: 'main', command: 'echo hi > a.txt && cat a.txt', wait_for_completion: true });
    const o = parse(r);
    expect(o).toMatchObject({ success: true, observation_type: 'command_run', session_id: 'main', exit_code: 0, output: 'hi', async_execution: false });
    expect(o.message).toMatch(/Session main was created\. Command .* executed in .* It is completed with exit code 0!/);
    expect(r.terminalId).toBe('main');
    expect(r.range![1]).toBeGreaterThan(r.range![0]);

    const fail = await run('run_command', { session_id: 'main', command: 'ls /definitely/not/here' });
    expect(fail.isError).toBe(true);
    expect(parse(fail).exit_code).not.toBe(0);

    // Busy until the test lets it print (a 3.5 s loop of sleeps kept it busy, and the test waited out all of it).
    const trainGo = join(env.home, 'train.go');
    const bg = parse(await run('run_command', { session_id: 'train', command: `until [ -f ${trainGo} ]; do sleep 0.05; done; for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14; do echo step $i; done`, wait_for_completion: false }));
    expect(bg).toMatchObject({ success: true, async_execution: true, message: 'Session train was created. Command sent to session train' });
    const busy = parse(await run('check_session_idle', { session_id: 'train' }));
    expect(busy).toMatchObject({ is_idle: false });
    expect(busy.message).toMatch(/Session is busy/);
    const refused = await run('run_command', { session_id: 'train', command: 'echo nope' });
    expect(refused.isError).toBe(true);
    expect(parse(refused).message).toMatch(/busy/);
    await writeFile(trainGo, '');
    await idle('train');
    expect(parse(await run('check_session_idle', { session_id: 'train' }))).toMatchObject({ is_idle: true });
    const out = parse(await run('get_session_output', { session_id: 'train', start_lines: 4 }));
    expect(out.output).toMatch(/step 12\nstep 13\nstep 14/);
    expect(out.message).toMatch(/Successfully retrieved 4 lines/);
    const mid = parse(await run('get_session_output', { session_id: 'train', start_lines: 4, end_lines: 2 }));
    expect(String(mid.output).split('\n')).toHaveLength(2);

    const sessions = parse(await run('list_sessions', {}));
    expect((sessions.sessions as { session_id: string }[]).map((s) => s.session_id).sort()).toEqual(['main', 'train']);
  });

  it('reads output since a timestamp', async () => {
    await run('run_command', { session_id: 'main', command: 'echo before-mark' });
    await new Promise((r) => setTimeout(r, 150));
    const since = new Date().toISOString();
    await new Promise((r) => setTimeout(r, 50));
    await run('run_command', { session_id: 'main', command: 'echo after-mark' });
    // The timing index is flushed within 50 ms: wait for it rather than for a fixed time.
    const o = await poll('get_session_output', { session_id: 'main', start_lines: 1, since_timestamp: since }, (r) => String(r.output).includes('after-mark'));
    expect(o.output).toContain('after-mark');
    expect(o.output).not.toContain('before-mark');
  });

  it('types input into a waiting program and kills processes', async () => {
    await run('run_command', { session_id: 'main', command: 'read -p "name? " n; echo "hello $n"', wait_for_completion: false });
    await poll('get_session_output', { session_id: 'main', start_lines: 1 }, (r) => /name\? $/.test(String(r.output)) || String(r.output).endsWith('name?'));
    const i = parse(await run('input_in_session', { session_id: 'main', input_text: 'apollo\n' }));
    expect(i.output).toContain('hello apollo');

    await run('run_command', { session_id: 'main', command: 'sleep 30', wait_for_completion: false });
    await poll('check_session_idle', { session_id: 'main' }, (r) => r.is_idle === false);
    const k = parse(await run('kill_session_processes', { session_id: 'main' }));
    expect(k).toMatchObject({ success: true, is_idle: true });
    const after = parse(await run('run_command', { session_id: 'main', command: 'echo alive' }));
    expect(after.output).toBe('alive');
  });

  it('reports a command still running at the timeout, caps long output, closes sessions', async () => {
    // Still running at the timeout until the test lets it end (a `sleep 2` was waited out).
    const lateGo = join(env.home, 'late.go');
    const slow = parse(await executeTool('run_command', { session_id: 'main', command: `until [ -f ${lateGo} ]; do sleep 0.05; done; echo late` }, { ...ctx, options: { ...ctx.options, commandTimeoutMs: 400 } }));
    expect(slow).toMatchObject({ still_running: true, exit_code: null });
    expect(slow.message).toMatch(/still running/);
    await writeFile(lateGo, '');
    await idle('main');

    const long = parse(await run('run_command', { session_id: 'main', command: 'seq 1 5000' }));
    expect(String(long.output).length).toBeLessThan(2_200);
    expect(long.output).toMatch(/^1\n2\n/);
    expect(long.output).toMatch(/characters omitted/);
    expect(long.output).toMatch(/4999\n5000$/);

    const c = parse(await run('close_session', { session_id: 'train' }));
    expect(c).toMatchObject({ success: true });
    const gone = await run('check_session_idle', { session_id: 'train' });
    expect(gone.isError).toBe(true);
    expect(parse(gone).message).toMatch(/does not exist/);

    const badName = await executeToolCall({ id: 'x', name: 'create_session', arguments: '{"session_id": "../etc"}' }, ctx);
    expect(badName.observation.startsWith(INVALID_TOOL_CALL)).toBe(true);
  });

  it('sleeps, is interruptible, thinks and finishes', async () => {
    const ac = new AbortController();
    const t0 = Date.now();
    setTimeout(() => ac.abort(), 100);
    const s = parse(await executeTool('sleep', { sleep_time: 30 }, { ...ctx, signal: ac.signal }));
    expect(Date.now() - t0).toBeLessThan(2_000);
    expect(s.message).toMatch(/interrupted/);
    expect(parse(await run('sleep', { sleep_time: 0.05 })).message).toMatch(/^Sleep completed/);
    expect(parse(await run('think', { thought: 'plan' })).message).toMatch(/thought has been logged/);
    expect((await run('finish', { message: 'done' })).finish).toEqual({ message: 'done' });
  });
});
