// Settings → Keyboard: every binding of the one keymap can be changed, and is stored
// with the workspace settings (only the ones that differ from the defaults). Keys are
// typed as the help overlay names them ("j ArrowDown", "Ctrl+z", "Space"); a key bound
// twice in one view is refused, since the first binding would always win.
import { useMemo, useState } from 'react';
import { useApp } from '../../context';
import { formatKeys, KEYMAP, keyConflicts, parseKeys, withOverrides } from '../../lib/keymap';

const VIEW_TEXT = (views: readonly string[]) => (views.length > 1 ? 'both' : views[0] === 'live' ? 'Live' : 'Filter');

export function KeySettings() {
  const overrides = useApp((s) => s.keyOverrides);
  const setKeyOverrides = useApp((s) => s.setKeyOverrides);
  const current = useMemo(() => withOverrides(overrides), [overrides]);
  const [draft, setDraft] = useState<Record<string, string>>(() => Object.fromEntries(current.map((b) => [b.action, formatKeys(b.keys)])));
  const [msg, setMsg] = useState<{ ok: boolean; text: string } | null>(null);

  // What the draft would store: only the bindings that differ from the defaults.
  const wanted = useMemo(() => {
    const out: Record<string, string[]> = {};
    for (const b of KEYMAP) {
      const keys = parseKeys(draft[b.action] ?? '');
      if (formatKeys(keys) !== formatKeys(b.keys)) out[b.action] = keys;
    }
    return out;
  }, [draft]);
  const conflicts = useMemo(() => keyConflicts(withOverrides(wanted)), [wanted]);
  const dirty = JSON.stringify(wanted) !== JSON.stringify(overrides);

  const save = async (next: Record<string, string[]>) => {
    const r = await setKeyOverrides(next);
    setMsg(r.ok ? { ok: true, text: Object.keys(next).length ? `Saved: ${Object.keys(next).length} key${Object.keys(next).length === 1 ? '' : 's'} of your own` : 'All keys are the defaults' } : { ok: false, text: r.error.message });
  };

  return (
    <details className="key-settings" data-testid="key-settings">
      <summary className="section-label flush">Keyboard{Object.keys(overrides).length > 0 ? ` · ${Object.keys(overrides).length} changed` : ''}</summary>
      <p className="field-hint">Keys separated by spaces, as the help (?) names them: j ArrowDown, Shift+ArrowDown, Ctrl+z, Space. A capital letter is typed with Shift.</p>
      <div className="key-grid">
        {KEYMAP.map((b) => (
          <label key={b.action} className="key-row">
            <span className="key-what" title={b.label}>
              {b.label} <span className="dim small">· {VIEW_TEXT(b.views)}</span>
            </span>
            <input
              className="mono"
              data-testid="key-input"
              data-action={b.action}
              value={draft[b.action] ?? ''}
              spellCheck={false}
              onChange={(e) => {
                setDraft({ ...draft, [b.action]: e.target.value });
                setMsg(null);
              }}
            />
          </label>
        ))}
      </div>
      {conflicts.length > 0 && (
        <p className="field-error" data-testid="key-conflicts">
          Bound twice: {conflicts.join('; ')}
        </p>
      )}
      <div className="form-actions">
        <button type="button" className="btn btn-small primary" data-testid="keys-save" disabled={!dirty || conflicts.length > 0} onClick={() => void save(wanted)}>
          Save keys
        </button>
        <button
          type="button"
          className="btn btn-small"
          data-testid="keys-reset"
          onClick={() => {
            setDraft(Object.fromEntries(KEYMAP.map((b) => [b.action, formatKeys(b.keys)])));
            void save({});
          }}
        >
          All defaults
        </button>
        {msg && (
          <span className={msg.ok ? 'ok-text small' : 'field-error'} data-testid="keys-msg">
            {msg.text}
          </span>
        )}
      </div>
    </details>
  );
}
