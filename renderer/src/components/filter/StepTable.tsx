// The actions of a branch as a dense table with fixed-height rows, windowed: only
// the rows in view (plus a margin) are in the DOM, so 2,500 actions scroll and
// re-render like 25.
import { memo, useCallback, useEffect, useLayoutEffect, useRef, useState, type MouseEvent } from 'react';
import type { FilterRow, PreviewMark } from './model';
import { conflictText, labelKey } from './model';
import { SourceBadge } from './SourceBadge';

export const ROW_HEIGHT = 26;
const OVERSCAN = 12;

export interface StepTableProps {
  rows: readonly FilterRow[];
  cursorId: string | null;
  selected: ReadonlySet<string>;
  /** Scroll the cursor row into view whenever this changes. */
  revealTick: number;
  onRowClick(row: FilterRow, e: MouseEvent): void;
  onToggleSelect(row: FilterRow, e: MouseEvent): void;
  empty: string;
  /** Rows a rules preview would write to (stepId → what would happen), shown in place until applied. */
  preview?: ReadonlyMap<string, PreviewMark> | null;
}

export function StepTable({ rows, cursorId, selected, revealTick, onRowClick, onToggleSelect, empty, preview }: StepTableProps) {
  const ref = useRef<HTMLDivElement>(null);
  const [view, setView] = useState({ top: 0, height: 600 });

  const read = useCallback(() => {
    const el = ref.current;
    if (!el) return;
    setView((v) => (v.top === el.scrollTop && v.height === el.clientHeight ? v : { top: el.scrollTop, height: el.clientHeight }));
  }, []);

  useEffect(() => {
    const el = ref.current;
    if (!el || typeof ResizeObserver === 'undefined') return;
    const ro = new ResizeObserver(read);
    ro.observe(el);
    return () => ro.disconnect();
  }, [read]);

  const rowsRef = useRef(rows);
  rowsRef.current = rows;
  useLayoutEffect(() => {
    const el = ref.current;
    if (!el || !cursorId) return;
    const i = rowsRef.current.findIndex((r) => r.step.id === cursorId);
    if (i < 0) return;
    const top = i * ROW_HEIGHT;
    const bottom = top + ROW_HEIGHT;
    if (top < el.scrollTop) el.scrollTop = Math.max(0, top - ROW_HEIGHT);
    else if (bottom > el.scrollTop + el.clientHeight) el.scrollTop = bottom - el.clientHeight + ROW_HEIGHT;
    else return;
    read();
    // Only an explicit reveal request scrolls (not every cursor change by mouse).
  }, [revealTick]);

  const from = Math.max(0, Math.floor(view.top / ROW_HEIGHT) - OVERSCAN);
  const to = Math.min(rows.length, Math.ceil((view.top + view.height) / ROW_HEIGHT) + OVERSCAN);
  const out = [];
  for (let i = from; i < to; i++) {
    const r = rows[i]!;
    out.push(
      <Row
        key={r.step.id}
        row={r}
        top={i * ROW_HEIGHT}
        cursor={r.step.id === cursorId}
        selected={selected.has(r.step.id)}
        preview={preview?.get(r.step.id) ?? null}
        onRowClick={onRowClick}
        onToggleSelect={onToggleSelect}
      />,
    );
  }

  return (
    <div className="ft" role="grid" aria-label="Actions" aria-rowcount={rows.length} data-testid="filter-table">
      <div className="ft-row ft-headrow" role="row">
        <span className="ft-sel" role="columnheader" aria-label="Selected" />
        <span className="ft-n" role="columnheader">#</span>
        <span className="ft-status" role="columnheader">status</span>
        <span className="ft-tool" role="columnheader">tool</span>
        <span className="ft-args" role="columnheader">arguments</span>
        <span className="ft-label" role="columnheader">label</span>
        <span className="ft-source" role="columnheader">source</span>
        <span className="ft-tags" role="columnheader">reason</span>
      </div>
      <div ref={ref} className="ft-scroll" onScroll={read} data-testid="filter-rows">
        {rows.length === 0 ? (
          <p className="muted pad" data-testid="filter-empty">
            {empty}
          </p>
        ) : (
          <div className="ft-inner" style={{ height: rows.length * ROW_HEIGHT }}>
            {out}
          </div>
        )}
      </div>
    </div>
  );
}

interface RowProps {
  row: FilterRow;
  top: number;
  cursor: boolean;
  selected: boolean;
  preview: PreviewMark | null;
  onRowClick(row: FilterRow, e: MouseEvent): void;
  onToggleSelect(row: FilterRow, e: MouseEvent): void;
}

const Row = memo(function Row({ row, top, cursor, selected, preview, onRowClick, onToggleSelect }: RowProps) {
  const lk = labelKey(row);
  // A disagreement is said in words in the reason cell ("rule says mask · you said
  // keep"), not as a bare glyph explained only by a tooltip.
  const conflict = preview?.kind === 'conflict' ? `rule would say mask · ${preview.fromSource === 'annotator' ? 'you' : 'judge'} said ${preview.from}` : conflictText(row);
  const conflictWhy = preview?.kind === 'conflict' ? `Applying ${preview.rule} records a mask under this ${preview.from ?? ''} label, which wins` : row.auto ? `${row.auto.source}${row.auto.rule ? ` ${row.auto.rule}` : ''}: ${row.auto.label}` : '';
  const reason = [row.tags.join(', '), row.note].filter(Boolean).join(' — ');
  const ruleOrWhy = row.record?.rule && row.record.rule !== '__cleared__' ? row.record.rule : row.record?.rationale;
  return (
    <div
      className={`ft-row ft-body${cursor ? ' is-cursor' : ''}${selected ? ' is-selected' : ''}${row.isError ? ' is-err' : ''} lk-${lk}${preview ? ` pvrow-${preview.kind}` : ''}`}
      style={{ transform: `translateY(${top}px)` }}
      role="row"
      aria-selected={selected}
      data-testid="filter-row"
      data-step-id={row.step.id}
      data-n={row.n}
      data-label={lk}
      data-source={row.source ?? 'none'}
      data-selected={selected ? 'true' : 'false'}
      data-cursor={cursor ? 'true' : 'false'}
      data-pending={row.pending ? 'true' : 'false'}
      data-preview={preview?.kind ?? ''}
      data-conflict={conflict ? 'true' : 'false'}
      onMouseDown={(e) => {
        // Shift+click selects a range: keep the browser from selecting text.
        if (e.shiftKey) e.preventDefault();
      }}
      onClick={(e) => onRowClick(row, e)}
    >
      <span
        className="ft-sel"
        role="gridcell"
        title="Select (x)"
        data-testid="filter-row-select"
        onClick={(e) => {
          e.stopPropagation();
          onToggleSelect(row, e);
        }}
      >
        <span className={`ft-check${selected ? ' on' : ''}`} aria-hidden="true">
          {selected ? '✓' : ''}
        </span>
      </span>
      <span className="ft-n" role="gridcell">
        {row.n}
      </span>
      <span className="ft-status" role="gridcell">
        {row.isError ? <span className="st-err" title="A tool call failed">error</span> : <span className="st-ok">ok</span>}
      </span>
      <span className="ft-tool" role="gridcell" title={row.tool}>
        {row.tool}
      </span>
      <span className="ft-args mono" role="gridcell" title={row.detail}>
        {row.detail}
      </span>
      <span className="ft-label" role="gridcell">
        {preview && (preview.kind === 'change' || preview.kind === 'restate') ? (
          <span className="pv-change" data-testid="row-preview" title={`Applying ${preview.rule} sets ${lk === 'unreviewed' ? 'this unreviewed action' : `this ${lk}`} to mask`}>
            <span className="pv-from">{lk === 'unreviewed' ? '—' : lk}</span>
            <span aria-hidden="true">→</span>
            <span className="lchip lchip-mask">mask</span>
          </span>
        ) : (
          <span className={`lchip lchip-${lk}`} data-testid="row-label">
            {lk === 'unreviewed' ? '—' : lk}
          </span>
        )}
      </span>
      <span className="ft-source" role="gridcell">
        {row.source && <SourceBadge source={row.source} pending={row.pending} title={ruleOrWhy ?? undefined} />}
      </span>
      <span className="ft-tags" role="gridcell" title={[conflict && `${conflict} (${conflictWhy})`, reason].filter(Boolean).join(' — ') || undefined}>
        {conflict && (
          <span className="ft-conflict" data-testid="row-conflict">
            {conflict}
          </span>
        )}
        {row.tags.map((t) => (
          <span key={t} className="tag" data-testid="row-tag">
            {t}
          </span>
        ))}
        {row.note ? <span className="ft-note">{row.note}</span> : row.record?.rationale ? <span className="ft-note why">{row.record.rationale}</span> : null}
        {!row.note && !row.record?.rationale && !row.tags.length && ruleOrWhy && <span className="ft-note dim">{ruleOrWhy}</span>}
      </span>
    </div>
  );
});
