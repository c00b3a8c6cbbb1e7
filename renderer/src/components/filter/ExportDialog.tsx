// Export a dataset bundle: sessions (the current one by default) and, per chosen
// session, its branches (default: every branch with steps of its own; the branches
// of other sessions are fetched when they are ticked), formats, what to do with
// unreviewed actions, a token limit, output folder. Before anything is written the
// dialog shows the plan (export.plan: the bundle's own dry run), per session and in
// total, kept up to date as the options change; then progress (fed by
// `export.progress`), Cancel, and the bundle's path and counts or the error.
import { useEffect, useMemo, useRef, useState } from 'react';
import type { ExportPlan, ExportPlanCounts } from '../../../../shared/contract/annotate';
import type { ArgsOf } from '../../../../shared/contract/index';
import { useApp, useTransport } from '../../context';
import { describeError } from '../../lib/errors';
import { formatTokens } from '../../lib/format';
import { exportBranchOptions, type ExportBranchList } from '../../store/labels';
import { Dialog } from '../Dialog';

export const EXPORT_FORMATS = [
  { name: 'openai', label: 'OpenAI chat JSONL', hint: 'messages + tools, weight 0 on masked assistant turns; axolotl.yml loads it honouring the weights' },
  { name: 'sharegpt', label: 'ShareGPT / LLaMA-Factory', hint: 'sharegpt.jsonl (one line per trained action) + dataset_info.json + llamafactory.yaml (mask_history)' },
  { name: 'mistral', label: 'mistral-finetune', hint: 'mistral.jsonl: one line per trained action, ending on it' },
  { name: 'trajectory', label: 'Trajectory JSONL', hint: 'every step, label and history, full fidelity' },
  { name: 'asciicast', label: 'asciicast v2', hint: 'terminal recordings asciinema can play' },
] as const;
type FormatName = (typeof EXPORT_FORMATS)[number]['name'];
type Policy = 'keep' | 'mask' | 'refuse';
type Selection = Omit<ArgsOf<'export.start'>, 'outDir'>;

const POLICIES: Array<{ value: Policy; label: string; hint: string }> = [
  { value: 'keep', label: 'Train on them', hint: 'unreviewed actions get weight 1, as if kept' },
  { value: 'mask', label: 'Skip them', hint: 'unreviewed actions stay in the context with weight 0: only reviewed keeps are trained' },
  { value: 'refuse', label: 'Refuse to export', hint: 'nothing is written while any action is unreviewed' },
];

/** How long the options must stay still before the plan is asked again. */
const PLAN_DEBOUNCE_MS = 300;

type PlanState = { key: string; state: 'loading' } | { key: string; state: 'ready'; plan: ExportPlan } | { key: string; state: 'error'; error: string };

/** A max-tokens field: '' is no limit; else an integer of at least 64 (the bundle's minimum). */
function parseMaxTokens(text: string): { ok: true; value?: number } | { ok: false; error: string } {
  const t = text.trim();
  if (!t) return { ok: true };
  const n = Number(t);
  if (!Number.isInteger(n) || n < 64) return { ok: false, error: 'A whole number of tokens, at least 64 (or empty for no limit).' };
  return { ok: true, value: n };
}

function slug(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 40) || 'session';
}

function stamp(d = new Date()): string {
  const p = (x: number) => String(x).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

export function ExportDialog({ sessionId, branchId, onClose }: { sessionId: string; branchId: string | null; onClose(): void }) {
  const sessions = useApp((s) => s.sessions);
  const home = useApp((s) => s.appInfo?.home ?? '');
  const entry = useApp((s) => s.trajectories[sessionId]);
  const exports = useApp((s) => s.exports);
  const startExport = useApp((s) => s.startExport);
  const cancelExport = useApp((s) => s.cancelExport);
  const fetched = useApp((s) => s.exportBranches);
  const loadExportBranches = useApp((s) => s.loadExportBranches);
  const session = sessions.find((s) => s.id === sessionId);

  // The current session's branches come from its open trajectory; the others are fetched.
  const ownList = useMemo<ExportBranchList | null>(() => (entry ? { state: 'ready', branches: exportBranchOptions(entry.t).filter((b) => b.ownSteps > 0) } : null), [entry]);
  // Other sessions' lists are fetched afresh once per dialog (they may have grown since).
  const [fresh, setFresh] = useState<Record<string, true>>({});
  const [requested] = useState(() => new Set<string>());
  const branchesOf = (id: string): ExportBranchList | undefined => {
    if (id === sessionId && ownList) return ownList;
    if (!fresh[id]) return { state: 'loading' };
    const f = fetched[id];
    return f?.state === 'ready' ? { state: 'ready', branches: f.branches.filter((b) => b.ownSteps > 0) } : f;
  };
  const branches = ownList?.state === 'ready' ? ownList.branches : [];
  const [sessionIds, setSessionIds] = useState<string[]>([sessionId]);
  /** sessionId → chosen branches; a session gets its default when its list arrives. */
  const [branchSel, setBranchSel] = useState<Record<string, string[]>>(() => (branchId || entry ? { [sessionId]: branchId ? [branchId] : branches.map((b) => b.id) } : {}));
  const [formats, setFormats] = useState<FormatName[]>(EXPORT_FORMATS.map((f) => f.name));
  const [policy, setPolicy] = useState<Policy>('keep');
  const [maxTokensText, setMaxTokensText] = useState('');
  const maxTokens = parseMaxTokens(maxTokensText);
  const transport = useTransport();
  const [outDir, setOutDir] = useState(() => {
    const sep = home.includes('\\') && !home.includes('/') ? '\\' : '/';
    const base = home ? `${home.replace(/[\\/]+$/, '')}${sep}exports${sep}` : '';
    return `${base}${slug(session?.name ?? sessionId)}-${stamp()}`;
  });
  const [error, setError] = useState<string | null>(null);
  const [starting, setStarting] = useState(false);
  // The latest export of this session still running is shown again when the dialog reopens.
  const [jobId, setJobId] = useState<string | null>(() => {
    const mine = Object.values(exports).filter((j) => j.request.sessionIds.includes(sessionId) && (!j.progress || j.progress.state === 'running'));
    mine.sort((a, b) => b.startedAt - a.startedAt);
    return mine[0]?.exportId ?? null;
  });
  const job = jobId ? exports[jobId] : undefined;
  const p = job?.progress ?? null;
  const running = !!job && (!p || p.state === 'running');
  // The job's progress and result sit below the options: on a small window they were out of
  // sight, and an export seemed to do nothing. Brought into view as it starts and as it ends.
  const jobRef = useRef<HTMLDivElement>(null);
  const jobState = p?.state;
  useEffect(() => {
    jobRef.current?.scrollIntoView({ block: 'nearest' });
  }, [jobId, jobState]);

  // Fetch the branches of newly ticked sessions; give each its default choice once known.
  useEffect(() => {
    for (const id of sessionIds) {
      if ((id === sessionId && ownList) || fresh[id] || requested.has(id)) continue;
      requested.add(id);
      void loadExportBranches(id, true).then(() => setFresh((f) => ({ ...f, [id]: true })));
    }
  }, [sessionIds, sessionId, ownList, fresh, requested, loadExportBranches]);
  useEffect(() => {
    const add: Record<string, string[]> = {};
    for (const id of sessionIds) {
      const list = branchesOf(id);
      if (!(id in branchSel) && list?.state === 'ready') add[id] = list.branches.map((b) => b.id);
    }
    if (Object.keys(add).length) setBranchSel((cur) => ({ ...add, ...cur }));
  });
  const chosenSessions = sessions.filter((s) => sessionIds.includes(s.id));

  /**
   * The request the current choices make (the same for the plan and the export), or
   * why there is none yet. A session whose branch list could not be fetched, or has
   * none, is left to the host's default (every branch with steps of its own).
   */
  const selection = ((): { ok: true; args: Selection } | { ok: false; error: string; pending?: boolean } => {
    if (formats.length === 0) return { ok: false, error: 'Choose at least one format.' };
    if (sessionIds.length === 0) return { ok: false, error: 'Choose at least one session.' };
    if (!maxTokens.ok) return { ok: false, error: maxTokens.error };
    const perSession: Record<string, string[]> = {};
    for (const id of sessionIds) {
      const name = sessions.find((s) => s.id === id)?.name ?? id;
      const list = branchesOf(id);
      if (list?.state === 'error' || (list?.state === 'ready' && list.branches.length === 0)) continue;
      if (!list || list.state === 'loading' || !(id in branchSel)) return { ok: false, error: `The branches of “${name}” are still loading.`, pending: true };
      if (branchSel[id]!.length === 0) return { ok: false, error: `Choose at least one branch of “${name}”.` };
      perSession[id] = branchSel[id]!;
    }
    return {
      ok: true,
      args: {
        sessionIds,
        ...(Object.keys(perSession).length ? { branches: perSession } : {}),
        formats,
        labelPolicy: { unlabelled: policy },
        ...(maxTokens.value !== undefined ? { maxTokens: maxTokens.value } : {}),
      },
    };
  })();
  // The log of the open session may grow while the dialog is open (a running rollout): plan again then.
  const planKey = selection.ok ? `${entry?.version ?? 0}|${JSON.stringify(selection.args)}` : '';

  // The plan follows the options, debounced; an answer for options since changed is
  // dropped. While a new plan is worked out, the last one stays on screen, marked stale.
  const [plan, setPlan] = useState<PlanState | null>(null);
  const [lastReady, setLastReady] = useState<ExportPlan | null>(null);
  const latestKey = useRef('');
  latestKey.current = planKey;
  useEffect(() => {
    if (!planKey || !selection.ok) return;
    const args = selection.args;
    setPlan((cur) => (cur?.key === planKey && cur.state !== 'error' ? cur : { key: planKey, state: 'loading' }));
    const timer = setTimeout(() => {
      transport
        .request('export.plan', args)
        .then((p) => {
          if (latestKey.current !== planKey) return;
          setPlan({ key: planKey, state: 'ready', plan: p });
          setLastReady(p);
        })
        .catch((err) => latestKey.current === planKey && setPlan({ key: planKey, state: 'error', error: describeError(err).message }));
    }, PLAN_DEBOUNCE_MS);
    return () => clearTimeout(timer);
    // `selection` is rebuilt on every render; `planKey` says everything it holds.
  }, [planKey, transport]);
  const current = plan && plan.key === planKey ? plan : null;
  const ready = current?.state === 'ready' ? current.plan : null;
  const refused = policy === 'refuse' && (!ready || ready.refused);

  const start = async () => {
    setError(null);
    if (!outDir.trim()) return setError('Choose an output folder.');
    if (!selection.ok) return setError(selection.error);
    if (refused) return setError(ready ? `${ready.total.unlabelled} action(s) are unreviewed and the policy refuses to export them.` : 'The plan is not ready yet.');
    setStarting(true);
    const res = await startExport({ ...selection.args, outDir: outDir.trim() });
    setStarting(false);
    if (res.ok) setJobId(res.value);
    else setError(res.error.message);
  };

  const toggle = <T,>(list: T[], v: T, on: boolean): T[] => (on ? (list.includes(v) ? list : [...list, v]) : list.filter((x) => x !== v));
  const pct = p && p.total > 0 ? Math.min(100, Math.round((p.done / p.total) * 100)) : 0;
  const locked = running || starting;

  return (
    <Dialog
      title="Export dataset"
      testId="export-dialog"
      width={700}
      onClose={onClose}
      footer={
        <>
          {running && jobId ? (
            <button type="button" className="btn danger" data-testid="export-cancel" onClick={() => void cancelExport(jobId)}>
              Cancel export
            </button>
          ) : null}
          <span className="spacer" />
          <button type="button" className="btn" data-testid="export-close" onClick={onClose}>
            {running ? 'Hide' : 'Close'}
          </button>
          <button
            type="button"
            className="btn primary"
            data-testid="export-start"
            disabled={locked || refused}
            title={refused ? 'Unreviewed actions are left and the policy refuses to export them' : undefined}
            onClick={() => void start()}
          >
            {starting ? 'Starting…' : p && p.state !== 'running' ? 'Export again' : 'Export'}
          </button>
        </>
      }
    >
      <div className="ex-grid">
        <fieldset className="ex-set" disabled={locked}>
          <legend>Sessions</legend>
          <ul className="ex-list">
            {sessions.map((s) => (
              <li key={s.id}>
                <label className="check">
                  <input
                    type="checkbox"
                    data-testid="export-session"
                    data-session-id={s.id}
                    checked={sessionIds.includes(s.id)}
                    onChange={(e) => setSessionIds(toggle(sessionIds, s.id, e.target.checked))}
                  />
                  <span className="ex-name">{s.name}</span>
                  {s.id === sessionId && <span className="dim small">(this one)</span>}
                </label>
              </li>
            ))}
          </ul>
        </fieldset>
        <fieldset className="ex-set" disabled={locked}>
          <legend>Branches</legend>
          {chosenSessions.length === 0 ? (
            <p className="dim small">Choose a session.</p>
          ) : (
            chosenSessions.map((cs) => {
              const list = branchesOf(cs.id);
              const sel = branchSel[cs.id] ?? [];
              return (
                <div key={cs.id} className="ex-branches" data-testid="export-branches" data-session-id={cs.id}>
                  {chosenSessions.length > 1 && <div className="ex-name small">{cs.name}</div>}
                  {!list || list.state === 'loading' ? (
                    <p className="dim small">Loading branches…</p>
                  ) : list.state === 'error' ? (
                    <p className="warn-text small">Could not list the branches ({list.error}); every branch with steps of its own is exported.</p>
                  ) : list.branches.length === 0 ? (
                    <p className="dim small">No branch with steps of its own.</p>
                  ) : (
                    <ul className="ex-list">
                      {list.branches.map((b) => (
                        <li key={b.id}>
                          <label className="check">
                            <input
                              type="checkbox"
                              data-testid="export-branch"
                              data-session-id={cs.id}
                              data-branch-id={b.id}
                              checked={sel.includes(b.id)}
                              onChange={(e) => setBranchSel({ ...branchSel, [cs.id]: toggle(sel, b.id, e.target.checked) })}
                            />
                            <span className="ex-name">{b.label}</span>
                            <span className="dim small">{b.ownSteps} steps</span>
                          </label>
                        </li>
                      ))}
                    </ul>
                  )}
                </div>
              );
            })
          )}
        </fieldset>
      </div>
      <fieldset className="ex-set" disabled={locked}>
        <legend>Formats</legend>
        <div className="ex-formats">
          {EXPORT_FORMATS.map((f) => (
            <label key={f.name} className="check" title={f.hint}>
              <input
                type="checkbox"
                data-testid={`export-format-${f.name}`}
                checked={formats.includes(f.name)}
                onChange={(e) => setFormats(toggle(formats, f.name, e.target.checked))}
              />
              {f.label}
            </label>
          ))}
        </div>
      </fieldset>
      <div className="ex-options">
        <fieldset className="ex-set ex-policy" disabled={locked}>
          <legend>Unreviewed actions{ready ? ` (${ready.total.unlabelled})` : ''}</legend>
          <div className="segmented small" role="radiogroup" aria-label="Unreviewed actions">
            {POLICIES.map((o) => (
              <button
                key={o.value}
                type="button"
                role="radio"
                aria-checked={policy === o.value}
                className={policy === o.value ? 'on' : ''}
                data-testid={`export-policy-${o.value}`}
                title={o.hint}
                onClick={() => setPolicy(o.value)}
              >
                {o.label}
              </button>
            ))}
          </div>
          <div className="ex-hint small">{POLICIES.find((o) => o.value === policy)!.hint}</div>
        </fieldset>
        <label className="field ex-max">
          <span className="field-label">Max tokens per example</span>
          <input
            className="mono"
            inputMode="numeric"
            data-testid="export-max-tokens"
            placeholder="no limit"
            value={maxTokensText}
            disabled={locked}
            aria-invalid={!maxTokens.ok}
            onChange={(e) => setMaxTokensText(e.target.value)}
          />
          {!maxTokens.ok && <span className="field-error">{maxTokens.error}</span>}
        </label>
      </div>
      <PlanView selection={selection} plan={current} stale={lastReady} sessionNames={new Map(sessions.map((s) => [s.id, s.name]))} />
      <label className="field">
        <span className="field-label">Output folder (created; must not exist yet)</span>
        <input
          className="mono"
          data-testid="export-out"
          value={outDir}
          disabled={locked}
          spellCheck={false}
          onChange={(e) => setOutDir(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === 'Enter') {
              e.preventDefault();
              void start();
            }
          }}
        />
      </label>
      {error && (
        <div className="form-error" data-testid="export-error" role="alert">
          {error}
        </div>
      )}
      {job && (
        <div className="ex-job" data-testid="export-job" data-state={p?.state ?? 'starting'} ref={jobRef}>
          <div
            key={job.exportId}
            className={`ex-progress ex-${p?.state ?? 'running'}`}
            data-testid="export-progress"
            data-state={p?.state ?? 'starting'}
            data-done={p?.done ?? 0}
            data-total={p?.total ?? 0}
            role="progressbar"
            aria-valuemin={0}
            aria-valuemax={100}
            aria-valuenow={pct}
          >
            <span style={{ width: `${p && p.state !== 'running' && (p.state !== 'cancelled' || p.total === 0) ? 100 : pct}%` }} />
          </div>
          <div className="ex-stage small" data-testid="export-stage">
            {!p
              ? 'Starting…'
              : p.state === 'running'
                ? `${p.stage}${p.total ? ` · ${p.done} / ${p.total}` : ''}`
                : p.state === 'done'
                  ? 'Done: written, validated and published'
                  : `${p.state === 'failed' ? 'Failed' : 'Cancelled'} during: ${p.stage}`}
          </div>
          {p?.state === 'done' && (
            <div className="ex-result" data-testid="export-result">
              <div className="ok-text">Bundle written</div>
              <div className="mono ex-dir" data-testid="export-dir" title="Bundle folder">
                {p.dir ?? job.request.outDir}
              </div>
              <div className="small">
                {job.request.formats.join(', ')}
                {p.counts && (
                  <>
                    {' · '}
                    {p.counts.examples} example{p.counts.examples === 1 ? '' : 's'}, {p.counts.actions} actions:{' '}
                    <span className="k-keep" data-testid="export-kept">{p.counts.kept} trained on</span>
                    {p.counts.unlabelled ? ` (${p.counts.unlabelled} unreviewed)` : ''},{' '}
                    <span className="k-mask" data-testid="export-masked">{p.counts.masked} masked (weight 0)</span>
                  </>
                )}
              </div>
              {p.reused && (
                <div className="dim small" data-testid="export-reused">
                  Nothing it depends on changed since an earlier export: its files were copied from the bundle that export kept, byte for byte what building them writes.
                </div>
              )}
              {!p.reused && p.builtBecause && (
                <div className="dim small" data-testid="export-built-because">
                  Built: {p.builtBecause}.
                </div>
              )}
              <div className="dim small">manifest.json in the folder lists every file with its SHA-256 and the exact counts.</div>
            </div>
          )}
          {p?.state === 'failed' && (
            <div className="form-error" data-testid="export-failed" role="alert">
              Export failed: {p.error ?? 'unknown error'}. Nothing was written to the output folder.
            </div>
          )}
          {p?.state === 'cancelled' && (
            <div className="warn-text small" data-testid="export-cancelled">
              Export cancelled. Nothing was written.
            </div>
          )}
        </div>
      )}
    </Dialog>
  );
}

function CountCells({ c, unreviewedTrained }: { c: ExportPlanCounts; unreviewedTrained: boolean }) {
  return (
    <>
      <td className="num">{c.examples}</td>
      <td className="num k-keep">{c.kept}</td>
      <td className="num k-mask">{c.masked}</td>
      <td className={`num${c.unlabelled ? ' warn-text' : ''}`} title={c.unlabelled ? (unreviewedTrained ? 'counted as trained' : 'counted as masked') : undefined}>
        {c.unlabelled}
      </td>
      <td className="num" title={`${c.tokens.total.toLocaleString()} tokens (${c.tokens.tokenizer}); longest example ${c.tokens.longest.toLocaleString()}`}>
        {formatTokens(c.tokens.total)}
        {c.examples > 1 && <span className="dim"> · max {formatTokens(c.tokens.longest).replace(/ tok$/, '')}</span>}
      </td>
    </>
  );
}

function countAttrs(c: ExportPlanCounts) {
  return {
    'data-examples': c.examples, 'data-actions': c.actions, 'data-kept': c.kept, 'data-masked': c.masked, 'data-unlabelled': c.unlabelled,
    'data-tokens': c.tokens.total, 'data-over-limit': c.tokens.overLimit,
  };
}

/** What the export will write: per session and in total, the policy's effect, and the warnings. */
function PlanView(props: {
  selection: { ok: true } | { ok: false; error: string; pending?: boolean };
  plan: PlanState | null;
  /** The last plan worked out, shown (dimmed) while the current one is on its way. */
  stale: ExportPlan | null;
  sessionNames: Map<string, string>;
}) {
  const { selection, plan, stale, sessionNames } = props;
  if (!selection.ok) {
    return (
      <div className="ex-plan" data-testid="export-plan" data-state="incomplete">
        <div className={`small ${selection.pending ? 'dim' : 'warn-text'}`}>{selection.pending ? 'Waiting for the branch lists…' : selection.error}</div>
      </div>
    );
  }
  if ((!plan || plan.state === 'loading') && !stale) {
    return (
      <div className="ex-plan" data-testid="export-plan" data-state="loading">
        <div className="dim small">Working out what the export will write…</div>
      </div>
    );
  }
  if (plan?.state === 'error') {
    return (
      <div className="ex-plan" data-testid="export-plan" data-state="error">
        <div className="form-error" data-testid="export-plan-error">Cannot plan this export: {plan.error}</div>
      </div>
    );
  }
  const updating = plan?.state !== 'ready';
  const p = plan?.state === 'ready' ? plan.plan : stale!;
  const trained = p.policy === 'keep';
  const skippedBranches = p.sessions.flatMap((s) =>
    s.branches.filter((b) => b.skipped && b.skipped !== 'not selected' && b.skipped !== 'no steps of its own').map((b) => ({ s, b })),
  );
  return (
    <div className={`ex-plan${updating ? ' ex-stale' : ''}`} data-testid="export-plan" data-state={updating ? 'updating' : 'ready'} data-refused={p.refused ? 'true' : 'false'} aria-busy={updating}>
      <table className="ex-plan-table">
        <thead>
          <tr>
            <th>Will write</th>
            <th className="num" title="Training examples (lines of openai.jsonl): one per context window">examples</th>
            <th className="num" title="Actions trained (weight 1 in exactly one example)">trained</th>
            <th className="num" title="Actions present only as context (weight 0)">masked</th>
            <th className="num" title="Actions no annotator, judge or rule has labelled">unreviewed</th>
            <th className="num">tokens</th>
          </tr>
        </thead>
        <tbody>
          {p.sessions.length > 1 &&
            p.sessions.map((s) => (
              <tr key={s.sessionId} data-testid="plan-session" data-session-id={s.sessionId} {...countAttrs(s.counts)}>
                <td className="ex-plan-name" title={s.name ?? s.sessionId}>{sessionNames.get(s.sessionId) ?? s.name ?? s.sessionId}</td>
                <CountCells c={s.counts} unreviewedTrained={trained} />
              </tr>
            ))}
          <tr className="ex-plan-total" data-testid="plan-total" {...countAttrs(p.total)}>
            <td className="ex-plan-name">{p.sessions.length > 1 ? 'Total' : (sessionNames.get(p.sessions[0]?.sessionId ?? '') ?? p.sessions[0]?.name ?? 'Total')}</td>
            <CountCells c={p.total} unreviewedTrained={trained} />
          </tr>
        </tbody>
      </table>
      <div className="small ex-plan-policy" data-testid="plan-policy">
        {p.total.unlabelled === 0
          ? 'Every action is reviewed.'
          : p.policy === 'keep'
            ? `${p.total.unlabelled} unreviewed action${p.total.unlabelled === 1 ? ' is' : 's are'} trained on (counted in “trained”).`
            : p.policy === 'mask'
              ? `${p.total.unlabelled} unreviewed action${p.total.unlabelled === 1 ? ' is' : 's are'} skipped (weight 0, counted in “masked”).`
              : `${p.total.unlabelled} unreviewed action${p.total.unlabelled === 1 ? ' is' : 's are'} left: label ${p.total.unlabelled === 1 ? 'it' : 'them'} in the Filter view, or choose to train or skip them. Export is refused until then.`}
        {p.total.actionLines > 0 && ` ${p.total.actionLines} per-action line${p.total.actionLines === 1 ? '' : 's'} (ShareGPT / mistral).`}
      </div>
      {(p.warnings.length > 0 || skippedBranches.length > 0) && (
        <ul className="ex-warnings" data-testid="plan-warnings">
          {skippedBranches.map(({ s, b }) => (
            <li key={`${s.sessionId}/${b.branchId}`} data-testid="plan-skipped-branch">
              {p.sessions.length > 1 ? `${sessionNames.get(s.sessionId) ?? s.sessionId}: ` : ''}branch {b.name}: {b.skipped}
            </li>
          ))}
          {p.warnings
            // Said above already: the skipped branches, and the unreviewed actions under the policy line.
            .filter((w) => !/^session \S+ branch \S+: nothing to train/.test(w) && !/^\d+ action\(s\) are unreviewed/.test(w))
            .map((w) => (
              <li key={w} data-testid="plan-warning">
                {w}
              </li>
            ))}
        </ul>
      )}
    </div>
  );
}
