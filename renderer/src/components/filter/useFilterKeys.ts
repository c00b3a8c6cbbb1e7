// Keyboard of the filter view (only while the focus is not in a text field and no
// dialog is open). See FILTER_KEYS for the map shown in the help strip.
import { LABEL_TAGS } from '../../../../shared/events';
import { inModal, isTypingTarget, useDocumentKeys } from '../keys';

export interface FilterKeyActions {
  /** Move the cursor by `delta` rows (extend: grow the selection from the anchor). */
  move(delta: number, extend: boolean): void;
  moveTo(where: 'first' | 'last', extend: boolean): void;
  label(value: 'keep' | 'mask'): void;
  accept(): void;
  clear(): void;
  undo(): void;
  toggleSelect(): void;
  selectAll(): void;
  escape(): boolean;
  editTags(): void;
  /** Toggle the i-th reason tag (keys 1–6). */
  toggleTag(i: number): void;
  editNote(): void;
  focusSearch(): void;
  /** A modal of the filter view is open: keys are its own. */
  blocked(): boolean;
}

export const FILTER_KEYS: Array<[string, string, string?]> = [
  ['j / ↓', 'next'],
  ['p / ↑', 'prev'],
  ['k', 'keep'],
  ['m', 'mask'],
  ['u', 'undo'],
  ['Enter', 'confirm rule/judge'],
  ['Del', 'clear yours'],
  ['x', 'select'],
  ['Shift+↓↑ / click', 'range'],
  ['Ctrl+A', 'all shown'],
  ['t', 'tags'],
  ['1–6', 'tag', LABEL_TAGS.map((t, i) => `${i + 1} ${t}`).join(', ')],
  ['n', 'note'],
  ['/', 'search'],
  ['g / G', 'first / last'],
  ['Esc', 'unselect'],
];

export function useFilterKeys(a: FilterKeyActions, dialogOpen: () => boolean) {
  useDocumentKeys((e) => {
    if (e.defaultPrevented || e.altKey) return;
    if (dialogOpen() || a.blocked() || inModal(e.target)) return;
    if (isTypingTarget(e.target)) {
      // Esc leaves the search box (and the other fields) for the table.
      if (e.key === 'Escape' && (e.target as HTMLElement).closest?.('.fv-toolbar')) {
        (e.target as HTMLElement).blur();
        e.preventDefault();
      }
      return;
    }
    const mod = e.ctrlKey || e.metaKey;
    if (mod) {
      if (e.key.toLowerCase() === 'a') {
        a.selectAll();
        e.preventDefault();
      }
      return;
    }
    const onButton = !!(e.target as HTMLElement | null)?.closest?.('button, a, [role="button"], summary, input[type="checkbox"]');
    let handled = true;
    switch (e.key) {
      case 'j':
      case 'ArrowDown':
        a.move(1, e.shiftKey);
        break;
      case 'J':
        a.move(1, true);
        break;
      case 'p':
      case 'ArrowUp':
        a.move(-1, e.shiftKey);
        break;
      case 'P':
        a.move(-1, true);
        break;
      case 'PageDown':
        a.move(20, e.shiftKey);
        break;
      case 'PageUp':
        a.move(-20, e.shiftKey);
        break;
      case 'g':
      case 'Home':
        a.moveTo('first', e.shiftKey && e.key === 'Home');
        break;
      case 'G':
      case 'End':
        a.moveTo('last', e.shiftKey && e.key === 'End');
        break;
      case 'k':
        a.label('keep');
        break;
      case 'm':
        a.label('mask');
        break;
      case 'u':
        a.undo();
        break;
      case 'x':
        a.toggleSelect();
        break;
      case ' ':
        if (onButton) handled = false;
        else a.toggleSelect();
        break;
      case 'Enter':
        if (onButton) handled = false;
        else a.accept();
        break;
      case 'Delete':
      case 'Backspace':
        a.clear();
        break;
      case 't':
        a.editTags();
        break;
      case '1':
      case '2':
      case '3':
      case '4':
      case '5':
      case '6':
        a.toggleTag(Number(e.key) - 1);
        break;
      case 'n':
        a.editNote();
        break;
      case '/':
        a.focusSearch();
        break;
      case 'Escape':
        handled = a.escape();
        break;
      default:
        handled = false;
    }
    if (handled) e.preventDefault();
  });
}
