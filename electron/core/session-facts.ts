// What a session's entry in the session list takes from its log: the terminals it
// recorded and its steps. Read from the loaded log, or kept with the open view
// (open-view.ts), so an open answered from the view needs no log.
import type { SessionEvent } from '../../shared/events';
import type { SessionInfo, TerminalInfo } from '../../shared/types';

export interface LogFacts {
  terminals: TerminalInfo[];
  steps: number;
  lastStepAt?: number;
}

export function logFacts(events: readonly SessionEvent[]): LogFacts {
  return { terminals: recordedTerminals(events), ...stepsOf(events) };
}

/** The recorded terminals with the live ones in their place. */
export function withLive(recorded: readonly TerminalInfo[], live: TerminalInfo[]): TerminalInfo[] {
  const byId = new Map(recorded.map((t) => [t.id, t]));
  for (const t of live) byId.set(t.id, t);
  return [...byId.values()];
}

/** Terminals of a session as recorded in its log. */
function recordedTerminals(events: readonly SessionEvent[]): TerminalInfo[] {
  const byId = new Map<string, TerminalInfo>();
  for (const e of events) {
    if (e.type === 'terminal.started') {
      byId.set(e.terminalId, {
        id: e.terminalId, command: e.command, args: e.args, cwd: e.cwd, status: 'recorded', cols: e.cols, rows: e.rows,
        pid: e.pid, bytes: 0, integrated: e.integrated,
      });
    } else if (e.type === 'terminal.failed') {
      byId.set(e.terminalId, { id: e.terminalId, command: e.command, args: [], cwd: '', status: 'failed', cols: 80, rows: 24, error: e.error, bytes: 0, integrated: false });
    } else if (e.type === 'terminal.exited') {
      const t = byId.get(e.terminalId);
      if (t) Object.assign(t, { exitCode: e.exitCode, signal: e.signal, bytes: e.offset });
    } else if (e.type === 'terminal.resized') {
      const t = byId.get(e.terminalId);
      if (t) Object.assign(t, { cols: e.cols, rows: e.rows });
    } else if (e.type === 'terminal.closed') {
      byId.delete(e.terminalId);
    }
  }
  return [...byId.values()];
}

/** The step count and when the last step started, from a session's events. */
function stepsOf(events: readonly SessionEvent[]): Pick<SessionInfo, 'steps' | 'lastStepAt'> {
  let steps = 0;
  let lastStepAt: number | undefined;
  for (const e of events) {
    if (e.type !== 'step.started') continue;
    steps++;
    lastStepAt = Math.max(lastStepAt ?? 0, e.ts);
  }
  return lastStepAt === undefined ? { steps } : { steps, lastStepAt };
}
