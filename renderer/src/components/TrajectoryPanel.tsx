// Right-hand panel: the trajectory of the open session (a fold of its event log) and,
// below it, the guidance box. A later task turns the list into the full tree view.
import { useEffect, useMemo, useRef } from 'react';
import type { Guidance, Step, Trajectory } from '../../../shared/trajectory';
import { useApp } from '../context';
import { formatDuration, formatTokens } from '../lib/format';
import { summarizeStep } from '../lib/steps';

export function TrajectoryPanel() {
  const sessionId = useApp((s) => s.openSessionId);
  const entry = useApp((s) => (s.openSessionId ? s.trajectories[s.openSessionId] : undefined));
  const opening = useApp((s) => s.openingSessionId);

  return (
    <aside className="side-panel" aria-label="Trajectory" data-testid="trajectory-panel">
      <div className="panel-head">
        <span className="panel-title">Trajectory</span>
        {entry && entry.t.order.length > 0 && <span className="count">{entry.t.order.length} steps</span>}
      </div>
      <div className="panel-body">
        {!sessionId && !opening && <p className="muted pad">Open a session to see its agent steps.</p>}
        {!entry && opening && <p className="muted pad">Loading…</p>}
        {entry && <StepList t={entry.t} version={entry.version} />}
      </div>
      <GuidanceBox disabled={!sessionId} />
    </aside>
  );
}

function StepList({ t, version }: { t: Trajectory; version: number }) {
  // The fold mutates in place; `version` says when to recompute.
  const { steps, queued } = useMemo(() => {
    void version;
    const steps = t.order.map((id) => t.steps.get(id)!).filter(Boolean);
    const queued = [...t.guidance.values()].filter((g) => !g.delivered);
    return { steps, queued };
  }, [t, version]);

  const listRef = useRef<HTMLOListElement>(null);
  const stick = useRef(true);
  useEffect(() => {
    const el = listRef.current;
    if (el && stick.current) el.scrollTop = el.scrollHeight;
  }, [steps.length]);

  if (steps.length === 0 && queued.length === 0) {
    return (
      <p className="muted pad" data-testid="no-steps">
        No agent steps yet.
      </p>
    );
  }
  return (
    <>
      <ol
        className="step-list"
        ref={listRef}
        data-testid="step-list"
        onScroll={(e) => {
          const el = e.currentTarget;
          stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 24;
        }}
      >
        {steps.map((step, i) => (
          <StepRow key={step.id} step={step} n={i + 1} guidance={t.guidance} />
        ))}
      </ol>
      {queued.length > 0 && (
        <div className="queued" data-testid="queued-guidance">
          <div className="section-label">Queued guidance</div>
          {queued.map((g) => (
            <div key={g.id} className="guidance queued-item" data-guidance-id={g.id}>
              <span className="guidance-state">queued</span> {g.text}
            </div>
          ))}
        </div>
      )}
    </>
  );
}

function StepRow({ step, n, guidance }: { step: Step; n: number; guidance: Map<string, Guidance> }) {
  const s = summarizeStep(step);
  return (
    <li className={`step${s.isError ? ' step-error' : ''}${s.running ? ' step-running' : ''}${step.response ? '' : ' step-pending'}`} data-testid="step" data-step-id={step.id}>
      <div className="step-line">
        <span className="step-n">{n}</span>
        <span className="step-tool">{s.tool}</span>
        <span className="step-detail mono" title={s.detail}>
          {s.detail}
        </span>
      </div>
      <div className="step-meta">
        {s.running ? <span className="running-text">running…</span> : <span>{formatDuration(s.durationMs)}</span>}
        {s.tokens !== undefined && <span>{formatTokens(s.tokens)}</span>}
        {step.retries > 0 && <span className="warn-text">{step.retries} retr{step.retries === 1 ? 'y' : 'ies'}</span>}
        {step.response?.humanAuthored && <span className="human-tag">human</span>}
      </div>
      {step.guidance.map((id) => {
        const g = guidance.get(id);
        return g ? (
          <div key={id} className="guidance" data-guidance-id={id}>
            <span className="guidance-state">guidance delivered after step {n}</span>
            <span className="guidance-text">{g.text}</span>
          </div>
        ) : null;
      })}
    </li>
  );
}

/** Placeholder for the guidance composer; Ctrl/Cmd+K focuses it already. */
function GuidanceBox({ disabled }: { disabled: boolean }) {
  const tick = useApp((s) => s.guidanceFocusTick);
  const ref = useRef<HTMLTextAreaElement>(null);
  useEffect(() => {
    if (tick > 0) ref.current?.focus();
  }, [tick]);
  return (
    <div className="guidance-box">
      <textarea
        ref={ref}
        data-testid="guidance-input"
        readOnly
        rows={2}
        placeholder={disabled ? 'Open a session to guide its agent' : 'Guidance for the agent (arrives at its next step) — coming soon'}
        aria-label="Guidance for the agent"
      />
      <span className="kbd-hint">Ctrl/⌘ K</span>
    </div>
  );
}
