import { useState } from 'react';
import { useApp } from '../../context';
import { Dialog } from '../Dialog';
import { ProfileSelect, useDefaultProfile } from './ProfileSelect';

export function StartRolloutDialog({ sessionId }: { sessionId: string }) {
  const closeDialog = useApp((s) => s.closeDialog);
  const start = useApp((s) => s.startRollout);
  const entry = useApp((s) => s.trajectories[sessionId]);
  const previousTask = entry ? [...entry.t.rollouts.values()].at(-1)?.task ?? '' : '';
  const defaultProfile = useDefaultProfile();
  const [task, setTask] = useState(previousTask);
  const [profile, setProfile] = useState(defaultProfile);
  const [maxSteps, setMaxSteps] = useState('200');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const chosen = profile || defaultProfile;
  const steps = Number(maxSteps);
  const stepsError = !Number.isInteger(steps) || steps < 1 || steps > 100_000 ? 'A whole number from 1 to 100000.' : null;

  const submit = async () => {
    if (busy || !task.trim() || !chosen || stepsError) return;
    setBusy(true);
    setError(null);
    const res = await start(sessionId, { task: task.trim(), profile: chosen, maxSteps: steps });
    setBusy(false);
    if (res.ok) closeDialog();
    else setError(res.error.message);
  };

  return (
    <Dialog
      title="Start a rollout"
      testId="start-rollout-dialog"
      width={560}
      onClose={closeDialog}
      onSubmit={() => void submit()}
      footer={
        <>
          <button type="button" className="btn" onClick={closeDialog}>
            Cancel
          </button>
          <button type="submit" className="btn primary" data-testid="rollout-submit" disabled={busy || !task.trim() || !chosen || !!stepsError}>
            {busy ? 'Starting…' : 'Start'}
          </button>
        </>
      }
    >
      <label className="field">
        <span className="field-label">Task</span>
        <textarea
          autoFocus
          data-testid="rollout-task"
          rows={6}
          value={task}
          maxLength={200_000}
          placeholder="What should the agent do? It works in this session's terminals and working directory."
          onChange={(e) => setTask(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
              e.preventDefault();
              void submit();
            }
          }}
        />
        <span className="field-hint">Ctrl/⌘ Enter starts. The agent continues the main branch from its last step.</span>
      </label>
      <div className="field-row">
        <label className="field grow">
          <span className="field-label">Endpoint profile</span>
          <ProfileSelect value={chosen} onChange={setProfile} testId="rollout-profile" />
        </label>
        <label className="field narrow">
          <span className="field-label">Max steps</span>
          <input data-testid="rollout-max-steps" inputMode="numeric" value={maxSteps} aria-invalid={!!stepsError} onChange={(e) => setMaxSteps(e.target.value)} />
        </label>
      </div>
      {stepsError && <span className="field-error">{stepsError}</span>}
      {error && (
        <div className="form-error" data-testid="form-error" role="alert">
          {error}
        </div>
      )}
    </Dialog>
  );
}
