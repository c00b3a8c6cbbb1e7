// The texts an export found no secret in, kept beside the session's log: a second
// export scans only what is new and writes the same bundle; the memo never answers for
// other secrets or other rules, never holds a text with a hit, never spares a value
// whose key names a secret; one that is not valid is ignored; a dry run writes none.
import { mkdir, mkdtemp, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { exportBundle } from '../../electron/core/dataset/bundle';
import { Redactor, type CleanTexts } from '../../electron/core/dataset/redact';
import { REDACTION_MEMO_FILE, RedactionMemo } from '../../electron/core/dataset/redaction-memo';
import { appendRecords } from '../../electron/core/dataset/record-file';
import { textKey } from '../../electron/core/dataset/token-store';
import { countInThread, TokenWarmer } from '../../electron/core/dataset/token-warmer';
import { ApolloCore } from '../../electron/core/app';
import { readEventLog } from '../../electron/core/store/event-log';
import { resolve } from 'node:path';
import type { SessionEvent } from '../../shared/events';
import { realisticSession } from '../fixtures/sessions';

let root: string;
let n = 0;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'apollo-redaction-memo-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});
afterEach(() => {
  vi.restoreAllMocks();
});

async function session(): Promise<string> {
  const dir = join(root, `s${++n}`);
  await mkdir(dir, { recursive: true });
  return dir;
}

/** The redactor's scans of one string (its private redactString, at any depth). */
function countScans(): { readonly count: number } {
  const spy = vi.spyOn(Redactor.prototype as unknown as { redactString: (...a: unknown[]) => string }, 'redactString');
  return { get count() { return spy.mock.calls.length; } };
}

async function exportOnce(dir: string, events: SessionEvent[], o: { secrets?: string[]; dryRun?: boolean } = {}): Promise<{ files: string[]; scans: number }> {
  const out = join(root, `out${++n}`);
  const scans = countScans();
  await exportBundle({
    home: root, sessions: [{ sessionId: 'S1', events, sessionDir: dir }], outDir: out, formats: ['openai', 'sharegpt'],
    secrets: o.secrets ?? [], appVersion: 'x', dryRun: o.dryRun,
  });
  const seen = scans.count;
  vi.restoreAllMocks();
  const files = o.dryRun ? [] : await Promise.all(['openai.jsonl', 'sharegpt.jsonl', 'manifest.json', 'redactions.json'].map((f) => readFile(join(out, f), 'utf8')));
  return { files, scans: seen };
}

/** Long enough to be kept (short texts are scanned again), with no pattern in it. */
const LONG = 'the evaluation set must stay untouched until the final run; '.repeat(6);
const CONFIGURED = 'zq-the-configured-value-77';

describe('texts with no secret kept beside the log', () => {
  it('a second export scans only texts no earlier export scanned, and writes the same bundle', async () => {
    const events = realisticSession({ plant: { guidance: LONG } }).events;
    const dir = await session();
    const first = await exportOnce(dir, events);
    const st = await stat(join(dir, REDACTION_MEMO_FILE));
    expect(st.mode & 0o777).toBe(0o600);
    const second = await exportOnce(dir, events);
    expect(second.files).toEqual(first.files);
    expect(second.scans).toBeLessThan(first.scans);
    // The same as with no memo at all.
    const fresh = await exportOnce(await session(), events);
    expect(fresh.files).toEqual(first.files);
    // Nothing new: the file is left as it was.
    expect((await stat(join(dir, REDACTION_MEMO_FILE))).mtimeMs).toBe(st.mtimeMs);
  });

  it('never answers for another list of secrets: a text clean before is redacted once its value is configured', async () => {
    const events = realisticSession({ plant: { guidance: `${LONG} ${CONFIGURED}` } }).events;
    const dir = await session();
    const before = await exportOnce(dir, events);
    expect(before.files[0]).toContain(CONFIGURED);
    const header = (await readFile(join(dir, REDACTION_MEMO_FILE))).subarray(0, 24);
    const after = await exportOnce(dir, events, { secrets: [CONFIGURED] });
    for (const f of after.files) expect(f).not.toContain(CONFIGURED);
    expect(after.files[0]).toContain('[REDACTED:configured-secret]');
    expect(after.files).toEqual((await exportOnce(await session(), events, { secrets: [CONFIGURED] })).files);
    // Rewritten under the new secrets' header.
    expect((await readFile(join(dir, REDACTION_MEMO_FILE))).subarray(0, 24)).not.toEqual(header);
  });

  it('never holds a text the rules found a secret in', async () => {
    const aws = 'AKIAIOSFODNN7EXAMPLE';
    const events = realisticSession({ plant: { guidance: `${LONG} ${aws}` } }).events;
    const dir = await session();
    const first = await exportOnce(dir, events);
    const second = await exportOnce(dir, events);
    for (const f of [...first.files, ...second.files]) expect(f).not.toContain(aws);
    expect(second.files).toEqual(first.files);
    expect(JSON.parse(second.files[3]!)).toEqual(JSON.parse(first.files[3]!));
    expect(second.files[3]).toContain('aws-access-key');
  });

  it('a memo that is not valid, or of other rules, is ignored and rewritten; a dry run writes none', async () => {
    const events = realisticSession({ plant: { guidance: `${LONG} ${CONFIGURED}` } }).events;
    const dir = await session();
    await exportOnce(dir, events, { dryRun: true });
    await expect(stat(join(dir, REDACTION_MEMO_FILE))).rejects.toMatchObject({ code: 'ENOENT' });
    const good = await exportOnce(dir, events, { secrets: [CONFIGURED] });
    const bytes = await readFile(join(dir, REDACTION_MEMO_FILE));
    // The memo of a redactor that saw no secrets (as another build's rules would be), holding
    // the guidance turn with the secret as clean: under this redactor it must not count.
    const other = await RedactionMemo.open(dir, new Redactor([]).fingerprint);
    const turn = JSON.parse(good.files[0]!.split('\n')[0]!) as { messages: Array<{ content?: string }> };
    const guidance = turn.messages.map((m) => m.content ?? '').find((c) => c.includes('[REDACTED:configured-secret]'))!;
    const raw = guidance.replace('[REDACTED:configured-secret]', CONFIGURED);
    other.addClean(textKey(raw));
    await other.save();
    for (const bad of [null, bytes.subarray(0, bytes.length - 5), Buffer.concat([Buffer.from('APCLEAN0'), bytes.subarray(8)])]) {
      if (bad) await writeFile(join(dir, REDACTION_MEMO_FILE), bad);
      const again = await exportOnce(dir, events, { secrets: [CONFIGURED] });
      expect(again.files).toEqual(good.files);
      expect(await readFile(join(dir, REDACTION_MEMO_FILE))).toEqual(bytes);
    }
  });
});

describe('texts found clean as the session is recorded', () => {
  /** A session a real rollout recorded, with its request record (what the model was sent), `extra` added to a tool result. */
  async function recorded(extra: string): Promise<SessionEvent[]> {
    const events = (await readEventLog(resolve('resources/samples/sample-sales-report/events.jsonl'))).events;
    const req = events.find((e) => e.type === 'model.request' && e.append.some((m) => m.role === 'tool'));
    const tool = req?.type === 'model.request' ? req.append.find((m) => m.role === 'tool') : undefined;
    expect(typeof tool?.content).toBe('string');
    tool!.content = `${String(tool!.content)}\n${extra}`;
    return events;
  }

  /** What the host does as the events are appended, with `secrets` as the profiles' keys. */
  async function warm(dir: string, events: SessionEvent[], secrets: string[]): Promise<void> {
    // In this thread: the built worker's rules are the same text only in a build.
    const warmer = new TokenWarmer(dir, 0, countInThread, async () => secrets);
    for (const ev of events) warmer.take(ev);
    await warmer.close();
  }

  it('spare the first export its scans under the same secrets, and give the bundle a fresh scan gives', async () => {
    const events = await recorded(`${LONG} ${CONFIGURED}`);
    const fresh = await exportOnce(await session(), events, { secrets: [CONFIGURED] });
    const dir = await session();
    await warm(dir, events, [CONFIGURED]);
    const first = await exportOnce(dir, events, { secrets: [CONFIGURED] });
    expect(first.scans).toBeLessThan(fresh.scans);
    expect(first.files).toEqual(fresh.files);
    for (const f of first.files) expect(f).not.toContain(CONFIGURED);
  });

  it('are not read by an export with other secrets', async () => {
    const events = await recorded(`${LONG} ${CONFIGURED}`);
    const dir = await session();
    await warm(dir, events, []);
    const first = await exportOnce(dir, events, { secrets: [CONFIGURED] });
    for (const f of first.files) expect(f).not.toContain(CONFIGURED);
    expect(first.files).toEqual((await exportOnce(await session(), events, { secrets: [CONFIGURED] })).files);
  });

  it("are made by the host under its profiles' keys", async () => {
    /** The memo's header after the host recorded the session, with `key` as a profile's key (or none). */
    const recordedUnder = async (key: string | null): Promise<Buffer> => {
      const core = await ApolloCore.open({ home: join(root, `ws${++n}`), resourcesDir: resolve('resources'), host: 'web', samples: false });
      let dir = '';
      try {
        if (key) {
          await core.profiles.save({ name: 'p', baseUrl: 'http://127.0.0.1:9/v1', model: 'm' });
          await core.profiles.setKey('p', key);
        }
        const s = await core.session((await core.ws.create({ name: 'warm', cwd: root })).id);
        dir = s.dir;
        for (const ev of await recorded(LONG)) {
          if (ev.type !== 'request.config' && ev.type !== 'model.request' && ev.type !== 'model.response') continue;
          const { seq: _seq, ts: _ts, ...body } = ev as SessionEvent & { seq: number; ts: number };
          await s.append(body as Parameters<typeof s.append>[0]);
        }
      } finally {
        await core.close(); // counts (and notes) what the last second appended
      }
      const bytes = await readFile(join(dir, REDACTION_MEMO_FILE));
      expect(bytes.length).toBeGreaterThan(24);
      return bytes.subarray(0, 24);
    };
    // The key reached the host's redactor: its memo is one only an export with that key reads.
    expect(await recordedUnder(CONFIGURED)).not.toEqual(await recordedUnder(null));
  });
});

describe('records added beside the log', () => {
  it('never land in a file another writer renamed into place under another header meanwhile', async () => {
    const dir = await session();
    const file = join(dir, REDACTION_MEMO_FILE);
    const mine = Buffer.concat([Buffer.from('APCLEAN1'), Buffer.alloc(16, 1)]);
    const theirs = Buffer.concat([Buffer.from('APCLEAN1'), Buffer.alloc(16, 2), Buffer.alloc(16, 9)]);
    await writeFile(file, mine);
    // An export's save (another redactor's memo) renamed into place while this append looks at the file.
    const fh = await open(file, 'r');
    const proto = Object.getPrototypeOf(fh) as { stat: (...a: unknown[]) => Promise<unknown> };
    await fh.close();
    const stat0 = proto.stat;
    let swapped = false;
    vi.spyOn(proto, 'stat').mockImplementation(async function (this: unknown, ...a: unknown[]) {
      if (!swapped) {
        swapped = true;
        await writeFile(`${file}.other`, theirs);
        await rename(`${file}.other`, file);
      }
      return stat0.apply(this, a);
    });
    await appendRecords(file, mine, 16, Buffer.alloc(16, 7));
    expect(swapped).toBe(true);
    expect(await readFile(file)).toEqual(theirs);
  });
});

describe('Redactor.scan through a memo', () => {
  const memo = (): CleanTexts & { keys: Set<string> } => {
    const keys = new Set<string>();
    return { keys, keyOf: (t) => textKey(t), isClean: (k) => keys.has(k), addClean: (k) => void keys.add(k) };
  };

  it('replaces a value under a key that names a secret whole, even when the same text was clean elsewhere', () => {
    const r = new Redactor();
    const m = memo();
    expect(r.scan({ note: LONG }, m).value).toEqual({ note: LONG });
    expect(m.keys.has(textKey(LONG))).toBe(true);
    const { value, hits } = r.scan({ env: { API_KEY: LONG } }, m);
    expect(value).toEqual({ env: { API_KEY: '[REDACTED:sensitive-field]' } });
    expect(hits.map((h) => h.kind)).toEqual(['sensitive-field']);
  });

  it('gives what a scan without it gives, and adds only texts with no hit', () => {
    const r = new Redactor([CONFIGURED]);
    const m = memo();
    const value = { a: LONG, b: `${LONG} ghp_${'a1'.repeat(18)}`, c: JSON.stringify({ output: `${LONG} ${CONFIGURED}` }) };
    const plain = r.scan(value);
    expect(r.scan(value, m)).toEqual(plain);
    expect(r.scan(value, m)).toEqual(plain);
    expect([...m.keys]).toEqual([textKey(LONG)]);
  });
});
