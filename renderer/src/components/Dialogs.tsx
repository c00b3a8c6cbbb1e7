// The app's modal dialogs, driven by `ui.dialog` in the store.
import { useEffect, useState } from 'react';
import type { EnvironmentInfo } from '../../../shared/contract/environments';
import { useApp, useEnv, useTransport } from '../context';
import { describeError, type Outcome } from '../lib/errors';
import { parseCommandLine, type ParsedCommand } from '../lib/shellwords';
import { countRunning, selectTerminals } from '../store/terminals';
import { Field, FormDialog, REPORTED, useSubmit } from './form';
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
  /** The parsed command line, or the reason it cannot be parsed. */
  return (line: string): Outcome<ParsedCommand | undefined> => {
    try {
      return { ok: true, value: parseCommandLine(line, platform) ?? undefined };
    } catch (e) {
      return { ok: false, error: describeError(e) };
    }
  };
}

function CommandField({ label, value, onChange, testId, hint }: { label: string; value: string; onChange(v: string): void; testId: string; hint?: string }) {
  return (
    <Field label={label} optional="optional" hint={hint}>
      <input className="mono" data-testid={testId} value={value} placeholder="login shell; or e.g. ssh gpu-box" spellCheck={false} onChange={(e) => onChange(e.target.value)} />
    </Field>
  );
}

function CwdField({ value, onChange, testId, placeholder }: { value: string; onChange(v: string): void; testId: string; placeholder: string }) {
  return (
    <Field label="Working directory" optional="optional">
      <input data-testid={testId} value={value} placeholder={placeholder} spellCheck={false} onChange={(e) => onChange(e.target.value)} />
    </Field>
  );
}

function NewSessionDialog() {
  const closeDialog = useApp((s) => s.closeDialog);
  const createSession = useApp((s) => s.createSession);
  const parse = useCommandParser();
  const [name, setName] = useState('');
  const [cwd, setCwd] = useState('');
  const [command, setCommand] = useState('');
  const [environment, setEnvironment] = useState('local');
  const environments = useEnvironmentList();
  const chosen = environments?.find((e) => e.spec.name === environment);
  const { busy, error, setError, run } = useSubmit();

  const submit = () =>
    run(async () => {
      const parsed = parse(command);
      return parsed.ok ? createSession({ name, cwd, command: parsed.value, environment }) : parsed;
    }, closeDialog);

  return (
    <FormDialog
      title="New session"
      testId="new-session-dialog"
      onClose={closeDialog}
      onSubmit={() => void submit()}
      submit={{ label: 'Create session', busyLabel: 'Creating…', testId: 'create-session' }}
      busy={busy}
      error={error}
    >
      <Field label="Name">
        <input autoFocus data-testid="session-name-input" value={name} maxLength={200} placeholder="e.g. cifar-resnet sweep" onChange={(e) => setName(e.target.value)} />
      </Field>
      {environments && environments.length > 1 && (
        <Field label="Environment" hint={chosen && chosen.spec.kind !== 'local' ? `Terminals, files and checkpoints are in ${chosen.target}; the working directory is a folder there.` : 'Profiles are kept in Settings → Environments.'}>
          <select data-testid="session-environment" value={environment} onChange={(e) => setEnvironment(e.target.value)}>
            {environments.map((e) => (
              <option key={e.spec.name} value={e.spec.name}>
                {e.spec.kind === 'local' ? 'This machine' : `${e.spec.name} — ${e.target}`}
              </option>
            ))}
          </select>
        </Field>
      )}
      <CwdField
        value={cwd}
        onChange={setCwd}
        testId="session-cwd-input"
        placeholder={chosen && chosen.spec.kind !== 'local' ? `defaults to ${chosen.spec.workdir ?? `the home folder in ${chosen.spec.name}`}` : "defaults to the host's home directory"}
      />
      <CommandField
        label="Command for the first terminal"
        value={command}
        testId="session-command-input"
        hint="The session starts with one terminal named “main”."
        onChange={(v) => {
          setCommand(v);
          setError(null);
        }}
      />
    </FormDialog>
  );
}

/** The environment profiles (this machine first), or null while they load (or when the host cannot say). */
function useEnvironmentList(): EnvironmentInfo[] | null {
  const transport = useTransport();
  const [list, setList] = useState<EnvironmentInfo[] | null>(null);
  useEffect(() => {
    let live = true;
    transport.request('environments.list', {}).then(
      (r) => live && setList(r.environments),
      () => undefined, // no picker: the session works on this machine, as before
    );
    return () => {
      live = false;
    };
  }, [transport]);
  return list;
}

function DeleteSessionDialog({ sessionId }: { sessionId: string }) {
  const closeDialog = useApp((s) => s.closeDialog);
  const deleteSession = useApp((s) => s.deleteSession);
  const session = useApp((s) => s.sessions.find((x) => x.id === sessionId));
  const running = useApp((s) => countRunning(selectTerminals(s, sessionId)));
  const { busy, error, run } = useSubmit();
  if (!session) return null;

  // A failure is reported as a toast by the store; the dialog stays open to try again.
  const confirm = () => run(async () => ((await deleteSession(sessionId)) ? { ok: true, value: null } : REPORTED), closeDialog);

  return (
    <FormDialog
      title={`Delete session “${session.name}”?`}
      testId="delete-session-dialog"
      onClose={closeDialog}
      onSubmit={() => void confirm()}
      submit={{ label: 'Delete session', busyLabel: 'Deleting…', testId: 'confirm-delete', className: 'danger-fill' }}
      busy={busy}
      error={error}
      cancelFirst
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
    </FormDialog>
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
  const { busy, error, setError, run } = useSubmit();

  const nameError = !TERMINAL_NAME.test(name)
    ? 'Use 1–64 letters, digits, “_”, “.” or “-”.'
    : existing?.some((t) => t.id === name)
      ? `A terminal named “${name}” already exists.`
      : null;

  const submit = () => {
    if (nameError) return;
    return run(async () => {
      const parsed = parse(command);
      return parsed.ok ? createTerminal(sessionId, { name, command: parsed.value, cwd }) : parsed;
    }, closeDialog);
  };

  return (
    <FormDialog
      title="New terminal"
      testId="add-terminal-dialog"
      onClose={closeDialog}
      onSubmit={() => void submit()}
      submit={{ label: 'Start terminal', busyLabel: 'Starting…', testId: 'create-terminal', disabled: !!nameError }}
      busy={busy}
      error={error}
    >
      <Field label="Name" error={nameError} hint={nameError ? undefined : 'The agent refers to terminals by this name.'}>
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
      </Field>
      <CommandField
        label="Command"
        value={command}
        testId="terminal-command-input"
        onChange={(v) => {
          setCommand(v);
          setError(null);
        }}
      />
      <CwdField value={cwd} onChange={setCwd} testId="terminal-cwd-input" placeholder="the session's directory" />
    </FormDialog>
  );
}

function suggestName(taken: string[]): string {
  const set = new Set(taken);
  if (!set.has('main')) return 'main';
  for (let i = 2; ; i++) if (!set.has(`term${i}`)) return `term${i}`;
}
