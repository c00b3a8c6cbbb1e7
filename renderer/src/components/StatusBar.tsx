import { useApp } from '../context';

export function StatusBar() {
  const info = useApp((s) => s.appInfo);
  const connection = useApp((s) => s.connection.state);
  const annotator = useApp((s) => s.annotator);
  const profiles = useApp((s) => s.profiles.length);
  const openDialog = useApp((s) => s.openDialog);
  return (
    <footer className="status-bar">
      <span className={`dot ${connection === 'ready' ? 'dot-running' : connection === 'connecting' ? 'dot-starting' : 'dot-failed'}`} />
      <span>{connection === 'ready' ? `Connected · ${info?.host === 'electron' ? 'desktop' : 'web'} host` : connection === 'connecting' ? 'Connecting…' : 'Disconnected'}</span>
      {info && <span className="mono dim" title="Workspace">{info.home}</span>}
      <span className="spacer" />
      <button type="button" className="status-btn" data-testid="settings-open-status" title="Endpoint profiles and annotator name" onClick={() => openDialog({ kind: 'settings' })}>
        {annotator ? `annotator ${annotator}` : 'annotator —'} · {profiles} endpoint{profiles === 1 ? '' : 's'}
      </button>
      {info && <span className="dim">Apollo {info.version}</span>}
    </footer>
  );
}
