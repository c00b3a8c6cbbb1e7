// Guidance: the composer (Ctrl/Cmd+K focuses it) and the recent messages with their
// fate — sending → queued → delivered at step N — so that nothing typed mid-run
// seems to vanish.
import { useEffect, useMemo, useRef, useState } from 'react';
import type { Guidance } from '../../../../shared/trajectory';
import { useApp } from '../../context';
import { formatAgo } from '../../lib/format';
import { deliveredAtStep, isActive, latestRollout } from '../../lib/trajectoryView';
import type { TrajectoryView } from './useTrajectoryView';

const SHOWN = 200;
const RECENT_DELIVERED = 2;

export function GuidancePanel({ tv }: { tv: TrajectoryView }) {
  const { sessionId, entry } = tv;
  return (
    <div className="guidance-panel">
      {sessionId && entry && <GuidanceList tv={tv} sessionId={sessionId} />}
      <GuidanceBox tv={tv} />
    </div>
  );
}

function GuidanceList({ tv, sessionId }: { tv: TrajectoryView; sessionId: string }) {
  const entry = tv.entry!;
  const pending = useApp((s) => s.pendingGuidance[sessionId]);
  const dismiss = useApp((s) => s.dismissPendingGuidance);
  const selectStep = useApp((s) => s.selectStep);
  const list = useMemo(() => {
    const all = [...entry.t.guidance.values()].sort((a, b) => a.queuedAt - b.queuedAt);
    return all.slice(-SHOWN);
  }, [entry]);
  const ref = useRef<HTMLOListElement>(null);
  const [all, setAll] = useState(false);
  const count = list.length + (pending?.length ?? 0);
  useEffect(() => {
    const el = ref.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [count, all]);
  if (count === 0) return null;
  const queued = list.filter((g) => !g.delivered).length;
  // Collapsed: what is still on its way, plus the latest delivered ones.
  const delivered = list.filter((g) => g.delivered);
  const shown = all ? list : list.filter((g) => !g.delivered || delivered.indexOf(g) >= delivered.length - RECENT_DELIVERED);
  const hidden = list.length - shown.length;
  return (
    <div className="guidance-list-wrap">
      <div className="section-label guidance-head">
        Guidance <span className="count">{queued ? `${queued} queued` : `${entry.t.guidance.size}`}</span>
        <span className="spacer" />
        {(hidden > 0 || all) && (
          <button type="button" className="link-btn" data-testid="guidance-show-all" onClick={() => setAll(!all)}>
            {all ? 'recent only' : `show all (${entry.t.guidance.size})`}
          </button>
        )}
      </div>
      <ol className={`guidance-list${all ? ' all' : ''}`} ref={ref} data-testid="guidance-list">
        {shown.map((g) => (
          <GuidanceItem key={g.id} g={g} step={deliveredAtStep(entry.t, g)} otherBranch={!!g.branchId && g.branchId !== tv.branchId ? g.branchId : null} onShow={() => g.delivered?.stepId && selectStep(sessionId, g.delivered.stepId, { reveal: true, branchId: entry.t.steps.get(g.delivered.stepId)?.branchId === tv.branchId ? undefined : entry.t.steps.get(g.delivered.stepId)?.branchId })} />
        ))}
        {pending?.map((p) => (
          <li key={`p${p.localId}`} className={`guidance-item ${p.state}`} data-testid="guidance-item" data-state={p.state}>
            <span className={`g-state g-${p.state}`}>{p.state === 'sending' ? 'sending…' : 'not sent'}</span>
            <span className="g-text">{p.text}</span>
            {p.state === 'failed' && (
              <span className="g-error" title={p.error}>
                {p.error}{' '}
                <button type="button" className="link-btn" onClick={() => dismiss(sessionId, p.localId)}>
                  dismiss
                </button>
              </span>
            )}
          </li>
        ))}
      </ol>
    </div>
  );
}

function GuidanceItem({ g, step, otherBranch, onShow }: { g: Guidance; step: number | null; otherBranch: string | null; onShow(): void }) {
  const state = g.delivered ? 'delivered' : 'queued';
  return (
    <li
      className={`guidance-item ${state}`}
      data-testid="guidance-item"
      data-state={state}
      data-guidance-id={g.id}
      data-step={step ?? undefined}
      title={`${g.author} · ${formatAgo(g.queuedAt)}${otherBranch ? ` · branch ${otherBranch}` : ''}`}
      onClick={g.delivered?.stepId ? onShow : undefined}
    >
      <span className={`g-state g-${state}`} data-testid="guidance-state">
        {g.delivered ? `delivered at step ${step ?? '?'}` : 'queued'}
      </span>
      <span className="g-text">{g.text}</span>
    </li>
  );
}

function GuidanceBox({ tv }: { tv: TrajectoryView }) {
  const tick = useApp((s) => s.guidanceFocusTick);
  const send = useApp((s) => s.sendGuidance);
  const ref = useRef<HTMLTextAreaElement>(null);
  const [text, setText] = useState('');
  const { sessionId, entry } = tv;
  const rollout = entry ? latestRollout(entry.t) : null;
  const active = isActive(rollout);

  useEffect(() => {
    if (tick > 0) ref.current?.focus();
  }, [tick]);

  const submit = () => {
    const v = text.trim();
    if (!v || !sessionId) return;
    setText('');
    void send(sessionId, v, rollout?.branchId);
  };

  const placeholder = !sessionId
    ? 'Open a session to guide its agent'
    : active
      ? rollout!.state === 'paused'
        ? 'Guidance — delivered when the rollout resumes'
        : 'Guidance for the agent — arrives at its next step'
      : 'No rollout running — guidance waits for the next one';

  return (
    <form
      className="guidance-box"
      onSubmit={(e) => {
        e.preventDefault();
        submit();
      }}
    >
      <textarea
        ref={ref}
        data-testid="guidance-input"
        rows={2}
        value={text}
        disabled={!sessionId}
        maxLength={100_000}
        placeholder={placeholder}
        aria-label="Guidance for the agent"
        onChange={(e) => setText(e.target.value)}
        onKeyDown={(e) => {
          if (e.key === 'Enter' && !e.shiftKey && !e.nativeEvent.isComposing) {
            e.preventDefault();
            submit();
          } else if (e.key === 'Escape') {
            ref.current?.blur();
          }
        }}
      />
      <div className="guidance-actions">
        <span className="kbd-hint">Enter send · Shift+Enter newline · Ctrl/⌘ K focus</span>
        <button type="submit" className="btn btn-small primary" data-testid="send-guidance" disabled={!sessionId || !text.trim()}>
          Send
        </button>
      </div>
    </form>
  );
}
