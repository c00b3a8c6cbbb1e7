// Start-up: pick the transport, then hand it to the app. This is the only module
// that touches `window` (the Electron bridge, the page URL, sessionStorage).
import { createRoot } from 'react-dom/client';
import { createTransport, type Wire } from '../../shared/transport';
import { createBridgeWire, createDeadWire, createWebSocketWire, probeWebSocket, TOKEN_HELP } from './wires';
import { createAppStore } from './store';
import { connectPushEvents } from './store/wiring';
import { AppProviders, type Env } from './context';
import { App } from './components/App';
import '@xterm/xterm/css/xterm.css';
import './styles/app.css';

const TOKEN_KEY = 'apollo.token';

/** Token from `?token=` (then remembered for this tab and removed from the address bar), else the remembered one. */
function takeToken(): string | null {
  const url = new URL(window.location.href);
  const fromUrl = url.searchParams.get('token');
  if (fromUrl) {
    try {
      window.sessionStorage.setItem(TOKEN_KEY, fromUrl);
    } catch {
      /* storage disabled: the token still works for this page load */
    }
    url.searchParams.delete('token');
    window.history.replaceState(window.history.state, '', url.pathname + url.search + url.hash);
    return fromUrl;
  }
  try {
    return window.sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

function chooseWire(): { wire: Wire; kind: Env['hostKind']; url?: string } {
  if (window.apolloBridge) return { wire: createBridgeWire(window.apolloBridge), kind: 'electron' };
  const token = takeToken();
  if (!token) return { wire: createDeadWire(`Access token missing. ${TOKEN_HELP}`), kind: 'web' };
  const scheme = window.location.protocol === 'https:' ? 'wss' : 'ws';
  const url = `${scheme}://${window.location.host}/ws?token=${encodeURIComponent(token)}`;
  return { wire: createWebSocketWire(url), kind: 'web', url };
}

const { wire, kind, url } = chooseWire();
const transport = createTransport(wire);
const store = createAppStore(transport);
connectPushEvents(transport, store);

const env: Env = {
  hostKind: kind,
  reload: () => window.location.reload(),
  platform: navigator.platform,
  ...(url ? { probeHost: () => probeWebSocket(url) } : {}),
};

const rootEl = document.getElementById('root');
if (!rootEl) throw new Error('#root missing from index.html');
createRoot(rootEl).render(
  <AppProviders transport={transport} store={store} env={env}>
    <App />
  </AppProviders>,
);
void store.getState().bootstrap();
