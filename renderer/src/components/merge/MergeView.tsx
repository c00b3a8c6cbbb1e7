// The Merge view (issue 12): a lead merges the bundles of several annotators. Bundles
// are folders on the host, added by path (typed or pasted, several lines at once), with
// the OS folder picker or by dropping folders on the view in the desktop app. Every
// change asks the host for the merge's own dry run (merge.plan: every bundle verified,
// the labels decided, nothing written), shown as the report, agreement table and chart,
// and the conflicts to step through and settle from the keyboard; then the merged
// bundle is written with progress and Cancel.
import { useEffect, useMemo, useRef, useState, type DragEvent } from 'react';
import { useApp, useAppStore, useEnv, useTransport } from '../../context';
import { actionFor, keyHint } from '../../lib/keymap';
import { conflictKey, mergePlanKey, type MergePolicyKind } from '../../store/merge';
import { inModal, isTypingTarget, useDocumentKeys } from '../keys';
import { ConflictPane } from './ConflictPane';
import { AgreementTable, AnnotatorTable, KeepMaskChart, MergeSummary } from './MergeReportView';
import './merge.css';

/** How long the form must stay still before the dry run is asked again (it hashes every bundle). */
const PLAN_DEBOUNCE_MS = 350;

const POLICIES: Array<{ value: MergePolicyKind; label: string; hint: string }> = [
  { value: 'any-mask', label: 'Any mask', hint: 'An action anyone masked is masked' },
  { value: 'majority', label: 'Majority', hint: 'More keeps than masks trains an action; a tie masks it' },
  { value: 'prefer', label: 'Prefer names', hint: 'The first named annotator who labelled an action decides it; else the majority' },
  { value: 'manual', label: 'Manual', hint: 'You decide every conflict; nothing is written until you have' },
];

export function MergeView() {
  const store = useAppStore();
  const env = useEnv();
  const transport = useTransport();
  const form = useApp((s) => s.mergeForm);
  const plan = useApp((s) => s.mergePlan);
  const lastPlan = useApp((s) => s.mergeLastPlan);
  const mergeId = useApp((s) => s.mergeId);
  const progress = useApp((s) => (s.mergeId ? s.mergeProgress[s.mergeId] : undefined));
  const keymap = useApp((s) => s.keymap);
  const openSessionId = useApp((s) => s.openSessionId);
  const { updateMergeForm, addMergeInputs, settleConflict, undoSettlement, planMerge, startMerge, cancelMerge, setMergeOpen } = store.getState();
  const [pathText, setPathText] = useState('');
  const [dropNote, setDropNote] = useState<string | null>(null);
  const [writeError, setWriteError] = useState<string | null>(null);
  const [starting, setStarting] = useState(false);
  const [dragging, setDragging] = useState(false);

  // Opening a session from the list leaves the Merge view (the form and any merge stay).
  const openedWith = useRef(openSessionId);
  useEffect(() => {
    if (openSessionId !== openedWith.current) setMergeOpen(false);
  }, [openSessionId, setMergeOpen]);

  const key = mergePlanKey(form);
  useEffect(() => {
    if (!form.inputs.length) return void planMerge();
    const t = setTimeout(() => void planMerge(), PLAN_DEBOUNCE_MS);
    return () => clearTimeout(t);
    // `key` says everything the plan depends on.
  }, [key]);

  const current = plan.state !== 'idle' && plan.key === key ? plan : null;
  const ready = current?.state === 'ready' ? current.plan : null;
  // While the plan for the form as it is now is on its way, the last one stays on screen (marked stale).
  const shown = ready ?? (current?.state === 'error' || !form.inputs.length ? null : lastPlan);
  const stale = !ready;
  const manual = form.policy === 'manual';
  const conflicts = shown?.report.conflicts ?? [];
  const running = !!mergeId && (!progress || progress.state === 'running');
  const unsettled = ready ? ready.report.actions.unsettled : 0;
  const mac = /Mac|iPhone|iPad/.test(env.platform);
  const hint = (action: string) => keyHint(action, 'filter', keymap, mac);

  const settle = (k: string, label: 'keep' | 'mask' | null) => {
    settleConflict(k, label);
    // On to the next conflict, as the filter view moves on after a label.
    if (label && form.cursor < conflicts.length - 1) updateMergeForm({ cursor: form.cursor + 1 });
  };
  const move = (i: number) => updateMergeForm({ cursor: Math.max(0, Math.min(conflicts.length - 1, i)) });

  useDocumentKeys((e) => {
    if (!shown || running || isTypingTarget(e.target) || inModal(e.target) || store.getState().dialog) return;
    const action = actionFor('filter', e, keymap);
    const c = conflicts[Math.min(form.cursor, conflicts.length - 1)];
    const settleable = c ? shown.steps[conflicts.indexOf(c)]?.settleable !== false : false;
    const k = c ? conflictKey(c.sessionId, c.stepId) : '';
    const act: Record<string, () => void> = {
      next: () => move(form.cursor + 1),
      prev: () => move(form.cursor - 1),
      first: () => move(0),
      last: () => move(conflicts.length - 1),
      keep: () => c && settleable && settle(k, 'keep'),
      mask: () => c && settleable && settle(k, 'mask'),
      clear: () => c && settleable && settleConflict(k, null),
      undo: () => {
        const last = form.undo.at(-1);
        undoSettlement();
        const at = last ? conflicts.findIndex((x) => conflictKey(x.sessionId, x.stepId) === last.key) : -1;
        if (at >= 0) updateMergeForm({ cursor: at });
      },
    };
    const run = action ? act[action] : undefined;
    if (!run) return;
    e.preventDefault();
    run();
  });

  const addTyped = () => {
    const lines = pathText.split(/\r?\n/);
    addMergeInputs(lines);
    setPathText('');
  };
  const pick = async () => {
    try {
      const { paths } = await transport.request('merge.pickFolders', {});
      addMergeInputs(paths);
    } catch (err) {
      store.getState().reportError('Could not open the folder picker', err);
    }
  };
  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    setDragging(false);
    const files = [...e.dataTransfer.files];
    const paths = files.map((f) => env.pathForFile?.(f) ?? null);
    const found = paths.filter((p): p is string => !!p);
    if (found.length) addMergeInputs(found);
    // Browsers do not tell a page where a dropped folder is; a pasted path says it.
    const text = e.dataTransfer.getData('text/plain');
    if (!found.length && text.trim()) addMergeInputs(text.split(/\r?\n/));
    else if (found.length < files.length) setDropNote('This browser does not say where a dropped folder is: type or paste its path instead.');
    else setDropNote(null);
  };
  const write = async () => {
    setWriteError(null);
    if (!form.outDir.trim()) return setWriteError('Choose a folder for the merged bundle.');
    setStarting(true);
    const r = await startMerge();
    setStarting(false);
    if (!r.ok) setWriteError(r.error);
  };
  const canWrite = !!ready && !running && !starting && !(manual && unsettled > 0);
  const pct = progress && progress.total > 0 ? Math.min(100, Math.round((progress.done / progress.total) * 100)) : 0;
  const signers = useMemo(() => new Map((shown?.report.bundles ?? []).map((b) => [b.path, b])), [shown]);

  return (
    <section
      className={`mv${dragging ? ' mv-dragging' : ''}`}
      data-testid="merge-view"
      aria-label="Merge bundles"
      onDragOver={(e) => {
        if (!e.dataTransfer.types.includes('Files') && !e.dataTransfer.types.includes('text/plain')) return;
        e.preventDefault();
        e.dataTransfer.dropEffect = 'copy';
        setDragging(true);
      }}
      onDragLeave={(e) => {
        if (e.currentTarget === e.target) setDragging(false);
      }}
      onDrop={onDrop}
    >
      <header className="mv-head">
        <h1 className="mv-title">Merge bundles</h1>
        <span className="dim small">one training set from several annotators&apos; exports, every conflict settled</span>
        <span className="spacer" />
        <button type="button" className="icon-btn" data-testid="merge-close" title="Close the Merge view" aria-label="Close the Merge view" onClick={() => setMergeOpen(false)}>
          ×
        </button>
      </header>
      <div className="mv-body">
        <div className="mv-left">
          <section className="mv-card" aria-labelledby="mv-bundles">
            <h2 id="mv-bundles" className="mv-card-title">
              Bundles <span className="count">{form.inputs.length}</span>
            </h2>
            {form.inputs.length > 0 && (
              <ol className="mv-inputs" data-testid="merge-inputs">
                {form.inputs.map((p) => {
                  const b = signers.get(p);
                  return (
                    <li key={p} data-testid="merge-input" data-path={p}>
                      <span className="mono mv-path" title={p}>
                        <bdi>{p}</bdi>
                      </span>
                      {b && (
                        <span className={`small ${b.signer ? 'dim' : 'warn-text'}`} data-testid="merge-input-signer" title={b.signer?.fingerprint}>
                          {b.signer ? `signed by ${b.signer.name}${b.signer.trusted ? ' (trusted)' : ''}` : 'unsigned'}
                          {b.merged ? ' · merged' : ''} · {b.examples.used}/{b.examples.total} examples
                        </span>
                      )}
                      <button type="button" className="icon-btn danger" aria-label={`Remove ${p}`} title="Remove" disabled={running} onClick={() => updateMergeForm({ inputs: form.inputs.filter((x) => x !== p), cursor: 0 })}>
                        ×
                      </button>
                    </li>
                  );
                })}
              </ol>
            )}
            <div className="mv-add">
              <textarea
                className="mono"
                rows={1}
                data-testid="merge-path"
                aria-label="Bundle folder"
                placeholder={env.pathForFile ? 'Bundle folder path, or drop folders here' : 'Full path of a bundle folder on the host'}
                title="Paste several paths at once, one per line"
                value={pathText}
                spellCheck={false}
                disabled={running}
                onChange={(e) => setPathText(e.target.value)}
                onKeyDown={(e) => {
                  if (e.key === 'Enter' && !e.shiftKey) {
                    e.preventDefault();
                    addTyped();
                  }
                }}
              />
              <button type="button" className="btn btn-small" data-testid="merge-add" disabled={!pathText.trim() || running} onClick={addTyped}>
                Add
              </button>
              {env.hostKind === 'electron' && (
                <button type="button" className="btn btn-small" data-testid="merge-pick" disabled={running} onClick={() => void pick()}>
                  Choose folders…
                </button>
              )}
            </div>
            {dropNote && <div className="warn-text small">{dropNote}</div>}
            <div className="mv-options">
              <div className="segmented small" role="radiogroup" aria-label="Merge policy">
                {POLICIES.map((o) => (
                  <button key={o.value} type="button" role="radio" aria-checked={form.policy === o.value} className={form.policy === o.value ? 'on' : ''} data-testid={`merge-policy-${o.value}`} title={o.hint} disabled={running} onClick={() => updateMergeForm({ policy: o.value })}>
                    {o.label}
                  </button>
                ))}
              </div>
              {form.policy === 'prefer' && (
                <input className="mv-prefer mono" data-testid="merge-prefer" aria-label="Preferred annotators, in order" placeholder="alice, bob" value={form.preferNames} disabled={running} onChange={(e) => updateMergeForm({ preferNames: e.target.value })} />
              )}
              <label className="check" title="Every export is signed; an unsigned bundle is refused unless you accept it here (it is flagged in the report)">
                <input type="checkbox" data-testid="merge-allow-unsigned" checked={form.allowUnsigned} disabled={running} onChange={(e) => updateMergeForm({ allowUnsigned: e.target.checked })} />
                Accept unsigned bundles
              </label>
            </div>
            <div className="dim small">{POLICIES.find((o) => o.value === form.policy)!.hint}. Your own decisions on conflicts win over the policy.</div>
            <div className="mv-fields">
              <PathLines
                id="mv-trust" label="Trusted keys" testId="merge-trust" disabled={running} value={form.trust}
                placeholder="Trust file path (apollo keys export-public lines)"
                title="One trust file per line: a signed bundle must then be signed by one of their keys. Empty: any valid signature is accepted and named by its signer."
                onChange={(trust) => updateMergeForm({ trust })}
              />
              <PathLines
                id="mv-earlier" label="Earlier settlements" testId="merge-settlements-from" disabled={running} value={form.settlementsFrom}
                placeholder="Path of an earlier merged bundle"
                title="One per line: the conflicts you settled in those merges are settled the same way again, unless a label they settled has changed."
                onChange={(settlementsFrom) => updateMergeForm({ settlementsFrom })}
              />
            </div>
          </section>

          <PlanStatus state={current?.state ?? (form.inputs.length ? 'loading' : 'idle')} error={current?.state === 'error' ? current.error : null} onRetry={() => void planMerge()} />

          {shown && (
            <section className={`mv-card${stale ? ' mv-stale' : ''}`} aria-labelledby="mv-report" data-testid="merge-report" data-state={stale ? 'updating' : 'ready'} aria-busy={stale}>
              <h2 id="mv-report" className="mv-card-title">
                Report <span className="dim small">policy {shown.report.policy}</span>
              </h2>
              <MergeSummary report={shown.report} />
              <div className="mv-annotators">
                <KeepMaskChart rows={shown.report.annotators} />
                <AnnotatorTable report={shown.report} />
              </div>
              <h3 className="mv-sub">Agreement</h3>
              <AgreementTable report={shown.report} />
              {shown.report.warnings.length > 0 && (
                <ul className="mv-warnings" data-testid="merge-warnings">
                  {shown.report.warnings.map((w) => (
                    <li key={w}>{w}</li>
                  ))}
                </ul>
              )}
            </section>
          )}

          <section className="mv-card" aria-labelledby="mv-write">
            <h2 id="mv-write" className="mv-card-title">Write the merged bundle</h2>
            <div className="mv-write">
              <input className="mono mv-out" data-testid="merge-out" aria-label="Merged bundle folder (created; must not exist yet)" value={form.outDir} spellCheck={false} disabled={running} onChange={(e) => updateMergeForm({ outDir: e.target.value })} />
              {running ? (
                <button type="button" className="btn btn-small danger" data-testid="merge-cancel" onClick={() => void cancelMerge()}>
                  Cancel
                </button>
              ) : (
                <button
                  type="button"
                  className="btn btn-small primary"
                  data-testid="merge-write"
                  disabled={!canWrite}
                  title={manual && unsettled > 0 ? `${unsettled} conflict${unsettled === 1 ? '' : 's'} to settle first` : !ready ? 'The plan is not ready' : undefined}
                  onClick={() => void write()}
                >
                  {starting ? 'Starting…' : 'Merge'}
                </button>
              )}
            </div>
            <div className="dim small">Signed with your key; merge-report.json and merge-report.html are written in it too.</div>
            {manual && ready && unsettled > 0 && (
              <div className="warn-text small" data-testid="merge-unsettled">
                {unsettled} conflict{unsettled === 1 ? '' : 's'} left to settle (manual policy).
              </div>
            )}
            {writeError && (
              <div className="form-error" role="alert" data-testid="merge-write-error">
                {writeError}
              </div>
            )}
            {mergeId && (
              <div className="mv-job" data-testid="merge-job" data-state={progress?.state ?? 'starting'}>
                <div className={`ex-progress ex-${progress?.state ?? 'running'}`} data-testid="merge-progress" role="progressbar" aria-label="Merge progress" aria-valuemin={0} aria-valuemax={100} aria-valuenow={pct}>
                  <span style={{ width: `${progress && progress.state === 'done' ? 100 : pct}%` }} />
                </div>
                <div className="small ex-stage" data-testid="merge-stage">
                  {!progress ? 'Starting…' : progress.state === 'running' ? `${progress.stage}${progress.total ? ` · ${progress.done} / ${progress.total}` : ''}` : progress.state === 'done' ? 'Done: verified, written, validated and published' : `${progress.state === 'failed' ? 'Failed' : 'Cancelled'} during: ${progress.stage}`}
                </div>
                {progress?.state === 'done' && (
                  <div className="ex-result" data-testid="merge-result">
                    <div className="ok-text">Merged bundle written</div>
                    <div className="mono ex-dir" data-testid="merge-dir">{progress.dir}</div>
                    {progress.report && (
                      <div className="small">
                        {progress.report.examples.out} example{progress.report.examples.out === 1 ? '' : 's'}; <span className="k-keep">{progress.report.actions.kept} kept</span>, <span className="k-mask">{progress.report.actions.masked} masked</span>; the report is merge-report.html in it.
                      </div>
                    )}
                  </div>
                )}
                {progress?.state === 'failed' && (
                  <div className="form-error" role="alert" data-testid="merge-failed">
                    Merge failed: {progress.error ?? 'unknown error'}. Nothing was written.
                  </div>
                )}
                {progress?.state === 'cancelled' && <div className="warn-text small" data-testid="merge-cancelled">Merge cancelled. Nothing was written.</div>}
              </div>
            )}
          </section>
        </div>
        <aside className="mv-right" aria-label="Conflicts">
          {shown ? (
            <ConflictPane
              plan={shown}
              cursor={form.cursor}
              settlements={form.settlements}
              manual={manual}
              stale={stale}
              hint={hint}
              onMove={move}
              onSettle={settle}
              onUndo={() => undoSettlement()}
              canUndo={form.undo.length > 0}
            />
          ) : (
            <div className="mv-conflict-empty dim">
              <p>{form.inputs.length ? 'Checking the bundles…' : 'Add the bundles to merge: their conflicts appear here, one at a time.'}</p>
            </div>
          )}
        </aside>
      </div>
      <footer className="fv-help" aria-label="Keys">
        {(['prev', 'next', 'keep', 'mask', 'clear', 'undo'] as const).map((a) => (
          <span key={a} className="fv-key">
            <kbd>{hint(a)}</kbd> {a === 'prev' ? 'previous conflict' : a === 'next' ? 'next conflict' : a === 'clear' ? 'back to the policy' : a}
          </span>
        ))}
      </footer>
    </section>
  );
}

function PlanStatus({ state, error, onRetry }: { state: 'idle' | 'loading' | 'ready' | 'error'; error: string | null; onRetry(): void }) {
  if (state === 'error') {
    return (
      <div className="mv-card mv-plan-error" role="alert" data-testid="merge-plan-error">
        <div className="form-error">Cannot merge these bundles: {error}</div>
        <button type="button" className="btn btn-small" onClick={onRetry}>
          Check again
        </button>
      </div>
    );
  }
  if (state === 'loading') return <div className="dim small mv-plan-status" data-testid="merge-plan-loading">Verifying the bundles and planning the merge…</div>;
  return null;
}

/** A labelled field of paths, one per line (trust files, earlier merged bundles). */
function PathLines(p: { id: string; label: string; testId: string; placeholder: string; title: string; value: string; disabled: boolean; onChange(value: string): void }) {
  return (
    <>
      <label htmlFor={p.id}>{p.label}</label>
      <textarea
        id={p.id}
        className="mono"
        rows={1}
        data-testid={p.testId}
        placeholder={p.placeholder}
        title={p.title}
        value={p.value}
        spellCheck={false}
        disabled={p.disabled}
        onChange={(e) => p.onChange(e.target.value)}
      />
    </>
  );
}
