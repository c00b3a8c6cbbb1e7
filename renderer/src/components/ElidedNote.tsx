// The note above an observation the compact log cut (shared/compact-events.ts), while
// its whole text loads or when it could not be loaded.
import type { FullResults } from '../lib/useFullResults';

/**
 * "Loading the whole observation" above a preview, or why it could not be loaded:
 * a cut observation never passes for the whole text.
 */
export function ElidedNote({ full }: { full: Exclude<FullResults, { state: 'ready' }> }) {
  const chars = full.results.reduce((n, r) => n + (r.elided ?? 0), 0);
  const size = `${chars.toLocaleString('en')} characters`;
  return (
    <div className={`obs-elided small${full.state === 'error' ? ' err-text' : ' dim'}`} data-testid="observation-elided" role="status">
      {full.state === 'loading' ? `Loading the whole observation (${size}); a preview shows until then…` : `Showing a preview: the whole observation (${size}) could not be loaded: ${full.message}`}
    </div>
  );
}
