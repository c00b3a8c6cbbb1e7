import { useEffect, useRef, useState } from 'react';
import type { SessionInfo } from '../../../shared/types';
import { useApp } from '../context';
import { formatAgo } from '../lib/format';
import { latestRollout } from '../lib/trajectoryView';
import type { AppState } from '../store';
import { countRunning, selectTerminals } from '../store/terminals';
import { Icon } from './Icon';
import { PanelResizer } from './PanelResizer';
import { PANEL_LIMITS } from '../store/view';
import { SessionImport } from './SessionImport';

/**
 * What a session is doing, at a glance: one word and one colour each (the sidebar
 * showed the same green "live" for running, paused and idle sessions). The open
 * session's trajectory knows its rollout best (an error pause, a retry in flight);
 * other sessions go by the host's pushes and the session list.
 */
export type RunStatus = 'running' | 'waiting' | 'paused' | 'error' | 'finished' | 'stopped' | 'idle' | 'recorded';

const RUN_TEXT: Record<RunStatus, string> = {
  running: 'running',
  waiting: 'waiting for endpoint',
  paused: 'paused',
  error: 'error',
  finished: 'finished',
  stopped: 'stopped',
  idle: 'idle',
  recorded: 'recorded',
};

const RUN_TITLE: Record<RunStatus, string> = {
  running: 'The agent is working',
  waiting: 'The agent waits for its model endpoint (a request is being retried)',
  paused: 'The rollout is paused: resume it from the bar above the terminal',
  error: 'The rollout stopped on an error retries could not fix: see the bar above the terminal',
  finished: 'The agent finished',
  stopped: 'The rollout was stopped',
  idle: 'Its terminals run on this host; no agent is working',
  recorded: 'Opened from disk: its processes are not running',
};

export function runStatus(s: AppState, session: SessionInfo): RunStatus {
  const entry = s.openSessionId === session.id ? s.trajectories[session.id] : undefined;
  const r = entry ? latestRollout(entry.t) : null;
  let state = s.control[session.id]?.rollout?.state ?? session.run;
  let error = false;
  if (r && (r.state === 'running' || r.state === 'paused' || !state || state === 'idle')) {
    state = r.state;
    error = r.state === 'paused' && !!r.error;
    if (r.state === 'running' && entry?.retry) return 'waiting';
  }
  switch (state) {
    case 'running':
      return 'running';
    case 'paused':
      return error ? 'error' : 'paused';
    case 'failed':
      return 'error';
    case 'finished':
      return 'finished';
    case 'stopped':
      return 'stopped';
    default:
      return session.live ? 'idle' : 'recorded';
  }
}

export function Sidebar() {
  const sessions = useApp((s) => s.sessions);
  const loaded = useApp((s) => s.sessionsLoaded);
  const openDialog = useApp((s) => s.openDialog);
  const collapsed = useApp((s) => s.sidebarCollapsed);
  const setCollapsed = useApp((s) => s.setSidebarCollapsed);
  const mergeOpen = useApp((s) => s.mergeOpen);
  const setMergeOpen = useApp((s) => s.setMergeOpen);

  const width = useApp((s) => s.sidebarWidth);
  const setWidth = useApp((s) => s.setSidebarWidth);

  if (collapsed) return <SidebarRail sessions={sessions} onExpand={() => setCollapsed(false)} />;
  return (
    <aside className="sidebar" aria-label="Sessions">
      <div className="sidebar-head">
        <button type="button" className="icon-btn" data-testid="sidebar-collapse" title="Fold the session list (more room for the terminal)" aria-label="Fold the session list" onClick={() => setCollapsed(true)}>
          <Icon name="panelLeft" size={15} />
        </button>
        <span className="brand">Apollo</span>
        <span className="spacer" />
        <button
          type="button"
          className="icon-btn"
          data-testid="settings-open"
          title="Settings: endpoints and annotator"
          aria-label="Settings"
          onClick={() => openDialog({ kind: 'settings' })}
        >
          <Icon name="sliders" size={15} />
        </button>
        <button
          type="button"
          className="btn btn-small primary"
          data-testid="new-session"
          onClick={() => openDialog({ kind: 'new-session' })}
          title="New session"
        >
          <Icon name="plus" size={12} /> New session
        </button>
      </div>
      <div className="section-label">
        Sessions {loaded && <span className="count">{sessions.length}</span>}
      </div>
      <SessionImport>
        <ul className="session-list" data-testid="session-list">
          {!loaded && <li className="muted pad">Loading…</li>}
          {loaded && sessions.length === 0 && (
            <li className="muted pad empty-hint">No sessions yet. Create one to start a shell the agent and you can share.</li>
          )}
          {sessions.map((s) => (
            <SessionItem key={s.id} session={s} />
          ))}
        </ul>
      </SessionImport>
      <div className="sidebar-foot">
        <button type="button" className={`btn btn-small${mergeOpen ? ' on' : ''}`} data-testid="merge-open" aria-pressed={mergeOpen} title="Merge the dataset bundles of several annotators into one" onClick={() => setMergeOpen(!mergeOpen)}>
          <Icon name="merge" size={13} /> Merge bundles…
        </button>
      </div>
      {/* Last in the tab order: the edge between the list and what follows it. */}
      <PanelResizer testId="sidebar-resizer" label="Resize the session list" width={width} {...PANEL_LIMITS.sidebar} edge="right" onWidth={setWidth} />
    </aside>
  );
}

/** The folded session list: one status dot per session (its name on hover), the way back, and New session. */
function SidebarRail({ sessions, onExpand }: { sessions: SessionInfo[]; onExpand(): void }) {
  const openSession = useApp((s) => s.openSession);
  const openId = useApp((s) => s.openSessionId);
  const openDialog = useApp((s) => s.openDialog);
  const setMergeOpen = useApp((s) => s.setMergeOpen);
  return (
    <aside className="sidebar rail" aria-label="Sessions" data-testid="sidebar-rail">
      <button type="button" className="icon-btn" data-testid="sidebar-expand" title="Show the session list" aria-label="Show the session list" onClick={onExpand}>
        <Icon name="panelLeft" size={15} />
      </button>
      <button type="button" className="icon-btn" title="New session" aria-label="New session" onClick={() => openDialog({ kind: 'new-session' })}>
        <Icon name="plus" size={14} />
      </button>
      <button type="button" className="icon-btn" data-testid="merge-open-rail" title="Merge bundles" aria-label="Merge bundles" onClick={() => setMergeOpen(true)}>
        <Icon name="merge" size={14} />
      </button>
      <ul className="rail-list">
        {sessions.map((x) => (
          <li key={x.id}>
            <RailDot session={x} active={x.id === openId} onOpen={() => void openSession(x.id)} />
          </li>
        ))}
      </ul>
    </aside>
  );
}

function RailDot({ session, active, onOpen }: { session: SessionInfo; active: boolean; onOpen(): void }) {
  const status = useApp((s) => runStatus(s, session));
  return (
    <button type="button" className={`rail-item${active ? ' active' : ''}`} title={`${session.name} — ${RUN_TEXT[status]}`} aria-label={`${session.name} (${RUN_TEXT[status]})`} aria-current={active ? 'true' : undefined} onClick={onOpen}>
      <span className={`run-dot run-${status}`} />
    </button>
  );
}

function SessionItem({ session }: { session: SessionInfo }) {
  const openId = useApp((s) => s.openSessionId);
  const openingId = useApp((s) => s.openingSessionId);
  const renaming = useApp((s) => s.renamingSessionId === session.id);
  const openSession = useApp((s) => s.openSession);
  const setRenaming = useApp((s) => s.setRenaming);
  const openDialog = useApp((s) => s.openDialog);
  const active = openId === session.id;
  const running = useApp((s) => countRunning(selectTerminals(s, session.id)));
  const status = useApp((s) => runStatus(s, session));

  return (
    // The row opens the session on a click anywhere; its keyboard stop is the button inside
    // (a row with role=button around the rename / delete buttons nested controls in a control).
    <li
      className={`session-item${active ? ' active' : ''}${openingId === session.id ? ' opening' : ''}`}
      data-testid="session-item"
      data-session-id={session.id}
      data-active={active || undefined}
      data-run={status}
      onClick={() => !renaming && void openSession(session.id)}
      onDoubleClick={() => setRenaming(session.id)}
    >
      <span className={`run-dot run-${status}`} data-testid="session-run" data-run={status} title={`${RUN_TITLE[status]}${session.live ? ` · ${running} running terminal${running === 1 ? '' : 's'}` : ''}`} />
      {renaming ? (
        <div className="session-main">
          <RenameInput session={session} />
        </div>
      ) : (
        <button
          type="button"
          className="session-main session-open"
          aria-current={active ? 'true' : undefined}
          title={`${session.name} — ${RUN_TEXT[status]} · ${stepsText(session.steps)}${session.lastStepAt ? `, the last at ${new Date(session.lastStepAt).toLocaleString()}` : ''} · last activity ${new Date(session.updatedAt).toLocaleString()}`}
          onKeyDown={(e) => {
            if (e.key === 'F2') setRenaming(session.id);
            if (e.key === 'Delete') openDialog({ kind: 'delete-session', sessionId: session.id });
          }}
        >
          <span className="session-name" data-testid="session-name">
            {session.name}
          </span>
          <span className="session-meta">
            <span className={`run-text run-${status}`} data-testid="session-run-text">
              {RUN_TEXT[status]}
            </span>
            {' · '}
            <span className="session-steps" data-testid="session-steps">{stepsText(session.steps)}</span>
            {/* The time since its last step (what a running session is doing); its last activity before its first. */}
            {' · '}
            <span className="session-ago" data-testid="session-ago" data-of={session.lastStepAt ? 'step' : 'activity'}>
              {formatAgo(session.lastStepAt ?? session.updatedAt)}
            </span>
          </span>
        </button>
      )}
      {!renaming && (
        <span className="session-actions">
          <button
            type="button"
            className="icon-btn"
            data-testid="rename-session"
            title="Rename (F2)"
            aria-label={`Rename session ${session.name}`}
            onClick={(e) => {
              e.stopPropagation();
              setRenaming(session.id);
            }}
          >
            <Icon name="pencil" size={13} />
          </button>
          <button
            type="button"
            className="icon-btn danger"
            data-testid="delete-session"
            title="Delete…"
            aria-label={`Delete session ${session.name}`}
            onClick={(e) => {
              e.stopPropagation();
              openDialog({ kind: 'delete-session', sessionId: session.id });
            }}
          >
            <Icon name="trash" size={13} />
          </button>
        </span>
      )}
    </li>
  );
}

function stepsText(n: number): string {
  return n === 0 ? 'no steps' : `${n} step${n === 1 ? '' : 's'}`;
}

function RenameInput({ session }: { session: SessionInfo }) {
  const [value, setValue] = useState(session.name);
  const renameSession = useApp((s) => s.renameSession);
  const setRenaming = useApp((s) => s.setRenaming);
  const ref = useRef<HTMLInputElement>(null);
  const done = useRef(false);

  useEffect(() => {
    ref.current?.focus();
    ref.current?.select();
  }, []);

  const commit = async () => {
    if (done.current) return;
    done.current = true;
    const name = value.trim();
    if (name && name !== session.name) await renameSession(session.id, name);
    setRenaming(null);
  };
  const cancel = () => {
    done.current = true;
    setRenaming(null);
  };

  return (
    <input
      ref={ref}
      className="rename-input"
      data-testid="rename-input"
      aria-label="Session name"
      value={value}
      maxLength={200}
      onChange={(e) => setValue(e.target.value)}
      onClick={(e) => e.stopPropagation()}
      onBlur={() => void commit()}
      onKeyDown={(e) => {
        e.stopPropagation();
        if (e.key === 'Enter') void commit();
        if (e.key === 'Escape') cancel();
      }}
    />
  );
}
