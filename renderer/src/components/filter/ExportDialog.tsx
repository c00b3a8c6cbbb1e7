// Export a dataset bundle: sessions (the current one by default) and, per chosen
// session, its branches (default: every branch with steps of its own; the branches
// of other sessions are fetched when they are ticked), formats, output folder; then
// progress (fed by `export.progress`), Cancel, and the bundle's path and counts or
// the error.
import { useEffect, useMemo, useState } from 'react';
import { branchPath } from '../../../../shared/trajectory';
import { useApp } from '../../context';
import { exportBranchOptions, type ExportBranchList } from '../../store/labels';
import { Dialog } from '../Dialog';
import { buildRows } from './model';

export const EXPORT_FORMATS = [
  { name: 'openai', label: 'OpenAI chat JSONL', hint: 'messages + tools, weight 0 on masked assistant turns' },
  { name: 'sharegpt', label: 'ShareGPT / LLaMA-Factory', hint: 'sharegpt.jsonl + dataset_info.json' },
  { name: 'trajectory', label: 'Trajectory JSONL', hint: 'every step, label and history, full fidelity' },
  { name: 'asciicast', label: 'asciicast v2', hint: 'terminal recordings asciinema can play' },
] as const;
type FormatName = (typeof EXPORT_FORMATS)[number]['name'];

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

  const counts = useMemo(() => {
    if (!entry || !job) return null;
    const chosen = job.request.branches?.[sessionId] ?? job.request.branchIds ?? branches.map((b) => b.id);
    const seen = new Set<string>();
    let keep = 0;
    let mask = 0;
    let unrev = 0;
    for (const b of chosen) {
      if (!entry.t.branches.has(b)) continue;
      for (const r of buildRows(branchPath(entry.t, b), undefined)) {
        if (seen.has(r.step.id)) continue;
        seen.add(r.step.id);
        if (r.label === 'mask') mask++;
        else {
          keep++;
          if (!r.label) unrev++;
        }
      }
    }
    return { branches: chosen.length, actions: seen.size, keep, mask, unrev };
  }, [entry, job, branches]);

  const start = async () => {
    setError(null);
    if (!outDir.trim()) return setError('Choose an output folder.');
    if (formats.length === 0) return setError('Choose at least one format.');
    if (sessionIds.length === 0) return setError('Choose at least one session.');
    const perSession: Record<string, string[]> = {};
    for (const id of sessionIds) {
      const name = sessions.find((s) => s.id === id)?.name ?? id;
      const list = branchesOf(id);
      // A list that could not be fetched: the host exports the session's default branches.
      if (list?.state === 'error' || (list?.state === 'ready' && list.branches.length === 0)) continue;
      if (!list || list.state === 'loading' || !(id in branchSel)) return setError(`The branches of “${name}” are still loading.`);
      if (branchSel[id]!.length === 0) return setError(`Choose at least one branch of “${name}”.`);
      perSession[id] = branchSel[id]!;
    }
    setStarting(true);
    const res = await startExport({
      sessionIds,
      ...(Object.keys(perSession).length ? { branches: perSession } : {}),
      formats,
      outDir: outDir.trim(),
    });
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
      width={620}
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
          <button type="button" className="btn primary" data-testid="export-start" disabled={locked} onClick={() => void start()}>
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
        <div className="ex-job" data-testid="export-job" data-state={p?.state ?? 'starting'}>
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
                {counts && (
                  <>
                    {' · '}
                    {onlyCurrentOf(job.request.sessionIds, sessionId) ? '' : 'this session: '}
                    {counts.branches} branch{counts.branches === 1 ? '' : 'es'}, {counts.actions} actions:{' '}
                    <span className="k-keep" data-testid="export-kept">{counts.keep} trained on</span>
                    {counts.unrev ? ` (${counts.unrev} unreviewed)` : ''},{' '}
                    <span className="k-mask" data-testid="export-masked">{counts.mask} masked (weight 0)</span>
                  </>
                )}
              </div>
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

function onlyCurrentOf(ids: string[], sessionId: string): boolean {
  return ids.length === 1 && ids[0] === sessionId;
}
