// Who types into a session's terminals while an agent works there.
//
// The terminals a running rollout drives are the agent's: human keys sent there are
// refused (they would mix into its commands and into the recorded results). A human
// takes control of one terminal: control.taken is recorded and the agent pauses at
// its next step boundary. From then on each command the human runs there (bounded by
// the shell-integration marks, the command line reported by the shell) is recorded
// as a human-authored step of the branch, shaped like the agent's own run_command
// step (the behaviour-cloning signal), and checkpointed like any step. Handing back
// records control.returned and resumes the agent, whose next request contains
// those steps.
import { randomUUID } from 'node:crypto';
import type { ControlStatus } from '../../shared/contract/rollout';
import { ApolloError } from '../../shared/errors';
import type { SessionEvent, ToolCall } from '../../shared/events';
import { branchLeaf, type Step } from '../../shared/trajectory';
import { trajectoryOf } from './session-trajectory';
import type { PtyHost } from './pty/pty-host';
import type { Rollout } from './rollout/index';
import { capText, DEFAULT_TOOL_OPTIONS } from './rollout/tools';
import type { RolloutManager } from './rollouts';
import type { SessionLog } from './store/workspace';

export interface ControlDeps {
  rollouts: RolloutManager;
  pty: PtyHost;
  /** Working directory of a session (checkpoints of the human steps). */
  cwd(sessionId: string): string;
  /** A session's control status changed. */
  changed(status: ControlStatus): void;
}

interface RunningCommand {
  command: string;
  /** Recording offset just after the command-start mark. */
  start: number;
  startedAt: number;
}

interface Held {
  session: SessionLog;
  terminalId: string;
  branchId: string;
  author: string;
  rollout: Rollout;
  unsubscribe: () => void;
  /** Human keys sent to the terminal since its last command started (for a shell that does not report the line). */
  typed: string;
  running: RunningCommand | null;
  /** Steps are recorded one after the other, in the order their commands ended. */
  chain: Promise<void>;
}

export class ControlManager {
  private readonly held = new Map<string, Held>();
  /** The last status told for each session, to tell only changes. */
  private readonly told = new Map<string, string>();

  constructor(private readonly deps: ControlDeps) {}

  status(sessionId: string): ControlStatus {
    const r = this.deps.rollouts.get(sessionId);
    const h = this.held.get(sessionId);
    return {
      sessionId,
      rollout: r ? { id: r.id, branchId: r.branchId, state: r.state } : null,
      driven: r ? [...r.drivenTerminals()].sort() : [],
      control: h ? { terminalId: h.terminalId, branchId: h.branchId, author: h.author, active: isActive(h.rollout) } : null,
    };
  }

  /**
   * Refuse human keys to a terminal the running agent drives (CONFLICT, with
   * details.reason 'agent-driving', or 'control-pending' while a take-over waits for
   * the step boundary). Nothing is sent, so nothing recorded can change.
   */
  checkInput(sessionId: string, terminalId: string): void {
    const r = this.deps.rollouts.get(sessionId);
    if (!r || isActive(r)) return;
    if (!r.drivenTerminals().has(terminalId)) return;
    if (this.held.get(sessionId)?.terminalId === terminalId) {
      throw new ApolloError('CONFLICT', `The agent is finishing its current step in terminal "${terminalId}"; you are in control once it has. Your keys were not sent.`, { reason: 'control-pending', terminalId });
    }
    throw new ApolloError('CONFLICT', `The agent is driving terminal "${terminalId}": take control first. Your keys were not sent.`, { reason: 'agent-driving', terminalId });
  }

  async take(session: SessionLog, terminalId: string, author: string): Promise<ControlStatus> {
    const rollout = this.deps.rollouts.get(session.id);
    if (!rollout || !['running', 'paused', 'idle'].includes(rollout.state)) {
      throw new ApolloError('CONFLICT', 'No rollout is running or paused in this session: its terminals take your input as they are.');
    }
    if (!this.deps.pty.has(session.id, terminalId) || this.deps.pty.get(session.id, terminalId).info().status !== 'running') {
      throw new ApolloError('UNAVAILABLE', `Terminal "${terminalId}" is not running in this session.`);
    }
    const cur = this.held.get(session.id);
    if (cur) {
      if (cur.terminalId === terminalId) return this.status(session.id);
      throw new ApolloError('CONFLICT', `You are in control of terminal "${cur.terminalId}": hand it back first.`);
    }
    const h: Held = {
      session, terminalId, branchId: rollout.branchId, author, rollout, typed: '', running: null, chain: Promise.resolve(),
      unsubscribe: () => undefined,
    };
    this.held.set(session.id, h);
    try {
      await session.append({ type: 'control.taken', terminalId, branchId: h.branchId, author });
    } catch (err) {
      this.held.delete(session.id);
      throw err;
    }
    h.unsubscribe = session.subscribe((ev) => this.observe(h, ev));
    rollout.pauseAtBoundary(`${author} took control of terminal ${terminalId}`);
    this.tell(session.id);
    return this.status(session.id);
  }

  async handBack(sessionId: string, author: string): Promise<ControlStatus> {
    const h = this.held.get(sessionId);
    if (!h) throw new ApolloError('CONFLICT', 'You are not in control of a terminal in this session.');
    // A command still running is handed over as such (like run_command with wait=false).
    if (h.running) {
      const run = h.running;
      h.running = null;
      h.chain = h.chain.then(() => this.recordStep(h, run, null));
    }
    await h.chain;
    this.clearUnfinishedLine(h);
    h.unsubscribe();
    this.held.delete(sessionId);
    await h.session.append({ type: 'control.returned', terminalId: h.terminalId, branchId: h.branchId, author });
    if (h.rollout.state === 'paused' && this.deps.rollouts.get(sessionId) === h.rollout) void this.deps.rollouts.resume(sessionId);
    this.tell(sessionId);
    return this.status(sessionId);
  }

  /** Every event of an open session: tell clients when the control status changed. */
  onEvent(sessionId: string, ev: SessionEvent): void {
    if (ev.type === 'terminal.command') return; // never changes who drives what
    this.tell(sessionId);
  }

  /** The session is being deleted: drop its control without recording anything. */
  forget(sessionId: string): void {
    this.held.get(sessionId)?.unsubscribe();
    this.held.delete(sessionId);
    this.told.delete(sessionId);
  }

  private tell(sessionId: string): void {
    const s = this.status(sessionId);
    const key = JSON.stringify(s);
    if (this.told.get(sessionId) === key) return;
    this.told.set(sessionId, key);
    this.deps.changed(s);
  }

  private observe(h: Held, ev: SessionEvent): void {
    if (!('terminalId' in ev) || ev.terminalId !== h.terminalId) return;
    // Before the agent has paused, commands in the terminal are still its own.
    if (!isActive(h.rollout)) return;
    if (ev.type === 'terminal.input' && ev.source === 'human') {
      h.typed += ev.data;
    } else if (ev.type === 'terminal.command' && ev.phase === 'start') {
      if (h.running) return;
      h.running = { command: ev.command ?? typedLine(h.typed).line, start: ev.offset, startedAt: ev.ts };
      h.typed = '';
    } else if ((ev.type === 'terminal.command' && ev.phase === 'end') || ev.type === 'terminal.exited') {
      const run = h.running;
      if (!run) return;
      h.running = null;
      const end = { offset: ev.offset, at: ev.ts, exitCode: ev.exitCode ?? null };
      h.chain = h.chain.then(() => this.recordStep(h, run, end)).catch(async (err: unknown) => {
        await h.session.append({ type: 'warning', message: `A command run by ${h.author} in terminal ${h.terminalId} could not be recorded as a step: ${(err as Error).message}` }).catch(() => undefined);
      });
    }
  }

  /** One human command as one step: started on the branch's leaf, shaped like the agent's run_command. */
  private async recordStep(h: Held, run: RunningCommand, end: { offset: number; at: number; exitCode: number | null } | null): Promise<void> {
    const { session } = h;
    const parent = leafWithReply(session, h.branchId);
    const stepId = randomUUID();
    const sessionId = h.rollout.agentSessionId(h.terminalId);
    const call: ToolCall = { id: `human_${stepId.slice(0, 8)}`, name: 'run_command', arguments: JSON.stringify({ session_id: sessionId, command: run.command }) };
    const term = this.deps.pty.has(session.id, h.terminalId) ? this.deps.pty.get(session.id, h.terminalId) : null;
    const stop = end?.offset ?? term?.recordedBytes() ?? run.start;
    const raw = term ? await term.readText(run.start, stop).catch(() => '') : '';
    const output = raw.replace(/[ \t]+$/gm, '').replace(/\s+$/, '');
    const durationMs = Math.max(0, (end?.at ?? Date.now()) - run.startedAt);
    const observation = commandObservation(sessionId, run.command, output, durationMs / 1000, end ? end.exitCode : undefined);
    // No `world`: like the agent's own steps, it ran in the live continuation of its parent.
    await session.append({ type: 'step.started', stepId, parentId: parent?.id ?? null, branchId: h.branchId, depth: parent ? parent.depth + 1 : 1, rolloutId: h.rollout.id });
    await session.append({
      type: 'model.response', stepId, content: '', reasoning: '', toolCalls: [call], usage: null, finishReason: 'tool_calls', durationMs: 0,
      humanAuthored: true, author: h.author, origin: 'terminal',
    });
    await session.append({
      type: 'action.result', stepId, toolCallId: call.id, name: call.name, observation, isError: !!end && end.exitCode !== null && end.exitCode !== 0,
      durationMs, terminalId: h.terminalId, range: [run.start, Math.max(run.start, stop)], exitCode: end ? end.exitCode : null,
      ...(term?.envRecord ? { env: term.envRecord } : {}),
    });
    await session.append({ type: 'step.finished', stepId, promptTokens: 0 });
    await this.deps.rollouts.checkpointStep(session, this.deps.cwd(session.id), stepId);
  }

  /**
   * Keys typed after the last command and never entered would prefix the agent's
   * next command: clear that line (end of line, then kill to its start).
   */
  private clearUnfinishedLine(h: Held): void {
    if (!typedLine(h.typed).pending || !this.deps.pty.has(h.session.id, h.terminalId)) return;
    const term = this.deps.pty.get(h.session.id, h.terminalId);
    if (term.info().status === 'running' && term.isIdle()) term.write('\x05\x15', 'human');
  }
}

/** The agent has stopped moving: paused, or ended. */
function isActive(r: Rollout): boolean {
  return r.state !== 'running' && r.state !== 'idle';
}

/** The branch's last step that got its reply (an interrupted one is skipped, as the engine does). */
function leafWithReply(session: SessionLog, branchId: string): Step | null {
  const t = trajectoryOf(session);
  let s = branchLeaf(t, branchId);
  for (let hops = 0; s && !s.response && hops <= t.steps.size; hops++) s = s.parentId ? t.steps.get(s.parentId) ?? null : null;
  if (s?.response) return s;
  const from = t.branches.get(branchId)?.fromStepId;
  return from ? t.steps.get(from) ?? null : null;
}

/**
 * The observation run_command gives for a finished command (or, with exitCode
 * undefined, one still running), so a human step reads to the agent and to the
 * exports exactly like one of its own.
 */
export function commandObservation(sessionId: string, command: string, output: string, secs: number, exitCode: number | null | undefined): string {
  const running = exitCode === undefined;
  const message = running
    ? `Command \`${command}\` is still running after ${secs.toFixed(1)} seconds. It keeps running in session ${sessionId}: follow it with get_session_output / check_session_idle, or stop it with kill_session_processes.`
    : `Command \`${command}\` executed in ${secs.toFixed(2)} seconds. It is completed${exitCode === null ? '' : ` with exit code ${exitCode}`}!`;
  return JSON.stringify({
    success: true, message, observation_type: 'command_run', timestamp: new Date().toISOString(), session_id: sessionId, command, async_execution: false,
    execution_time: secs, still_running: running, exit_code: running ? null : exitCode, output: capText(output, DEFAULT_TOOL_OPTIONS.outputCap),
  });
}

/**
 * The last line entered in raw keystrokes, for shells that do not report their
 * command line: printable keys, Backspace, Ctrl-U and Ctrl-W applied, other escape
 * sequences dropped, newlines inside a bracketed paste kept. `pending`: keys typed
 * after the last Enter.
 */
export function typedLine(keys: string): { line: string; pending: string } {
  let cur: string[] = [];
  let line: string | null = null;
  let paste = false;
  const chars = Array.from(keys);
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i]!;
    if (c === '\x1b') {
      if (chars[i + 1] === '[' || chars[i + 1] === 'O') {
        let j = i + 2;
        while (j < chars.length && !/[@-~]/.test(chars[j]!)) j++;
        const seq = chars.slice(i, j + 1).join('');
        if (seq === '\x1b[200~') paste = true;
        else if (seq === '\x1b[201~') paste = false;
        i = j;
      } else i++;
      continue;
    }
    if (c === '\r' || c === '\n') {
      if (paste) cur.push('\n');
      else {
        line = cur.join('');
        cur = [];
      }
    } else if (c === '\x7f' || c === '\b') cur.pop();
    else if (c === '\x15') cur = [];
    else if (c === '\x17') cur = Array.from(cur.join('').replace(/\S+\s*$/, ''));
    else if (c >= ' ') cur.push(c);
  }
  return { line: line ?? cur.join(''), pending: cur.join('') };
}
