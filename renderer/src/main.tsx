// Start-up: pick the transport, then hand it to the app. This is the only module
// that touches `window` (the Electron bridge, the page URL, sessionStorage).
import { createRoot } from 'react-dom/client';
import { createTransport, type Wire } from '../../shared/transport';
import { createBridgeWire, createWebSocketWire, probeWebSocket } from './wires';
import { createAppStore } from './store';
import { connectPushEvents } from './store/wiring';
import { AppProviders, type Env, type RouteNav } from './context';
import { App } from './components/App';
import { warmMarkdown } from './lib/markdown';
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
  const scheme = window.location.protocol === 'https:' ? 'wss' : 'ws';
  // Without a token of its own (a second tab, a bookmark) the page still connects:
  // the host's cookie from the first visit with the token authorises it.
  const url = `${scheme}://${window.location.host}/ws${token ? `?token=${encodeURIComponent(token)}` : ''}`;
  return { wire: createWebSocketWire(url, token ? 'token' : 'cookie'), kind: 'web', url };
}

/** The hash route through the History API (replaceState / pushState fire no event; back and forward do). */
const route: RouteNav = {
  get: () => window.location.hash,
  set: (hash, push) => {
    const url = window.location.pathname + window.location.search + hash;
    if (push) window.history.pushState(null, '', url);
    else window.history.replaceState(window.history.state, '', url);
  },
  subscribe: (cb) => {
    window.addEventListener('popstate', cb);
    window.addEventListener('hashchange', cb);
    return () => {
      window.removeEventListener('popstate', cb);
      window.removeEventListener('hashchange', cb);
    };
  },
};

const { wire, kind, url } = chooseWire();
const transport = createTransport(wire);
const store = createAppStore(transport);
connectPushEvents(transport, store);

const env: Env = {
  hostKind: kind,
  reload: () => window.location.reload(),
  platform: navigator.platform,
  ...(window.apolloBridge?.pathForFile ? { pathForFile: (f: File) => window.apolloBridge?.pathForFile?.(f) || null } : {}),
  ...(url
    ? {
        probeHost: () => probeWebSocket(url),
        openWithToken: (t: string) => window.location.assign(`${window.location.pathname}?token=${encodeURIComponent(t)}${window.location.hash}`),
      }
    : {}),
  route,
};

const rootEl = document.getElementById('root');
if (!rootEl) throw new Error('#root missing from index.html');
createRoot(rootEl).render(
  <AppProviders transport={transport} store={store} env={env}>
    <App />
  </AppProviders>,
);
void store.getState().bootstrap();
warmMarkdown();
