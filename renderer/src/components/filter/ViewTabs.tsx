// Live / Filter switch of a session, shown in the session header and in the filter view.
import './filter.css';
import { useApp } from '../../context';
import { modeOf, type SessionMode } from '../../store/labels';

const TABS: Array<{ mode: SessionMode; label: string; title: string }> = [
  { mode: 'live', label: 'Live', title: 'Terminals and the trajectory as the agent works' },
  { mode: 'filter', label: 'Filter', title: 'Label every action keep or mask, run rules and the judge, export datasets' },
];

export function ViewTabs({ sessionId }: { sessionId: string }) {
  const mode = useApp((s) => modeOf(s, sessionId));
  const setMode = useApp((s) => s.setSessionMode);
  return (
    <span className="view-tabs" role="tablist" aria-label="Session view">
      {TABS.map((t) => (
        <button
          key={t.mode}
          type="button"
          role="tab"
          aria-selected={mode === t.mode}
          className={mode === t.mode ? 'on' : ''}
          data-testid={`view-${t.mode}`}
          title={t.title}
          onClick={() => setMode(sessionId, t.mode)}
        >
          {t.label}
        </button>
      ))}
    </span>
  );
}
