// Who may type into a terminal while an agent works: the lock banner of a terminal
// the running agent drives (with Take control), the wait for its step boundary, and
// the bar shown while the human is in control (with Hand back). The host refuses
// keys to a driven terminal anyway; the UI does not send them and says why.
import type { ControlStatus } from '../../../shared/contract/rollout';
import { useApp } from '../context';

export type TerminalLock =
  /** The running agent drives this terminal: keys are not sent. */
  | { kind: 'agent' }
  /** Control was asked for: the agent finishes its current step first. */
  | { kind: 'pending' }
  /** A human is in control: what they run here is recorded as their steps. */
  | { kind: 'control'; author: string };

export function lockOf(status: ControlStatus | undefined, terminalId: string): TerminalLock | null {
  if (!status) return null;
  const c = status.control;
  if (c && c.terminalId === terminalId) return c.active ? { kind: 'control', author: c.author } : { kind: 'pending' };
  const running = status.rollout && (status.rollout.state === 'running' || status.rollout.state === 'idle');
  return running && status.driven.includes(terminalId) ? { kind: 'agent' } : null;
}

export function useTerminalLock(sessionId: string, terminalId: string): TerminalLock | null {
  const status = useApp((s) => s.control[sessionId]);
  return lockOf(status, terminalId);
}

/** Keys typed into a terminal the agent drives: never sent (the message says so). */
export const keysRefused = (lock: TerminalLock | null): boolean => lock?.kind === 'agent' || lock?.kind === 'pending';

interface Props {
  sessionId: string;
  terminalId: string;
  lock: TerminalLock | null;
  /** Set when keys were just dropped (or refused by the host): why. */
  refused: string | null;
  onTaken(): void;
}

export function TerminalControlBanner({ sessionId, terminalId, lock, refused, onTaken }: Props) {
  const takeControl = useApp((s) => s.takeControl);
  const handBack = useApp((s) => s.handBack);
  if (!lock) return null;
  if (lock.kind === 'control') {
    return (
      <div className="terminal-lock in-control" data-testid="terminal-control-bar" role="status">
        <span>
          <strong>You are in control</strong> — each command you run here is recorded as your step ({lock.author}); the agent waits.
        </span>
        <button type="button" className="btn btn-small primary" data-testid="hand-back" onClick={() => void handBack(sessionId)}>
          Hand back
        </button>
      </div>
    );
  }
  return (
    <div className="terminal-lock" data-testid="terminal-lock" data-lock={lock.kind} role="status">
      <span>
        {lock.kind === 'agent' ? (
          <>
            <strong>Agent is driving</strong> this terminal: your keys are not sent.
          </>
        ) : (
          <>
            <strong>Taking control…</strong> the agent finishes its current step first.
          </>
        )}
        {refused && (
          <span className="terminal-lock-refused" data-testid="terminal-lock-refused" role="alert">
            {' '}
            {refused}
          </span>
        )}
      </span>
      <button
        type="button"
        className="btn btn-small primary"
        data-testid="take-control"
        disabled={lock.kind === 'pending'}
        onClick={() => void takeControl(sessionId, terminalId).then((ok) => ok && onTaken())}
      >
        Take control
      </button>
    </div>
  );
}
