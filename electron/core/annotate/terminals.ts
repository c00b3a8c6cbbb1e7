// Which real terminal an agent's `session_id` means. The agent keeps using the names
// it chose ("main"); a rewind starts fresh terminals under new ids ("main-r2") so
// that each branch's output has its own recording, and maps the names onto them.
// The map lives as long as the terminals do (per PTY host, in memory).
import type { Trajectory } from '../../../shared/trajectory';
import { pathTo } from '../../../shared/trajectory';
import type { LiveTerminal } from '../pty/types';
import type { SessionLog } from '../store/workspace';
import { parseToolCall } from '../rollout/tools';

const registry = new WeakMap<object, Map<string, Record<string, string>>>();

/** Agent name → terminal id for a session's live environment (empty: names are ids). */
export function aliasesFor(host: object, sessionId: string): Record<string, string> {
  return { ...(registry.get(host)?.get(sessionId) ?? {}) };
}

export function setAliases(host: object, sessionId: string, aliases: Record<string, string>): void {
  let m = registry.get(host);
  if (!m) registry.set(host, (m = new Map()));
  m.set(sessionId, { ...aliases });
}

/** The terminal names (`session_id`) used by the tool calls on the path to a step, in order of first use. */
export function agentTerminalNames(t: Trajectory, stepId: string | null): string[] {
  const names: string[] = [];
  for (const step of pathTo(t, stepId)) {
    for (const call of step.response?.toolCalls ?? []) {
      const p = parseToolCall(call);
      const sid = p.ok ? p.args.session_id : undefined;
      if (typeof sid === 'string' && !names.includes(sid)) names.push(sid);
    }
  }
  return names;
}

/** A terminal id not used before in this session: `<name>-r2`, `<name>-r3`, ... */
export function freshTerminalId(session: SessionLog, live: readonly LiveTerminal[], name: string, taken: Set<string> = new Set()): string {
  const used = new Set<string>(taken);
  for (const ev of session.events) {
    if (ev.type === 'terminal.started' || ev.type === 'terminal.failed') used.add(ev.terminalId);
  }
  for (const t of live) used.add(t.id);
  const base = name.replace(/-r\d+$/, '');
  for (let k = 2; ; k++) {
    const suffix = `-r${k}`;
    const id = `${base.slice(0, 64 - suffix.length)}${suffix}`;
    if (!used.has(id)) return id;
  }
}

/** The terminal whose directory and environment a checkpoint records: the first running one. */
export function primaryTerminal(list: readonly LiveTerminal[]): LiveTerminal | undefined {
  return list.find((t) => t.info().status === 'running') ?? list[0];
}
