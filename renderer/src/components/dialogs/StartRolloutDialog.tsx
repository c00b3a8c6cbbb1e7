import { useState } from 'react';
import { useApp } from '../../context';
import { Field, FormDialog, onCtrlEnter, useSubmit } from '../form';
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
  const { busy, error, run } = useSubmit();
  const chosen = profile || defaultProfile;
  const steps = Number(maxSteps);
  const stepsError = !Number.isInteger(steps) || steps < 1 || steps > 100_000 ? 'A whole number from 1 to 100000.' : null;
  const ready = !!task.trim() && !!chosen && !stepsError;

  const submit = () => {
    if (!ready) return;
    void run(() => start(sessionId, { task: task.trim(), profile: chosen, maxSteps: steps }), closeDialog);
  };

  return (
    <FormDialog
      title="Start a rollout"
      testId="start-rollout-dialog"
      width={560}
      onClose={closeDialog}
      onSubmit={submit}
      submit={{ label: 'Start', busyLabel: 'Starting…', testId: 'rollout-submit', disabled: !ready }}
      busy={busy}
      error={error}
    >
      <Field label="Task" hint="Ctrl/⌘ Enter starts. The agent continues the main branch from its last step.">
        <textarea
          autoFocus
          data-testid="rollout-task"
          rows={6}
          value={task}
          maxLength={200_000}
          placeholder="What should the agent do? It works in this session's terminals and working directory."
          onChange={(e) => setTask(e.target.value)}
          onKeyDown={onCtrlEnter(submit)}
        />
      </Field>
      <div className="field-row">
        <Field label="Endpoint profile" className="grow">
          <ProfileSelect value={chosen} onChange={setProfile} testId="rollout-profile" />
        </Field>
        <Field label="Max steps" className="narrow">
          <input data-testid="rollout-max-steps" inputMode="numeric" value={maxSteps} aria-invalid={!!stepsError} onChange={(e) => setMaxSteps(e.target.value)} />
        </Field>
      </div>
      {stepsError && <span className="field-error">{stepsError}</span>}
    </FormDialog>
  );
}
