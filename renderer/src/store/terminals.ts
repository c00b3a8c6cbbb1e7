// Terminals per session, mirrored from session infos and `terminal.changed` pushes.
// Terminal *output* never goes through the store (it is too hot): each TerminalView
// subscribes to `terminal.data` on the transport and writes straight into xterm.
import type { TerminalInfo } from '../../../shared/types';
import type { Transport } from '../../../shared/transport';
import type { ArgsOf } from '../../../shared/contract/index';
import type { Slice } from './types';
import { describeError, type Outcome } from '../lib/errors';

export interface NewTerminalInput {
  name: string;
  command?: { command: string; args: string[] };
  cwd?: string;
}

/**
 * The timed replay open over a session's terminal. `at` asks it to show a past
 * position (a search hit): the screen just after byte `offset + length`, the match
 * marked; `seq` tells one request from the next at the same place.
 */
export interface ReplayRequest {
  seq: number;
  at?: { terminalId: string; offset: number; length: number; text: string; stepId: string | null };
}

export interface TerminalsSlice {
  /** sessionId → its terminals, in the host's order. */
  terminals: Record<string, TerminalInfo[]>;
  /** sessionId → the selected terminal tab. */
  activeTerminal: Record<string, string>;
  /** sessionId → its replay, when one is open. */
  replays: Record<string, ReplayRequest>;

  /** Authoritative list (from a full session view). */
  replaceTerminals(sessionId: string, list: TerminalInfo[]): void;
  /** Partial list (e.g. only the live terminals): update those, keep the others. */
  mergeTerminals(sessionId: string, list: TerminalInfo[]): void;
  removeTerminal(sessionId: string, terminalId: string): void;
  applyTerminalChanged(sessionId: string, info: TerminalInfo): void;
  forgetTerminals(sessionId: string): void;
  setActiveTerminal(sessionId: string, terminalId: string): void;
  /** Open the replay of the shown terminal, or (with `at`) of that terminal at that position. */
  openReplay(sessionId: string, at?: ReplayRequest['at']): void;
  closeReplay(sessionId: string): void;
  createTerminal(sessionId: string, input: NewTerminalInput): Promise<Outcome<TerminalInfo>>;
  killTerminal(sessionId: string, terminalId: string): Promise<void>;
}

const EMPTY: TerminalInfo[] = [];

export function selectTerminals(s: TerminalsSlice, sessionId: string | null): TerminalInfo[] {
  return (sessionId && s.terminals[sessionId]) || EMPTY;
}

export function countRunning(list: TerminalInfo[]): number {
  let n = 0;
  for (const t of list) if (t.status === 'running' || t.status === 'starting') n++;
  return n;
}

export const createTerminalsSlice =
  (transport: Transport): Slice<TerminalsSlice> =>
  (set, get) => ({
    terminals: {},
    activeTerminal: {},
    replays: {},

    replaceTerminals: (sessionId, list) => {
      const prev = get().terminals[sessionId];
      // Keep identity when nothing changed so subscribers do not re-render.
      if (prev && prev.length === list.length && prev.every((t, i) => sameTerminal(t, list[i]!))) return;
      set({ terminals: { ...get().terminals, [sessionId]: list } });
    },

    mergeTerminals: (sessionId, list) => {
      for (const t of list) get().applyTerminalChanged(sessionId, t);
    },

    removeTerminal: (sessionId, terminalId) => {
      const prev = get().terminals[sessionId];
      if (!prev?.some((t) => t.id === terminalId)) return;
      set({ terminals: { ...get().terminals, [sessionId]: prev.filter((t) => t.id !== terminalId) } });
    },

    applyTerminalChanged: (sessionId, info) => {
      const prev = get().terminals[sessionId] ?? EMPTY;
      const i = prev.findIndex((t) => t.id === info.id);
      if (i >= 0 && sameTerminal(prev[i]!, info)) return;
      const next = i >= 0 ? prev.map((t, j) => (j === i ? info : t)) : [...prev, info];
      set({ terminals: { ...get().terminals, [sessionId]: next } });
    },

    forgetTerminals: (sessionId) => {
      const { [sessionId]: _gone, ...terminals } = get().terminals;
      const { [sessionId]: _gone2, ...activeTerminal } = get().activeTerminal;
      const { [sessionId]: _gone3, ...replays } = get().replays;
      set({ terminals, activeTerminal, replays });
    },

    setActiveTerminal: (sessionId, terminalId) => {
      if (get().activeTerminal[sessionId] === terminalId) return;
      set({ activeTerminal: { ...get().activeTerminal, [sessionId]: terminalId } });
    },

    openReplay: (sessionId, at) => {
      if (at) get().setActiveTerminal(sessionId, at.terminalId);
      const seq = (get().replays[sessionId]?.seq ?? 0) + 1;
      set({ replays: { ...get().replays, [sessionId]: at ? { seq, at } : { seq } } });
    },

    closeReplay: (sessionId) => {
      if (!get().replays[sessionId]) return;
      const { [sessionId]: _gone, ...replays } = get().replays;
      set({ replays });
    },

    createTerminal: async (sessionId, input) => {
      const args: ArgsOf<'terminal.create'> = { sessionId, id: input.name, ...(input.command ?? {}) };
      if (input.cwd?.trim()) args.cwd = input.cwd.trim();
      try {
        const info = await transport.request('terminal.create', args);
        get().applyTerminalChanged(sessionId, info);
        get().setActiveTerminal(sessionId, info.id);
        return { ok: true, value: info };
      } catch (err) {
        get().reportError(`Could not start terminal “${input.name}”`, err);
        return { ok: false, error: describeError(err) };
      }
    },

    killTerminal: async (sessionId, terminalId) => {
      try {
        await transport.request('terminal.kill', { sessionId, terminalId });
      } catch (err) {
        get().reportError(`Could not stop terminal “${terminalId}”`, err);
      }
    },
  });

function sameTerminal(a: TerminalInfo, b: TerminalInfo): boolean {
  return (
    a.id === b.id && a.status === b.status && a.command === b.command && a.cwd === b.cwd && a.cols === b.cols &&
    a.rows === b.rows && a.pid === b.pid && a.exitCode === b.exitCode && a.signal === b.signal && a.error === b.error &&
    a.bytes === b.bytes && a.integrated === b.integrated && a.args.join('\0') === b.args.join('\0')
  );
}
