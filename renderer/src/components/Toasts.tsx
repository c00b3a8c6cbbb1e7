import { useApp } from '../context';

export function Toasts() {
  const toasts = useApp((s) => s.toasts);
  const dismiss = useApp((s) => s.dismissToast);
  if (toasts.length === 0) return null;
  return (
    <div className="toasts" role="region" aria-label="Notifications" aria-live="polite">
      {toasts.map((t) => (
        <div key={t.id} className={`toast toast-${t.level}`} data-testid="toast" data-level={t.level} data-code={t.code} role={t.level === 'error' ? 'alert' : 'status'}>
          <div className="toast-body">
            {t.title && <div className="toast-title">{t.title}</div>}
            <div className="toast-message">
              {t.message}
              {t.count > 1 && <span className="toast-count"> ×{t.count}</span>}
            </div>
            {t.code && <div className="toast-code">{t.code}</div>}
          </div>
          <button type="button" className="icon-btn" data-testid="toast-dismiss" aria-label="Dismiss" onClick={() => dismiss(t.id)}>
            ×
          </button>
        </div>
      ))}
    </div>
  );
}
