// The note above an observation or a reasoning the compact log cut
// (shared/compact-events.ts), while its whole text loads or when it could not be loaded.
import type { FullReasoning, FullResults } from '../lib/useFullResults';

/**
 * "Loading the whole observation" above a preview, or why it could not be loaded:
 * a cut observation never passes for the whole text.
 */
export function ElidedNote({ full }: { full: Exclude<FullResults, { state: 'ready' }> }) {
  const chars = full.value.reduce((n, r) => n + (r.elided ?? 0), 0);
  return <Note what="observation" testId="observation-elided" chars={chars} full={full} />;
}

/** The same for a step's reasoning. */
export function ElidedReasoningNote({ full, chars }: { full: Exclude<FullReasoning, { state: 'ready' }>; chars: number }) {
  return <Note what="reasoning" testId="reasoning-elided" chars={chars} full={full} />;
}

function Note({ what, testId, chars, full }: { what: string; testId: string; chars: number; full: { state: 'loading' } | { state: 'error'; message: string } }) {
  const size = `${chars.toLocaleString('en')} characters`;
  return (
    <div className={`obs-elided small${full.state === 'error' ? ' err-text' : ' dim'}`} data-testid={testId} role="status">
      {full.state === 'loading' ? `Loading the whole ${what} (${size}); a preview shows until then…` : `Showing a preview: the whole ${what} (${size}) could not be loaded: ${full.message}`}
    </div>
  );
}
