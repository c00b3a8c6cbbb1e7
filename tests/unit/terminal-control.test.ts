// The agent's terminal is the agent's: through the contract, with a real core, real
// bash and a scripted endpoint. Human keys to a terminal the running agent drives are
// refused and never reach the shell; other terminals take them. Taking control pauses
// the agent at its step boundary; the commands the human then runs are recorded as
// human steps shaped like run_command (command, output, exit code, duration); handing
// back resumes the agent, whose next request carries them as its own tool calls.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ApolloCore } from '../../electron/core/app';
import { typedLine } from '../../electron/core/control';
import { ExampleLedger, sessionExamples } from '../../electron/core/dataset/examples';
import { resolvePolicy } from '../../electron/core/dataset/policy';
import { connectClient, type Call } from '../fixtures/core-client';
import type { ControlStatus } from '../../shared/contract/rollout';
import type { ApolloErrorShape } from '../../shared/errors';
import type { EventOf, SessionEvent, SessionEventType } from '../../shared/events';
import { foldTrajectory } from '../../shared/trajectory';
import { hang, startFakeLlm, tool, type FakeLlm } from '../fixtures/fake-llm-server';
import { useHermeticBash } from '../fixtures/shell-home';

let dir: string;
let core: ApolloCore;
let llm: FakeLlm;
const pushes: ControlStatus[] = [];
let call: Call;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'apollo-control-'));
  await useHermeticBash(dir);
  core = await ApolloCore.open({ home: join(dir, 'home'), resourcesDir: resolve('resources'), host: 'web' });
  await core.ws.setSetting('annotator', 'carol');
  call = connectClient(core, (m) => {
    if (m.kind === 'evt' && m.name === 'rollout.control') pushes.push(m.payload as ControlStatus);
  });
});

afterAll(async () => {
  await core?.close();
  await llm?.close();
  await rm(dir, { recursive: true, force: true });
});

async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function ofType<T extends SessionEventType>(events: readonly SessionEvent[], type: T): EventOf<T>[] {
  return events.filter((e): e is EventOf<T> => e.type === type);
}

const refusal = (p: Promise<unknown>) => p.then(() => null, (e: ApolloErrorShape) => e);

interface WireMsg { role: string; content?: string | null; tool_calls?: { id: string; function: { name: string; arguments: string } }[]; tool_call_id?: string }

describe('control of an agent terminal', () => {
  it('refuses keys while the agent drives, records a human in control as steps, and hands them to the agent', async () => {
    llm = await startFakeLlm([
      tool('run_command', { session_id: 'main', command: 'echo agent-1' }),
      // The agent is in this step (a long sleep) while the human tries to type.
      tool('sleep', { sleep_time: 60 }),
      tool('finish', { message: 'done' }),
    ]);
    await call('profiles.save', { name: 'fake', baseUrl: llm.url, model: 'fake-model' });
    const s = await call('sessions.create', { name: 'control', cwd: dir, terminals: [{ id: 'main' }, { id: 'side' }] });
    const session = await core.session(s.id);
    await call('rollout.start', { sessionId: s.id, task: 'work', profile: 'fake', maxSteps: 10 });
    await llm.waitForRequests(2);
    await until(() => ofType(session.events, 'model.response').length === 2, 'the sleep step');
    const rolloutId = ofType(session.events, 'rollout.started')[0]!.rolloutId;

    // The agent drives main: keys there are refused, with a clear error, and never reach the shell.
    const status = await call('rollout.control', { sessionId: s.id });
    expect(status).toMatchObject({ rollout: { id: rolloutId, state: 'running' }, driven: ['main'], control: null });
    const err = await refusal(call('terminal.input', { sessionId: s.id, terminalId: 'main', data: 'echo HUMAN-TYPED-WHILE-AGENT-RUNS\r' }));
    expect(err).toMatchObject({ code: 'CONFLICT', details: { reason: 'agent-driving', terminalId: 'main' } });
    expect(err!.message).toMatch(/agent is driving terminal "main": take control first/);
    // Another terminal of the session is free.
    await call('terminal.input', { sessionId: s.id, terminalId: 'side', data: 'echo side-$((40+2))\r' });
    const side = core.pty.get(s.id, 'side');
    await until(async () => (await side.readText(0)).includes('side-42'), 'the side terminal');

    // Take control: the agent pauses at its step boundary (the sleep is cut short).
    await call('rollout.takeControl', { sessionId: s.id, terminalId: 'main' });
    await until(() => ofType(session.events, 'rollout.state').at(-1)?.state === 'paused', 'the pause');
    expect(await call('rollout.control', { sessionId: s.id })).toMatchObject({ control: { terminalId: 'main', author: 'carol', active: true } });
    // Clients are told (the push follows the rollout.state event).
    await until(() => pushes.some((p) => p.sessionId === s.id && p.control?.active === true), 'the control push');
    const sleepStep = ofType(session.events, 'step.finished').at(-1)!.stepId;

    // What the human runs there becomes human steps.
    const humanSteps = () => ofType(session.events, 'model.response').filter((e) => e.origin === 'terminal');
    const finished = (n: number) => () => {
      const ids = new Set(ofType(session.events, 'step.finished').map((e) => e.stepId));
      return humanSteps().length >= n && humanSteps().slice(0, n).every((e) => ids.has(e.stepId));
    };
    await call('terminal.input', { sessionId: s.id, terminalId: 'main', data: 'echo human-$((1+1))\r' });
    await until(finished(1), 'the first human step');
    const typedAt = Date.now();
    await call('terminal.input', { sessionId: s.id, terminalId: 'main', data: "sh -c 'sleep 1; exit 3'\r" });
    await until(finished(2), 'the second human step');
    const stepWall = Date.now() - typedAt;

    const [r1, r2] = humanSteps();
    for (const r of [r1!, r2!]) expect(r).toMatchObject({ humanAuthored: true, author: 'carol', origin: 'terminal' });
    expect(r1!.toolCalls).toHaveLength(1);
    expect(r1!.toolCalls[0]!.name).toBe('run_command');
    expect(JSON.parse(r1!.toolCalls[0]!.arguments)).toEqual({ session_id: 'main', command: 'echo human-$((1+1))' });
    expect(JSON.parse(r2!.toolCalls[0]!.arguments)).toEqual({ session_id: 'main', command: "sh -c 'sleep 1; exit 3'" });
    const results = ofType(session.events, 'action.result');
    const res1 = results.find((e) => e.stepId === r1!.stepId)!;
    const res2 = results.find((e) => e.stepId === r2!.stepId)!;
    expect(res1).toMatchObject({ name: 'run_command', toolCallId: r1!.toolCalls[0]!.id, exitCode: 0, isError: false, terminalId: 'main' });
    expect(res2).toMatchObject({ exitCode: 3, isError: true, terminalId: 'main' });
    // Measured between the marks as they were read: a mark read late on a loaded machine
    // shortens it by that delay, so the bound leaves half the command's second for it;
    // it cannot be longer than the step took.
    expect(res2.durationMs).toBeGreaterThanOrEqual(500);
    expect(res2.durationMs).toBeLessThanOrEqual(stepWall);
    const o1 = JSON.parse(res1.observation) as Record<string, unknown>;
    expect(o1).toMatchObject({ success: true, observation_type: 'command_run', session_id: 'main', command: 'echo human-$((1+1))', exit_code: 0, output: 'human-2', still_running: false });
    expect(JSON.parse(res2.observation)).toMatchObject({ exit_code: 3, output: '' });
    const main = core.pty.get(s.id, 'main');
    expect(await main.readText(res1.range![0], res1.range![1])).toContain('human-2');
    // On the branch, after the agent's last step, in order.
    const t = foldTrajectory(session.events);
    expect(t.steps.get(r1!.stepId)).toMatchObject({ parentId: sleepStep, branchId: 'main', rolloutId });
    expect(t.steps.get(r2!.stepId)!.parentId).toBe(r1!.stepId);

    // Hand back: the agent resumes from the human steps, which its next request carries as its own.
    const back = await call('rollout.handBack', { sessionId: s.id });
    expect(back.control).toBeNull();
    const [, , third] = await llm.waitForRequests(3);
    const messages = third!.body.messages as WireMsg[];
    const calls = messages.flatMap((m) => (m.role === 'assistant' ? m.tool_calls ?? [] : []));
    const humanCall = calls.find((c) => c.function.arguments.includes('human-$((1+1))'))!;
    expect(humanCall.function.name).toBe('run_command');
    const toolMsg = messages.find((m) => m.role === 'tool' && m.tool_call_id === humanCall.id)!;
    expect(String(toolMsg.content)).toContain('human-2');
    expect(calls.some((c) => c.function.arguments.includes('exit 3'))).toBe(true);
    // Keys that became steps are no "a human typed" note for the agent.
    expect(messages.some((m) => String(m.content ?? '').includes('A human typed directly'))).toBe(false);
    await until(() => core.rollouts.get(s.id)?.state === 'finished', 'the end of the rollout');
    const after = foldTrajectory(session.events);
    const last = [...after.steps.values()].find((x) => x.response?.toolCalls[0]?.name === 'finish')!;
    expect(last.parentId).toBe(r2!.stepId);

    expect(ofType(session.events, 'control.taken')).toMatchObject([{ terminalId: 'main', branchId: 'main', author: 'carol' }]);
    expect(ofType(session.events, 'control.returned')).toMatchObject([{ terminalId: 'main', branchId: 'main', author: 'carol' }]);
    // Exported as demonstrations: the training examples (the export's own stream) train the
    // human's turns, in the context the agent was then sent, with their tool results.
    const examples = [...sessionExamples(after, s.id, ['main'], { policy: resolvePolicy() }, new ExampleLedger())];
    const trained = examples.flatMap((ex) => ex.messages.map((m, i) => ({ m, i, ex })).filter(({ i, ex }) => ex.weights[i] === 1 && ex.owners[i] === r1!.stepId));
    expect(trained).toHaveLength(1);
    const { m: demo, i: at, ex } = trained[0]!;
    expect(JSON.stringify(demo.tool_calls)).toContain('human-$((1+1))');
    expect(ex.source).toBe('recorded');
    expect(String(ex.messages[at + 1]!.content)).toContain('human-2');

    // The refused keys are nowhere: not in the recording, not as input.
    expect(await main.readText(0)).not.toContain('HUMAN-TYPED');
    expect(ofType(session.events, 'terminal.input').some((e) => e.data.includes('HUMAN-TYPED'))).toBe(false);
  });

  it('continues from the human steps when the pause cut a model request short, and Resume hands back', async () => {
    await llm.close();
    llm = await startFakeLlm([tool('run_command', { session_id: 'main', command: 'echo agent-1' }), hang(), tool('finish', { message: 'done' })]);
    await call('profiles.save', { name: 'fake', baseUrl: llm.url, model: 'fake-model' });
    const s = await call('sessions.create', { name: 'hard pause', cwd: dir, terminals: [{ id: 'main' }] });
    const session = await core.session(s.id);
    await call('rollout.start', { sessionId: s.id, task: 'work', profile: 'fake', maxSteps: 10 });
    await llm.waitForRequests(2);
    // Paused by the user while the model is thinking: that step has no reply and never will.
    await call('rollout.pause', { sessionId: s.id });
    await until(() => ofType(session.events, 'rollout.state').at(-1)?.state === 'paused', 'the pause');
    const interrupted = ofType(session.events, 'step.started').at(-1)!.stepId;
    const agentStep = ofType(session.events, 'step.finished').at(-1)!.stepId;
    await call('rollout.takeControl', { sessionId: s.id, terminalId: 'main' });
    await call('terminal.input', { sessionId: s.id, terminalId: 'main', data: 'echo fixed-$((2*3))\r' });
    await until(() => ofType(session.events, 'model.response').some((e) => e.origin === 'terminal') && ofType(session.events, 'step.finished').length === 2, 'the human step');
    const human = ofType(session.events, 'model.response').find((e) => e.origin === 'terminal')!;
    expect(foldTrajectory(session.events).steps.get(human.stepId)!.parentId).toBe(agentStep);
    // Resume while in control: control goes back first, then the agent continues.
    await call('rollout.resume', { sessionId: s.id });
    expect(ofType(session.events, 'control.returned')).toHaveLength(1);
    const [, , third] = await llm.waitForRequests(3);
    expect(JSON.stringify(third!.body.messages)).toContain('fixed-6');
    await until(() => core.rollouts.get(s.id)?.state === 'finished', 'the end of the rollout');
    const t = foldTrajectory(session.events);
    const finish = [...t.steps.values()].find((x) => x.response?.toolCalls[0]?.name === 'finish')!;
    expect(finish.parentId).toBe(human.stepId);
    expect(finish.id).not.toBe(interrupted);
  });

  it('lets the reply being awaited in and run before the agent pauses; keys wait for that', async () => {
    await llm.close();
    // The reply in flight while control is taken is held until the early keys have been
    // refused (a 1.5 s delay was waited out, and could end first on a loaded machine).
    let answer = (): void => {};
    const answered = new Promise<void>((r) => (answer = r));
    llm = await startFakeLlm([
      tool('run_command', { session_id: 'main', command: 'echo agent-1' }),
      // In flight while control is taken: it still arrives and runs.
      async () => (await answered, tool('run_command', { session_id: 'main', command: 'echo agent-$((1+1))' })),
      tool('finish', { message: 'done' }),
    ]);
    await call('profiles.save', { name: 'fake', baseUrl: llm.url, model: 'fake-model' });
    const s = await call('sessions.create', { name: 'boundary', cwd: dir, terminals: [{ id: 'main' }] });
    const session = await core.session(s.id);
    await call('rollout.start', { sessionId: s.id, task: 'work', profile: 'fake', maxSteps: 10 });
    await llm.waitForRequests(2);
    const pending = await call('rollout.takeControl', { sessionId: s.id, terminalId: 'main' });
    expect(pending.control).toMatchObject({ terminalId: 'main', active: false });
    const err = await refusal(call('terminal.input', { sessionId: s.id, terminalId: 'main', data: 'echo too-early\r' }));
    expect(err).toMatchObject({ code: 'CONFLICT', details: { reason: 'control-pending' } });
    answer();
    await until(() => ofType(session.events, 'rollout.state').at(-1)?.state === 'paused', 'the pause');
    // The step in flight got its reply and ran: nothing was left half-done.
    const t = foldTrajectory(session.events);
    expect([...t.steps.values()].every((x) => x.response && x.finishedAt)).toBe(true);
    expect(JSON.stringify(ofType(session.events, 'action.result').at(-1)!.observation)).toContain('agent-2');
    expect(ofType(session.events, 'rollout.state').at(-1)).toMatchObject({ state: 'paused', reason: 'carol took control of terminal main' });
    expect(await core.pty.get(s.id, 'main').readText(0)).not.toContain('too-early');
    await call('rollout.handBack', { sessionId: s.id });
    await until(() => core.rollouts.get(s.id)?.state === 'finished', 'the end of the rollout');
  });

  it('says why taking control is not possible', async () => {
    const s = await call('sessions.create', { name: 'idle', cwd: dir, terminals: [{ id: 'main' }] });
    expect(await refusal(call('rollout.takeControl', { sessionId: s.id, terminalId: 'main' }))).toMatchObject({ code: 'CONFLICT', message: expect.stringMatching(/No rollout is running or paused/) });
    expect(await refusal(call('rollout.handBack', { sessionId: s.id }))).toMatchObject({ code: 'CONFLICT' });
    // Without a rollout, keys go through.
    await call('terminal.input', { sessionId: s.id, terminalId: 'main', data: 'echo free\r' });
  });
});

describe('typedLine (command text for shells that do not report it)', () => {
  it('applies the editing keys of the last entered line', () => {
    expect(typedLine('echo humX\x7fan\r')).toEqual({ line: 'echo human', pending: '' });
    expect(typedLine('bad line\rls -la\rnext')).toEqual({ line: 'ls -la', pending: 'next' });
    expect(typedLine('rm -rf x\x15ls\x1b[D\x1b[C\r')).toEqual({ line: 'ls', pending: '' });
    expect(typedLine('git commit -m wip\x17done\r').line).toBe('git commit -m done');
    expect(typedLine('\x1b[200~a\rb\x1b[201~\r').line).toBe('a\nb');
  });
});
