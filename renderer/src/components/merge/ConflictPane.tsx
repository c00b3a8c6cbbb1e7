// One conflict at a time: every label that counted (who, keep or mask, tags, note, from
// which bundle), how the policy settles it or the lead's own decision, and the step
// itself as the bundle recorded it (the agent's text, its calls, what it saw), so the
// lead decides with the evidence in front of them. Settled from the keyboard (the
// filter's keys: a keep, m mask, Delete back to the policy, u undo, j/k move).
import type { MergeConflictStep, MergePlanResult } from '../../../../shared/contract/merge';
import { UNSETTLED, type MergeConflict } from '../../../../shared/merge-report';
import { conflictKey, type Verdict } from '../../store/merge';

const basename = (p: string): string => p.replace(/[\\/]+$/, '').split(/[\\/]/).pop() ?? p;

export interface ConflictPaneProps {
  plan: MergePlanResult;
  cursor: number;
  settlements: Record<string, Verdict>;
  manual: boolean;
  stale: boolean;
  hint(action: string): string;
  onMove(index: number): void;
  onSettle(key: string, label: Verdict | null): void;
  onUndo(): void;
  canUndo: boolean;
}

export function ConflictPane(p: ConflictPaneProps) {
  const conflicts = p.plan.report.conflicts;
  const settleable = conflicts.filter((_, i) => p.plan.steps[i]?.settleable);
  const decided = settleable.filter((c) => p.settlements[conflictKey(c.sessionId, c.stepId)]).length;
  // Settled by the lead but not in this work: an earlier merge's settlement applied (the plan is current).
  const earlier = p.stale ? 0 : settleable.filter((c) => !p.settlements[conflictKey(c.sessionId, c.stepId)] && c.settledBy === 'manual').length;
  if (!conflicts.length) {
    return (
      <div className="mv-conflict-empty" data-testid="merge-no-conflicts">
        <p>No conflicts: everyone who labelled an action gave it the same label.</p>
      </div>
    );
  }
  const i = Math.min(p.cursor, conflicts.length - 1);
  const c = conflicts[i]!;
  const step = p.plan.steps[i];
  const key = conflictKey(c.sessionId, c.stepId);
  const mine = p.settlements[key];
  const hint = (a: string) => (p.hint(a) ? ` (${p.hint(a)})` : '');
  return (
    <div className="mv-conflict" data-testid="merge-conflict" data-index={i} data-step-id={c.stepId} data-session-id={c.sessionId} data-settled={mine ?? ''} aria-busy={p.stale}>
      <div className="mv-conflict-head">
        <button type="button" className="btn btn-small" data-testid="merge-conflict-prev" disabled={i === 0} onClick={() => p.onMove(i - 1)} title={`Previous conflict${hint('prev')}`}>
          ‹
        </button>
        <span className="mv-conflict-count" data-testid="merge-conflict-count">
          Conflict {i + 1} of {conflicts.length}
        </span>
        <button type="button" className="btn btn-small" data-testid="merge-conflict-next" disabled={i >= conflicts.length - 1} onClick={() => p.onMove(i + 1)} title={`Next conflict${hint('next')}`}>
          ›
        </button>
        <span className="spacer" />
        <span className={`small ${p.manual && decided + earlier < settleable.length ? 'warn-text' : 'dim'}`} data-testid="merge-decided" data-decided={decided} data-earlier={earlier} data-of={settleable.length}>
          {decided} of {settleable.length} decided by you{earlier > 0 ? `, ${earlier} in an earlier merge` : ''}
        </span>
      </div>
      <ConflictWhere c={c} step={step} />
      <ul className="mv-votes" aria-label="Labels">
        {c.votes.map((v) => (
          <li key={`${v.source}\u0000${v.annotator}`} className={`mv-vote mv-vote-${v.label}`} data-testid="merge-vote" data-annotator={v.annotator} data-label={v.label}>
            <div className="mv-vote-head">
              <b className="mv-vote-who">{v.annotator}</b>
              <span className={`mv-label mv-label-${v.label}`}>{v.label}</span>
              {v.source !== 'annotator' && <span className="dim small">({v.source})</span>}
              {v.tags.map((t) => (
                <span key={t} className="mv-tag">
                  {t}
                </span>
              ))}
              <span className="spacer" />
              <span className="dim small mv-vote-from" title={v.bundles.join('\n')}>
                {v.bundles.map(basename).join(', ')}
              </span>
            </div>
            {v.note ? <div className="mv-note" data-testid="merge-vote-note">{v.note}</div> : <div className="mv-note dim">no note</div>}
          </li>
        ))}
      </ul>
      <Decision c={c} mine={mine} manual={p.manual} settleable={step?.settleable !== false} earlier={!p.stale && !mine && c.settledBy === 'manual'} />
      {step?.settleable !== false && (
        <div className="mv-settle">
          <button type="button" className={`btn btn-small lbtn-keep${mine === 'keep' ? ' on' : ''}`} data-testid="merge-settle-keep" aria-pressed={mine === 'keep'} onClick={() => p.onSettle(key, 'keep')}>
            Keep{p.hint('keep') && <kbd>{p.hint('keep')}</kbd>}
          </button>
          <button type="button" className={`btn btn-small lbtn-mask${mine === 'mask' ? ' on' : ''}`} data-testid="merge-settle-mask" aria-pressed={mine === 'mask'} onClick={() => p.onSettle(key, 'mask')}>
            Mask{p.hint('mask') && <kbd>{p.hint('mask')}</kbd>}
          </button>
          <button type="button" className="btn btn-small" data-testid="merge-settle-clear" disabled={!mine} onClick={() => p.onSettle(key, null)} title="Leave it to the policy">
            {p.manual ? 'Undecide' : 'Policy decides'}
            {p.hint('clear') && <kbd>{p.hint('clear')}</kbd>}
          </button>
          <button type="button" className="btn btn-small" data-testid="merge-settle-undo" disabled={!p.canUndo} onClick={p.onUndo}>
            Undo{p.hint('undo') && <kbd>{p.hint('undo')}</kbd>}
          </button>
        </div>
      )}
      {step ? <StepView step={step} /> : null}
    </div>
  );
}

function ConflictWhere({ c, step }: { c: MergeConflict; step: MergeConflictStep | undefined }) {
  return (
    <div className="mv-where small">
      <span className="mv-where-session" title={c.sessionId}>{step?.sessionName ?? c.sessionId}</span>
      <span className="dim"> · branch </span>
      {step?.branchName ?? c.branchIds[0]}
      <span className="dim"> · step </span>
      {step?.depth ?? '?'}
      {c.branchIds.length > 1 && <span className="dim"> · on {c.branchIds.length} branches ({c.branchIds.join(', ')})</span>}
    </div>
  );
}

function Decision({ c, mine, manual, settleable, earlier }: { c: MergeConflict; mine: Verdict | undefined; manual: boolean; settleable: boolean; earlier: boolean }) {
  if (!settleable) {
    return (
      <div className="mv-decision" data-testid="merge-decision" data-decision={c.decision}>
        <span className="mv-label mv-label-mask">mask</span> {c.settledBy} <span className="dim">(a fact, whatever the labels)</span>
      </div>
    );
  }
  if (mine) {
    return (
      <div className="mv-decision" data-testid="merge-decision" data-decision={mine}>
        Your decision: <span className={`mv-label mv-label-${mine}`}>{mine}</span>
        {!manual && c.settledBy !== 'manual' && <span className="dim"> (the policy said {c.decision}: {c.settledBy})</span>}
      </div>
    );
  }
  if (earlier) {
    return (
      <div className="mv-decision" data-testid="merge-decision" data-decision={c.decision}>
        Settled in an earlier merge: <span className={`mv-label mv-label-${c.decision}`}>{c.decision}</span> <span className="dim">(its labels have not changed; decide again to change it)</span>
      </div>
    );
  }
  if (c.settledBy === UNSETTLED || manual) {
    return (
      <div className="mv-decision warn-text" data-testid="merge-decision" data-decision="">
        To settle: keep or mask?
      </div>
    );
  }
  return (
    <div className="mv-decision" data-testid="merge-decision" data-decision={c.decision}>
      The policy decides <span className={`mv-label mv-label-${c.decision}`}>{c.decision}</span> <span className="dim">({c.settledBy})</span>
    </div>
  );
}

function StepView({ step }: { step: MergeConflictStep }) {
  return (
    <div className="mv-step" data-testid="merge-step">
      <div className="mv-step-title">The action</div>
      {step.content ? <pre className="mv-pre" data-testid="merge-step-content">{step.content}</pre> : null}
      {step.reasoning ? (
        <details className="mv-reasoning">
          <summary className="small">Thought</summary>
          <pre className="mv-pre dim">{step.reasoning}</pre>
        </details>
      ) : null}
      {step.toolCalls.map((t, i) => (
        <div key={i} className="mv-call" data-testid="merge-step-call">
          <span className="mv-call-name mono">{t.name}</span>
          <pre className="mv-pre mono">{prettyArgs(t.arguments)}</pre>
        </div>
      ))}
      <div className="mv-step-title">What it saw</div>
      {step.results.length === 0 && <p className="dim small">No observation recorded.</p>}
      {step.results.map((r, i) => (
        <div key={i} className={`mv-obs${r.isError ? ' mv-obs-error' : ''}`} data-testid="merge-step-observation">
          <span className="small dim">
            {r.name}
            {r.isError ? ' · error' : ''}
          </span>
          <pre className="mv-pre mono">{r.observation || '(empty)'}</pre>
        </div>
      ))}
    </div>
  );
}

/** Arguments as indented JSON when they parse, as sent otherwise. */
function prettyArgs(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}
