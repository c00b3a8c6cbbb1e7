// An export of what was exported before takes the files the earlier export kept
// (bundle-cache.ts), and only then: whatever the bundle's bytes depend on (a label, a
// comment, a new step, a secret, an option, the branches, a recording, the code) makes
// it build again, and what it writes is always byte for byte what building writes.
// export.made events (each export appends one) are the one thing left out of the key:
// building after them writes the same bytes, checked here too.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { appendFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApolloCore } from '../../electron/core/app';
import { ExportManager, exportInputs, type ExportProgress } from '../../electron/core/exports';
import { resourcesDir } from '../../electron/core/paths';
import { exportBundle, type ExportBundleOptions, type ExportSessionInput } from '../../electron/core/dataset/bundle';
import { BUNDLE_CACHE_DIR, bundleKey, KEPT_BUNDLES, type BundleKeyParts } from '../../electron/core/dataset/bundle-cache';
import { builtCode } from '../../electron/core/dataset/code-digest';
import type { SessionEvent, SessionEventBody } from '../../shared/events';
import { realisticSession, writeRecording } from '../fixtures/sessions';
import { treeHashes } from '../fixtures/tree-hashes';

const SID = 'S1';
// A value no built-in pattern finds: only the configured secret redacts it.
const SECRET = 'plain-words-bundle-secret-77';

let root: string;
let home: string;
let core: ApolloCore;
let story: ReturnType<typeof realisticSession>;
let n = 0;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'apollo-bundle-cache-'));
  home = join(root, 'home');
  story = realisticSession({ plant: { output: SECRET } });
  const dir = join(home, 'sessions', SID);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'events.jsonl'), story.events.map((e) => JSON.stringify(e) + '\n').join(''));
  const t0 = story.events.find((e) => e.type === 'terminal.started')!.ts;
  await writeRecording(dir, 'main', Array.from({ length: 50 }, (_, i) => ({ ts: t0 + 10 + i * 40, data: `\r step ${i}/50 ${i === 7 ? `echo ${SECRET}` : ''}\r\n` })));
  core = await ApolloCore.open({ home, resourcesDir: resourcesDir(), host: 'web', samples: false });
});
afterAll(async () => {
  await core?.close();
  await rm(root, { recursive: true, force: true });
});

const sessionDir = () => join(home, 'sessions', SID);

async function inputs(branchIds?: string[]): Promise<ExportSessionInput[]> {
  return exportInputs(core, [SID], branchIds);
}

/** An export of the session as it is now, as export jobs make it (their inputs, export.made appended after). */
async function exportNow(o: Partial<ExportBundleOptions> & { branchIds?: string[] } = {}) {
  const { branchIds, ...rest } = o;
  const outDir = join(root, `out-${++n}`);
  const sessions = await inputs(branchIds);
  const r = await exportBundle({ home, sessions, outDir, formats: ['openai', 'sharegpt', 'trajectory'], secrets: [SECRET], appVersion: 'test', castWorker: false, ...rest });
  const s = await core.session(SID);
  await s.append({ type: 'export.made', bundle: outDir, formats: [...r.manifest.formats], branchIds: [] });
  return { r, outDir, files: await treeHashes(outDir), sessions };
}

/** The same inputs built, nothing taken from a kept bundle. */
async function built(sessions: ExportSessionInput[], o: Partial<ExportBundleOptions> = {}) {
  const outDir = join(root, `built-${++n}`);
  const r = await exportBundle({ home, sessions, outDir, formats: ['openai', 'sharegpt', 'trajectory'], secrets: [SECRET], appVersion: 'test', castWorker: false, bundleCache: false, ...o });
  expect(r.reused).toBeUndefined();
  return { r, files: await treeHashes(outDir) };
}

async function append(body: SessionEventBody): Promise<void> {
  await (await core.session(SID)).append(body);
}

async function entries(): Promise<string[]> {
  return (await readdir(join(sessionDir(), BUNDLE_CACHE_DIR)).catch(() => [] as string[])).filter((f) => !f.includes('.tmp-'));
}

describe('the events digest', () => {
  it('is the SHA-256 of the log lines other than export.made, carried over appends, the same after a reload', async () => {
    const s = await core.session(SID);
    const before = s.eventsDigest;
    await append({ type: 'export.made', bundle: '/x', formats: ['openai'], branchIds: [] });
    expect(s.eventsDigest).toBe(before);
    await append({ type: 'warning', message: 'a fact that is not an export' });
    expect(s.eventsDigest).not.toBe(before);
    const text = await readFile(join(sessionDir(), 'events.jsonl'), 'utf8');
    const lines = text.split('\n').filter(Boolean).filter((l) => (JSON.parse(l) as SessionEvent).type !== 'export.made');
    expect(s.eventsDigest).toBe(createHash('sha256').update(lines.map((l) => l + '\n').join('')).digest('hex'));
    // A fresh core reads the same digest from the file.
    const other = await ApolloCore.open({ home, resourcesDir: resourcesDir(), host: 'web', samples: false, readOnly: true });
    try {
      expect((await other.session(SID)).eventsDigest).toBe(s.eventsDigest);
    } finally {
      await other.close();
    }
  });
});

describe('an appended event', () => {
  it('is held as the log holds it, not as the object the caller passed and changes later', async () => {
    const s = await core.session(SID);
    const formats = ['openai'];
    const ev = await s.append({ type: 'export.made', bundle: '/y', formats, branchIds: [] });
    formats.push('changed after the append');
    expect(s.events.at(-1)).toEqual({ ...ev, formats: ['openai'] });
    const line = (await readFile(join(sessionDir(), 'events.jsonl'), 'utf8')).trimEnd().split('\n').at(-1)!;
    expect(s.events.at(-1)).toEqual(JSON.parse(line));
  });
});

describe('an export of what was exported before', () => {
  it('takes the kept files, byte for byte what building them writes, after the export.made the first appended', async () => {
    const first = await exportNow();
    expect(first.r.reused).toBeUndefined();
    expect(first.r.builtBecause).toBe('no earlier export of these sessions is kept');
    expect(await entries()).toHaveLength(1);
    const again = await exportNow();
    expect(again.r.reused).toBe(true);
    expect(again.r.builtBecause).toBeUndefined();
    expect(again.files).toEqual(first.files);
    expect(again.r.manifest).toEqual(first.r.manifest);
    expect(again.r.redactions).toEqual(first.r.redactions);
    // Building after the export.made events gives the same bytes: they are rightly left out of the key.
    expect((await built(again.sessions)).files).toEqual(again.files);
    // The secret was redacted in the files, and no kept file holds it either.
    const kept = join(sessionDir(), BUNDLE_CACHE_DIR);
    for (const e of await entries()) {
      for (const f of await readdir(join(kept, e))) expect(await readFile(join(kept, e, f), 'utf8')).not.toContain(SECRET);
    }
    expect(JSON.stringify(first.r.redactions)).toContain('configured');
  });

  it('builds again when anything the files depend on changed, and writes what building writes', async () => {
    const base = await exportNow();
    // Each with what the export says made it build: the closest bundle kept is the base
    // options' (exported just before each change), the events grow from one change to the next.
    const newEvent = /^session S1 changed since \((\d+) events then, (\d+) now\)$/;
    const changes: Array<[string, () => Promise<Partial<ExportBundleOptions> & { branchIds?: string[] }>, RegExp]> = [
      ['a label', async () => (await append({ type: 'label.set', stepId: story.s.install, label: 'mask', tags: [], note: 'not needed', source: 'annotator', author: 'carol' }), {}), newEvent],
      ['a comment', async () => (await append({ type: 'comment.added', commentId: 'c-new', stepId: story.s.plan, text: 'good start', author: 'dan' }), {}), newEvent],
      ['a rename', async () => (await append({ type: 'session.renamed', name: 'Renamed for the cache test' }), {}), newEvent],
      ['another secret', async () => ({ secrets: [SECRET, 'ROUGE-L'] }), /^the secrets to redact \(or the redaction rules\) are not the same$/],
      ['a token limit', async () => ({ maxTokens: 256 }), /^other options \(history tokens, max tokens, warning tokens\)$/],
      ['the unreviewed policy', async () => ({ labelPolicy: { unlabelled: 'mask' } }), /^other options \(label policy\)$/],
      ['the formats', async () => ({ formats: ['openai'] }), /^other options \(formats\)$/],
      ['the branches', async () => ({ branchIds: ['alt'] }), /^other branches of session S1$/],
      ['the app version', async () => ({ appVersion: 'test-2' }), /^other options \(app version\)$/],
      ['summaries', async () => ({ includeSummaries: true }), /^other options \(summaries\)$/],
      ['reasoning', async () => ({ openai: { reasoning: 'field' } }), /^other options \(reasoning\)$/],
    ];
    let last = base.files;
    let events = (await core.session(SID)).events.filter((e) => e.type !== 'export.made').length;
    for (const [what, change, why] of changes) {
      await exportNow();
      const o = await change();
      const x = await exportNow(o);
      expect(x.r.reused, what).toBeUndefined();
      expect(x.r.builtBecause, what).toMatch(why);
      const grew = newEvent.exec(x.r.builtBecause!);
      if (grew) {
        expect([Number(grew[1]), Number(grew[2])], what).toEqual([events, events + 1]);
        events++;
      }
      const { branchIds: _b, ...rest } = o;
      expect(x.files, what).toEqual((await built(x.sessions, rest)).files);
      expect(x.files, what).not.toEqual(last);
      last = x.files;
      // …and the same change exported again is taken.
      const y = await exportNow(o);
      expect(y.r.reused, what).toBe(true);
      expect(y.files, what).toEqual(x.files);
    }
    expect((await entries()).length).toBeLessThanOrEqual(KEPT_BUNDLES);
  });

  it('never takes kept files that changed on disk, nor a damaged entry', async () => {
    const first = await exportNow();
    const again = await exportNow();
    expect(again.r.reused).toBe(true);
    const dir = join(sessionDir(), BUNDLE_CACHE_DIR);
    // Every kept entry's openai.jsonl edited in place: a different byte, same size.
    for (const e of await entries()) {
      const f = join(dir, e, 'openai.jsonl');
      const text = await readFile(f, 'utf8').catch(() => null);
      if (text) await writeFile(f, text.replace('"assistant"', '"Assistant"'));
    }
    const edited = await exportNow();
    expect(edited.r.reused).toBeUndefined();
    expect(edited.r.builtBecause).toBe('the kept bundle of these inputs was not usable (a file in it changed or went missing)');
    expect(edited.files).toEqual(first.files);
    // The export kept its own; damage its entry file: built again, as right.
    for (const e of await entries()) await writeFile(join(dir, e, 'entry.json'), '{"format":');
    const damaged = await exportNow();
    expect(damaged.r.reused).toBeUndefined();
    expect(damaged.r.builtBecause).toBe('the kept bundle of these inputs was not usable (a file in it changed or went missing)');
    expect(damaged.files).toEqual(first.files);
    const healed = await exportNow();
    expect(healed.r.reused).toBe(true);
  });

  it('keeps nothing when the export fails or is cancelled', async () => {
    await append({ type: 'warning', message: 'new inputs for this test' });
    const before = await entries();
    const ac = new AbortController();
    await expect(exportNow({ signal: ac.signal, onProgress: () => ac.abort() })).rejects.toMatchObject({ code: 'CANCELLED' });
    expect(await entries()).toEqual(before);
    const left = (await readdir(join(sessionDir(), BUNDLE_CACHE_DIR))).filter((f) => f.includes('.tmp-'));
    expect(left).toEqual([]);
  });

  it('with recordings: takes them from their own conversions, builds again when one grew', async () => {
    const formats: ExportBundleOptions['formats'] = ['openai', 'asciicast'];
    const first = await exportNow({ formats });
    const again = await exportNow({ formats });
    expect(again.r.reused).toBe(true);
    expect(again.files).toEqual(first.files);
    expect(Object.keys(again.files)).toContain('terminals/S1/main.cast');
    // A kept manifest that lists the recording otherwise than its conversion comes out (its entry consistent with it): built instead.
    const dir = join(sessionDir(), BUNDLE_CACHE_DIR);
    for (const e of await entries()) {
      const m = JSON.parse(await readFile(join(dir, e, 'manifest.json'), 'utf8')) as { files: Array<{ path: string; sha256: string }> };
      const cast = m.files.find((f) => f.path.endsWith('.cast'));
      if (!cast) continue;
      cast.sha256 = 'f'.repeat(64);
      const text = `${JSON.stringify(m, null, 2)}\n`;
      await writeFile(join(dir, e, 'manifest.json'), text);
      const entry = JSON.parse(await readFile(join(dir, e, 'entry.json'), 'utf8')) as { files: Array<{ path: string; bytes: number; sha256: string }> };
      const mf = entry.files.find((f) => f.path === 'manifest.json')!;
      mf.bytes = Buffer.byteLength(text);
      mf.sha256 = createHash('sha256').update(text).digest('hex');
      await writeFile(join(dir, e, 'entry.json'), JSON.stringify(entry));
    }
    const stale = await exportNow({ formats });
    expect(stale.r.reused).toBeUndefined();
    expect(stale.r.builtBecause).toBe('the kept bundle of these inputs was not usable (its recordings did not come out as its manifest lists them)');
    expect(stale.files).toEqual(first.files);
    expect((await exportNow({ formats })).r.reused).toBe(true);
    const t0 = story.events.find((e) => e.type === 'terminal.started')!.ts;
    const rec = join(sessionDir(), 'terminals');
    const size = (await readFile(join(rec, 'main.out'))).length;
    await appendFile(join(rec, 'main.out'), 'more output\r\n');
    await appendFile(join(rec, 'main.timing.jsonl'), `[${t0 + 5000},${size},13]\n`);
    const grown = await exportNow({ formats });
    expect(grown.r.reused).toBeUndefined();
    expect(grown.r.builtBecause).toBe('a recording changed since');
    expect(grown.files['terminals/S1/main.cast']).not.toBe(first.files['terminals/S1/main.cast']);
    expect(grown.files).toEqual((await built(grown.sessions, { formats })).files);
  });

  it('is said in the export job\'s last report, as the dialog shows it', async () => {
    const reports: ExportProgress[] = [];
    const manager = new ExportManager(core, { throttleMs: 0, sink: (p) => reports.push(p) });
    const run = async () => {
      const { finished } = await manager.start({ sessionIds: [SID], formats: ['openai'], outDir: join(root, `job-${++n}`) });
      expect((await finished).state).toBe('done');
      return reports.at(-1)!;
    };
    await run();
    await append({ type: 'warning', message: 'inputs no export had' });
    const first = await run();
    expect(first.reused).toBeUndefined();
    expect(first.builtBecause).toMatch(/^session S1 changed since \(\d+ events then, \d+ now\)$/);
    expect(await run()).toMatchObject({ state: 'done', reused: true });
  });

  it('is not made for events that no log names (exportBundle given events from elsewhere)', async () => {
    const sessions = (await inputs()).map(({ eventsDigest: _d, ...s }) => s);
    const run = () => exportBundle({ home, sessions, outDir: join(root, `plain-${++n}`), formats: ['openai'], secrets: [], appVersion: 'test', castWorker: false });
    for (const r of [await run(), await run()]) {
      expect(r.reused).toBeUndefined();
      expect(r.builtBecause).toBeUndefined();
    }
  });
});

describe('the key', () => {
  const parts: BundleKeyParts = { options: { formats: ['openai'] }, redaction: 'r0', sessions: [{ sessionId: 'S', eventsDigest: 'a'.repeat(64), selected: ['main'], terminals: [] }], casts: [] };

  it('names the code: another build, or a module the exporter imports, gives another key', () => {
    expect(bundleKey(parts, 'code-1')).not.toBe(bundleKey(parts, 'code-2'));
    expect(bundleKey(parts, null)).toBeNull();
    // From source, the code is the exporter and every module it imports, transitively.
    const code = builtCode(join(__dirname, '../../electron/core/dataset/bundle.ts'));
    expect(code).not.toBeNull();
    for (const f of ['electron/core/dataset/trainers.ts', 'electron/core/dataset/redact.ts', 'shared/trajectory.ts', 'electron/core/dataset/examples.ts']) {
      expect(code, f).toContain(readFileSyncText(f));
    }
  });

  it('is none for events without a digest or a recording without a conversion key', () => {
    expect(bundleKey({ ...parts, sessions: [{ ...parts.sessions[0]!, eventsDigest: undefined }] }, 'c')).toBeNull();
    expect(bundleKey({ ...parts, casts: [null] }, 'c')).toBeNull();
    expect(bundleKey({ ...parts, casts: ['x'] }, 'c')).not.toBe(bundleKey({ ...parts, casts: ['y'] }, 'c'));
    expect(bundleKey({ ...parts, redaction: 'r1' }, 'c')).not.toBe(bundleKey(parts, 'c'));
  });
});

function readFileSyncText(rel: string): string {
  return readFileSync(join(__dirname, '../..', rel), 'utf8');
}
