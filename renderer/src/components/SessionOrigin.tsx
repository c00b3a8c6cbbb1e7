// Where an imported session came from (its import.origin event), in the session
// header: a badge that opens a popover with the format, file, tool version and how
// exact the steps' contexts are, with the importer's notes; and the warning a session
// whose contexts were rebuilt (not recorded by the source) carries, since its exports
// are then not what the model was sent.
import { useEffect, useId, useRef, useState } from 'react';
import type { ImportOrigin } from '../store/trajectory';
import './import.css';

const CONTEXT_TEXT: Record<NonNullable<ImportOrigin['context']>, string> = {
  exact: 'exact: each step’s context is the source’s own record of what the model was sent',
  derived: 'derived: rebuilt from the source’s conversation (the source does not record what the model was sent)',
  none: 'none: a terminal recording, with no model calls',
};

export function SessionOriginBadge({ origin, warnings }: { origin: ImportOrigin; warnings: string[] }) {
  const [open, setOpen] = useState(false);
  const box = useRef<HTMLSpanElement>(null);
  const button = useRef<HTMLButtonElement>(null);
  const popoverId = useId();
  // Closed by a click anywhere else, as a menu is.
  useEffect(() => {
    if (!open) return;
    const onDown = (e: PointerEvent) => {
      if (!box.current?.contains(e.target as Node)) setOpen(false);
    };
    document.addEventListener('pointerdown', onDown);
    return () => document.removeEventListener('pointerdown', onDown);
  }, [open]);
  const unknown = Object.entries(origin.unknown ?? {});
  return (
    <span
      className="session-origin"
      ref={box}
      onKeyDown={(e) => {
        if (e.key !== 'Escape' || !open) return;
        e.stopPropagation();
        setOpen(false);
        button.current?.focus();
      }}
    >
      <button
        type="button"
        ref={button}
        className={`badge badge-imported${origin.context === 'derived' ? ' badge-derived' : ''}`}
        data-testid="session-origin"
        data-format={origin.format}
        aria-expanded={open}
        aria-controls={popoverId}
        title={`Imported from ${origin.file} (${origin.format}): where it came from`}
        onClick={() => setOpen(!open)}
      >
        Imported · {origin.format}
        {origin.context === 'derived' && <span aria-hidden="true"> · derived</span>}
      </button>
      {open && (
        <div className="origin-popover" id={popoverId} role="dialog" aria-label="Where this session came from" data-testid="origin-popover">
          <dl className="origin-facts">
            <dt>Format</dt>
            <dd data-testid="origin-format">{origin.format}</dd>
            <dt>File</dt>
            <dd className="mono" data-testid="origin-file">{origin.file}</dd>
            {origin.item !== undefined && (
              <>
                <dt>Run</dt>
                <dd className="mono">{origin.item}</dd>
              </>
            )}
            <dt>Tool</dt>
            <dd data-testid="origin-tool">{origin.toolVersion ?? 'not recorded in the file'}</dd>
            <dt>Context</dt>
            <dd data-testid="origin-context" data-context={origin.context ?? 'unknown'}>
              {origin.context ? CONTEXT_TEXT[origin.context] : 'not stated (imported by an older version)'}
            </dd>
            {origin.sourceCwd !== undefined && (
              <>
                <dt>Ran in</dt>
                <dd className="mono">{origin.sourceCwd}</dd>
              </>
            )}
            <dt>SHA-256</dt>
            <dd className="mono origin-sha" title={origin.sha256}>{origin.sha256}</dd>
            {unknown.length > 0 && (
              <>
                <dt>Not mapped</dt>
                <dd>{unknown.map(([k, n]) => `${k} ×${n}`).join(', ')} (kept verbatim in import/unknown.jsonl)</dd>
              </>
            )}
          </dl>
          {warnings.length > 0 && (
            <ul className="origin-notes" aria-label="Notes of the import" data-testid="origin-notes">
              {warnings.map((w, i) => (
                <li key={i}>{w}</li>
              ))}
            </ul>
          )}
        </div>
      )}
    </span>
  );
}

/** The banner of a session whose contexts were derived: its exports are not the model's exact requests. */
export function DerivedContextWarning({ origin }: { origin: ImportOrigin }) {
  if (origin.context !== 'derived') return null;
  return (
    <div className="banner banner-derived" data-testid="origin-derived-warning" role="note">
      <strong>Contexts derived.</strong> {origin.file} does not record what the model was sent: each step’s context was rebuilt
      from the conversation in it, so the Context tab and the exports of this session are a reconstruction, not the model’s exact
      requests.
    </div>
  );
}
