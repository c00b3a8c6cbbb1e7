// The stamp beside an event log (store/log-stamp.ts): a log checked once opens again
// without the schema check while it is exactly as checked, and is checked in full
// (and stamped again) as soon as anything about it differs; what the check found
// wrong is reported on every open either way, and a torn write is still repaired.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { appendFile, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventLog, readEventLog } from '../../electron/core/store/event-log';
import { stampPath } from '../../electron/core/store/log-stamp';

let dir: string;
let path: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'apollo-log-stamp-'));
  path = join(dir, 'events.jsonl');
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const line = (o: object) => JSON.stringify(o) + '\n';
const created = { seq: 1, ts: 1000, type: 'session.created', name: 'n', cwd: '/tmp', appVersion: '1.0.0' };
const started = (seq: number) => ({ seq, ts: 1000 + seq, type: 'step.started', stepId: `s${seq}`, parentId: null, branchId: 'main', depth: seq, rolloutId: 'r' });
/** JSON, but no event: `seq` must be a positive integer. Only the schema check can tell. */
const invalid = { seq: 'three', ts: 1003, type: 'warning', message: 'x' };

async function openAndClose(): Promise<Awaited<ReturnType<typeof EventLog.open>>> {
  const r = await EventLog.open(path);
  await r.log.close();
  return r;
}

describe('event log stamp', () => {
  it('checks a log once, then opens it without the schema check while it is unchanged, still reporting its invalid lines', async () => {
    await writeFile(path, line(created) + line(started(2)) + line(invalid) + line(started(4)));
    const first = await openAndClose();
    expect(first.stamped).toBe(false);
    expect(first.report.corruptLines).toEqual([3]);
    expect((await stat(stampPath(path))).mode & 0o777).toBe(0o600);

    const again = await readEventLog(path);
    expect(again.stamped).toBe(true);
    expect(again.report).toEqual({ tornTail: false, corruptLines: [3] });
    expect(again.events.map((e) => e.seq)).toEqual([1, 2, 4]);
  });

  it('checks in full when the log changed behind it (an invalid line appended by hand is reported)', async () => {
    await writeFile(path, line(created) + line(started(2)));
    await openAndClose();
    expect((await readEventLog(path)).stamped).toBe(true);
    await appendFile(path, line(invalid));
    const r = await readEventLog(path);
    expect(r.stamped).toBe(false);
    expect(r.report.corruptLines).toEqual([3]);
    expect(r.events).toHaveLength(2);
  });

  it('checks in full when the last line differs though size and time match (a stamp copied from another log)', async () => {
    await writeFile(path, line(created) + line(started(2)));
    await openAndClose();
    const stamp = JSON.parse(await readFile(stampPath(path), 'utf8')) as { tail: string };
    await writeFile(stampPath(path), JSON.stringify({ ...stamp, tail: '0'.repeat(64) }));
    expect((await readEventLog(path)).stamped).toBe(false);
    await writeFile(stampPath(path), 'not json');
    expect((await readEventLog(path)).stamped).toBe(false);
  });

  it('still repairs and reports a torn last line, and stamps the repaired log', async () => {
    await writeFile(path, line(created) + line(started(2)));
    await openAndClose();
    await appendFile(path, '{"seq":3,"ts":1003,"type":"warn');
    const r = await openAndClose();
    expect(r.report.tornTail).toBe(true);
    expect(r.events).toHaveLength(2);
    const after = await readEventLog(path);
    expect(after.stamped).toBe(true);
    expect(after.report.tornTail).toBe(false);
  });

  it('closing checks what was appended from the file and stamps the whole log', async () => {
    await writeFile(path, line(created) + line(invalid));
    const { log } = await EventLog.open(path);
    await log.append({ type: 'warning', message: 'one' }).durable;
    await log.append({ type: 'warning', message: 'two' }).durable;
    await log.close();
    const r = await readEventLog(path);
    expect(r.stamped).toBe(true);
    expect(r.report.corruptLines).toEqual([2]);
    expect(r.events.map((e) => (e.type === 'warning' ? e.message : e.type))).toEqual(['session.created', 'one', 'two']);
  });

  it('an empty or missing log gets no stamp', async () => {
    await openAndClose();
    await expect(stat(stampPath(path))).rejects.toThrow();
  });
});
