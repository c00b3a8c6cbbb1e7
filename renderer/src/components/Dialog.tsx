import { useId, useLayoutEffect, useRef, useState, type FormEvent, type KeyboardEvent, type ReactNode } from 'react';

export interface DialogProps {
  title: string;
  onClose(): void;
  /** When set, the body is a form and Enter submits. */
  onSubmit?(): void;
  children: ReactNode;
  footer: ReactNode;
  testId?: string;
  width?: number;
}

const FOCUSABLE = 'a[href], button:not([disabled]), input:not([disabled]):not([type="hidden"]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';

/**
 * A modal dialog: Esc or a click on the backdrop closes it, Tab and Shift+Tab cycle
 * through its controls only (the page behind is inert to the keyboard), and focus
 * returns where it was.
 */
export function Dialog({ title, onClose, onSubmit, children, footer, testId, width = 440 }: DialogProps) {
  const panelRef = useRef<HTMLDivElement>(null);
  const titleId = useId();
  // Where the focus was, taken as the dialog first renders: before any effect of its
  // contents moves the focus into it (then closing would return it to a removed node).
  const [previous] = useState(() => document.activeElement as HTMLElement | null);
  // Before the first paint: a dialog on screen has the keys (one typed as it appears
  // went to the page behind, e.g. a digit tagging the row under the cursor).
  useLayoutEffect(() => {
    const panel = panelRef.current;
    if (panel && !panel.contains(document.activeElement)) {
      const first = panel.querySelector<HTMLElement>('[autofocus], input, textarea, button.primary, button');
      (first ?? panel).focus();
    }
    return () => previous?.focus?.();
  }, [previous]);

  const onKeyDown = (e: KeyboardEvent) => {
    if (e.key === 'Escape') {
      e.stopPropagation();
      onClose();
    } else if (e.key === 'Tab') {
      trapTab(e, panelRef.current);
    }
  };
  const submit = (e: FormEvent) => {
    e.preventDefault();
    onSubmit?.();
  };
  const body = (
    <>
      <div className="dialog-body">{children}</div>
      <div className="dialog-footer">{footer}</div>
    </>
  );
  return (
    <div className="backdrop" onMouseDown={(e) => e.target === e.currentTarget && onClose()}>
      <div
        ref={panelRef}
        className="dialog"
        role="dialog"
        aria-modal="true"
        aria-labelledby={titleId}
        data-testid={testId}
        style={{ width }}
        tabIndex={-1}
        onKeyDown={onKeyDown}
      >
        <h2 className="dialog-title" id={titleId}>
          {title}
        </h2>
        {onSubmit ? <form onSubmit={submit}>{body}</form> : body}
      </div>
    </div>
  );
}

/** Keep Tab inside `panel`: from the last control to the first and back. */
function trapTab(e: KeyboardEvent, panel: HTMLElement | null) {
  if (!panel) return;
  const items = [...panel.querySelectorAll<HTMLElement>(FOCUSABLE)].filter((el) => el.offsetParent !== null || el === document.activeElement);
  if (items.length === 0) {
    e.preventDefault();
    panel.focus();
    return;
  }
  const first = items[0]!;
  const last = items[items.length - 1]!;
  const active = document.activeElement;
  if (e.shiftKey && (active === first || active === panel || !panel.contains(active))) {
    e.preventDefault();
    last.focus();
  } else if (!e.shiftKey && (active === last || !panel.contains(active))) {
    e.preventDefault();
    first.focus();
  }
}
