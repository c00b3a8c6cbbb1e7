// The rollout state banner above the terminal, with its controls: start, pause,
// resume, stop. States come from the fold (rollout.state events) and, while the
// model request is being retried, from the latest llm.retry event. A request that
// has had no answer and no streamed text for 30 s says so, with the time waited.
import { useEffect, useState } from 'react';
import type { SessionInfo } from '../../../../shared/types';
import type { Rollout } from '../../../../shared/trajectory';
import { useApp } from '../../context';
import { endpointSilentMs, type EndpointWait } from '../../lib/endpointWait';
import { formatDuration, truncate } from '../../lib/format';
import type { StreamingText } from '../../store/rollout';
import { branchLabel, latestRollout } from '../../lib/trajectoryView';
import type { RetryInfo } from '../../store/trajectory';

export type BannerState = 'none' | 'starting' | 'running' | 'pausing' | 'retrying' | 'paused' | 'stopping' | 'finished' | 'stopped' | 'failed' | 'interrupted';

export function RolloutBar({ session }: { session: SessionInfo }) {
  const entry = useApp((s) => s.trajectories[session.id]);
  const pending = useApp((s) => s.controlPending[session.id]);
  const control = useApp((s) => s.controlRollout);
  const openDialog = useApp((s) => s.openDialog);
  const rollout = entry ? latestRollout(entry.t) : null;
  const steps = entry && rollout ? countSteps(entry.t.steps, rollout.id) : 0;
  const retry = entry?.retry ?? null;
  const wait = useApp((s) => s.endpointWaits[session.id] ?? null);
  const streaming = useApp((s) => s.streaming[session.id] ?? null);
  // The log says running/paused but nothing runs here any more (the host restarted).
  const stale = !session.live && !!rollout && (rollout.state === 'running' || rollout.state === 'paused');
  const state = stale ? 'interrupted' : bannerState(rollout, retry, pending);
  const branch = rollout ? entry?.t.branches.get(rollout.branchId) : undefined;

  // A hand-written step is recorded as a one-step 'human' rollout: nothing to pause or resume.
  const human = rollout?.policy === 'human';
  const controllable = !!rollout && !human && !stale;
  const canStart = !rollout || human || stale || !(rollout.state === 'running' || rollout.state === 'paused');
  return (
    <div className={`rollout-bar rb-${state}`} data-testid="rollout-state" data-state={state} role="status" aria-live="polite">
      <span className={`rb-dot rb-dot-${state}`} aria-hidden="true" />
      <div className="rb-text">
        <span className="rb-title" data-testid="rollout-state-text">
          {human ? `Hand-written action · ${stateTitle(state).toLowerCase()}` : stateTitle(state)}
          {rollout && state === 'retrying' && retry && <RetryText retry={retry} />}
          {rollout && (state === 'running' || state === 'retrying') && wait?.stepId && <WaitingText wait={wait} streaming={streaming} />}
          {rollout && (state === 'paused' || state === 'failed') && rollout.error && (
            <span className="rb-error" data-testid="rollout-error" title={rollout.error}>
              {' '}
              — {truncate(rollout.error, 300)}
            </span>
          )}
          {rollout && (state === 'finished' || state === 'stopped' || (state === 'paused' && !rollout.error)) && rollout.reason && !(human && rollout.reason === 'hand-written action') && (
            <span className="rb-reason"> — {rollout.reason}</span>
          )}
        </span>
        {rollout ? (
          <span className="rb-facts">
            <span>
              {steps} step{steps === 1 ? '' : 's'} / {rollout.maxSteps}
            </span>
            {rollout.endpoint && (
              <span className="mono" title={rollout.endpoint.baseUrl}>
                {rollout.endpoint.profile} · {rollout.endpoint.model}
              </span>
            )}
            {branch && rollout.branchId !== 'main' && <span>branch {branchLabel(branch)}</span>}
            <span className="rb-task" title={rollout.task}>
              {truncate(rollout.task, 120)}
            </span>
          </span>
        ) : (
          <span className="rb-facts">Start a rollout to let an agent work in this session's terminals.</span>
        )}
      </div>
      <div className="rb-actions">
        {controllable && rollout.state === 'running' && (
          <button type="button" className="btn btn-small" data-testid="pause-rollout" disabled={!!pending} onClick={() => void control(session.id, 'pause')} title="Pause at the next step boundary (the request in flight is redone on resume)">
            Pause
          </button>
        )}
        {controllable && rollout.state === 'paused' && (
          <button type="button" className="btn btn-small primary" data-testid="resume-rollout" disabled={!!pending} onClick={() => void control(session.id, 'resume')}>
            Resume
          </button>
        )}
        {controllable && (rollout.state === 'running' || rollout.state === 'paused') && (
          <button type="button" className="btn btn-small danger" data-testid="stop-rollout" disabled={pending === 'stop'} onClick={() => void control(session.id, 'stop')} title="Stop for good (a running command finishes first)">
            Stop
          </button>
        )}
        {canStart && (
          <button type="button" className="btn btn-small primary" data-testid="start-rollout" disabled={pending === 'start'} onClick={() => openDialog({ kind: 'start-rollout', sessionId: session.id })}>
            {rollout ? 'New rollout…' : 'Start rollout…'}
          </button>
        )}
      </div>
    </div>
  );
}

function countSteps(steps: Map<string, { rolloutId: string }>, rolloutId: string): number {
  let n = 0;
  for (const s of steps.values()) if (s.rolloutId === rolloutId) n++;
  return n;
}

export function bannerState(r: Rollout | null, retry: RetryInfo | null, pending: string | undefined): BannerState {
  if (pending === 'start') return 'starting';
  if (!r) return 'none';
  if (r.state === 'running') {
    if (pending === 'pause') return 'pausing';
    if (pending === 'stop') return 'stopping';
    if (retry) return 'retrying';
    return 'running';
  }
  if (r.state === 'paused' && pending === 'stop') return 'stopping';
  return r.state;
}

function stateTitle(s: BannerState): string {
  switch (s) {
    case 'none':
      return 'No rollout';
    case 'starting':
      return 'Starting…';
    case 'running':
      return 'Running';
    case 'pausing':
      return 'Pausing at the next step…';
    case 'stopping':
      return 'Stopping…';
    case 'retrying':
      return 'Retrying';
    case 'paused':
      return 'Paused';
    case 'finished':
      return 'Finished';
    case 'stopped':
      return 'Stopped';
    case 'failed':
      return 'Failed';
    case 'interrupted':
      return 'Interrupted — the host stopped while this rollout was active';
  }
}

/** "waiting for the endpoint · 45 s" once the request in flight has been silent for 30 s; nothing before. */
function WaitingText({ wait, streaming }: { wait: EndpointWait; streaming: StreamingText | null }) {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const id = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(id);
  }, []);
  const silent = endpointSilentMs(wait, streaming, now);
  if (silent === null) return null;
  return (
    <span className="rb-waiting" data-testid="rollout-waiting" title="No answer and no streamed text from the model endpoint yet; the request is retried when the client's timeout is reached.">
      {' '}
      — waiting for the endpoint · {formatDuration(Math.floor(silent / 1000) * 1000)}
    </span>
  );
}

/** "retry 2 in 4 s: 429 …", counting down. */
function RetryText({ retry }: { retry: RetryInfo }) {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const id = setInterval(() => setNow(Date.now()), 250);
    return () => clearInterval(id);
  }, []);
  const left = Math.max(0, retry.ts + retry.delayMs - now);
  return (
    <span className="rb-retry" data-testid="rollout-retry">
      {' '}
      — retry {retry.attempt} {left > 0 ? `in ${formatDuration(Math.ceil(left / 100) * 100)}` : 'now'}: {truncate(retry.error, 200)}
    </span>
  );
}
