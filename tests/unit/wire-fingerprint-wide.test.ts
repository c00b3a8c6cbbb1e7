// Against the wire: a rollout on the scripted endpoint runs a command wider than its
// terminal, of CJK text, that prints a key known to the export only by its fingerprint
// (a key the app keeps in its keychain, exported from the command line). The model was
// shown the command's output whole, no garbled echo of the command line left in it; every
// exported example is the request the endpoint received plus the reply, with the key
// redacted exactly as redaction by its value redacts it; each trainer's rules take the files.
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SessionEvent } from '../../shared/events';
import { Rollout } from '../../electron/core/rollout/engine';
import { exportBundle, type Manifest } from '../../electron/core/dataset/bundle';
import { fingerprintKey } from '../../electron/core/dataset/key-fingerprint';
import { Redactor } from '../../electron/core/dataset/redact';
import type { SessionLog } from '../../electron/core/store/workspace';
import { tool, type FakeReply } from '../fixtures/fake-llm-server';
import { wireRig, type WireRig } from '../fixtures/wire-rig';
import * as mi from '../fixtures/trainers/mistral';
import * as oa from '../fixtures/trainers/openai';
import { parseJsonl } from '../fixtures/trainers/common';

const KEY = ['Vq3xLm9T', 'Rw2KZp7B', 'Hn4CjY8d'].join('');
// 70 CJK characters: 140 columns, wider than the terminal (120).
const CJK = '训练损失在第三个周期后不再下降请检查学习率'.repeat(4).slice(0, 70);
const COMMAND = `echo ${CJK} ${KEY}`;

type Msg = { role: string; content?: string | null; tool_calls?: unknown[]; tool_call_id?: string; weight?: 0 | 1 };

let rig: WireRig;
let session: SessionLog;
let dir: string;
let manifest: Manifest;

beforeAll(async () => {
  const script: FakeReply[] = [
    tool('run_command', { session_id: 'main', command: COMMAND, wait_for_completion: true }),
    tool('finish', { message: 'done' }),
  ];
  rig = await wireRig('fp-wide', (_req, n) => script[n] ?? tool('finish', { message: 'extra' }));
  session = await rig.ws.create({ cwd: rig.cwd, name: 'wire fingerprint wide' });
  const r = new Rollout({
    session, pty: rig.pty, endpoint: rig.endpoint('sk-test-fp-wide-endpoint'), policy: 'model', task: 'Print the notice.', maxSteps: 5, cwd: rig.cwd,
    llm: rig.llm, tools: { commandTimeoutMs: 15_000, settleMs: 300 },
  });
  expect(await r.run()).toBe('finished');
  dir = join(rig.home, 'bundle');
  ({ manifest } = await exportBundle({
    home: rig.home, sessions: [{ sessionId: session.id, events: session.events.slice() as SessionEvent[], sessionDir: session.dir }],
    outDir: dir, formats: ['openai', 'sharegpt', 'mistral', 'trajectory', 'asciicast'], secrets: fingerprintKey(KEY), appVersion: 'test', bundleCache: false, castCache: false,
  }));
}, 120_000);

afterAll(async () => {
  await rig?.close();
});

const strip = ({ weight: _w, ...m }: Msg): Msg => m;
/** A wire message as a training line holds it: the null fields (an assistant turn's `content` beside its calls) left out. */
const noNulls = (m: Msg): Msg => Object.fromEntries(Object.entries(m).filter(([, v]) => v !== null)) as Msg;

describe('a wide command printing a fingerprinted key, against the wire', () => {
  it('the model was shown the output whole: no piece of the command line wrapped into it', () => {
    expect(rig.bodies).toHaveLength(2);
    const toolTurn = (rig.bodies[1]!.body.messages as Msg[]).find((m) => m.role === 'tool')!;
    const output = (JSON.parse(toolTurn.content!) as { output: string }).output;
    expect(output).toBe(`${CJK} ${KEY}`);
  });

  it('every example is the request the endpoint received plus the reply, redacted as by the value', async () => {
    const byValue = new Redactor([KEY]);
    const lines = parseJsonl(await readFile(join(dir, 'openai.jsonl'), 'utf8')) as Array<{ messages: Msg[]; tools?: unknown }>;
    expect(lines).toHaveLength(1);
    const last = rig.bodies.at(-1)!.body;
    const sent = byValue.redactValue((last.messages as Msg[]).map(noNulls));
    const got = lines[0]!.messages.map(strip);
    expect(got.slice(0, sent.length)).toEqual(sent);
    expect(got).toHaveLength(sent.length + 1);
    expect(got.at(-1)).toMatchObject({ role: 'assistant' });
    expect(lines[0]!.tools).toEqual(last.tools);
    // The key was in what the endpoint received, so the comparison shows its redaction.
    expect(JSON.stringify(last.messages)).toContain(KEY);
    expect(manifest.trajectories[0]!.context).toBe('recorded');
    expect(oa.validate(lines[0])).toEqual([]);
    for (const l of parseJsonl(await readFile(join(dir, 'mistral.jsonl'), 'utf8'))) expect(mi.trainedTurns(l, { dynamicChunkFnCall: true }).error).toBeUndefined();
  });

  it('no file of the bundle holds the key, and the report names where it was', async () => {
    let redacted = 0;
    for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
      if (!e.isFile()) continue;
      const text = await readFile(join(e.parentPath, e.name), 'utf8');
      expect(text.includes(KEY.slice(4, 20)), relative(dir, join(e.parentPath, e.name))).toBe(false);
      if (text.includes('[REDACTED:configured-secret]')) redacted++;
    }
    expect(redacted).toBeGreaterThanOrEqual(4); // openai, sharegpt, mistral, trajectory and the recording
    expect(manifest.redactions.byKind['configured-secret']).toBeGreaterThan(0);
  });
});
