// Document-wide keyboard handling shared by the views' shortcut maps.
import { useEffect, useRef } from 'react';

/** Text inputs (not checkboxes, radios or buttons), text areas, selects, editable content and terminals. */
export function isTypingTarget(target: EventTarget | null): boolean {
  const el = target as HTMLElement | null;
  if (!el || typeof el.closest !== 'function') return false;
  const field = el.closest('input, textarea, select, [contenteditable=""], [contenteditable="true"], .xterm');
  if (!field) return false;
  return !(field instanceof HTMLInputElement && NOT_TYPED.has(field.type));
}

const NOT_TYPED = new Set(['checkbox', 'radio', 'button', 'submit', 'reset', 'range', 'color', 'file', 'image']);

/** Inside a modal dialog: its own keys, not the page's. */
export function inModal(target: EventTarget | null): boolean {
  const el = target as HTMLElement | null;
  return !!el && typeof el.closest === 'function' && !!el.closest('[aria-modal="true"]');
}

/**
 * Listen to keydown on the document for as long as the component is mounted. The
 * handler is read at each key press, so it always sees the current render's values.
 */
export function useDocumentKeys(handler: (e: KeyboardEvent) => void, capture = false): void {
  const ref = useRef(handler);
  ref.current = handler;
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => ref.current(e);
    document.addEventListener('keydown', onKey, capture);
    return () => document.removeEventListener('keydown', onKey, capture);
  }, [capture]);
}
