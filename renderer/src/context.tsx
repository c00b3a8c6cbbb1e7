// React contexts: the Transport, the store and a few facts about the environment.
// Components get everything from here; nothing reads globals.
import { createContext, useContext, type ReactNode } from 'react';
import { useStore } from 'zustand';
import type { Transport } from '../../shared/transport';
import type { AppState, AppStore } from './store';

export interface Env {
  hostKind: 'electron' | 'web';
  reload(): void;
  /** navigator.platform, for Cmd vs Ctrl hints. */
  platform: string;
  /** Browser mode: whether the host takes a connection again (with this page's token). */
  probeHost?(): Promise<boolean>;
  /** Browser mode: open this host again with a token the user pasted (the route kept). */
  openWithToken?(token: string): void;
  /** The path on the host of a file or folder dropped on the page (the desktop app; absent in a browser, which hides it). */
  pathForFile?(file: File): string | null;
  /** The address's route (the hash: what is on screen, see lib/route.ts); absent where there is no address. */
  route?: RouteNav;
}

export interface RouteNav {
  get(): string;
  /** Show `hash` in the address: a new history entry when `push`, else in place. */
  set(hash: string, push: boolean): void;
  /** Called when the user changes the address or goes back / forward. */
  subscribe(cb: () => void): () => void;
}

const TransportContext = createContext<Transport | null>(null);
const StoreContext = createContext<AppStore | null>(null);
const EnvContext = createContext<Env | null>(null);

export function AppProviders(props: { transport: Transport; store: AppStore; env: Env; children: ReactNode }) {
  return (
    <TransportContext.Provider value={props.transport}>
      <StoreContext.Provider value={props.store}>
        <EnvContext.Provider value={props.env}>{props.children}</EnvContext.Provider>
      </StoreContext.Provider>
    </TransportContext.Provider>
  );
}

export function useTransport(): Transport {
  const t = useContext(TransportContext);
  if (!t) throw new Error('useTransport outside AppProviders');
  return t;
}

export function useAppStore(): AppStore {
  const s = useContext(StoreContext);
  if (!s) throw new Error('useAppStore outside AppProviders');
  return s;
}

/** Select from the app store. Selectors must return stable values (use useShallow for objects). */
export function useApp<U>(selector: (s: AppState) => U): U {
  return useStore(useAppStore(), selector);
}

export function useEnv(): Env {
  const e = useContext(EnvContext);
  if (!e) throw new Error('useEnv outside AppProviders');
  return e;
}
