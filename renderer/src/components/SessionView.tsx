import { useEffect, type KeyboardEvent } from 'react';
import type { SessionInfo, TerminalInfo } from '../../../shared/types';
import { useApp } from '../context';
import { countRunning, selectTerminals } from '../store/terminals';
import { stepDetailsReady } from '../store/trajectory';
import { formatDateTime } from '../lib/format';
import { Icon } from './Icon';
import { TerminalView } from './TerminalView';
import { TerminalReplay } from './replay/TerminalReplay';
import { RolloutBar } from './rollout/RolloutBar';
import { StepInspector } from './inspector/StepInspector';
import { ViewTabs } from './filter/ViewTabs';
import { DerivedContextWarning, SessionOriginBadge } from './SessionOrigin';
import { Timeline } from './timeline/Timeline';
import { TimelineToggle } from './timeline/TimelineToggle';
import { SessionSearch } from './search/SessionSearch';

export function SessionView({ session }: { session: SessionInfo }) {
  const terminals = useApp((s) => selectTerminals(s, session.id));
  const activeId = useApp((s) => s.activeTerminal[session.id]);
  const setActive = useApp((s) => s.setActiveTerminal);
  const openDialog = useApp((s) => s.openDialog);
  const loadControl = useApp((s) => s.loadControl);
  const origin = useApp((s) => s.trajectories[session.id]?.origin ?? null);
  // The session list's flag is only refreshed when the list is: a terminal started since
  // (a rewind's restored shell) makes the session live at once.
  const live = session.live || countRunning(terminals) > 0;
  // Who drives which terminal (pushed as it changes from then on).
  useEffect(() => {
    void loadControl(session.id);
  }, [session.id, loadControl]);

  const active = terminals.find((t) => t.id === activeId) ?? terminals[0];
  /** The timed replay of the shown terminal, open over it (a search hit opens it too). */
  const replay = useApp((s) => s.replays[session.id]);
  const openReplay = useApp((s) => s.openReplay);
  const closeReplay = useApp((s) => s.closeReplay);
  useEffect(() => {
    if (active && active.id !== activeId) setActive(session.id, active.id);
  }, [active, activeId, session.id, setActive]);

  return (
    <section className="session-view" aria-label={`Session ${session.name}`}>
      <SessionHeader session={session} live={live} />
      {/* Not live says only that no terminal of it runs on this host now: it may be a sample, an import, a
          rollout whose shells ended, or one from before a restart, so the banner names no cause it cannot know. */}
      {!live && (
        <div className="banner banner-ended" data-testid="session-ended-banner" data-kind={origin ? 'imported' : 'recorded'} role="status">
          {origin ? (
            <>
              <strong>Imported run.</strong> A recording of {origin.file} ({origin.format}), with no environment to restore: its
              terminals replay what was recorded and take no input; the trajectory and annotations are intact.
            </>
          ) : (
            <>
              <strong>Recording.</strong> No terminal of this session runs on this host now: its terminals replay what was
              recorded and take no input; the trajectory and annotations are intact.
            </>
          )}
        </div>
      )}
      {origin && <DerivedContextWarning origin={origin} />}
      <RolloutBar session={session} />
      <Timeline live={live} />
      <div className="tabs">
        {/* Only tabs in the tablist: the stop and add buttons sit beside it (a button inside a tab nested a control in a control). */}
        <div className="tabs-list" role="tablist" aria-label="Terminals" onKeyDown={(e) => onTabKeys(e, terminals, active?.id, (id) => setActive(session.id, id))}>
          {terminals.map((t) => (
            <TerminalTab
              key={t.id}
              sessionId={session.id}
              terminal={t}
              active={t.id === active?.id}
              live={live}
              onSelect={() => setActive(session.id, t.id)}
            />
          ))}
        </div>
        {active && <StopTerminal sessionId={session.id} terminal={active} live={live} />}
        {active && (
          <button
            type="button"
            className="btn btn-small tab-replay"
            data-testid="replay-toggle"
            aria-pressed={!!replay}
            title={`Replay terminal ${active.id} with its recorded timing`}
            onClick={() => (replay ? closeReplay(session.id) : openReplay(session.id))}
          >
            Replay
          </button>
        )}
        <button
          type="button"
          className="tab-add"
          data-testid="add-terminal"
          title={live ? 'New terminal' : 'This session is recorded: new terminals need a live session'}
          aria-label="New terminal"
          disabled={!live}
          onClick={() => openDialog({ kind: 'add-terminal', sessionId: session.id })}
        >
          <Icon name="plus" size={13} />
        </button>
      </div>
      <div className="terminal-stack">
        {terminals.map((t) => (
          <TerminalView key={t.id} sessionId={session.id} info={t} live={live} visible={t.id === active?.id} />
        ))}
        {replay && active && (
          <TerminalReplay
            key={`${session.id}/${active.id}`}
            sessionId={session.id}
            terminalId={active.id}
            request={replay.at?.terminalId === active.id ? replay : null}
            onClose={() => closeReplay(session.id)}
          />
        )}
        {terminals.length === 0 && (
          <div className="empty-state">
            <Icon name="terminal" size={28} />
            <p>This session has no terminals.</p>
            {live && (
              <button type="button" className="btn primary" onClick={() => openDialog({ kind: 'add-terminal', sessionId: session.id })}>
                Start a terminal
              </button>
            )}
          </div>
        )}
      </div>
      <SelectedStepInspector sessionId={session.id} />
    </section>
  );
}

function SelectedStepInspector({ sessionId }: { sessionId: string }) {
  const stepId = useApp((s) => s.views[sessionId]?.stepId ?? null);
  const entry = useApp((s) => s.trajectories[sessionId]);
  const open = useApp((s) => s.inspectorOpen);
  const step = stepId && entry ? entry.t.steps.get(stepId) : undefined;
  if (!step || !open) return null;
  // `entry` (replaced on every change) re-renders the inspector as the step fills in
  // (the fold mutates it). Not keyed by step: moving through steps with j/k reuses the
  // inspector's terminal instead of building a new xterm for every step.
  return <StepInspector sessionId={sessionId} step={step} loading={!stepDetailsReady(entry, step.id)} />;
}

function SessionHeader({ session, live }: { session: SessionInfo; live: boolean }) {
  const origin = useApp((s) => s.trajectories[session.id]?.origin ?? null);
  const warnings = useApp((s) => s.trajectories[session.id]?.warnings);
  return (
    <header className="session-header">
      <h1 className="session-title" title={session.name}>
        {session.name}
      </h1>
      <span
        className={`badge ${live ? 'badge-live' : 'badge-recorded'}`}
        data-testid="session-status"
        data-status={live ? 'live' : 'recorded'}
        title={live ? 'Its terminals run on this host now' : 'Opened from disk: processes are not running'}
      >
        {live ? 'Live' : 'Recorded'}
      </span>
      {origin && <SessionOriginBadge origin={origin} warnings={warnings ?? []} />}
      <ViewTabs sessionId={session.id} />
      <span className="session-facts">
        <span className="mono session-cwd" title={`Working directory: ${session.cwd}`}>
          {session.cwd}
        </span>
        <span title={`Created ${formatDateTime(session.createdAt)}`}>{formatDateTime(session.createdAt)}</span>
        <span title={`${session.steps} step${session.steps === 1 ? '' : 's'}`}>
          {session.steps} step{session.steps === 1 ? '' : 's'}
        </span>
        <span className="mono dim" title={`Session id: ${session.id}`}>
          {session.id}
        </span>
      </span>
      <TimelineToggle />
      <SessionSearch sessionId={session.id} />
    </header>
  );
}

/** ←/→/Home/End move between the terminal tabs (a roving tab stop: only the selected tab is in the Tab order). */
function onTabKeys(e: KeyboardEvent<HTMLElement>, terminals: TerminalInfo[], activeId: string | undefined, select: (id: string) => void) {
  if (!(e.target as HTMLElement).matches('[role="tab"]') || terminals.length === 0) return;
  const i = Math.max(0, terminals.findIndex((t) => t.id === activeId));
  const n = terminals.length;
  const j = e.key === 'ArrowRight' ? (i + 1) % n : e.key === 'ArrowLeft' ? (i - 1 + n) % n : e.key === 'Home' ? 0 : e.key === 'End' ? n - 1 : -1;
  if (j < 0) return;
  e.preventDefault();
  const id = terminals[j]!.id;
  select(id);
  const list = e.currentTarget;
  // After the shown terminal took the focus (it does when shown), give it back to the tab.
  setTimeout(() => list.querySelector<HTMLElement>(`[role="tab"][data-terminal-id="${CSS.escape(id)}"]`)?.focus(), 0);
}

function statusText(t: TerminalInfo): string {
  switch (t.status) {
    case 'failed':
      return `failed: ${t.error ?? 'unknown error'}`;
    case 'exited':
      return t.signal ? `exited (signal ${t.signal})` : `exited (code ${t.exitCode ?? '?'})`;
    default:
      return t.status;
  }
}

/** Labelled, not a bare square: it ends the shown terminal's process (the square looked like a tab's close button). */
function StopTerminal({ sessionId, terminal: t, live }: { sessionId: string; terminal: TerminalInfo; live: boolean }) {
  const killTerminal = useApp((s) => s.killTerminal);
  if (!live || (t.status !== 'running' && t.status !== 'starting')) return null;
  const command = [t.command, ...t.args].join(' ') || 'login shell';
  return (
    <button
      type="button"
      className="tab-stop"
      data-testid="kill-terminal"
      title={`Stop the process of terminal ${t.id} (${command}); its recording stays`}
      aria-label={`stop ${t.id}: end the process of this terminal`}
      onClick={() => void killTerminal(sessionId, t.id)}
    >
      <Icon name="stop" size={9} /> stop {t.id}
    </button>
  );
}

function TerminalTab(props: { sessionId: string; terminal: TerminalInfo; active: boolean; live: boolean; onSelect(): void }) {
  const { terminal: t, active } = props;
  const command = [t.command, ...t.args].join(' ') || 'login shell';
  return (
    <div
      className={`tab${active ? ' active' : ''}`}
      role="tab"
      aria-selected={active}
      tabIndex={active ? 0 : -1}
      data-testid="terminal-tab"
      data-terminal-id={t.id}
      data-status={t.status}
      title={`${t.id} — ${command}\n${t.cwd}\n${statusText(t)}`}
      onClick={props.onSelect}
      onKeyDown={(e) => (e.key === 'Enter' || e.key === ' ') && props.onSelect()}
    >
      <span className={`dot dot-${t.status}`} aria-label={statusText(t)} />
      <span className="tab-name">{t.id}</span>
      {t.status === 'failed' && <span className="tab-error">failed</span>}
      {t.status === 'exited' && <span className="tab-exit">{t.signal ? `sig ${t.signal}` : `exit ${t.exitCode ?? '?'}`}</span>}
    </div>
  );
}
