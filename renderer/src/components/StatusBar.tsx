import { useApp } from '../context';

export function StatusBar() {
  const info = useApp((s) => s.appInfo);
  const connection = useApp((s) => s.connection.state);
  return (
    <footer className="status-bar">
      <span className={`dot ${connection === 'ready' ? 'dot-running' : connection === 'connecting' ? 'dot-starting' : 'dot-failed'}`} />
      <span>{connection === 'ready' ? `Connected · ${info?.host === 'electron' ? 'desktop' : 'web'} host` : connection === 'connecting' ? 'Connecting…' : 'Disconnected'}</span>
      {info && <span className="mono dim" title="Workspace">{info.home}</span>}
      <span className="spacer" />
      {info && <span className="dim">Apollo {info.version}</span>}
    </footer>
  );
}
