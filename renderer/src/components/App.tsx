import { useEffect } from 'react';
import { useApp, useAppStore } from '../context';
import { ConnectionScreen } from './ConnectionScreen';
import { Dialogs } from './Dialogs';
import { SessionView } from './SessionView';
import { Sidebar } from './Sidebar';
import { StatusBar } from './StatusBar';
import { Toasts } from './Toasts';
import { TrajectoryPanel } from './TrajectoryPanel';
import { FilterView } from './filter/FilterView';
import { selectFilterView } from '../store/labels';

export function App() {
  const connection = useApp((s) => s.connection);
  const panelWidth = useApp((s) => s.panelWidth);
  const filterView = useApp(selectFilterView);
  useGlobalShortcuts();

  if (connection.state === 'failed' || connection.state === 'lost') {
    return (
      <>
        <ConnectionScreen state={connection.state} reason={connection.reason} />
        <Toasts />
      </>
    );
  }
  return (
    <div className="app" style={{ gridTemplateColumns: `220px minmax(0, 1fr) ${panelWidth}px` }}>
      <Sidebar />
      {filterView ? (
        <FilterView />
      ) : (
        <>
          <MainArea />
          <TrajectoryPanel />
        </>
      )}
      <StatusBar />
      <Dialogs />
      <Toasts />
    </div>
  );
}

function MainArea() {
  const session = useApp((s) => (s.openSessionId ? s.sessions.find((x) => x.id === s.openSessionId) : undefined));
  const opening = useApp((s) => s.openingSessionId !== null);
  const hasSessions = useApp((s) => s.sessions.length > 0);
  const openDialog = useApp((s) => s.openDialog);
  return (
    <main className="main">
      {session ? (
        <SessionView key={session.id} session={session} />
      ) : (
        <div className="empty-state">
          {opening ? (
            <p>Opening…</p>
          ) : (
            <>
              <p>{hasSessions ? 'Select a session on the left, or start a new one.' : 'No sessions yet.'}</p>
              <button type="button" className="btn primary" onClick={() => openDialog({ kind: 'new-session' })}>
                New session
              </button>
            </>
          )}
        </div>
      )}
    </main>
  );
}

/** App-wide keys, caught before xterm sees them. */
function useGlobalShortcuts() {
  const store = useAppStore();
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if ((e.ctrlKey || e.metaKey) && !e.shiftKey && !e.altKey && e.key.toLowerCase() === 'k') {
        e.preventDefault();
        e.stopPropagation();
        store.getState().requestGuidanceFocus();
      }
    };
    document.addEventListener('keydown', onKey, true);
    return () => document.removeEventListener('keydown', onKey, true);
  }, [store]);
}
