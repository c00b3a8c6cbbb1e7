// UI state: connection, toasts, dialogs, transient editing state. Nothing here is persisted by the host.
import type { AppInfo } from '../../../shared/types';
import type { ErrorCode } from '../../../shared/errors';
import { describeError } from '../lib/errors';
import type { Slice } from './types';

export type ConnectionState =
  | { state: 'connecting' }
  | { state: 'ready' }
  /** Never got going (no/wrong token, host down). */
  | { state: 'failed'; reason: string }
  /** Worked, then went away. */
  | { state: 'lost'; reason: string };

export type ToastLevel = 'info' | 'warning' | 'error';

export interface Toast {
  id: number;
  level: ToastLevel;
  /** What was being done, e.g. "Could not create the session". */
  title?: string;
  message: string;
  code?: ErrorCode;
  /** How many identical toasts were folded into this one. */
  count: number;
}

export type Dialog =
  | { kind: 'new-session' }
  | { kind: 'delete-session'; sessionId: string }
  | { kind: 'add-terminal'; sessionId: string }
  | { kind: 'settings' }
  | { kind: 'start-rollout'; sessionId: string }
  /** fromStepId null: branch from the start of the task. */
  | { kind: 'branch'; sessionId: string; fromStepId: string | null }
  | { kind: 'rewind'; sessionId: string; toStepId: string }
  | { kind: 'shortcuts' };

export interface UiSlice {
  connection: ConnectionState;
  appInfo: AppInfo | null;
  toasts: Toast[];
  dialog: Dialog | null;
  /** Session whose name is being edited inline in the sidebar. */
  renamingSessionId: string | null;
  /** Bumped to ask the guidance box to take focus (Ctrl/Cmd+K). */
  guidanceFocusTick: number;

  setConnection(c: ConnectionState): void;
  pushToast(t: Omit<Toast, 'id' | 'count'>): void;
  /** Toast for a failed request. */
  reportError(title: string, err: unknown): void;
  dismissToast(id: number): void;
  /** Drop the error toasts of `title` (the same action succeeded since: its failure is stale news). */
  resolveToasts(title: string): void;
  openDialog(d: Dialog): void;
  closeDialog(): void;
  setRenaming(sessionId: string | null): void;
  requestGuidanceFocus(): void;
}

const MAX_TOASTS = 6;
const AUTO_DISMISS_MS: Record<ToastLevel, number> = { info: 5000, warning: 12000, error: 0 };
let nextToastId = 1;

export const createUiSlice: Slice<UiSlice> = (set, get) => ({
  connection: { state: 'connecting' },
  appInfo: null,
  toasts: [],
  dialog: null,
  renamingSessionId: null,
  guidanceFocusTick: 0,

  setConnection: (connection) => set({ connection }),

  pushToast: (t) => {
    const toasts = get().toasts;
    const last = toasts[toasts.length - 1];
    if (last && last.level === t.level && last.message === t.message && last.title === t.title) {
      set({ toasts: [...toasts.slice(0, -1), { ...last, count: last.count + 1 }] });
      return;
    }
    const id = nextToastId++;
    set({ toasts: [...toasts, { ...t, id, count: 1 }].slice(-MAX_TOASTS) });
    const ms = AUTO_DISMISS_MS[t.level];
    if (ms > 0) setTimeout(() => get().dismissToast(id), ms);
  },

  reportError: (title, err) => {
    const e = describeError(err);
    get().pushToast({ level: 'error', title, message: e.message, code: e.code });
  },

  dismissToast: (id) => set({ toasts: get().toasts.filter((t) => t.id !== id) }),
  resolveToasts: (title) => {
    if (get().toasts.some((t) => t.title === title)) set({ toasts: get().toasts.filter((t) => t.title !== title) });
  },
  openDialog: (dialog) => set({ dialog }),
  closeDialog: () => set({ dialog: null }),
  setRenaming: (renamingSessionId) => set({ renamingSessionId }),
  requestGuidanceFocus: () => set({ guidanceFocusTick: get().guidanceFocusTick + 1 }),
});
