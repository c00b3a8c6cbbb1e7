import { useEffect, useRef, useState } from 'react';
import type { SessionInfo } from '../../../shared/types';
import { useApp } from '../context';
import { formatAgo } from '../lib/format';
import { countRunning, selectTerminals } from '../store/terminals';
import { Icon } from './Icon';

export function Sidebar() {
  const sessions = useApp((s) => s.sessions);
  const loaded = useApp((s) => s.sessionsLoaded);
  const openDialog = useApp((s) => s.openDialog);

  return (
    <aside className="sidebar" aria-label="Sessions">
      <div className="sidebar-head">
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
      <ul className="session-list" data-testid="session-list">
        {!loaded && <li className="muted pad">Loading…</li>}
        {loaded && sessions.length === 0 && (
          <li className="muted pad empty-hint">No sessions yet. Create one to start a shell the agent and you can share.</li>
        )}
        {sessions.map((s) => (
          <SessionItem key={s.id} session={s} />
        ))}
      </ul>
    </aside>
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

  return (
    <li
      className={`session-item${active ? ' active' : ''}${openingId === session.id ? ' opening' : ''}`}
      data-testid="session-item"
      data-session-id={session.id}
      data-active={active || undefined}
      aria-current={active ? 'true' : undefined}
      role="button"
      tabIndex={0}
      aria-label={`${session.name} (${session.live ? 'live' : 'recorded'})`}
      onClick={() => !renaming && void openSession(session.id)}
      onDoubleClick={() => setRenaming(session.id)}
      onKeyDown={(e) => {
        if (renaming || e.target !== e.currentTarget) return;
        if (e.key === 'Enter') void openSession(session.id);
        if (e.key === 'F2') setRenaming(session.id);
        if (e.key === 'Delete') openDialog({ kind: 'delete-session', sessionId: session.id });
      }}
    >
      <span className={`dot ${session.live ? (running ? 'dot-running' : 'dot-idle') : 'dot-recorded'}`} title={session.live ? `Live · ${running} running terminal(s)` : 'Recorded'} />
      <div className="session-main">
        {renaming ? (
          <RenameInput session={session} />
        ) : (
          <span className="session-name" data-testid="session-name" title={session.name}>
            {session.name}
          </span>
        )}
        <span className="session-meta">
          {session.live ? 'live' : 'recorded'}
          {session.steps > 0 && ` · ${session.steps} step${session.steps === 1 ? '' : 's'}`} · {formatAgo(session.updatedAt)}
        </span>
      </div>
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
