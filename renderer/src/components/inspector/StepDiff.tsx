// What a step changed in the working directory: the files its checkpoint differs in
// from the checkpoint it started from (checkpoint.changes), and for one file a line
// diff of the two versions (both read from the checkpoints; lines compared with the
// `diff` package, jsdiff, which is widely used and maintained).
import { diffLines } from 'diff';
import { useEffect, useMemo, useState } from 'react';
import type { StepChanges } from '../../../../shared/contract/annotate';
import type { Step } from '../../../../shared/trajectory';
import { useTransport } from '../../context';
import { describeError } from '../../lib/errors';
import { formatBytes } from '../../lib/format';

type Load = { state: 'loading' } | { state: 'error'; message: string } | { state: 'ok'; value: StepChanges };
type Side = { text: string; binary: boolean };
type FileDiff = { path: string; state: 'loading' } | { path: string; state: 'error'; message: string } | { path: string; state: 'ok'; before: Side | null; after: Side | null };

const STATUS_MARK = { added: 'A', deleted: 'D', modified: 'M', typechange: 'T' } as const;
/** Unchanged lines kept around each change; longer unchanged runs fold into a "… n lines" row. */
const CONTEXT = 3;

export function StepDiff({ sessionId, step }: { sessionId: string; step: Step }) {
  const transport = useTransport();
  const [load, setLoad] = useState<Load>({ state: 'loading' });
  const [open, setOpen] = useState<FileDiff | null>(null);

  useEffect(() => {
    let cancelled = false;
    setLoad({ state: 'loading' });
    setOpen(null);
    transport
      .request('checkpoint.changes', { sessionId, stepId: step.id })
      .then((value) => !cancelled && setLoad({ state: 'ok', value }))
      .catch((err) => !cancelled && setLoad({ state: 'error', message: describeError(err).message }));
    return () => {
      cancelled = true;
    };
  }, [transport, sessionId, step.id]);

  const show = (path: string, base: string | null, status: string) => {
    setOpen({ path, state: 'loading' });
    const read = (stepId: string) => transport.request('checkpoint.readFile', { sessionId, stepId, path });
    Promise.all([base && status !== 'added' ? read(base) : Promise.resolve(null), status !== 'deleted' ? read(step.id) : Promise.resolve(null)])
      .then(([before, after]) => setOpen((o) => (o?.path === path ? { path, state: 'ok', before, after } : o)))
      .catch((err) => setOpen((o) => (o?.path === path ? { path, state: 'error', message: describeError(err).message } : o)));
  };

  if (load.state === 'loading') return <p className="muted pad">Comparing with the step before…</p>;
  if (load.state === 'error') return <p className="err-text pad" data-testid="step-diff-error">{load.message}</p>;
  const { base, changes } = load.value;
  return (
    <div className="step-files" data-testid="step-diff" data-count={changes.length}>
      <div className="sf-list">
        <div className="sf-bar small dim" data-testid="step-diff-base">
          {base ? `Against step ${base.depth}'s checkpoint` : 'First checkpoint of this path: every file is new to the record'} · {changes.length} changed
        </div>
        <ul className="sf-files">
          {changes.map((c) => (
            <li key={c.path}>
              <button
                type="button"
                className={`sf-file${open?.path === c.path ? ' on' : ''}`}
                data-testid="step-change"
                data-path={c.path}
                data-status={c.status}
                onClick={() => show(c.path, base?.stepId ?? null, c.status)}
              >
                <span className={`diff-st diff-st-${c.status}`} title={c.status}>
                  {STATUS_MARK[c.status]}
                </span>
                <span className="sf-path mono">{c.path}</span>
                <span className="sf-size">
                  {c.status === 'modified' ? `${formatBytes(c.beforeSize ?? 0)} → ${formatBytes(c.afterSize ?? 0)}` : formatBytes(c.afterSize ?? c.beforeSize ?? 0)}
                </span>
              </button>
            </li>
          ))}
          {changes.length === 0 && <li className="muted pad">This step changed no file.</li>}
        </ul>
      </div>
      <div className="sf-preview" data-testid="file-diff">
        {!open && <p className="muted pad">Select a file to see what step {step.depth} changed in it.</p>}
        {open?.state === 'loading' && <p className="muted pad">Loading {open.path}…</p>}
        {open?.state === 'error' && <p className="err-text pad">{open.message}</p>}
        {open?.state === 'ok' && <LineDiff before={open.before} after={open.after} />}
      </div>
    </div>
  );
}

interface Row {
  kind: 'same' | 'add' | 'del' | 'fold';
  text: string;
  oldNo?: number;
  newNo?: number;
}

/** The rows of a unified diff of two texts, unchanged runs folded down to CONTEXT lines around the changes. */
export function diffRows(before: string, after: string): Row[] {
  const rows: Row[] = [];
  let o = 1;
  let n = 1;
  for (const part of diffLines(before, after)) {
    const lines = part.value.replace(/\n$/, '').split('\n');
    for (const text of lines) {
      if (part.added) rows.push({ kind: 'add', text, newNo: n++ });
      else if (part.removed) rows.push({ kind: 'del', text, oldNo: o++ });
      else rows.push({ kind: 'same', text, oldNo: o++, newNo: n++ });
    }
  }
  const keep = rows.map((r) => r.kind !== 'same');
  const near = rows.map((_, i) => {
    for (let d = -CONTEXT; d <= CONTEXT; d++) if (keep[i + d]) return true;
    return false;
  });
  const out: Row[] = [];
  for (let i = 0; i < rows.length; i++) {
    if (near[i]) {
      out.push(rows[i]!);
      continue;
    }
    let j = i;
    while (j < rows.length && !near[j]) j++;
    out.push({ kind: 'fold', text: `… ${j - i} unchanged line${j - i === 1 ? '' : 's'}` });
    i = j - 1;
  }
  return out;
}

function LineDiff({ before, after }: { before: Side | null; after: Side | null }) {
  const rows = useMemo(() => (before?.binary || after?.binary ? null : diffRows(before?.text ?? '', after?.text ?? '')), [before, after]);
  if (!rows) return <p className="muted pad">A binary file: its bytes changed.</p>;
  return (
    <table className="diff mono" data-testid="diff-lines">
      <tbody>
        {rows.map((r, i) => (
          <tr key={i} className={`diff-${r.kind}`} data-kind={r.kind}>
            <td className="diff-no">{r.oldNo ?? ''}</td>
            <td className="diff-no">{r.newNo ?? ''}</td>
            <td className="diff-sign">{r.kind === 'add' ? '+' : r.kind === 'del' ? '−' : ''}</td>
            <td className="diff-text">{r.text}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
