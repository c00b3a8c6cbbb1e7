// An imported session carries the tool schemas its source sent (request.config tools),
// and a `default` or a description in them may hold a key. The exporter wrote them as
// they were into openai.jsonl, and through it into sharegpt.jsonl's `tools` text and
// mistral.jsonl, reporting no redaction; the merge redacted them. Both now redact them
// one way (bundle.ts redactTools), listed in redactions.json like any other field; the
// schemas this app's own rollouts record (TOOL_SCHEMAS) hold no secret and keep their
// bytes; and one array shared by a session's examples is scanned once.
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { SessionEvent } from '../../shared/events';
import { exportBundle } from '../../electron/core/dataset/index';
import { mergeBundles } from '../../electron/core/dataset/merge';
import { Redactor, type RedactionReport } from '../../electron/core/dataset/redact';
import { TOOL_SCHEMAS } from '../../electron/core/rollout/tools';
import { ok, run, SessionBuilder } from '../fixtures/sessions';
import { reportProblems, TRAINING_FILES } from '../fixtures/redaction-report';

// Assembled at run time so no scanner mistakes this file for a leak.
const GHP = ['ghp_', 'SchemaTok3nAAAAbCdEfGhIjKlMnOpQrSt12'].join('');
const SKPROJ = ['sk-', 'proj-', 'Schema0penAIk3yAbCdEf0123456789'].join('');
// No built-in pattern matches it: only a configured secret redacts it.
const TEAM = ['Zqtools', 'Lantern', '51', 'velvetQz'].join('-');
const SECRETS = [GHP, SKPROJ, TEAM];

let root: string;
let n = 0;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'apollo-leak2-tools-'));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

afterEach(() => {
  vi.restoreAllMocks();
});

/** The schemas an imported source recorded: a token as a parameter's default, a key in a description, the team key. */
function importedTools(): unknown[] {
  return [
    {
      type: 'function',
      function: {
        name: 'call_api',
        description: `Calls the API. Send Authorization: Bearer ${SKPROJ} with it; team ${TEAM}.`,
        parameters: { type: 'object', properties: { token: { type: 'string', default: GHP }, path: { type: 'string' } }, required: ['path'] },
      },
    },
    { type: 'function', function: { name: 'noop', description: 'Does nothing.', parameters: { type: 'object', properties: {} } } },
  ];
}

/**
 * A session of two steps, each requested afresh (two examples) with the same config: one
 * `tools` array for both examples' records, as a session's config gives them.
 */
function importedSession(): SessionEvent[] {
  const b = new SessionBuilder({ name: 'imported' });
  b.rollout({ task: 'do' });
  b.add({ type: 'request.config', hash: 'h1', config: { model: 'm', tools: importedTools() } } as never);
  let previous: string | null = null;
  for (const [i, id] of ['s1', 's2'].entries()) {
    b.add({ type: 'step.started', stepId: id, parentId: previous, branchId: 'main', depth: i + 1, rolloutId: 'r1' } as never);
    const append = [{ role: 'system', content: 'sys' }, { role: 'user', content: `do part ${i + 1}` }];
    b.add({ type: 'model.request', requestId: `q${i}`, stepId: id, purpose: 'step', base: null, keep: 0, append, config: 'h1', owners: [null, null] } as never);
    b.add({ type: 'model.response', stepId: id, content: 'ok', reasoning: '', toolCalls: [{ id: `c${i}`, name: 'call_api', arguments: '{"path":"/a"}' }], usage: null, finishReason: 'tool_calls', durationMs: 1 } as never);
    b.add({ type: 'action.result', stepId: id, toolCallId: `c${i}`, name: 'call_api', observation: 'a', isError: false, durationMs: 1 } as never);
    b.add({ type: 'step.finished', stepId: id, promptTokens: 1 } as never);
    b.label(id, 'keep');
    previous = id;
  }
  return b.events;
}

/** A session of this app's own rollouts: its examples carry TOOL_SCHEMAS. */
function ownSession(): SessionEvent[] {
  const b = new SessionBuilder({ name: 'own' });
  b.rollout({ task: 'list' });
  const s = b.step({ content: 'listing', calls: [run('ls')], results: [ok()] });
  b.label(s, 'keep');
  return b.events;
}

async function exportOf(sessions: Array<{ sessionId: string; events: SessionEvent[] }>, secrets: string[]): Promise<string> {
  const outDir = join(root, `out-${++n}`);
  await exportBundle({
    home: root, sessions: sessions.map((s) => ({ ...s, sessionDir: join(root, 'sessions', s.sessionId) })), outDir,
    formats: ['openai', 'sharegpt', 'mistral', 'trajectory'], secrets, appVersion: 'test', castCache: false, bundleCache: false,
  });
  return outDir;
}

/** Every file of a bundle that holds one of `secrets`, with the secret's index. */
async function leaks(dir: string, secrets: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const d of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!d.isFile()) continue;
    const body = await readFile(join(d.parentPath, d.name), 'utf8');
    secrets.forEach((s, i) => {
      if (body.includes(s)) out.push(`${relative(dir, join(d.parentPath, d.name))} holds secret ${i}`);
    });
  }
  return out;
}

const lines = async (dir: string, file: string): Promise<Array<Record<string, unknown>>> =>
  (await readFile(join(dir, file), 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);

const readJson = async <T>(dir: string, file: string): Promise<T> => JSON.parse(await readFile(join(dir, file), 'utf8')) as T;

describe('tool schemas in an export', () => {
  it('are redacted in openai.jsonl, sharegpt.jsonl and mistral.jsonl, and listed as redactions', async () => {
    const dir = await exportOf([{ sessionId: 'S1', events: importedSession() }], [TEAM]);
    expect(await leaks(dir, SECRETS)).toEqual([]);

    const openai = await lines(dir, 'openai.jsonl');
    expect(openai.length).toBe(2);
    for (const rec of openai) {
      const f = (rec.tools as Array<{ function: { description: string; parameters: { properties: { token: { default: string } } } } }>)[0]!.function;
      expect(f.parameters.properties.token.default).toBe('[REDACTED:github-token]');
      expect(f.description).toBe('Calls the API. Send Authorization: Bearer [REDACTED:openai-key] with it; team [REDACTED:configured-secret].');
    }
    // The per-action lines take their tools from the redacted record.
    const sharegpt = await lines(dir, 'sharegpt.jsonl');
    expect(sharegpt.length).toBeGreaterThan(0);
    for (const rec of sharegpt) expect(rec.tools).toContain('[REDACTED:github-token]');
    const mistral = await lines(dir, 'mistral.jsonl');
    expect(mistral.length).toBeGreaterThan(0);
    for (const rec of mistral) expect(JSON.stringify(rec.tools)).toContain('[REDACTED:configured-secret]');

    // Where they were, on every line that holds them, as the messages' are listed.
    const { redactions } = await readJson<{ redactions: RedactionReport[] }>(dir, 'redactions.json');
    const tools = redactions.filter((r) => r.path === '/tools' || r.path.startsWith('/tools/'));
    // (ShareGPT's tools are one JSON text.)
    expect(tools.map((r) => `${r.file}:${r.line} ${r.path} ${r.kind} ${r.count}`).sort()).toEqual([1, 2].flatMap((line) => [
      `openai.jsonl:${line} /tools/0/function/description configured-secret 1`,
      `openai.jsonl:${line} /tools/0/function/description openai-key 1`,
      `openai.jsonl:${line} /tools/0/function/parameters/properties/token/default github-token 1`,
      `mistral.jsonl:${line} /tools/0/function/description configured-secret 1`,
      `mistral.jsonl:${line} /tools/0/function/description openai-key 1`,
      `mistral.jsonl:${line} /tools/0/function/parameters/properties/token/default github-token 1`,
      `sharegpt.jsonl:${line} /tools configured-secret 1`,
      `sharegpt.jsonl:${line} /tools github-token 1`,
      `sharegpt.jsonl:${line} /tools openai-key 1`,
    ]).sort());
    expect(await reportProblems(dir, TRAINING_FILES)).toEqual([]);
    const manifest = await readJson<{ redactions: { total: number; byKind: Record<string, number>; byFile: Record<string, number> } }>(dir, 'manifest.json');
    expect(manifest.redactions.total).toBeGreaterThanOrEqual(6);
    expect(manifest.redactions.byKind['github-token']).toBeGreaterThanOrEqual(2);
    expect(manifest.redactions.byFile['openai.jsonl']).toBeGreaterThanOrEqual(6);
  });

  it("leave this app's own schemas byte for byte, and scan one array once for all the examples sharing it", async () => {
    const scan = vi.spyOn(Redactor.prototype, 'scan');
    const dir = await exportOf([{ sessionId: 'S1', events: importedSession() }, { sessionId: 'S2', events: ownSession() }], []);
    const openai = await lines(dir, 'openai.jsonl');
    expect(openai.length).toBe(3);
    expect(JSON.stringify(openai[2]!.tools)).toBe(JSON.stringify(TOOL_SCHEMAS));
    const { redactions } = await readJson<{ redactions: RedactionReport[] }>(dir, 'redactions.json');
    // Without the configured secret the two patterns still find theirs, on both lines of S1; none in TOOL_SCHEMAS.
    expect(redactions.filter((r) => r.file === 'openai.jsonl' && r.path.startsWith('/tools/')).map((r) => r.line).sort()).toEqual([1, 1, 2, 2]);
    // The two examples of S1 share their config's array: scanned once (and TOOL_SCHEMAS once).
    const scanned = scan.mock.calls.map(([v]) => v);
    expect(scanned.filter((v) => v === TOOL_SCHEMAS).length).toBe(1);
    expect(scanned.filter((v) => Array.isArray(v) && JSON.stringify(v) === JSON.stringify(importedTools())).length).toBe(1);
  });
});

describe('tool schemas in a merge', () => {
  it('are redacted with the lead’s secrets and listed where the exporter lists them', async () => {
    // No annotator knew the team key (the patterns still find the token and the OpenAI key when they export).
    const alice = await exportOf([{ sessionId: 'S1', events: importedSession() }], []);
    const bob = await exportOf([{ sessionId: 'S1', events: importedSession() }], []);
    for (const d of [alice, bob]) expect((await leaks(d, [TEAM])).sort()).toEqual(['mistral.jsonl holds secret 0', 'openai.jsonl holds secret 0', 'sharegpt.jsonl holds secret 0']);
    const r = await mergeBundles({ inputs: [alice, bob], outDir: join(root, `merged-${++n}`), allowUnsigned: true, appVersion: 'test', secrets: [TEAM] });
    expect(await leaks(r.dir, SECRETS)).toEqual([]);
    const { redactions } = await readJson<{ redactions: RedactionReport[] }>(r.dir, 'redactions.json');
    const merged = redactions.filter((x) => x.path.startsWith('/tools/') && x.kind === 'configured-secret');
    expect(merged.map((x) => `${x.file} ${x.path}`).sort()).toEqual([
      'mistral.jsonl /tools/0/function/description', 'mistral.jsonl /tools/0/function/description',
      'openai.jsonl /tools/0/function/description', 'openai.jsonl /tools/0/function/description',
    ]);
    expect(await reportProblems(r.dir, TRAINING_FILES)).toEqual([]);
    // An export made with the same secrets: the merge finds nothing more, and its tools are the export's bytes.
    const redactedExport = await exportOf([{ sessionId: 'S1', events: importedSession() }], [TEAM]);
    const again = await mergeBundles({ inputs: [redactedExport], outDir: join(root, `merged-${++n}`), allowUnsigned: true, appVersion: 'test', secrets: [TEAM] });
    expect((await lines(again.dir, 'openai.jsonl')).map((x) => JSON.stringify(x.tools))).toEqual((await lines(redactedExport, 'openai.jsonl')).map((x) => JSON.stringify(x.tools)));
  });
});
