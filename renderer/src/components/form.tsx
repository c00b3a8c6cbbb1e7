// Form pieces shared by the app's dialogs: a labelled field, the inline error, a
// dialog with Cancel and a submit button, and the busy/error state of a submit.
import { useState, type KeyboardEvent, type ReactNode } from 'react';
import type { Outcome } from '../lib/errors';
import { Dialog, type DialogProps } from './Dialog';

export function Field(props: { label: ReactNode; optional?: string; hint?: ReactNode; error?: string | null; className?: string; children: ReactNode }) {
  return (
    <label className={props.className ? `field ${props.className}` : 'field'}>
      <span className="field-label">
        {props.label}
        {props.optional && (
          <>
            {' '}
            <span className="optional">{props.optional}</span>
          </>
        )}
      </span>
      {props.children}
      {props.error && <span className="field-error">{props.error}</span>}
      {props.hint && <span className="field-hint">{props.hint}</span>}
    </label>
  );
}

export function FormError({ error, testId = 'form-error' }: { error: string | null | undefined; testId?: string }) {
  if (!error) return null;
  return (
    <div className="form-error" data-testid={testId} role="alert">
      {error}
    </div>
  );
}

interface FormDialogProps extends Omit<DialogProps, 'footer' | 'onSubmit'> {
  onSubmit(): void;
  submit: { label: string; busyLabel: string; testId: string; disabled?: boolean; className?: string };
  busy: boolean;
  error: string | null;
  /** Focus Cancel first (confirmations of something destructive). */
  cancelFirst?: boolean;
}

/** A dialog whose body is a form: Cancel, a submit button that shows `busyLabel` while busy, and the error under the fields. */
export function FormDialog({ submit, busy, error, cancelFirst, children, ...dialog }: FormDialogProps) {
  return (
    <Dialog
      {...dialog}
      footer={
        <>
          {/* The request is on its way and the host finishes it whatever the dialog does: closing only hides it. */}
          <button type="button" className="btn" autoFocus={cancelFirst} onClick={dialog.onClose} title={busy ? 'What was asked goes on; this only closes the dialog' : undefined}>
            {busy ? 'Close' : 'Cancel'}
          </button>
          <button type="submit" className={`btn ${submit.className ?? 'primary'}`} data-testid={submit.testId} disabled={busy || !!submit.disabled}>
            {busy ? submit.busyLabel : submit.label}
          </button>
        </>
      }
    >
      {children}
      <FormError error={error} />
    </Dialog>
  );
}

/** A failed outcome whose failure was already reported (as a toast): nothing to show inline. */
export const REPORTED: Outcome<never> = { ok: false, error: { message: '' } };

/** Busy and error state of a dialog's submit; a second submit while the first is in flight is ignored. */
export function useSubmit() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const run = async <T,>(action: () => Promise<Outcome<T>>, onOk: (value: T) => void): Promise<void> => {
    if (busy) return;
    setBusy(true);
    setError(null);
    const res = await action();
    setBusy(false);
    if (res.ok) onOk(res.value);
    else setError(res.error.message || null);
  };
  return { busy, error, setError, run };
}

/** Keydown handler of a text area: Ctrl/⌘ Enter runs `submit`; Esc (when given) runs `escape` and goes no further. */
export function onCtrlEnter(submit: () => void, escape?: () => void) {
  return onSubmitKey(submit, escape, true);
}

/** Keydown handler of a one-line field outside a form: Enter runs `submit`. */
export function onEnter(submit: () => void) {
  return onSubmitKey(submit, undefined, false);
}

function onSubmitKey(submit: () => void, escape: (() => void) | undefined, withModifier: boolean) {
  return (e: KeyboardEvent<HTMLElement>) => {
    if (e.key === 'Enter' && (!withModifier || e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      submit();
    } else if (e.key === 'Escape' && escape) {
      e.stopPropagation();
      escape();
    }
  };
}
