// Rollout control and annotation commands of the open session: start / pause /
// resume / stop, guidance (with an optimistic "sending" entry until the host has
// recorded it), branch / rewind, comments, and the text the model is streaming for
// the current step (`rollout.delta`, never persisted; the model.response event
// replaces it), and whether the agent is waiting on its endpoint (lib/endpointWait).
import type { ArgsOf, ResultOf } from '../../../shared/contract/index';
import type { ControlStatus } from '../../../shared/contract/rollout';
import type { SessionEvent } from '../../../shared/events';
import type { Transport } from '../../../shared/transport';
import { nextEndpointWait, type EndpointWait } from '../lib/endpointWait';
import { attempt, describeError, type Outcome } from '../lib/errors';
import type { Slice } from './types';

export interface StreamingText {
  stepId: string;
  content: string;
  reasoning: string;
  /** When the latest text arrived (this machine's clock): the endpoint was alive then. */
  at: number;
}

export interface PendingGuidance {
  localId: number;
  text: string;
  state: 'sending' | 'failed';
  error?: string;
  /** Known once the host answered; the entry disappears when the fold has it. */
  guidanceId?: string;
  branchId?: string;
}

export type ControlAction = 'pause' | 'resume' | 'stop' | 'start';

export interface RolloutSlice {
  streaming: Record<string, StreamingText | undefined>;
  pendingGuidance: Record<string, PendingGuidance[]>;
  /** A control request in flight (or sent and not yet reflected by a rollout.state event). */
  controlPending: Record<string, ControlAction | undefined>;
  /** Who drives which terminal of each session (rollout.control); absent until known. */
  control: Record<string, ControlStatus | undefined>;
  /** Per session: the model request in flight, if any, and since when (from the log's events). */
  endpointWaits: Record<string, EndpointWait | null | undefined>;

  /** Fold session events (loaded or pushed, in any order) into endpointWaits. */
  noteEndpointEvents(sessionId: string, events: readonly SessionEvent[]): void;
  appendDelta(sessionId: string, stepId: string, content: string, reasoning: string): void;
  clearStreaming(sessionId: string, stepId?: string): void;

  startRollout(sessionId: string, args: { task: string; profile: string; maxSteps?: number }): Promise<Outcome<ResultOf<'rollout.start'>>>;
  sendGuidance(sessionId: string, text: string, branchId?: string): Promise<boolean>;
  dismissPendingGuidance(sessionId: string, localId: number): void;
  controlRollout(sessionId: string, action: 'pause' | 'resume' | 'stop'): Promise<void>;
  clearControlPending(sessionId: string): void;
  applyControl(status: ControlStatus): void;
  loadControl(sessionId: string): Promise<void>;
  /** Take a terminal from the agent (it pauses at its step boundary) / give it back. */
  takeControl(sessionId: string, terminalId: string): Promise<boolean>;
  handBack(sessionId: string): Promise<boolean>;

  createBranch(args: ArgsOf<'branch.create'>): Promise<Outcome<ResultOf<'branch.create'>>>;
  rewindTo(args: ArgsOf<'branch.rewind'>): Promise<Outcome<ResultOf<'branch.rewind'>>>;
  addComment(sessionId: string, stepId: string, text: string): Promise<Outcome<string>>;
  editComment(sessionId: string, commentId: string, text: string): Promise<Outcome<true>>;
  deleteComment(sessionId: string, commentId: string): Promise<Outcome<true>>;
}

let nextLocalId = 1;

export const createRolloutSlice =
  (transport: Transport): Slice<RolloutSlice> =>
  (set, get) => ({
    streaming: {},
    pendingGuidance: {},
    controlPending: {},
    control: {},
    endpointWaits: {},

    noteEndpointEvents: (sessionId, events) => {
      const cur = get().endpointWaits[sessionId] ?? null;
      const next = nextEndpointWait(cur, events);
      if (next !== cur) set({ endpointWaits: { ...get().endpointWaits, [sessionId]: next } });
    },

    appendDelta: (sessionId, stepId, content, reasoning) => {
      const cur = get().streaming[sessionId];
      const base = cur && cur.stepId === stepId ? cur : { stepId, content: '', reasoning: '' };
      set({ streaming: { ...get().streaming, [sessionId]: { stepId, content: base.content + content, reasoning: base.reasoning + reasoning, at: Date.now() } } });
    },

    clearStreaming: (sessionId, stepId) => {
      const cur = get().streaming[sessionId];
      if (!cur || (stepId !== undefined && cur.stepId !== stepId)) return;
      set({ streaming: { ...get().streaming, [sessionId]: undefined } });
    },

    startRollout: async (sessionId, args) => {
      set({ controlPending: { ...get().controlPending, [sessionId]: 'start' } });
      try {
        const res = await transport.request('rollout.start', { sessionId, ...args });
        get().rememberProfile(args.profile);
        get().selectBranch(sessionId, res.branchId, { follow: true });
        return { ok: true, value: res };
      } catch (err) {
        return { ok: false, error: describeError(err) };
      } finally {
        get().clearControlPending(sessionId);
      }
    },

    sendGuidance: async (sessionId, text, branchId) => {
      const localId = nextLocalId++;
      const list = () => get().pendingGuidance[sessionId] ?? [];
      const update = (fn: (l: PendingGuidance[]) => PendingGuidance[]) =>
        set({ pendingGuidance: { ...get().pendingGuidance, [sessionId]: fn(list()) } });
      update((l) => [...l, { localId, text, state: 'sending', branchId }]);
      try {
        const { guidanceId } = await transport.request('rollout.guidance', { sessionId, text });
        const known = get().trajectories[sessionId]?.t.guidance.has(guidanceId);
        update((l) => (known ? l.filter((g) => g.localId !== localId) : l.map((g) => (g.localId === localId ? { ...g, guidanceId } : g))));
        return true;
      } catch (err) {
        update((l) => l.map((g) => (g.localId === localId ? { ...g, state: 'failed', error: describeError(err).message } : g)));
        return false;
      }
    },

    dismissPendingGuidance: (sessionId, localId) => {
      const l = get().pendingGuidance[sessionId];
      if (!l) return;
      set({ pendingGuidance: { ...get().pendingGuidance, [sessionId]: l.filter((g) => g.localId !== localId) } });
    },

    controlRollout: async (sessionId, action) => {
      set({ controlPending: { ...get().controlPending, [sessionId]: action } });
      try {
        if (action === 'pause') await transport.request('rollout.pause', { sessionId });
        else if (action === 'resume') await transport.request('rollout.resume', { sessionId });
        else await transport.request('rollout.stop', { sessionId });
        // stop resolves once the rollout has ended; pause/resume wait for their rollout.state event.
        if (action === 'stop') get().clearControlPending(sessionId);
      } catch (err) {
        get().clearControlPending(sessionId);
        get().reportError(`Could not ${action} the rollout`, err);
      }
    },

    clearControlPending: (sessionId) => {
      if (!get().controlPending[sessionId]) return;
      set({ controlPending: { ...get().controlPending, [sessionId]: undefined } });
    },

    applyControl: (status) => set({ control: { ...get().control, [status.sessionId]: status } }),

    loadControl: async (sessionId) => {
      try {
        get().applyControl(await transport.request('rollout.control', { sessionId }));
      } catch {
        // Not known yet: the next rollout.control push tells.
      }
    },

    takeControl: async (sessionId, terminalId) => {
      try {
        get().applyControl(await transport.request('rollout.takeControl', { sessionId, terminalId }));
        return true;
      } catch (err) {
        get().reportError('Could not take control of the terminal', err);
        return false;
      }
    },

    handBack: async (sessionId) => {
      try {
        get().applyControl(await transport.request('rollout.handBack', { sessionId }));
        return true;
      } catch (err) {
        get().reportError('Could not hand the terminal back', err);
        return false;
      }
    },

    createBranch: async (args) => {
      const res = await attempt(() => transport.request('branch.create', args));
      if (res.ok && args.profile) get().rememberProfile(args.profile);
      return res;
    },

    rewindTo: async (args) => {
      const res = await attempt(() => transport.request('branch.rewind', args));
      if (res.ok && args.profile) get().rememberProfile(args.profile);
      return res;
    },

    addComment: async (sessionId, stepId, text) => {
      const res = await attempt(() => transport.request('comment.add', { sessionId, stepId, text }));
      return res.ok ? { ok: true, value: res.value.commentId } : res;
    },

    editComment: (sessionId, commentId, text) => attempt(() => transport.request('comment.edit', { sessionId, commentId, text }).then(() => true as const)),

    deleteComment: (sessionId, commentId) => attempt(() => transport.request('comment.delete', { sessionId, commentId }).then(() => true as const)),
  });
