// The band under the table: review coverage with the labels-over-time chart, the
// labelling rules (preview, then apply) and the LLM judge.
import { memo, useEffect, useState } from 'react';
import { useApp } from '../../context';
import { formatTokens } from '../../lib/format';
import { ProfileSelect, useDefaultProfile } from '../dialogs/ProfileSelect';
import { LabelChart } from './LabelChart';
import { describeTally, tallyPreview, type Coverage, type FilterRow, type PreviewMark, type PreviewTally, type TimeBucket } from './model';

export const CoverageCard = memo(function CoverageCard({ coverage: c, buckets, onPick }: { coverage: Coverage; buckets: TimeBucket[]; onPick(index: number): void }) {
  const pct = c.total ? Math.round((c.reviewed / c.total) * 100) : 0;
  return (
    <div className="fcard fcard-coverage">
      <div className="fcard-title">Coverage</div>
      <div className="cov" data-testid="coverage" data-reviewed={c.reviewed} data-total={c.total} data-annotator={c.annotator} data-auto={c.auto}>
        <div className="cov-main">
          <strong data-testid="coverage-text">
            {c.reviewed} of {c.total} actions reviewed
          </strong>
          <span className="dim"> · {pct}%</span>
        </div>
        <div className="cov-bar" aria-hidden="true">
          <span className="cov-ann" style={{ width: `${c.total ? (c.annotator / c.total) * 100 : 0}%` }} />
          <span className="cov-auto" style={{ width: `${c.total ? (c.auto / c.total) * 100 : 0}%` }} />
        </div>
        <div className="cov-facts small">
          <span title="The label in force was set or confirmed by the annotator">
            <i className="sw sw-ann" /> {c.annotator} confirmed by the annotator
          </span>
          <span title="Labelled only by rules or the judge: not confirmed yet">
            <i className="sw sw-auto" /> {c.auto} only by rules/judge{c.auto ? ` (${c.byRule} rule, ${c.byJudge} judge)` : ''}
          </span>
          <span>
            <i className="sw sw-unrev" /> {c.unreviewed} unreviewed
          </span>
        </div>
        <div className="cov-facts small">
          <span className="k-keep">{c.keep} keep</span>
          <span className="k-mask">{c.mask} mask</span>
        </div>
      </div>
      <LabelChart buckets={buckets} onPick={onPick} />
    </div>
  );
});

/** Step numbers shown as links in the preview summary (the table marks them all). */
const JUMP_LIMIT = 12;

export const RulesCard = memo(function RulesCard(props: {
  sessionId: string;
  branchId: string | null;
  /** What applying the previewed rules would write, per row (null: no preview of this branch). */
  marks: ReadonlyMap<string, PreviewMark> | null;
  rows: readonly FilterRow[];
  onJump(stepId: string): void;
}) {
  const { sessionId, branchId, marks, rows, onJump } = props;
  const rules = useApp((s) => s.rules);
  const rulesError = useApp((s) => s.rulesError);
  const loadRules = useApp((s) => s.loadRules);
  const preview = useApp((s) => s.rulePreview[sessionId]);
  const previewRules = useApp((s) => s.previewRules);
  const applyRules = useApp((s) => s.applyRules);
  const [off, setOff] = useState<Record<string, true>>({});
  const [applying, setApplying] = useState(false);
  /** What the last Apply wrote, counted with the marks shown when it was clicked. */
  const [applied, setApplied] = useState<{ count: number; tally: PreviewTally } | null>(null);

  useEffect(() => {
    if (!rules) void loadRules();
  }, [rules, loadRules]);

  const chosen = (rules ?? []).map((r) => r.name).filter((n) => !off[n]);
  const current = preview && preview.branchId === branchId ? preview : undefined;
  // Per rule, the labels Apply would write (the marks), not every step the rule names.
  const counts = new Map<string, number>();
  // An applied preview is spent: its counts would all read 0 now, as if the rules found nothing.
  if (current?.state === 'ready' && current.applied === undefined) for (const r of current.results) counts.set(r.rule, 0);
  for (const m of marks?.values() ?? []) counts.set(m.rule, (counts.get(m.rule) ?? 0) + 1);
  const tally = marks ? tallyPreview(marks) : null;
  const depthOf = new Map(rows.map((r) => [r.step.id, r.n]));
  const changing = marks ? [...marks].filter(([, m]) => m.kind === 'change' || m.kind === 'conflict') : [];

  return (
    <div className="fcard fcard-rules" data-testid="rules">
      <div className="fcard-title">
        Rules
        <span className="spacer" />
        <button
          type="button"
          className="btn btn-small"
          data-testid="rules-preview"
          disabled={!branchId || chosen.length === 0 || current?.state === 'loading'}
          title="Count the actions each rule would mask on this branch (nothing is written)"
          onClick={() => {
            setApplied(null);
            if (branchId) void previewRules(sessionId, branchId, chosen);
          }}
        >
          {current?.state === 'loading' ? 'Previewing…' : 'Preview'}
        </button>
        <button
          type="button"
          className="btn btn-small primary"
          data-testid="rules-apply"
          disabled={!branchId || chosen.length === 0 || current?.state !== 'ready' || applying || !marks?.size}
          title={current?.state === 'ready' ? 'Write the rule labels (annotator and judge labels still win)' : 'Preview first'}
          onClick={async () => {
            if (!branchId) return;
            // The marks on screen are what Apply writes: count what it wrote with them.
            const shownMarks = marks ?? new Map<string, PreviewMark>();
            setApplying(true);
            const r = await applyRules(sessionId, branchId, chosen);
            setApplying(false);
            if (r.ok) setApplied({ count: r.value.count, tally: tallyPreview(shownMarks, r.value.stepIds) });
          }}
        >
          {applying ? 'Applying…' : 'Apply'}
        </button>
      </div>
      {rulesError && <div className="err-text small" data-testid="rules-error">{rulesError}</div>}
      {!rules && !rulesError && <div className="muted small">Loading rules…</div>}
      <ul className="rule-list">
        {(rules ?? []).map((r) => (
          <li key={r.name} className={`rule${off[r.name] ? ' off' : ''}`} title={r.description}>
            <label className="rule-name">
              <input
                type="checkbox"
                checked={!off[r.name]}
                data-testid="rule-toggle"
                data-rule={r.name}
                onChange={(e) => {
                  const { [r.name]: _was, ...rest } = off;
                  setOff(e.target.checked ? rest : { ...rest, [r.name]: true });
                }}
              />
              {r.name}
            </label>
            <span className="rule-count" data-testid="rule-count" data-rule={r.name} data-count={counts.get(r.name) ?? ''}>
              {counts.has(r.name) ? counts.get(r.name) : '·'}
            </span>
            <span className="rule-desc">{r.description}</span>
          </li>
        ))}
      </ul>
      <div className="fcard-foot small" data-testid="rules-status">
        {current?.state === 'error' && <span className="err-text">{current.error}</span>}
        {applied ? (
          <span className="ok-text" data-testid="rules-applied" data-count={applied.count} data-changed={applied.tally.change}>
            Applied: {applied.count} rule label{applied.count === 1 ? '' : 's'} written — {describeTally(applied.tally)}. Undo takes it all back (u).
          </span>
        ) : (
          current?.state === 'ready' &&
          tally && (
            <span data-testid="rules-would" data-count={marks?.size ?? 0} data-changed={tally.change} data-conflicts={tally.conflict}>
              {marks?.size
                ? `Apply writes ${marks.size} rule label${marks.size === 1 ? '' : 's'}: ${describeTally(tally)}. Marked in the table`
                : 'Nothing to write: these rules already label this branch.'}
              {changing.length > 0 && (
                <>
                  {' · steps '}
                  {changing.slice(0, JUMP_LIMIT).map(([id, m], i) => (
                    <span key={id}>
                      {i > 0 && ', '}
                      <button type="button" className={`link-btn${m.kind === 'conflict' ? ' warn-text' : ''}`} data-testid="rules-jump" onClick={() => onJump(id)} title={m.kind === 'conflict' ? 'A label that wins says keep' : 'Changes to mask'}>
                        {depthOf.get(id) ?? '?'}
                      </button>
                    </span>
                  ))}
                  {changing.length > JUMP_LIMIT && ` and ${changing.length - JUMP_LIMIT} more`}
                </>
              )}
            </span>
          )
        )}
        {!current && <span className="dim">Rules only ever mask. Annotator and judge labels take precedence.</span>}
      </div>
    </div>
  );
});

export const JudgeCard = memo(function JudgeCard({ sessionId, branchId }: { sessionId: string; branchId: string | null }) {
  const run = useApp((s) => s.judgeRuns[sessionId]);
  const runJudge = useApp((s) => s.runJudge);
  const rememberProfile = useApp((s) => s.rememberProfile);
  const def = useDefaultProfile();
  const [profile, setProfile] = useState('');
  const chosen = profile || def;
  const running = run?.state === 'running';
  const elapsed = useElapsed(running ? run.startedAt : null);

  return (
    <div className="fcard fcard-judge" data-testid="judge">
      <div className="fcard-title">LLM judge</div>
      <div className="judge-row">
        <ProfileSelect value={chosen} onChange={setProfile} testId="judge-profile" ariaLabel="Endpoint profile of the judge" />
        <button
          type="button"
          className="btn btn-small primary"
          data-testid="judge-run"
          disabled={!branchId || !chosen || running}
          title="Ask the model to label every action of this branch keep or mask, with a rationale (skips actions you labelled)"
          onClick={() => {
            if (!branchId || !chosen) return;
            rememberProfile(chosen);
            void runJudge(sessionId, branchId, chosen);
          }}
        >
          {running ? 'Judging…' : run?.state === 'failed' ? 'Run again' : 'Run'}
        </button>
      </div>
      <div className="judge-status small" data-testid="judge-status" data-state={run?.state ?? 'idle'}>
        {!run && <span className="dim">Labels from the judge rank above rules and below yours.</span>}
        {running && <span className="warn-text">Running on {run.profile}… {elapsed}s — labels appear as they come back.</span>}
        {run && !running && (
          <span>
            Labelled {run.labelled ?? 0} action{run.labelled === 1 ? '' : 's'} · {formatTokens(run.tokens ?? 0) || '0 tok'} used
          </span>
        )}
        {run?.state === 'failed' && (
          <div className="judge-error" data-testid="judge-error">
            Stopped early: {run.error}
            {!/again/i.test(run.error ?? '') && <div className="dim">Run again to resume: actions already judged are skipped.</div>}
          </div>
        )}
      </div>
    </div>
  );
});

function useElapsed(since: number | null): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (since === null) return;
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, [since]);
  return since === null ? 0 : Math.max(0, Math.round((now - since) / 1000));
}
