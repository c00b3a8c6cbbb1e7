// The working directory's files as checkpointed after a step (shadow git, outside the
// user's repository); click a file to read it as it was then. "Changed" shows what the
// step changed, with a diff per file (StepDiff): a snapshot alone does not say that.
import { useEffect, useMemo, useState } from 'react';
import type { FileEntry } from '../../../../shared/contract/annotate';
import type { Step } from '../../../../shared/trajectory';
import { useTransport } from '../../context';
import { describeError } from '../../lib/errors';
import { formatBytes } from '../../lib/format';
import { StepDiff } from './StepDiff';

type Listing = { state: 'loading' } | { state: 'error'; message: string } | { state: 'ok'; files: FileEntry[]; usage: { bytes: number; budgetBytes: number } };
type Preview = { path: string; state: 'loading' } | { path: string; state: 'error'; message: string } | { path: string; state: 'ok'; text: string; binary: boolean };

const SHOWN_FILES = 2000;

export function StepFiles({ sessionId, step }: { sessionId: string; step: Step }) {
  const [mode, setMode] = useState<'changes' | 'all'>('changes');
  if (!step.checkpoint?.commit) return <StepSnapshot sessionId={sessionId} step={step} />;
  return (
    <div className="step-files-wrap">
      <div className="segmented sf-mode" role="tablist" aria-label="Files view">
        <button type="button" role="tab" aria-selected={mode === 'changes'} className={mode === 'changes' ? 'on' : ''} data-testid="files-mode-changes" onClick={() => setMode('changes')}>
          Changed
        </button>
        <button type="button" role="tab" aria-selected={mode === 'all'} className={mode === 'all' ? 'on' : ''} data-testid="files-mode-all" onClick={() => setMode('all')}>
          All files
        </button>
      </div>
      {mode === 'changes' ? <StepDiff sessionId={sessionId} step={step} /> : <StepSnapshot sessionId={sessionId} step={step} />}
    </div>
  );
}

function StepSnapshot({ sessionId, step }: { sessionId: string; step: Step }) {
  const transport = useTransport();
  const [listing, setListing] = useState<Listing>({ state: 'loading' });
  const [preview, setPreview] = useState<Preview | null>(null);
  const [filter, setFilter] = useState('');
  const commit = step.checkpoint?.commit;

  useEffect(() => {
    setPreview(null);
    if (!commit) return;
    let cancelled = false;
    setListing({ state: 'loading' });
    transport
      .request('checkpoint.files', { sessionId, stepId: step.id })
      .then((r) => !cancelled && setListing({ state: 'ok', files: [...r.files].sort((a, b) => a.path.localeCompare(b.path)), usage: r.usage }))
      .catch((err) => !cancelled && setListing({ state: 'error', message: describeError(err).message }));
    return () => {
      cancelled = true;
    };
  }, [transport, sessionId, step.id, commit]);

  const shown = useMemo(() => {
    if (listing.state !== 'ok') return [];
    const f = filter.trim().toLowerCase();
    return (f ? listing.files.filter((x) => x.path.toLowerCase().includes(f)) : listing.files).slice(0, SHOWN_FILES);
  }, [listing, filter]);

  const open = (path: string) => {
    setPreview({ path, state: 'loading' });
    transport
      .request('checkpoint.readFile', { sessionId, stepId: step.id, path })
      .then((r) => setPreview((p) => (p?.path === path ? { path, state: 'ok', text: r.text, binary: r.binary } : p)))
      .catch((err) => setPreview((p) => (p?.path === path ? { path, state: 'error', message: describeError(err).message } : p)));
  };

  if (!commit) {
    return (
      <div className="step-files empty" data-testid="step-files" data-state="none">
        <p className="muted pad">
          {step.checkpointError
            ? `No checkpoint for this step: ${step.checkpointError}`
            : step.finishedAt
              ? 'No checkpoint was recorded for this step.'
              : 'The checkpoint is taken when the step finishes.'}
        </p>
      </div>
    );
  }
  return (
    <div className="step-files" data-testid="step-files" data-state={listing.state}>
      <div className="sf-list">
        <div className="sf-bar">
          <input data-testid="file-filter" aria-label="Filter the files" placeholder="Filter files" value={filter} spellCheck={false} onChange={(e) => setFilter(e.target.value)} />
          {listing.state === 'ok' && (
            <span className="dim small" title={`checkpoint store ${formatBytes(listing.usage.bytes)} of ${formatBytes(listing.usage.budgetBytes)}`}>
              {listing.files.length} files
            </span>
          )}
        </div>
        <SkippedFiles step={step} />
        {listing.state === 'loading' && <p className="muted pad">Loading…</p>}
        {listing.state === 'error' && (
          <p className="err-text pad" data-testid="step-files-error">
            {listing.message}
          </p>
        )}
        {listing.state === 'ok' && (
          <ul className="sf-files">
            {shown.map((f) => (
              <li key={f.path}>
                <button type="button" className={`sf-file${preview?.path === f.path ? ' on' : ''}`} data-testid="step-file" data-path={f.path} onClick={() => open(f.path)}>
                  <span className="sf-path mono">{f.path}</span>
                  <span className="sf-size">{formatBytes(f.size)}</span>
                </button>
              </li>
            ))}
            {listing.files.length === 0 && <li className="muted pad">The working directory was empty.</li>}
          </ul>
        )}
      </div>
      <div className="sf-preview" data-testid="file-preview">
        {!preview && <p className="muted pad">Select a file to see it as it was after step {step.depth}.</p>}
        {preview?.state === 'loading' && <p className="muted pad">Loading {preview.path}…</p>}
        {preview?.state === 'error' && <p className="err-text pad">{preview.message}</p>}
        {preview?.state === 'ok' && (preview.binary ? <p className="muted pad">{preview.path} is a binary file.</p> : <pre className="mono sf-text">{preview.text}</pre>)}
      </div>
    </div>
  );
}

const SKIP_REASON = { 'too-big': 'over the size limit', unreadable: 'unreadable', excluded: 'excluded' } as const;

/** What the checkpoint left out (recorded with it: a bounded list and the count). */
function SkippedFiles({ step }: { step: Step }) {
  const list = step.checkpoint?.skipped;
  if (!list?.length) return null;
  const count = step.checkpoint?.skippedCount ?? list.length;
  const big = list.filter((f) => f.reason !== 'excluded').length;
  return (
    <details className="sf-skipped small" data-testid="step-files-skipped">
      <summary className="dim">
        {count} path{count === 1 ? '' : 's'} left out{big ? ` (${big} over the size limit or unreadable)` : ''}
      </summary>
      <ul>
        {list.map((f) => (
          <li key={f.path} className="mono" data-reason={f.reason}>
            {f.path} <span className="dim">{SKIP_REASON[f.reason]}{f.bytes !== undefined ? `, ${formatBytes(f.bytes)}` : ''}</span>
          </li>
        ))}
        {count > list.length && <li className="dim">… and {count - list.length} more</li>}
      </ul>
    </details>
  );
}
