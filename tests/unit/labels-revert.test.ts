// labels.revert: one undo takes back a whole rules (or judge) application, and a redo
// takes back the undo, through the contract as the filter view drives it. Annotator
// labels are never touched; steps already in the wanted state get no event.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HostMessage } from '../../shared/contract/index';
import type { SessionEvent } from '../../shared/events';
import { effectiveLabel, foldTrajectory } from '../../shared/trajectory';
import { ApolloCore } from '../../electron/core/app';
import { failed, ok, output, run, SessionBuilder } from '../fixtures/sessions';

interface Reply { ok: boolean; result?: unknown; error?: { code: string; message: string } }

let root: string;
let core: ApolloCore;
let steps: string[];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'apollo-labels-revert-'));
  const home = join(root, 'home');
  const b = new SessionBuilder({ name: 'Revert' });
  b.rollout({ task: 'Train the model.' });
  steps = [
    b.step({ calls: [run('ls')], results: [ok()] }),
    b.step({ calls: [run('python train.py')], results: [failed('ModuleNotFoundError')] }),
    b.step({ calls: [run('python train.py --fix')], results: [ok()] }),
    b.step({ calls: [output()], results: [ok('loss 2.0')] }),
    b.step({ calls: [output()], results: [ok('loss 2.0')] }),
    b.step({ calls: [{ name: 'finish', args: { summary: 'done' } }], results: [ok()] }),
  ];
  const dir = join(home, 'sessions', 'R1');
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'events.jsonl'), b.events.map((e) => `${JSON.stringify(e)}\n`).join(''));
  core = await ApolloCore.open({ home, resourcesDir: resolve(__dirname, '../../resources'), host: 'web' });
  await core.ws.setSetting('annotator', 'dana');
});

afterAll(async () => {
  await core?.close();
  await rm(root, { recursive: true, force: true });
});

function call(cmd: string, args: unknown): Promise<Reply> {
  return new Promise((res) => {
    const c = core.connect((m: HostMessage) => {
      if (m.kind === 'res') {
        res(m as Reply);
        c.close();
      }
    });
    void c.receive({ kind: 'req', id: 1, cmd, args });
  });
}

async function labels(): Promise<Array<string | null>> {
  const events: SessionEvent[] = (await core.session('R1')).events;
  const t = foldTrajectory(events);
  return steps.map((id) => {
    const l = effectiveLabel(t.steps.get(id)!);
    return l ? `${l.label}/${l.source}` : null;
  });
}

describe('labels.revert', () => {
  it('undoes a rules application as one unit, redoes it, and leaves annotator labels alone', async () => {
    // The annotator keeps step 4 before the rules run.
    expect((await call('labels.set', { sessionId: 'R1', stepIds: [steps[3]], label: 'keep' })).ok).toBe(true);
    const before = await labels();
    const applied = (await call('rules.apply', { sessionId: 'R1', branchId: 'main', rules: ['failed-retry', 'repeated-action'] })) as Reply & {
      result: { count: number; stepIds: string[]; fromSeq: number };
    };
    expect(applied.ok).toBe(true);
    expect(applied.result.count).toBeGreaterThanOrEqual(2);
    expect(applied.result.stepIds).toHaveLength(applied.result.count);
    expect(typeof applied.result.fromSeq).toBe('number');
    const after = await labels();
    expect(after).not.toEqual(before);
    expect(after[1]).toBe('mask/rule');
    // The annotator's keep still wins over the rule.
    expect(after[3]).toBe('keep/annotator');

    const undo = (await call('labels.revert', { sessionId: 'R1', source: 'rule', stepIds: applied.result.stepIds, beforeSeq: applied.result.fromSeq })) as Reply & {
      result: { count: number; fromSeq: number };
    };
    expect(undo.ok).toBe(true);
    expect(undo.result.count).toBe(applied.result.count);
    expect(await labels()).toEqual(before);

    // Redo: revert the undo.
    const redo = (await call('labels.revert', { sessionId: 'R1', source: 'rule', stepIds: applied.result.stepIds, beforeSeq: undo.result.fromSeq })) as Reply & {
      result: { count: number };
    };
    expect(redo.result.count).toBe(applied.result.count);
    expect(await labels()).toEqual(after);

    // Reverting again to the same point appends nothing new for steps already there.
    const again = (await call('labels.revert', { sessionId: 'R1', source: 'rule', stepIds: applied.result.stepIds, beforeSeq: undo.result.fromSeq })) as Reply & { result: { count: number } };
    expect(again.result.count).toBe(0);
    const noop = (await call('labels.revert', { sessionId: 'R1', source: 'rule', stepIds: [steps[0]], beforeSeq: 0 })) as Reply & { result: { count: number } };
    expect(noop.result.count).toBe(0);
  });

  it('rejects unknown steps and sources', async () => {
    expect((await call('labels.revert', { sessionId: 'R1', source: 'rule', stepIds: ['nope'], beforeSeq: 1 })).error?.code).toBe('NOT_FOUND');
    expect((await call('labels.revert', { sessionId: 'R1', source: 'annotator', stepIds: [steps[0]], beforeSeq: 1 })).ok).toBe(false);
  });
});
