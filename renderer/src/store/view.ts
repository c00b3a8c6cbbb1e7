// How the open session is being looked at: which branch and step are selected,
// whether the view follows the live end of the rollout, the inspector tab, which
// step sections are expanded, pane sizes. Renderer-only state, never persisted.
import type { Slice } from './types';

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
  panelWidth: number;
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
  setSidebarCollapsed(on: boolean): void;
  setPanelCollapsed(on: boolean): void;
  setInspectorHeight(px: number): void;
  focusComment(): void;
}

export const createViewSlice: Slice<ViewSlice> = (set, get) => ({
  views: {},
  inspectorTab: 'output',
  inspectorOpen: true,
  toggled: {},
  expandThoughts: false,
  expandObservations: false,
  compactRows: false,
  panelWidth: 500,
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
  setPanelWidth: (px) => set({ panelWidth: Math.round(Math.min(900, Math.max(320, px))) }),
  setSidebarCollapsed: (sidebarCollapsed) => set({ sidebarCollapsed }),
  setPanelCollapsed: (panelCollapsed) => set({ panelCollapsed }),
  setInspectorHeight: (px) => set({ inspectorHeight: Math.round(Math.min(900, Math.max(120, px))) }),
  focusComment: () => set({ commentFocusTick: get().commentFocusTick + 1, inspectorTab: 'comments', inspectorOpen: true }),
});
