// The app's modal dialogs, driven by `ui.dialog` in the store.
import { useState } from 'react';
import { useApp, useEnv } from '../context';
import { parseCommandLine } from '../lib/shellwords';
import { countRunning, selectTerminals } from '../store/terminals';
import { Dialog } from './Dialog';
import { SettingsDialog } from './dialogs/SettingsDialog';
import { StartRolloutDialog } from './dialogs/StartRolloutDialog';
import { BranchDialog, RewindDialog } from './dialogs/BranchDialogs';
import { ShortcutsDialog } from './dialogs/ShortcutsDialog';

export function Dialogs() {
  const dialog = useApp((s) => s.dialog);
  if (!dialog) return null;
  switch (dialog.kind) {
    case 'new-session':
      return <NewSessionDialog />;
    case 'delete-session':
      return <DeleteSessionDialog sessionId={dialog.sessionId} />;
    case 'add-terminal':
      return <AddTerminalDialog sessionId={dialog.sessionId} />;
    case 'settings':
      return <SettingsDialog />;
    case 'start-rollout':
      return <StartRolloutDialog sessionId={dialog.sessionId} />;
    case 'branch':
      return <BranchDialog sessionId={dialog.sessionId} fromStepId={dialog.fromStepId} />;
    case 'rewind':
      return <RewindDialog sessionId={dialog.sessionId} toStepId={dialog.toStepId} />;
    case 'shortcuts':
      return <ShortcutsDialog />;
  }
}

function useCommandParser() {
  const hostPlatform = useApp((s) => s.appInfo?.platform);
  const env = useEnv();
  // Commands run on the host, so its platform decides the shell fallback.
  const platform = hostPlatform ?? env.platform.toLowerCase();
  return (line: string) => parseCommandLine(line, platform) ?? undefined;
}

function NewSessionDialog() {
  const closeDialog = useApp((s) => s.closeDialog);
  const createSession = useApp((s) => s.createSession);
  const parse = useCommandParser();
  const [name, setName] = useState('');
  const [cwd, setCwd] = useState('');
  const [command, setCommand] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async () => {
    if (busy) return;
    let parsed;
    try {
      parsed = parse(command);
    } catch (e) {
      setError((e as Error).message);
      return;
    }
    setBusy(true);
    const res = await createSession({ name, cwd, command: parsed });
    setBusy(false);
    if (res.ok) closeDialog();
    else setError(res.error.message);
  };

  return (
    <Dialog
      title="New session"
      testId="new-session-dialog"
      onClose={closeDialog}
      onSubmit={() => void submit()}
      footer={
        <>
          <button type="button" className="btn" onClick={closeDialog}>
            Cancel
          </button>
          <button type="submit" className="btn primary" data-testid="create-session" disabled={busy}>
            {busy ? 'Creating…' : 'Create session'}
          </button>
        </>
      }
    >
      <label className="field">
        <span className="field-label">Name</span>
        <input
          autoFocus
          data-testid="session-name-input"
          value={name}
          maxLength={200}
          placeholder="e.g. cifar-resnet sweep"
          onChange={(e) => setName(e.target.value)}
        />
      </label>
      <label className="field">
        <span className="field-label">
          Working directory <span className="optional">optional</span>
        </span>
        <input
          data-testid="session-cwd-input"
          value={cwd}
          placeholder="defaults to the host's home directory"
          spellCheck={false}
          onChange={(e) => setCwd(e.target.value)}
        />
      </label>
      <label className="field">
        <span className="field-label">
          Command for the first terminal <span className="optional">optional</span>
        </span>
        <input
          className="mono"
          data-testid="session-command-input"
          value={command}
          placeholder="login shell; or e.g. ssh gpu-box"
          spellCheck={false}
          onChange={(e) => {
            setCommand(e.target.value);
            setError(null);
          }}
        />
        <span className="field-hint">The session starts with one terminal named “main”.</span>
      </label>
      {error && (
        <div className="form-error" data-testid="form-error" role="alert">
          {error}
        </div>
      )}
    </Dialog>
  );
}

function DeleteSessionDialog({ sessionId }: { sessionId: string }) {
  const closeDialog = useApp((s) => s.closeDialog);
  const deleteSession = useApp((s) => s.deleteSession);
  const session = useApp((s) => s.sessions.find((x) => x.id === sessionId));
  const running = useApp((s) => countRunning(selectTerminals(s, sessionId)));
  const [busy, setBusy] = useState(false);
  if (!session) return null;


  const confirm = async () => {
    setBusy(true);
    const ok = await deleteSession(sessionId);
    setBusy(false);
    if (ok) closeDialog();
  };

  return (
    <Dialog
      title={`Delete session “${session.name}”?`}
      testId="delete-session-dialog"
      onClose={closeDialog}
      footer={
        <>
          <button type="button" className="btn" autoFocus onClick={closeDialog}>
            Cancel
          </button>
          <button type="button" className="btn danger-fill" data-testid="confirm-delete" disabled={busy} onClick={() => void confirm()}>
            {busy ? 'Deleting…' : 'Delete session'}
          </button>
        </>
      }
    >
      <p>
        The session <strong>{session.name}</strong> will be removed from disk with its event log, terminal recordings, labels
        and comments{session.steps > 0 ? ` (${session.steps} step${session.steps === 1 ? '' : 's'})` : ''}. This cannot be undone.
      </p>
      {running > 0 && (
        <p className="warn-text">
          {running} terminal{running === 1 ? ' is' : 's are'} still running and will be stopped.
        </p>
      )}
    </Dialog>
  );
}

const TERMINAL_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

function AddTerminalDialog({ sessionId }: { sessionId: string }) {
  const closeDialog = useApp((s) => s.closeDialog);
  const createTerminal = useApp((s) => s.createTerminal);
  const existing = useApp((s) => s.terminals[sessionId]);
  const parse = useCommandParser();
  const [name, setName] = useState(() => suggestName(existing?.map((t) => t.id) ?? []));
  const [command, setCommand] = useState('');
  const [cwd, setCwd] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const nameError = !TERMINAL_NAME.test(name)
    ? 'Use 1–64 letters, digits, “_”, “.” or “-”.'
    : existing?.some((t) => t.id === name)
      ? `A terminal named “${name}” already exists.`
      : null;

  const submit = async () => {
    if (busy || nameError) return;
    let parsed;
    try {
      parsed = parse(command);
    } catch (e) {
      setError((e as Error).message);
      return;
    }
    setBusy(true);
    const res = await createTerminal(sessionId, { name, command: parsed, cwd });
    setBusy(false);
    if (res.ok) closeDialog();
    else setError(res.error.message);
  };

  return (
    <Dialog
      title="New terminal"
      testId="add-terminal-dialog"
      onClose={closeDialog}
      onSubmit={() => void submit()}
      footer={
        <>
          <button type="button" className="btn" onClick={closeDialog}>
            Cancel
          </button>
          <button type="submit" className="btn primary" data-testid="create-terminal" disabled={busy || !!nameError}>
            {busy ? 'Starting…' : 'Start terminal'}
          </button>
        </>
      }
    >
      <label className="field">
        <span className="field-label">Name</span>
        <input
          autoFocus
          className="mono"
          data-testid="terminal-name-input"
          value={name}
          maxLength={64}
          spellCheck={false}
          aria-invalid={!!nameError}
          onChange={(e) => setName(e.target.value)}
        />
        {nameError ? <span className="field-error">{nameError}</span> : <span className="field-hint">The agent refers to terminals by this name.</span>}
      </label>
      <label className="field">
        <span className="field-label">
          Command <span className="optional">optional</span>
        </span>
        <input
          className="mono"
          data-testid="terminal-command-input"
          value={command}
          placeholder="login shell; or e.g. ssh gpu-box"
          spellCheck={false}
          onChange={(e) => {
            setCommand(e.target.value);
            setError(null);
          }}
        />
      </label>
      <label className="field">
        <span className="field-label">
          Working directory <span className="optional">optional</span>
        </span>
        <input data-testid="terminal-cwd-input" value={cwd} placeholder="the session's directory" spellCheck={false} onChange={(e) => setCwd(e.target.value)} />
      </label>
      {error && (
        <div className="form-error" data-testid="form-error" role="alert">
          {error}
        </div>
      )}
    </Dialog>
  );
}

function suggestName(taken: string[]): string {
  const set = new Set(taken);
  if (!set.has('main')) return 'main';
  for (let i = 2; ; i++) if (!set.has(`term${i}`)) return `term${i}`;
}
