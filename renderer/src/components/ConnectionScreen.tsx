import { useEnv } from '../context';

export function ConnectionScreen({ state, reason }: { state: 'failed' | 'lost'; reason: string }) {
  const env = useEnv();
  return (
    <div className="connection-screen" data-testid="connection-error" data-state={state} role="alert">
      <div className="connection-card">
        <h1>{state === 'lost' ? 'Connection to the host lost' : 'Cannot reach the Apollo host'}</h1>
        <p className="connection-reason">{withCode(reason)}</p>
        {state === 'lost' && (
          <p className="muted">
            Your annotations are saved by the host as you make them. Once it is running again, reload to continue.
          </p>
        )}
        <div className="connection-actions">
          <button type="button" className="btn primary" data-testid="connection-retry" onClick={env.reload}>
            Reload
          </button>
        </div>
      </div>
    </div>
  );
}

/** Show `backticked` parts of a message as code. */
function withCode(text: string) {
  return text.split('`').map((part, i) => (i % 2 === 1 ? <code key={i}>{part}</code> : part));
}
