// Live / Filter switch of a session, shown in the session header and in the filter view.
import './filter.css';
import { useApp } from '../../context';
import { modeOf } from '../../store/labels';

export function ViewTabs({ sessionId }: { sessionId: string }) {
  const mode = useApp((s) => modeOf(s, sessionId));
  const setMode = useApp((s) => s.setSessionMode);
  return (
    <span className="view-tabs" role="tablist" aria-label="Session view">
      <button
        type="button"
        role="tab"
        aria-selected={mode === 'live'}
        className={mode === 'live' ? 'on' : ''}
        data-testid="view-live"
        title="Terminals and the trajectory as the agent works"
        onClick={() => setMode(sessionId, 'live')}
      >
        Live
      </button>
      <button
        type="button"
        role="tab"
        aria-selected={mode === 'filter'}
        className={mode === 'filter' ? 'on' : ''}
        data-testid="view-filter"
        title="Label every action keep or mask, run rules and the judge, export datasets"
        onClick={() => setMode(sessionId, 'filter')}
      >
        Filter
      </button>
    </span>
  );
}
