// get_session_output reads back what earlier steps printed; the range it records (and
// the replay markers and search hits placed by it) must stay this step's own, while
// the observation the agent gets still holds the old text.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_TOOL_OPTIONS, executeTool, type ToolContext, type ToolOutcome } from '../../electron/core/rollout/tools';
import { PtyHost } from '../../electron/core/pty/pty-host';
import { Workspace, type SessionLog } from '../../electron/core/store/workspace';
import { terminalMarkers } from '../../electron/core/replay-markers';
import { markerAt } from '../../shared/replay-markers';
import type { SessionEvent, SessionEventBody } from '../../shared/events';
import { foldTrajectory } from '../../shared/trajectory';

const parse = (o: ToolOutcome): Record<string, unknown> => JSON.parse(o.observation) as Record<string, unknown>;

/** Two steps in terminal `main`: step 1 ran a command, step 2 read the terminal back. */
function twoSteps(first: [number, number], second: [number, number]): SessionEvent[] {
  const bodies: SessionEventBody[] = [
    { type: 'rollout.started', rolloutId: 'r', branchId: 'b', task: 't', endpoint: null, policy: 'model', maxSteps: 5, parentStepId: null },
    { type: 'step.started', stepId: 's1', parentId: null, branchId: 'b', depth: 0, rolloutId: 'r' },
    { type: 'action.result', stepId: 's1', toolCallId: 'c1', name: 'run_command', observation: '{}', isError: false, durationMs: 5, terminalId: 'main', range: first },
    { type: 'step.started', stepId: 's2', parentId: 's1', branchId: 'b', depth: 1, rolloutId: 'r' },
    { type: 'action.result', stepId: 's2', toolCallId: 'c2', name: 'get_session_output', observation: '{}', isError: false, durationMs: 5, terminalId: 'main', range: second },
  ];
  return bodies.map((b, i) => ({ ...b, seq: i + 1, ts: 1_000 + i * 100 }) as SessionEvent);
}

describe('get_session_output against a real terminal', () => {
  let home: string;
  let cwd: string;
  let ws: Workspace;
  let session: SessionLog;
  let pty: PtyHost;
  let ctx: ToolContext;
  beforeAll(async () => {
    home = await mkdtemp(join(tmpdir(), 'apollo-range-'));
    cwd = await mkdtemp(join(tmpdir(), 'apollo-range-cwd-'));
    ws = await Workspace.open(home);
    session = await ws.create({ cwd, name: 'range test' });
    pty = new PtyHost({
      resourcesDir: resolve('resources'),
      events: { data: () => undefined, changed: () => undefined },
      env: { ...process.env, SHELL: '/bin/bash', HISTFILE: '/dev/null' },
    });
    ctx = { session, pty, cwd, options: { ...DEFAULT_TOOL_OPTIONS, outputCap: 2_000, commandTimeoutMs: 10_000, settleMs: 800 } };
  });
  afterAll(async () => {
    await pty.dispose();
    await ws.close();
    await rm(home, { recursive: true, force: true });
    await rm(cwd, { recursive: true, force: true });
  });

  const run = (name: string, args: Record<string, unknown>) => executeTool(name, args, ctx);

  it('records the time of the call, not the window it read, and the agent still sees the old output', async () => {
    const since = new Date(Date.now() - 1_000).toISOString();
    const step1 = await run('run_command', { session_id: 'main', command: 'for i in 1 2 3 4 5; do echo step-one-line-$i; done' });
    expect(parse(step1).output).toContain('step-one-line-5');
    const [, step1End] = step1.range!;

    const byLines = await run('get_session_output', { session_id: 'main', start_lines: 50 });
    expect(parse(byLines).output).toContain('step-one-line-1');
    expect(byLines.terminalId).toBe('main');
    expect(byLines.range![0]).toBeGreaterThanOrEqual(step1End);
    expect(byLines.range![1]).toBeGreaterThanOrEqual(byLines.range![0]);

    // The timing index is flushed within 50 ms: wait for it to know step 1's output.
    let bySince: ToolOutcome | undefined;
    for (const end = Date.now() + 10_000; Date.now() < end; await new Promise((r) => setTimeout(r, 50))) {
      bySince = await run('get_session_output', { session_id: 'main', start_lines: 1, since_timestamp: since });
      if (String(parse(bySince).output).includes('step-one-line-5')) break;
    }
    expect(parse(bySince!).output).toContain('step-one-line-1');
    expect(bySince!.range![0]).toBeGreaterThanOrEqual(step1End);

    // Placed by these ranges, step 1's output belongs to step 1, in the replay bar and the search.
    const t = foldTrajectory(twoSteps(step1.range!, byLines.range!));
    const markers = terminalMarkers(t, 'main');
    expect(markers.map((m) => m.stepId)).toEqual(['s1', 's2']);
    expect(markers[markerAt(markers, step1End - 1, null)]!.stepId).toBe('s1');
  });
});

describe('a log recorded before the fix', () => {
  it('places an old read-back, which recorded the window it read, where that window ended', () => {
    // Step 1 wrote bytes 0–490; step 2 recorded the window [0, 490] it read back.
    const t = foldTrajectory(twoSteps([0, 490], [0, 490]));
    expect(t.steps.get('s2')!.results[0]!.range).toEqual([490, 490]);
    expect(t.steps.get('s1')!.results[0]!.range).toEqual([0, 490]);
    const markers = terminalMarkers(t, 'main');
    expect(markers[markerAt(markers, 10, null)]!.stepId).toBe('s1');
    expect(markers[markerAt(markers, 489, null)]!.stepId).toBe('s1');
  });
});
