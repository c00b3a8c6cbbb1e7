// Keyboard of the filter view (only while the focus is not in a text field and no
// dialog is open). The bindings come from the one keymap (lib/keymap.ts) that the
// live view, the key strip and the help overlay share.
import { LABEL_TAGS } from '../../../../shared/events';
import { actionFor, bindingsOf, comboOf, KEYMAP, keyLabel, type KeyBinding } from '../../lib/keymap';
import { inModal, isTypingTarget, useDocumentKeys } from '../keys';

export interface FilterKeyActions {
  /** Move the cursor by `delta` rows (extend: grow the selection from the anchor). */
  move(delta: number, extend: boolean): void;
  moveTo(where: 'first' | 'last', extend: boolean): void;
  label(value: 'keep' | 'mask'): void;
  accept(): void;
  clear(): void;
  undo(): void;
  redo(): void;
  toggleSelect(): void;
  selectAll(): void;
  escape(): boolean;
  editTags(): void;
  /** Toggle the i-th reason tag (keys 1–6). */
  toggleTag(i: number): void;
  editNote(): void;
  focusSearch(): void;
  help(): void;
  /** A modal of the filter view is open: keys are its own. */
  blocked(): boolean;
}

/** The bindings the strip under the table shows (the rest are one `?` away). */
const STRIP = new Set(['next', 'prev', 'keep', 'mask', 'undo', 'redo', 'confirm', 'clear', 'select', 'tag', 'search', 'help']);

/** The key strip under the table: the everyday filter bindings, their keys as shown. */
export function filterKeyStrip(map?: readonly KeyBinding[]): Array<{ action: string; keys: string; label: string; more?: string }> {
  return bindingsOf('filter', map).filter((b) => STRIP.has(b.action)).map((b) => ({
    action: b.action,
    // The first two keys: the strip is a reminder, `?` has them all.
    keys: b.action === 'tag' ? '1–6' : b.keys.slice(0, 2).map((k) => keyLabel(k)).join(' / '),
    label: b.action === 'help' ? 'all keys' : b.short ?? b.label,
    more: b.action === 'tag' ? LABEL_TAGS.map((t, i) => `${i + 1} ${t}`).join(', ') : b.more,
  }));
}

export function useFilterKeys(a: FilterKeyActions, dialogOpen: () => boolean, map?: readonly KeyBinding[]) {
  useDocumentKeys((e) => {
    if (e.defaultPrevented) return;
    if (dialogOpen() || a.blocked() || inModal(e.target)) return;
    if (isTypingTarget(e.target)) {
      // Esc leaves the search box (and the other fields) for the table.
      if (e.key === 'Escape' && (e.target as HTMLElement).closest?.('.fv-toolbar')) {
        (e.target as HTMLElement).blur();
        e.preventDefault();
      }
      return;
    }
    const onButton = !!(e.target as HTMLElement | null)?.closest?.('button, a, [role="button"], summary, input[type="checkbox"]');
    // Enter and Space on a focused control are the control's own.
    if (onButton && (e.key === 'Enter' || e.key === ' ')) return;
    const action = actionFor('filter', e, map);
    let handled = true;
    switch (action) {
      case 'next':
        a.move(1, false);
        break;
      case 'prev':
        a.move(-1, false);
        break;
      case 'extendNext':
        a.move(1, true);
        break;
      case 'extendPrev':
        a.move(-1, true);
        break;
      case 'pageDown':
        a.move(20, false);
        break;
      case 'pageUp':
        a.move(-20, false);
        break;
      case 'first':
        a.moveTo('first', false);
        break;
      case 'last':
        a.moveTo('last', false);
        break;
      case 'keep':
        a.label('keep');
        break;
      case 'mask':
        a.label('mask');
        break;
      case 'undo':
        a.undo();
        break;
      case 'redo':
        a.redo();
        break;
      case 'select':
        a.toggleSelect();
        break;
      case 'selectAll':
        a.selectAll();
        break;
      case 'confirm':
        a.accept();
        break;
      case 'clear':
        a.clear();
        break;
      case 'tags':
        a.editTags();
        break;
      case 'tag':
        // The n-th key of the binding toggles the n-th tag.
        a.toggleTag((map ?? KEYMAP).find((b) => b.action === 'tag')?.keys.indexOf(comboOf(e)) ?? -1);
        break;
      case 'note':
        a.editNote();
        break;
      case 'search':
        a.focusSearch();
        break;
      case 'help':
        a.help();
        break;
      case 'escape':
        handled = a.escape();
        break;
      default:
        // Shift+Home / Shift+End extend to the ends, as in a spreadsheet.
        if (e.shiftKey && (e.key === 'Home' || e.key === 'End') && !e.ctrlKey && !e.metaKey && !e.altKey) a.moveTo(e.key === 'Home' ? 'first' : 'last', true);
        else handled = false;
    }
    if (handled) e.preventDefault();
  });
}
