// One keymap for every view. Annotators move between the live trajectory and the
// filter table all day; a key that moves in one and labels in the other puts labels
// on the wrong rows (issue 13: `k` was "previous" in Live and "keep" in Filter). So
// moving is j/k (and the arrows) everywhere, labels sit on keys no view uses for
// anything else, and the help overlay (`?`) and the filter's key strip are built
// from this table, so what is shown is what is bound.

export type KeyView = 'live' | 'filter';

export interface KeyBinding {
  /** Stable id (what handlers switch on, and what a user override names). */
  action: string;
  /** Key combos, as `comboOf` writes them: 'j', 'ArrowDown', 'Shift+ArrowDown', 'Ctrl+z', '?'. */
  keys: string[];
  /** What it does, for the help overlay and the key strip. */
  label: string;
  /** Views it is bound in. */
  views: readonly KeyView[];
  /** Longer explanation (tooltip). */
  more?: string;
  /** A shorter label for the key strip under the filter table. */
  short?: string;
}

const BOTH: readonly KeyView[] = ['live', 'filter'];
const LIVE: readonly KeyView[] = ['live'];
const FILTER: readonly KeyView[] = ['filter'];

export const KEYMAP: readonly KeyBinding[] = [
  // ---- the same in every view
  { action: 'next', keys: ['j', 'ArrowDown'], label: 'next step', short: 'next', views: BOTH },
  { action: 'prev', keys: ['k', 'ArrowUp'], label: 'previous step', short: 'previous', views: BOTH },
  { action: 'first', keys: ['g', 'Home'], label: 'first step', views: BOTH },
  { action: 'last', keys: ['G', 'End'], label: 'last step', views: BOTH },
  { action: 'help', keys: ['?'], label: 'list the keys of this view', views: BOTH },
  { action: 'escape', keys: ['Escape'], label: 'deselect', views: BOTH },
  // ---- live trajectory
  { action: 'parent', keys: ['h', 'ArrowLeft'], label: 'parent step', views: LIVE },
  { action: 'child', keys: ['l', 'ArrowRight'], label: 'child step (follows a fork)', views: LIVE },
  { action: 'nextBranch', keys: ['b'], label: 'next branch', views: LIVE },
  { action: 'toggleStep', keys: ['Enter', 'e'], label: 'expand or collapse the selected step', views: LIVE },
  { action: 'toggleThought', keys: ['t'], label: 'toggle the thought', views: LIVE },
  { action: 'toggleObs', keys: ['o'], label: 'toggle the observation', views: LIVE },
  { action: 'comment', keys: ['c'], label: 'comment on the step', views: LIVE },
  { action: 'branchHere', keys: ['B'], label: 'branch here', views: LIVE },
  { action: 'rewindHere', keys: ['R'], label: 'rewind here', views: LIVE },
  { action: 'follow', keys: ['f'], label: 'follow the live end', views: LIVE },
  { action: 'sessionSearch', keys: ['/', 'Ctrl+f'], label: 'search the session (actions, output, guidance, comments, terminals)', short: 'search', views: LIVE },
  { action: 'timeline', keys: ['T'], label: 'show or hide the session timeline', views: LIVE },
  // ---- filter table
  { action: 'extendNext', keys: ['J', 'Shift+ArrowDown'], label: 'extend the selection down', views: FILTER },
  { action: 'extendPrev', keys: ['K', 'Shift+ArrowUp'], label: 'extend the selection up', views: FILTER },
  { action: 'pageDown', keys: ['PageDown'], label: '20 rows down', views: FILTER },
  { action: 'pageUp', keys: ['PageUp'], label: '20 rows up', views: FILTER },
  { action: 'keep', keys: ['a'], label: 'keep (accept: train on it)', short: 'keep', views: FILTER },
  { action: 'mask', keys: ['m'], label: 'mask (weight 0)', short: 'mask', views: FILTER },
  { action: 'undo', keys: ['u', 'Ctrl+z'], label: 'undo the last labelling action', short: 'undo', views: FILTER, more: 'One undo takes back a whole rules or judge application.' },
  { action: 'redo', keys: ['U', 'Ctrl+Z', 'Ctrl+y'], label: 'redo', views: FILTER },
  { action: 'confirm', keys: ['Enter'], label: 'make the rule / judge label yours', short: 'confirm rule/judge', views: FILTER },
  { action: 'clear', keys: ['Delete', 'Backspace'], label: 'clear your label', short: 'clear yours', views: FILTER },
  { action: 'select', keys: ['x', ' '], label: 'select the row', short: 'select', views: FILTER },
  { action: 'selectAll', keys: ['Ctrl+a'], label: 'select every row shown', views: FILTER },
  { action: 'tags', keys: ['t'], label: 'edit reason tags', views: FILTER },
  { action: 'tag', keys: ['1', '2', '3', '4', '5', '6'], label: 'toggle a reason tag', short: 'tag', views: FILTER },
  { action: 'note', keys: ['n'], label: 'note', views: FILTER },
  { action: 'search', keys: ['/'], label: 'search', views: FILTER },
];

/** What a key event carries that a binding looks at (a KeyboardEvent has it; no DOM types here, the store uses this module in plain Node tests too). */
export interface KeyPress {
  key: string;
  ctrlKey: boolean;
  metaKey: boolean;
  altKey: boolean;
  shiftKey: boolean;
}

/** The bindings of a view, in table order. */
export function bindingsOf(view: KeyView, map: readonly KeyBinding[] = KEYMAP): KeyBinding[] {
  return map.filter((b) => b.views.includes(view));
}

/**
 * The combo a key event stands for. Printable keys come as typed (`J`, `?`: Shift is
 * already in the character), other keys with their modifiers (`Shift+ArrowDown`);
 * Ctrl and ⌘ are one modifier, so a binding means the same on every platform.
 */
export function comboOf(e: KeyPress): string {
  const printable = e.key.length === 1;
  let key = e.key;
  // Ctrl+Shift+z comes as 'Z' on most layouts, 'z' on some: keep the Shift in the letter.
  if (printable && e.shiftKey && (e.ctrlKey || e.metaKey)) key = key.toUpperCase();
  return `${e.ctrlKey || e.metaKey ? 'Ctrl+' : ''}${e.altKey ? 'Alt+' : ''}${!printable && e.shiftKey ? 'Shift+' : ''}${key}`;
}

/** The action a key event triggers in a view (null: none). */
export function actionFor(view: KeyView, e: KeyPress, map: readonly KeyBinding[] = KEYMAP): string | null {
  const c = comboOf(e);
  for (const b of map) if (b.views.includes(view) && b.keys.includes(c)) return b.action;
  return null;
}

/** How a combo is shown: ' ' as Space, arrows as glyphs, Ctrl as ⌘ on a Mac. */
export function keyLabel(combo: string, mac = false): string {
  const names: Record<string, string> = { ' ': 'Space', ArrowDown: '↓', ArrowUp: '↑', ArrowLeft: '←', ArrowRight: '→', Escape: 'Esc', Delete: 'Del', PageDown: 'PgDn', PageUp: 'PgUp' };
  return combo
    .split(/\+(?=.)/)
    // A capital letter is typed with Shift: say so (B is Shift+B, not b).
    .map((p) => (p === 'Ctrl' && mac ? '⌘' : /^[A-Z]$/.test(p) && !combo.startsWith('Ctrl+') ? `Shift+${p}` : names[p] ?? p))
    .join('+');
}

/** The first key of an action, as shown (for button hints), '' when unbound. */
export function keyHint(action: string, view: KeyView, map: readonly KeyBinding[] = KEYMAP, mac = false): string {
  const b = map.find((x) => x.action === action && x.views.includes(view));
  return b && b.keys[0] !== undefined ? keyLabel(b.keys[0], mac) : '';
}

/**
 * The keymap with the annotator's own bindings (Settings, stored in the workspace
 * settings): an override replaces the keys of its action in every view it is bound
 * in; unknown actions are ignored (a binding renamed by a newer version).
 */
export function withOverrides(overrides: Readonly<Record<string, readonly string[]>> | undefined): KeyBinding[] {
  if (!overrides || Object.keys(overrides).length === 0) return [...KEYMAP];
  return KEYMAP.map((b) => (Object.hasOwn(overrides, b.action) ? { ...b, keys: [...overrides[b.action]!] } : b));
}

/** Keys as typed in Settings ("j ArrowDown Ctrl+z Space") → combos; '' → none. */
export function parseKeys(text: string): string[] {
  return text
    .split(/\s+/)
    .filter(Boolean)
    .map((k) => (k.toLowerCase() === 'space' ? ' ' : k));
}

/** Combos → the text Settings shows for editing. */
export function formatKeys(keys: readonly string[]): string {
  return keys.map((k) => (k === ' ' ? 'Space' : k)).join(' ');
}

/** Keys bound to more than one action of the same view (the first would always win): "k: next, keep (Filter)". */
export function keyConflicts(map: readonly KeyBinding[]): string[] {
  const out: string[] = [];
  for (const view of ['live', 'filter'] as const) {
    const seen = new Map<string, string[]>();
    for (const b of map) if (b.views.includes(view)) for (const k of b.keys) seen.set(k, [...(seen.get(k) ?? []), b.action]);
    for (const [k, actions] of seen) if (actions.length > 1) out.push(`${keyLabel(k)}: ${actions.join(', ')} (${view === 'live' ? 'Live' : 'Filter'})`);
  }
  return out;
}
