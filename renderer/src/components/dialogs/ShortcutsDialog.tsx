import { useApp, useEnv } from '../../context';
import { bindingsOf, keyLabel, type KeyBinding, type KeyView } from '../../lib/keymap';
import { selectFilterView } from '../../store/labels';
import { Dialog } from '../Dialog';

/** Keys that mean something else in the other view: said next to the key, so a switch of view never surprises. */
function otherMeaning(map: readonly KeyBinding[], view: KeyView, key: string): string | null {
  const other: KeyView = view === 'live' ? 'filter' : 'live';
  const b = map.find((x) => x.views.includes(other) && !x.views.includes(view) && x.keys.includes(key));
  return b ? `${other === 'live' ? 'Live' : 'Filter'}: ${b.label}` : null;
}

/** `?`: the keys of the view in front of the user (Live trajectory or Filter table), from the one keymap. */
export function ShortcutsDialog() {
  const closeDialog = useApp((s) => s.closeDialog);
  const view: KeyView = useApp(selectFilterView) ? 'filter' : 'live';
  const mac = /mac/i.test(useEnv().platform);
  const keymap = useApp((s) => s.keymap);
  const rows = bindingsOf(view, keymap).concat(view === 'live' ? [{ action: 'guidance', keys: ['Ctrl+k'], label: 'guidance box', views: ['live'] }] : []);
  return (
    <Dialog
      title={view === 'filter' ? 'Keys of the Filter view' : 'Keys of the Live view'}
      testId="shortcuts-dialog"
      width={760}
      onClose={closeDialog}
      footer={
        <button type="button" className="btn" onClick={closeDialog}>
          Close
        </button>
      }
    >
      <p className="muted small">
        Whenever the focus is not in a text field or a terminal (click a row or press Esc first). Moving is j / k in every view; labelling never moves the
        cursor unless “advance after label” is on. Change any key in Settings.
      </p>
      <ul className="shortcut-grid" data-testid="shortcuts-table" data-view={view}>
        {rows.map((b) => {
          const others = b.keys.map((k) => otherMeaning(keymap, view, k)).filter((x): x is string => !!x);
          return (
            <li key={b.action} className="shortcut" data-testid="shortcut" data-action={b.action}>
              <span className="shortcut-keys">
                {(b.action === 'tag' ? ['1–6'] : b.keys.map((k) => keyLabel(k, mac))).map((k) => (
                  <kbd key={k}>{k}</kbd>
                ))}
              </span>
              <span className="shortcut-what">
                {b.label}
                {others.length > 0 && <span className="shortcut-other"> · {others.join('; ')}</span>}
              </span>
            </li>
          );
        })}
      </ul>
    </Dialog>
  );
}
