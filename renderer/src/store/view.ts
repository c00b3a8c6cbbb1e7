// How the open session is being looked at: which branch and step are selected,
// whether the view follows the live end of the rollout, the inspector tab, which
// step sections are expanded, pane sizes. Renderer-only state; only the side panels'
// widths are kept across reloads (localStorage).
import type { Slice } from './types';

/** Widths a side panel can be dragged to (px): narrower clips its text, wider leaves the terminal no room. */
export const PANEL_LIMITS = { sidebar: { min: 220, max: 420 }, panel: { min: 440, max: 900 } } as const;
/** The terminal between the side panels keeps at least this much. */
const MIN_MAIN_PX = 400;
const WIDTHS_KEY = 'apollo.panelWidths';
/** The browser's storage and window width where there is one (the store has no DOM types: plain-Node tests load it). */
const browser = globalThis as { localStorage?: { getItem(k: string): string | null; setItem(k: string, v: string): void }; innerWidth?: number };

function storedWidths(): { sidebar?: number; panel?: number } {
  try {
    const v = JSON.parse(browser.localStorage?.getItem(WIDTHS_KEY) ?? '{}') as unknown;
    return typeof v === 'object' && v !== null ? (v as { sidebar?: number; panel?: number }) : {};
  } catch {
    return {};
  }
}

function storeWidths(w: { sidebar: number; panel: number }): void {
  try {
    browser.localStorage?.setItem(WIDTHS_KEY, JSON.stringify(w));
  } catch {
    // storage full or refused: the width lasts until the reload
  }
}

const DEFAULT_WIDTH = { sidebar: 220, panel: 500 } as const;

/**
 * `px` (else the default) within the panel's limits and, given the other panel's width,
 * the window's room beside it. The widths read back on load are held to the limits only
 * (as they always were): the terminal's column gives way in a narrower window.
 */
function clampWidth(which: keyof typeof PANEL_LIMITS, px: unknown, other?: number): number {
  const { min, max } = PANEL_LIMITS[which];
  const room = other === undefined || browser.innerWidth === undefined ? max : browser.innerWidth - other - MIN_MAIN_PX;
  const n = typeof px === 'number' && Number.isFinite(px) ? px : DEFAULT_WIDTH[which];
  return Math.round(Math.max(min, Math.min(max, room, n)));
}

export type InspectorTab = 'output' | 'context' | 'files' | 'comments';

export interface SessionViewState {
  /** null: the default branch (the active rollout's, else main). */
  branchId: string | null;
  stepId: string | null;
  /** Keep the newest step in view and selected while the agent works. */
  follow: boolean;
}

const DEFAULT_VIEW: SessionViewState = { branchId: null, stepId: null, follow: true };

export interface ViewSlice {
  views: Record<string, SessionViewState>;
  inspectorTab: InspectorTab;
  inspectorOpen: boolean;
  /** `${stepId}:thought` / `${stepId}:obs` → expanded (or collapsed when the global default is on). */
  toggled: Record<string, true>;
  expandThoughts: boolean;
  expandObservations: boolean;
  /** Hide the one-line thought/observation previews of collapsed steps (denser list). */
  compactRows: boolean;
  /** Widths of the trajectory panel and the session list (px), kept in localStorage. */
  panelWidth: number;
  sidebarWidth: number;
  inspectorHeight: number;
  /** Side panels folded to a narrow rail (at 1280 px the terminal was 67 columns wide between them). */
  sidebarCollapsed: boolean;
  panelCollapsed: boolean;
  /** Bumped to focus the comment box of the selected step (key `c`). */
  commentFocusTick: number;
  /** Bumped to scroll the selected step into view (keyboard moves). */
  revealTick: number;

  viewOf(sessionId: string): SessionViewState;
  selectStep(sessionId: string, stepId: string | null, opts?: { reveal?: boolean; branchId?: string }): void;
  selectBranch(sessionId: string, branchId: string, opts?: { follow?: boolean; stepId?: string | null }): void;
  setFollow(sessionId: string, follow: boolean): void;
  setInspectorTab(tab: InspectorTab): void;
  setInspectorOpen(open: boolean): void;
  toggleSection(key: string): void;
  setExpandAll(kind: 'thoughts' | 'observations', on: boolean): void;
  setCompactRows(on: boolean): void;
  setPanelWidth(px: number): void;
  setSidebarWidth(px: number): void;
  setSidebarCollapsed(on: boolean): void;
  setPanelCollapsed(on: boolean): void;
  setInspectorHeight(px: number): void;
  focusComment(): void;
}

const stored = storedWidths();

export const createViewSlice: Slice<ViewSlice> = (set, get) => ({
  views: {},
  inspectorTab: 'output',
  inspectorOpen: true,
  toggled: {},
  expandThoughts: false,
  expandObservations: false,
  compactRows: false,
  panelWidth: clampWidth('panel', stored.panel),
  sidebarWidth: clampWidth('sidebar', stored.sidebar),
  inspectorHeight: 300,
  sidebarCollapsed: false,
  panelCollapsed: false,
  commentFocusTick: 0,
  revealTick: 0,

  viewOf: (sessionId) => get().views[sessionId] ?? DEFAULT_VIEW,

  selectStep: (sessionId, stepId, opts = {}) => {
    const cur = get().viewOf(sessionId);
    const next: SessionViewState = { ...cur, stepId, follow: false };
    if (opts.branchId) next.branchId = opts.branchId;
    set({
      views: { ...get().views, [sessionId]: next },
      ...(stepId ? { inspectorOpen: true } : {}),
      ...(opts.reveal ? { revealTick: get().revealTick + 1 } : {}),
    });
  },

  selectBranch: (sessionId, branchId, opts = {}) => {
    const cur = get().viewOf(sessionId);
    const follow = opts.follow ?? cur.follow;
    set({
      views: { ...get().views, [sessionId]: { branchId, stepId: opts.stepId === undefined ? null : opts.stepId, follow } },
      revealTick: get().revealTick + 1,
    });
  },

  setFollow: (sessionId, follow) => {
    const cur = get().viewOf(sessionId);
    if (cur.follow === follow) return;
    set({ views: { ...get().views, [sessionId]: { ...cur, follow } } });
  },

  setInspectorTab: (inspectorTab) => set({ inspectorTab, inspectorOpen: true }),
  setInspectorOpen: (inspectorOpen) => set({ inspectorOpen }),

  toggleSection: (key) => {
    const { [key]: on, ...rest } = get().toggled;
    set({ toggled: on ? rest : { ...rest, [key]: true } });
  },

  setExpandAll: (kind, on) => {
    const suffix = kind === 'thoughts' ? ':thought' : ':obs';
    const toggled = Object.fromEntries(Object.entries(get().toggled).filter(([k]) => !k.endsWith(suffix)));
    set(kind === 'thoughts' ? { expandThoughts: on, toggled } : { expandObservations: on, toggled });
  },

  setCompactRows: (compactRows) => set({ compactRows }),
  setPanelWidth: (px) => {
    const panelWidth = clampWidth('panel', px, get().sidebarWidth);
    if (panelWidth === get().panelWidth) return;
    set({ panelWidth });
    storeWidths({ panel: panelWidth, sidebar: get().sidebarWidth });
  },
  setSidebarWidth: (px) => {
    const sidebarWidth = clampWidth('sidebar', px, get().panelWidth);
    if (sidebarWidth === get().sidebarWidth) return;
    set({ sidebarWidth });
    storeWidths({ panel: get().panelWidth, sidebar: sidebarWidth });
  },
  setSidebarCollapsed: (sidebarCollapsed) => set({ sidebarCollapsed }),
  setPanelCollapsed: (panelCollapsed) => set({ panelCollapsed }),
  setInspectorHeight: (px) => set({ inspectorHeight: Math.round(Math.min(900, Math.max(120, px))) }),
  focusComment: () => set({ commentFocusTick: get().commentFocusTick + 1, inspectorTab: 'comments', inspectorOpen: true }),
});
