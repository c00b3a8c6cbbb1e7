import { useEffect, useRef, type FormEvent, type ReactNode } from 'react';

interface DialogProps {
  title: string;
  onClose(): void;
  /** When set, the body is a form and Enter submits. */
  onSubmit?(): void;
  children: ReactNode;
  footer: ReactNode;
  testId?: string;
  width?: number;
}

/** A modal dialog: Esc or a click on the backdrop closes it; focus returns where it was. */
export function Dialog({ title, onClose, onSubmit, children, footer, testId, width = 440 }: DialogProps) {
  const panelRef = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const previous = document.activeElement as HTMLElement | null;
    const panel = panelRef.current;
    if (panel && !panel.contains(document.activeElement)) {
      const first = panel.querySelector<HTMLElement>('[autofocus], input, textarea, button.primary, button');
      first?.focus();
    }
    return () => previous?.focus?.();
  }, []);

  const onKeyDown = (e: React.KeyboardEvent) => {
    if (e.key === 'Escape') {
      e.stopPropagation();
      onClose();
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
        aria-label={title}
        data-testid={testId}
        style={{ width }}
        onKeyDown={onKeyDown}
      >
        <h2 className="dialog-title">{title}</h2>
        {onSubmit ? <form onSubmit={submit}>{body}</form> : body}
      </div>
    </div>
  );
}
