import { useEffect, useState } from 'react';
import { useEnv } from '../context';
import { isAuthRefusal, tokenFromInput } from '../wires';

/** Waits between attempts to reach a lost host again (then the last one, repeated). */
const RETRY_DELAYS_MS = [1000, 2000, 4000, 8000, 15000];

export function ConnectionScreen({ state, reason }: { state: 'failed' | 'lost'; reason: string }) {
  const env = useEnv();
  const retrying = useReconnect(state === 'lost', env);
  return (
    <div className="connection-screen" data-testid="connection-error" data-state={state} role="alert">
      <div className="connection-card">
        <h1>{isAuthRefusal(reason) ? 'Access token needed' : state === 'lost' ? 'Connection to the host lost' : 'Cannot reach the Apollo host'}</h1>
        <p className="connection-reason">{withCode(reason)}</p>
        {state === 'lost' && (
          <p className="muted">
            Your annotations are saved by the host as you make them.{' '}
            {retrying
              ? 'This page reconnects by itself as soon as the host answers again (if the host was restarted, open the new URL it printed).'
              : 'Once it is running again, reload to continue.'}
          </p>
        )}
        {retrying && (
          <p className="muted small" data-testid="connection-retrying" aria-live="polite">
            {retrying}
          </p>
        )}
        {isAuthRefusal(reason) && env.openWithToken ? (
          <TokenForm open={env.openWithToken} />
        ) : (
          <div className="connection-actions">
            <button type="button" className="btn primary" data-testid="connection-retry" onClick={env.reload}>
              Reload
            </button>
          </div>
        )}
      </div>
    </div>
  );
}

/**
 * While the connection is lost (browser mode), try the host again with growing waits
 * and reload the page once it answers: the reloaded app reads everything afresh.
 * Returns what to show about it, or null when not retrying.
 */
function useReconnect(lost: boolean, env: ReturnType<typeof useEnv>): string | null {
  const [status, setStatus] = useState<string | null>(null);
  useEffect(() => {
    const probe = env.probeHost;
    if (!lost || !probe) return;
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | null = null;
    const attempt = (n: number) => {
      const delay = RETRY_DELAYS_MS[Math.min(n, RETRY_DELAYS_MS.length - 1)]!;
      setStatus(n === 0 ? 'Reconnecting…' : `Still unreachable after ${n} attempt${n === 1 ? '' : 's'}; trying again in ${Math.round(delay / 1000)} s…`);
      timer = setTimeout(() => {
        void probe().then((ok) => {
          if (stopped) return;
          if (ok) {
            setStatus('The host answers again: reloading…');
            env.reload();
          } else attempt(n + 1);
        });
      }, delay);
    };
    attempt(0);
    return () => {
      stopped = true;
      if (timer) clearTimeout(timer);
    };
  }, [lost, env]);
  return lost && env.probeHost ? status : null;
}

/** Show `backticked` parts of a message as code. */
function withCode(text: string) {
  return text.split('`').map((part, i) => (i % 2 === 1 ? <code key={i}>{part}</code> : part));
}

/** A refused token: reloading cannot help, the URL `apollo serve` printed can. Paste it (or its token) here. */
function TokenForm({ open }: { open(token: string): void }) {
  const [text, setText] = useState('');
  const token = tokenFromInput(text);
  return (
    <form
      className="connection-actions"
      data-testid="token-form"
      onSubmit={(e) => {
        e.preventDefault();
        if (token) open(token);
      }}
    >
      <input
        className="token-input mono"
        data-testid="token-input"
        aria-label="The URL printed by apollo serve, or its token"
        placeholder="http://127.0.0.1:…/?token=…"
        value={text}
        autoFocus
        spellCheck={false}
        onChange={(e) => setText(e.target.value)}
      />
      <button type="submit" className="btn primary" data-testid="token-open" disabled={!token}>
        Open
      </button>
    </form>
  );
}
