// The filter view of a session: every action of a branch labelled keep or mask
// (masked actions stay in the context but get weight 0), reviewed from the keyboard,
// with rules, the LLM judge, coverage and the dataset export around the table.
import { useCallback, useDeferredValue, useEffect, useMemo, useRef, useState, type MouseEvent, type ReactNode } from 'react';
import { LABEL_TAGS, type LabelTag, type LabelValue } from '../../../../shared/events';
import { branchPath, type Step } from '../../../../shared/trajectory';
import type { SessionInfo } from '../../../../shared/types';
import { useApp, useAppStore } from '../../context';
import { branchLabel, defaultBranchId, listBranches } from '../../lib/trajectoryView';
import { DEFAULT_CRITERIA, type LabelChange, type UndoEntry } from '../../store/labels';
import { CoverageCard, JudgeCard, RulesCard } from './Cards';
import { DetailPane } from './DetailPane';
import { ExportDialog } from './ExportDialog';
import { LabelEditor, type LabelEditorInit } from './LabelEditor';
import { buildRows, classifyPreview, coverageOf, filterRows, searchTerms, timeBuckets, toolsOf, type Coverage, type FilterRow } from './model';
import { useFullTextMatches } from './useFullTextMatches';
import { StepTable } from './StepTable';
import { filterKeyStrip, useFilterKeys } from './useFilterKeys';
import { keyHint } from '../../lib/keymap';
import { ViewTabs } from './ViewTabs';
import './filter.css';
import './review.css';

const NO_ROWS: FilterRow[] = [];
const NO_ENTRIES: UndoEntry[] = [];

/** Mounted by App in place of the live session view and the trajectory panel. */
export function FilterView() {
  const session = useApp((s) => (s.openSessionId ? s.sessions.find((x) => x.id === s.openSessionId) : undefined));
  const pending = useApp((s) => (s.openSessionId ? s.trajectories[s.openSessionId]?.pending ?? null : null));
  if (!session) return null;
  // Its filters, counts and bulk labels read every step's action and results: never on a part of them.
  if (pending) {
    return (
      <section className="fv" aria-label={`Filter ${session.name}`}>
        <FilterHead session={session} />
        <p className={`pad ${pending.error ? 'err-text' : 'muted'}`} data-testid="filter-loading" role="status">
          {pending.error
            ? `The details of ${pending.steps.size.toLocaleString()} earlier steps could not be loaded: ${pending.error}. Open the session again to retry.`
            : `Loading the details of ${pending.steps.size.toLocaleString()} earlier steps…`}
        </p>
      </section>
    );
  }
  return <FilterPanel key={session.id} session={session} />;
}

/** The view's header: the session's name and the Live / Filter tabs, then what the view adds. */
function FilterHead({ session, children }: { session: SessionInfo; children?: ReactNode }) {
  return (
    <header className="fv-head">
      <h1 className="fv-title" title={session.name}>
        {session.name}
      </h1>
      <ViewTabs sessionId={session.id} />
      {children}
    </header>
  );
}

function FilterPanel({ session }: { session: SessionInfo }) {
  const sessionId = session.id;
  const store = useAppStore();
  const entry = useApp((s) => s.trajectories[sessionId]);
  const liveBranch = useApp((s) => s.views[sessionId]?.branchId ?? null);
  const fc = useApp((s) => s.filterCursors[sessionId]);
  const overlay = useApp((s) => s.labelOverlay[sessionId]);
  const criteria = useApp((s) => s.filterCriteria);
  const setCriteria = useApp((s) => s.setFilterCriteria);
  const setCursor = useApp((s) => s.setFilterCursor);
  const undoStack = useApp((s) => s.labelUndo[sessionId]) ?? NO_ENTRIES;
  const redoStack = useApp((s) => s.labelRedo[sessionId]) ?? NO_ENTRIES;
  const dialog = useApp((s) => s.dialog);
  const advanceOn = useApp((s) => s.advanceAfterLabel);
  const keymap = useApp((s) => s.keymap);
  const keyStrip = useMemo(() => filterKeyStrip(keymap), [keymap]);
  const setAdvanceOn = useApp((s) => s.setAdvanceAfterLabel);

  const [revealTick, setRevealTick] = useState(0);
  const [exportOpen, setExportOpen] = useState(false);
  const [editor, setEditor] = useState<LabelEditorInit | null>(null);
  const searchRef = useRef<HTMLInputElement>(null);

  const t = entry?.t;
  const pick = (id: string | null | undefined) => (id && t?.branches.has(id) ? id : null);
  const branchId = t ? (pick(fc?.branchId) ?? pick(liveBranch) ?? defaultBranchId(t)) : null;
  const branches = useMemo(() => (entry ? listBranches(entry.t) : []), [entry]);
  const path = useMemo(() => (entry && branchId ? branchPath(entry.t, branchId) : []), [entry, branchId]);
  const rows = useMemo(() => (path.length ? buildRows(path, overlay) : NO_ROWS), [path, overlay]);
  const text = useDeferredValue(criteria.text);
  const terms = useMemo(() => searchTerms(text), [text]);
  // Asked again only when results were added: a label or comment changes no observation (a response comes with its step's results).
  const results = useMemo(() => rows.reduce((n, r) => n + r.step.results.length, 0), [rows]);
  const beyond = useFullTextMatches(sessionId, terms, rows, results);
  const shown = useMemo(() => filterRows(rows, { ...criteria, text }, beyond), [rows, criteria, text, beyond]);
  const coverage = useMemo(() => coverageOf(rows), [rows]);
  const buckets = useMemo(() => timeBuckets(rows), [rows]);
  const tools = useMemo(() => toolsOf(rows), [rows]);
  const rowIndex = useMemo(() => new Map(rows.map((r, i) => [r.step.id, i])), [rows]);
  const shownIndex = useMemo(() => new Map(shown.map((r, i) => [r.step.id, i])), [shown]);

  const rulePreview = useApp((s) => s.rulePreview[sessionId]);
  // The rows applying the previewed rules would write to, with old → new (see
  // classifyPreview); an applied preview is spent (an undo does not bring its marks back).
  const previewMarks = useMemo(
    () => (rulePreview && rulePreview.state === 'ready' && rulePreview.applied === undefined && rulePreview.branchId === branchId ? classifyPreview(rows, rulePreview.results) : null),
    [rulePreview, branchId, rows],
  );

  const cursorId = fc?.cursor ?? null;
  const selectionList = fc?.selection;
  // Only rows on screen are selected: a row the search hides must never take a bulk label.
  const selection = useMemo(() => new Set((selectionList ?? []).filter((id) => shownIndex.has(id))), [selectionList, shownIndex]);
  useEffect(() => {
    if (selectionList && selectionList.some((id) => !shownIndex.has(id))) setCursor(sessionId, { selection: selectionList.filter((id) => shownIndex.has(id)) });
  }, [selectionList, shownIndex, setCursor, sessionId]);
  const cursorRow = cursorId ? rows[rowIndex.get(cursorId) ?? -1] ?? null : null;

  // Everything the key handler needs, current at each key press. The cursor and the
  // selection are read from the store, not from this render: keys that arrive in one task
  // (a held key, a burst) each move from where the one before left the cursor, before
  // React has rendered it (150 quick `j`s stopped short of row 151).
  const live = useRef({ rows, shown, rowIndex, shownIndex, cursorId, selection, branchId });
  live.current = {
    rows,
    shown,
    rowIndex,
    shownIndex,
    branchId,
    get cursorId() {
      return store.getState().filterCursorOf(sessionId).cursor ?? null;
    },
    get selection() {
      return new Set(store.getState().filterCursorOf(sessionId).selection.filter((id) => shownIndex.has(id)));
    },
  };

  const reveal = useCallback(() => setRevealTick((n) => n + 1), []);
  // When the filters change, bring the cursor back into view.
  useEffect(() => reveal(), [criteria, text, branchId, reveal]);

  /** Index in `shown` of the cursor, or where it would be (for a cursor filtered out). */
  const cursorPos = (): { idx: number; exact: boolean } => {
    const L = live.current;
    if (!L.cursorId) return { idx: -1, exact: false };
    const i = L.shownIndex.get(L.cursorId);
    if (i !== undefined) return { idx: i, exact: true };
    const at = L.rowIndex.get(L.cursorId);
    if (at === undefined) return { idx: -1, exact: false };
    // First shown row after the cursor's place in the full list.
    let lo = 0;
    let hi = L.shown.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((L.rowIndex.get(L.shown[mid]!.step.id) ?? 0) < at) lo = mid + 1;
      else hi = mid;
    }
    return { idx: lo, exact: false };
  };

  const rangeIds = (a: number, b: number): string[] => {
    const L = live.current;
    const [lo, hi] = a <= b ? [a, b] : [b, a];
    return L.shown.slice(lo, hi + 1).map((r) => r.step.id);
  };

  const moveCursor = (target: number, extend: boolean) => {
    const L = live.current;
    if (L.shown.length === 0) return;
    const i = Math.max(0, Math.min(L.shown.length - 1, target));
    const id = L.shown[i]!.step.id;
    const cur = store.getState().filterCursorOf(sessionId);
    if (extend) {
      const anchorId = cur.anchor ?? L.cursorId ?? id;
      const a = L.shownIndex.get(anchorId) ?? i;
      setCursor(sessionId, { cursor: id, anchor: anchorId, selection: rangeIds(a, i) });
    } else {
      setCursor(sessionId, { cursor: id, anchor: cur.selection.length ? cur.anchor : id });
    }
    reveal();
  };

  /** Steps a label key acts on: the selection if any, else the cursor. */
  const targets = (): { steps: Step[]; single: boolean } => {
    const L = live.current;
    if (L.selection.size) {
      const steps = L.rows.filter((r) => L.selection.has(r.step.id)).map((r) => r.step);
      return { steps, single: false };
    }
    const r = L.cursorId ? L.rows[L.rowIndex.get(L.cursorId) ?? -1] : undefined;
    return { steps: r ? [r.step] : [], single: true };
  };

  const advance = () => {
    const { idx, exact } = cursorPos();
    if (idx < 0) return;
    moveCursor(exact ? idx + 1 : idx, false);
  };

  // Labelling stays on the row unless the annotator asked to move on: a cursor that
  // moves by itself made `j k j k` label rows 1 and 3 and skip 2 and 4.
  const doLabel = (value: LabelValue) => {
    const { steps, single } = targets();
    if (!steps.length) return;
    void store.getState().applyLabel(sessionId, steps, value);
    if (single && store.getState().advanceAfterLabel) advance();
  };

  const openEditor = (focus: 'tags' | 'note') => {
    const { steps } = targets();
    if (!steps.length) return;
    const first = live.current.rows[live.current.rowIndex.get(steps[0]!.id) ?? -1];
    setEditor({ count: steps.length, label: first?.label ?? 'mask', tags: first?.tags ?? [], note: first?.source === 'annotator' ? first.note : '', focus, stepIds: steps.map((s) => s.id) });
  };

  // To the actions the editor was opened for (its title counts them), not to wherever the
  // cursor is by the time it is saved: an undo answered meanwhile moves the cursor.
  const saveEditor = (label: LabelValue, tags: LabelTag[], note: string) => {
    const L = live.current;
    const steps = (editor?.stepIds ?? []).map((id) => L.rows[L.rowIndex.get(id) ?? -1]?.step).filter((s): s is Step => !!s);
    setEditor(null);
    if (steps.length) void store.getState().applyLabel(sessionId, steps, label, { tags, note });
  };

  const doUndo = (dir: 'undo' | 'redo' = 'undo') => void takeBack(dir);
  const takeBack = async (dir: 'undo' | 'redo') => {
    const from = live.current.cursorId;
    const ids = await (dir === 'undo' ? store.getState().undoLabel(sessionId) : store.getState().redoLabel(sessionId));
    const first = ids?.map((id) => live.current.shownIndex.get(id)).filter((i): i is number => i !== undefined).sort((a, b) => a - b)[0];
    // To what was taken back, unless the annotator moved on while it was being written.
    if (first !== undefined && live.current.cursorId === from) {
      setCursor(sessionId, { cursor: live.current.shown[first]!.step.id });
      reveal();
    }
  };

  /** Enter: make the rule / judge label in force the annotator's own. */
  const doAccept = () => {
    const L = live.current;
    const { steps, single } = targets();
    const items: LabelChange[] = [];
    for (const s of steps) {
      const r = L.rows[L.rowIndex.get(s.id) ?? -1];
      if (r && r.auto && r.source !== 'annotator') items.push({ step: s, label: r.auto.label, tags: r.auto.tags });
    }
    if (items.length) void store.getState().applyLabels(sessionId, items, 'confirm');
    if (single && store.getState().advanceAfterLabel) advance();
  };

  /** 1–6: toggle a reason tag on the targets (their label stays; an unlabelled action becomes mask). */
  const doToggleTag = (tag: LabelTag) => {
    const L = live.current;
    const { steps } = targets();
    const rowsOf = steps.map((s) => L.rows[L.rowIndex.get(s.id) ?? -1]).filter((r): r is FilterRow => !!r);
    if (!rowsOf.length) return;
    const add = !rowsOf[0]!.tags.includes(tag);
    const items: LabelChange[] = rowsOf.map((r) => ({
      step: r.step,
      label: r.label ?? 'mask',
      tags: add ? LABEL_TAGS.filter((x) => x === tag || r.tags.includes(x)) : r.tags.filter((x) => x !== tag),
    }));
    void store.getState().applyLabels(sessionId, items, 'tag');
  };

  useFilterKeys(
    {
      move: (delta, extend) => {
        const { idx, exact } = cursorPos();
        if (idx < 0) return moveCursor(delta > 0 ? 0 : live.current.shown.length - 1, extend);
        moveCursor(exact || delta < 0 ? idx + delta : idx + delta - 1, extend);
      },
      moveTo: (where, extend) => moveCursor(where === 'first' ? 0 : live.current.shown.length - 1, extend),
      label: doLabel,
      accept: doAccept,
      clear: () => {
        const { steps } = targets();
        if (steps.length) void store.getState().clearAnnotatorLabel(sessionId, steps);
      },
      undo: () => doUndo('undo'),
      redo: () => doUndo('redo'),
      toggleSelect: () => {
        const L = live.current;
        if (!L.cursorId) return;
        const cur = store.getState().filterCursorOf(sessionId);
        const sel = toggledIn(cur.selection, L.cursorId);
        setCursor(sessionId, { selection: sel, anchor: L.cursorId });
      },
      selectAll: () => setCursor(sessionId, { selection: live.current.shown.map((r) => r.step.id) }),
      escape: () => {
        if (store.getState().filterCursorOf(sessionId).selection.length) {
          setCursor(sessionId, { selection: [], anchor: live.current.cursorId });
          return true;
        }
        return false;
      },
      editTags: () => openEditor('tags'),
      toggleTag: (i) => {
        const tag = LABEL_TAGS[i];
        if (tag) doToggleTag(tag);
      },
      editNote: () => openEditor('note'),
      focusSearch: () => searchRef.current?.focus(),
      help: () => store.getState().openDialog({ kind: 'shortcuts' }),
      blocked: () => exportOpen || editor !== null,
    },
    () => store.getState().dialog !== null,
    keymap,
  );

  const onRowClick = useCallback(
    (row: FilterRow, e: MouseEvent) => {
      const L = live.current;
      const id = row.step.id;
      const cur = store.getState().filterCursorOf(sessionId);
      if (e.shiftKey) {
        const anchorId = cur.anchor ?? L.cursorId ?? id;
        const a = L.shownIndex.get(anchorId) ?? 0;
        const b = L.shownIndex.get(id) ?? 0;
        const [lo, hi] = a <= b ? [a, b] : [b, a];
        setCursor(sessionId, { cursor: id, anchor: anchorId, selection: L.shown.slice(lo, hi + 1).map((r) => r.step.id) });
      } else if (e.ctrlKey || e.metaKey) {
        const sel = toggledIn(cur.selection, id);
        setCursor(sessionId, { cursor: id, anchor: id, selection: sel });
      } else {
        setCursor(sessionId, { cursor: id, anchor: id, selection: [] });
      }
    },
    [store, sessionId, setCursor],
  );

  const onToggleSelect = useCallback(
    (row: FilterRow, e: MouseEvent) => {
      if (e.shiftKey) return onRowClick(row, e);
      const id = row.step.id;
      const cur = store.getState().filterCursorOf(sessionId);
      const sel = toggledIn(cur.selection, id);
      setCursor(sessionId, { cursor: id, anchor: id, selection: sel });
    },
    [store, sessionId, setCursor, onRowClick],
  );

  const onPickBucket = useCallback(
    (rowIdx: number) => {
      const r = rows[rowIdx];
      if (!r) return;
      if (!shownIndex.has(r.step.id)) setCriteria(DEFAULT_CRITERIA);
      setCursor(sessionId, { cursor: r.step.id, anchor: r.step.id });
      reveal();
    },
    [rows, shownIndex, setCriteria, setCursor, sessionId, reveal],
  );

  /** Put the cursor on a step (showing it again if the filters hide it). */
  const onJumpTo = useCallback(
    (stepId: string) => {
      if (!shownIndex.has(stepId)) setCriteria(DEFAULT_CRITERIA);
      setCursor(sessionId, { cursor: stepId, anchor: stepId, selection: [] });
      reveal();
    },
    [shownIndex, setCriteria, setCursor, sessionId, reveal],
  );

  const changeBranch = (id: string) => {
    setCursor(sessionId, { branchId: id, selection: [], anchor: null });
  };

  const nSel = selection.size;
  const filtered = shown.length !== rows.length;
  const targetText = nSel ? `${nSel} selected` : cursorRow ? `step ${cursorRow.n}` : 'nothing selected';

  return (
    <section className="fv" data-testid="filter-panel" aria-label={`Filter ${session.name}`} data-branch-id={branchId ?? ''}>
      <FilterHead session={session}>
        {branches.length > 0 && (
          <label className="fv-branch">
            <span className="dim small">branch</span>
            <select className="branch-select" data-testid="filter-branch-select" value={branchId ?? ''} onChange={(e) => (changeBranch(e.target.value), e.target.blur())}>
              {branches.map((b) => (
                <option key={b.branch.id} value={b.branch.id}>
                  {branchLabel(b.branch)}
                  {b.forkDepth > 0 ? ` (from ${b.forkDepth})` : ''} · {b.ownSteps} step{b.ownSteps === 1 ? '' : 's'}
                </option>
              ))}
            </select>
          </label>
        )}
        <span className="fv-cov small" title="Reviewed = has a label in force (from you, the judge or a rule)">
          <strong>{coverage.reviewed}</strong> of {coverage.total} reviewed · <span className="k-ann">{coverage.annotator} yours</span>
        </span>
        <span className="spacer" />
        <button type="button" className="btn btn-small primary" data-testid="export-open" onClick={() => setExportOpen(true)}>
          Export dataset…
        </button>
      </FilterHead>

      <div className="fv-toolbar">
        {filterSelects(coverage, tools).map((f) => (
          <FilterSelect key={f.key} testId={f.testId} label={f.label} value={criteria[f.key]} options={f.options} onChange={(v) => setCriteria({ [f.key]: v })} />
        ))}
        <label className="check small">
          <input type="checkbox" data-testid="filter-errors" checked={criteria.errorsOnly} onChange={(e) => setCriteria({ errorsOnly: e.target.checked })} />
          errors only
        </label>
        <input
          ref={searchRef}
          className="fv-search"
          type="search"
          aria-label="Search the actions"
          placeholder="Search thought, action, output, note…  ( / )"
          data-testid="filter-search"
          value={criteria.text}
          onChange={(e) => setCriteria({ text: e.target.value })}
          onKeyDown={(e) => {
            if (e.key === 'Enter' || e.key === 'ArrowDown') {
              e.preventDefault();
              e.currentTarget.blur();
              if (live.current.shown.length) moveCursor(0, false);
            }
          }}
        />
        <span className="fv-count small" data-testid="filter-count" data-shown={shown.length} data-total={rows.length}>
          {filtered ? `${shown.length} of ${rows.length} shown` : `${rows.length} actions`}
        </span>
        {filtered && (
          <button type="button" className="link-btn" data-testid="filter-reset" onClick={() => setCriteria(DEFAULT_CRITERIA)}>
            reset
          </button>
        )}
      </div>

      <div className="fv-body">
        <div className="fv-left">
          <div className="fv-actions">
            <span className="fv-target" data-testid="label-target">
              {targetText}
            </span>
            {(
              [
                ['lbtn-keep', 'label-keep', 'Keep: train on it', 'Keep', 'keep', () => doLabel('keep')],
                ['lbtn-mask', 'label-mask', 'Mask: keep in the context, weight 0', 'Mask', 'mask', () => doLabel('mask')],
                ['', 'label-tags', 'Reason tags', 'Tags', 'tags', () => openEditor('tags')],
                ['', 'label-note-open', 'Note', 'Note', 'note', () => openEditor('note')],
              ] as const
            ).map(([cls, testId, title, text, action, run]) => (
              <button key={testId} type="button" className={`btn btn-small ${cls}`} data-testid={testId} disabled={!nSel && !cursorRow} title={`${title} (${keyHint(action, 'filter', keymap)})`} onClick={run}>
                {text}
                {(action === 'keep' || action === 'mask') && <kbd>{keyHint(action, 'filter', keymap)}</kbd>}
              </button>
            ))}
            <button
              type="button"
              className="btn btn-small"
              data-testid="label-clear"
              disabled={!nSel && !cursorRow}
              title="Remove your label: the rule or judge label shows through again (Del)"
              onClick={() => {
                const { steps } = targets();
                if (steps.length) void store.getState().clearAnnotatorLabel(sessionId, steps);
              }}
            >
              Clear
            </button>
            <UndoButtons undoKey={keyHint('undo', 'filter', keymap)} undo={undoStack} redo={redoStack} onUndo={() => doUndo('undo')} onRedo={() => doUndo('redo')} />
            {nSel > 0 && (
              <button type="button" className="link-btn" data-testid="selection-clear" onClick={() => setCursor(sessionId, { selection: [] })}>
                clear selection
              </button>
            )}
            <span className="spacer" />
            <label className="check small fv-advance" title="After keep / mask / confirm on one row, move the cursor to the next row">
              <input type="checkbox" data-testid="advance-toggle" checked={advanceOn} onChange={(e) => (setAdvanceOn(e.target.checked), e.target.blur())} />
              advance after label
            </label>
          </div>
          {!entry ? (
            <p className="muted pad">Loading…</p>
          ) : (
            <StepTable
              rows={shown}
              cursorId={cursorId}
              selected={selection}
              revealTick={revealTick}
              onRowClick={onRowClick}
              onToggleSelect={onToggleSelect}
              empty={rows.length === 0 ? 'This branch has no agent actions yet.' : 'No action matches the filters.'}
              preview={previewMarks}
            />
          )}
          <div className="fv-help" data-testid="filter-help">
            {keyStrip.map((k) => (
              <span key={k.action} className="fv-key" title={k.more}>
                <kbd>{k.keys}</kbd> {k.label}
              </span>
            ))}
          </div>
        </div>
        <aside className="fv-right" aria-label="Selected action">
          <DetailPane row={cursorRow} version={entry?.version ?? 0} />
        </aside>
      </div>

      <div className="fv-cards">
        <CoverageCard coverage={coverage} buckets={buckets} onPick={onPickBucket} />
        <RulesCard sessionId={sessionId} branchId={branchId} marks={previewMarks} rows={rows} onJump={onJumpTo} />
        <JudgeCard sessionId={sessionId} branchId={branchId} />
      </div>

      {exportOpen && <ExportDialog sessionId={sessionId} branchId={branchId} onClose={() => setExportOpen(false)} />}
      {editor && !dialog && <LabelEditor init={editor} onSave={saveEditor} onClose={() => setEditor(null)} />}
    </section>
  );
}

/**
 * Undo / Redo with what each would take back, and the history of labelling actions
 * (newest first): a rules or judge application is one entry, undone as one.
 */
function UndoButtons({ undoKey, undo, redo, onUndo, onRedo }: { undoKey: string; undo: readonly UndoEntry[]; redo: readonly UndoEntry[]; onUndo(): void; onRedo(): void }) {
  const nextUndo = undo[undo.length - 1];
  const nextRedo = redo[redo.length - 1];
  return (
    <>
      <button
        type="button"
        className="btn btn-small"
        data-testid="label-undo"
        data-what={nextUndo?.what ?? ''}
        disabled={!nextUndo}
        title={nextUndo ? `Undo ${nextUndo.what} (${undoKey})` : 'Nothing to undo'}
        onClick={onUndo}
      >
        Undo <kbd>{undoKey}</kbd>
      </button>
      <button type="button" className="btn btn-small" data-testid="label-redo" disabled={!nextRedo} title={nextRedo ? `Redo ${nextRedo.what} (Shift+U)` : 'Nothing to redo'} onClick={onRedo}>
        Redo
      </button>
      <details className="fv-history" data-testid="undo-history">
        <summary className="small" title="What undo and redo would take back">
          history <span className="dim">({undo.length})</span>
        </summary>
        <ol className="fv-history-list">
          {redo.length > 0 &&
            [...redo].map((e, i) => (
              <li key={`r${i}`} className="redo" data-testid="history-redo">
                <span className="dim">redo:</span> {e.what}
              </li>
            ))}
          {[...undo].reverse().map((e, i) => (
            <li key={`u${i}`} className={i === 0 ? 'next' : ''} data-testid="history-undo">
              {i === 0 && <span className="dim">next undo:</span>} {e.what}
            </li>
          ))}
          {undo.length === 0 && redo.length === 0 && <li className="dim">No labelling actions yet.</li>}
        </ol>
      </details>
    </>
  );
}

function FilterSelect(props: { testId: string; label: string; value: string; options: Array<[string, string]>; onChange(v: string): void }) {
  return (
    <label className={`fv-select${props.value && props.value !== 'all' ? ' active' : ''}`}>
      <span className="dim small">{props.label}</span>
      <select
        data-testid={props.testId}
        value={props.value}
        onChange={(e) => {
          props.onChange(e.target.value);
          // Back to the table: the keys work again at once.
          e.target.blur();
        }}
      >
        {props.options.map(([v, text]) => (
          <option key={v} value={v}>
            {text}
          </option>
        ))}
      </select>
    </label>
  );
}

/** `list` with `id` added, or removed when it is there. */
function toggledIn(list: string[], id: string): string[] {
  return list.includes(id) ? list.filter((x) => x !== id) : [...list, id];
}

type SelectKey = 'label' | 'source' | 'tag' | 'tool';

/** The toolbar's drop-downs: which criterion each sets, and its choices (with counts where known). */
function filterSelects(coverage: Coverage, tools: Array<{ tool: string; count: number }>): Array<{ key: SelectKey; testId: string; label: string; options: Array<[string, string]> }> {
  return [
    {
      key: 'label',
      testId: 'filter-label-select',
      label: 'label',
      options: [
        ['all', 'all'],
        ['keep', `keep (${coverage.keep})`],
        ['mask', `mask (${coverage.mask})`],
        ['unreviewed', `unreviewed (${coverage.unreviewed})`],
      ],
    },
    {
      key: 'source',
      testId: 'filter-source-select',
      label: 'source',
      options: [
        ['all', 'any'],
        ['annotator', 'annotator'],
        ['judge', 'judge'],
        ['rule', 'rule'],
        ['auto', 'rule/judge, unconfirmed'],
        ['none', 'none'],
      ],
    },
    { key: 'tag', testId: 'filter-tag-select', label: 'tag', options: [['', 'any'], ...LABEL_TAGS.map((x): [string, string] => [x, x])] },
    { key: 'tool', testId: 'filter-tool-select', label: 'tool', options: [['', 'any'], ...tools.map(({ tool, count }): [string, string] => [tool, `${tool} (${count})`])] },
  ];
}
