import { useApp, useAppStore } from '../context';
import { inModal, useDocumentKeys } from './keys';
import { ConnectionScreen } from './ConnectionScreen';
import { Dialogs } from './Dialogs';
import { SessionView } from './SessionView';
import { Sidebar } from './Sidebar';
import { StatusBar } from './StatusBar';
import { Toasts } from './Toasts';
import { TrajectoryPanel } from './TrajectoryPanel';
import { FilterView } from './filter/FilterView';
import { MergeView } from './merge/MergeView';
import { selectFilterView } from '../store/labels';
import { useRouteSync } from './useRouteSync';
import '../styles/annotator.css';

/** Width of a folded side panel. */
const RAIL_PX = 36;

export function App() {
  const connection = useApp((s) => s.connection);
  const panelWidth = useApp((s) => s.panelWidth);
  const sidebarWidth = useApp((s) => s.sidebarWidth);
  const sidebarCollapsed = useApp((s) => s.sidebarCollapsed);
  const panelCollapsed = useApp((s) => s.panelCollapsed);
  const filterView = useApp(selectFilterView);
  // The Merge view is the workspace's, not a session's: it takes the place of both.
  const mergeOpen = useApp((s) => s.mergeOpen);
  useGlobalShortcuts();
  useRouteSync();

  if (connection.state === 'failed' || connection.state === 'lost') {
    return (
      <>
        <ConnectionScreen state={connection.state} reason={connection.reason} />
        <Toasts />
      </>
    );
  }
  return (
    <div className="app" style={{ gridTemplateColumns: `${sidebarCollapsed ? RAIL_PX : sidebarWidth}px minmax(0, 1fr) ${panelCollapsed && !filterView && !mergeOpen ? RAIL_PX : panelWidth}px` }}>
      <Sidebar />
      {mergeOpen ? (
        <MergeView />
      ) : filterView ? (
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

/** App-wide keys, caught before xterm sees them (not while a modal dialog is open: focus stays in it). */
function useGlobalShortcuts() {
  const store = useAppStore();
  useDocumentKeys((e) => {
    if ((e.ctrlKey || e.metaKey) && !e.shiftKey && !e.altKey && e.key.toLowerCase() === 'k') {
      if (store.getState().dialog || inModal(e.target) || document.querySelector('[aria-modal="true"]')) return;
      e.preventDefault();
      e.stopPropagation();
      store.getState().requestGuidanceFocus();
    }
  }, true);
}
