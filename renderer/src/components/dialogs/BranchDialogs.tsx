// "Branch here" (continue from a step with the agent, optionally guided, or with an
// action written by hand — that works offline) and "Rewind here" (restore the files
// and shell of a step, then continue as a new branch).
import { useEffect, useMemo, useState } from 'react';
import type { HandActionPlan, RestoreProgress } from '../../../../shared/contract/annotate';
import type { StepWorld } from '../../../../shared/events';
import { useApp, useTransport } from '../../context';
import { describeError } from '../../lib/errors';
import { TOOL_NAMES, TOOLS, isToolName, toolSignature, validateToolArgs, type ToolName } from '../../../../shared/tools';
import { summarizeShownStep } from '../../lib/steps';
import { stepDetailsReady } from '../../store/trajectory';
import { Field, FormDialog, useSubmit } from '../form';
import { ProfileSelect, useDefaultProfile } from './ProfileSelect';

function useStepTitle(sessionId: string, stepId: string | null): string {
  const step = useApp((s) => (stepId ? s.trajectories[sessionId]?.t.steps.get(stepId) : undefined));
  const loading = useApp((s) => (stepId ? !stepDetailsReady(s.trajectories[sessionId], stepId) : false));
  if (!stepId) return 'the start of the task';
  if (!step) return 'this step';
  const sum = summarizeShownStep(step, loading);
  return `step ${step.depth} (${sum.tool}${sum.detail ? `: ${sum.detail.slice(0, 60)}` : ''})`;
}

/** The arguments as typed (sent as they are), checked against the tool's declaration as the host will. */
function parseArgs(tool: ToolName, text: string): { ok: true; value: Record<string, unknown> } | { ok: false; error: string } {
  let value: Record<string, unknown> = {};
  if (text.trim()) {
    try {
      const v = JSON.parse(text) as unknown;
      if (!v || typeof v !== 'object' || Array.isArray(v)) return { ok: false, error: 'The arguments must be a JSON object, e.g. {"session_id": "main", "command": "ls"}.' };
      value = v as Record<string, unknown>;
    } catch (e) {
      return { ok: false, error: `Not valid JSON: ${(e as Error).message}` };
    }
  }
  const check = validateToolArgs(tool, value);
  return check.ok ? { ok: true, value } : { ok: false, error: `${check.reason[0]!.toUpperCase()}${check.reason.slice(1)}. Usage: ${toolSignature(tool)}` };
}

const templateText = (tool: ToolName) => JSON.stringify(TOOLS[tool].template, null, 2);

type PlanState = { state: 'loading' } | { state: 'error'; message: string } | { state: 'ok'; plan: HandActionPlan };

/** Where the hand-written action would run (asked of the host, which checks the checkpoint). */
function useHandActionPlan(sessionId: string, fromStepId: string | null, enabled: boolean): PlanState {
  const transport = useTransport();
  const [plan, setPlan] = useState<PlanState>({ state: 'loading' });
  useEffect(() => {
    if (!enabled) return;
    let cancelled = false;
    setPlan({ state: 'loading' });
    transport
      .request('branch.handActionPlan', { sessionId, fromStepId })
      .then((p) => !cancelled && setPlan({ state: 'ok', plan: p }))
      .catch((err) => !cancelled && setPlan({ state: 'error', message: describeError(err).message }));
    return () => {
      cancelled = true;
    };
  }, [transport, sessionId, fromStepId, enabled]);
  return plan;
}

/**
 * The world the agent would continue in when it is not the step's own (a branch keeps
 * the current files and shells), asked of the host; null while unknown or when it is.
 */
function useAgentWorld(sessionId: string, fromStepId: string | null, enabled: boolean): StepWorld | null {
  const transport = useTransport();
  const [world, setWorld] = useState<StepWorld | null>(null);
  useEffect(() => {
    if (!enabled) return;
    let cancelled = false;
    transport
      .request('branch.agentWorld', { sessionId, fromStepId })
      .then((w) => !cancelled && setWorld(w))
      .catch(() => !cancelled && setWorld(null));
    return () => {
      cancelled = true;
    };
  }, [transport, sessionId, fromStepId, enabled]);
  return world;
}

/** What happens to the world before the action runs; the "current state" choice only when there is no checkpoint to restore. */
function HandActionWorld({ plan, accepted, onAccept }: { plan: PlanState; accepted: boolean; onAccept: (v: boolean) => void }) {
  if (plan.state === 'loading') return <p className="muted" data-testid="branch-world" data-mode="loading">Checking the checkpoint of this step…</p>;
  if (plan.state === 'error') return <p className="err-text" data-testid="branch-world" data-mode="error">{plan.message}</p>;
  const p = plan.plan;
  if (p.mode === 'checkpoint') {
    return (
      <p data-testid="branch-world" data-mode="checkpoint">
        Files, directory and environment of step {p.stepNumber} will be restored in fresh terminals first (checkpoint {p.commit.slice(0, 12)}; the
        session&apos;s terminals are closed), then the action runs there.{p.waits ? ` ${p.waits}` : ''}
      </p>
    );
  }
  return (
    <>
      <p className="warn-text" data-testid="branch-world" data-mode="refuse">
        No checkpoint to run the action on: {p.reason} Tick &ldquo;run in the current state&rdquo; to run it anyway.
      </p>
      <label className="check">
        <input type="checkbox" data-testid="branch-current-state" checked={accepted} onChange={(e) => onAccept(e.target.checked)} />
        Run in the current state of the working directory (the step is marked so)
      </label>
    </>
  );
}

export function BranchDialog({ sessionId, fromStepId }: { sessionId: string; fromStepId: string | null }) {
  const closeDialog = useApp((s) => s.closeDialog);
  const createBranch = useApp((s) => s.createBranch);
  const selectBranch = useApp((s) => s.selectBranch);
  const profilesCount = useApp((s) => s.profiles.length);
  const title = useStepTitle(sessionId, fromStepId);
  const defaultProfile = useDefaultProfile();
  const [mode, setMode] = useState<'agent' | 'manual'>(profilesCount ? 'agent' : 'manual');
  const [name, setName] = useState('');
  const [guidance, setGuidance] = useState('');
  const [profile, setProfile] = useState(defaultProfile);
  const [tool, setTool] = useState<ToolName>('run_command');
  const [args, setArgs] = useState(() => templateText('run_command'));
  const [continueAgent, setContinueAgent] = useState(false);
  const [currentState, setCurrentState] = useState(false);
  const { busy, error, run } = useSubmit();
  const parsed = useMemo(() => parseArgs(tool, args), [tool, args]);
  const plan = useHandActionPlan(sessionId, fromStepId, mode === 'manual');
  const agentWorld = useAgentWorld(sessionId, fromStepId, mode === 'agent');
  // The action runs on the step's checkpoint, or knowingly in the current state; never unknowingly.
  const worldOk = plan.state === 'ok' && (plan.plan.mode === 'checkpoint' || currentState);

  const submit = () => {
    if (mode === 'manual' && (!parsed.ok || !worldOk)) return;
    const withAgent = mode === 'agent' || continueAgent;
    void run(
      () =>
        createBranch({
          sessionId,
          fromStepId,
          ...(name.trim() ? { name: name.trim() } : {}),
          ...(guidance.trim() && mode === 'agent' ? { guidance: guidance.trim() } : {}),
          ...(mode === 'manual' && parsed.ok ? { action: { name: tool, arguments: parsed.value } } : {}),
          ...(mode === 'manual' && currentState && plan.state === 'ok' && plan.plan.mode === 'refuse' ? { runInCurrentState: true } : {}),
          ...(withAgent && profile ? { profile } : {}),
        }),
      (res) => {
        selectBranch(sessionId, res.branchId, { follow: !!res.rolloutId, stepId: res.rolloutId ? null : res.stepId ?? fromStepId });
        closeDialog();
      },
    );
  };

  return (
    <FormDialog
      title={`Branch from ${title}`}
      testId="branch-dialog"
      width={600}
      onClose={closeDialog}
      onSubmit={submit}
      submit={{
        label: mode === 'agent' ? 'Branch and continue' : 'Branch with this action',
        busyLabel: 'Creating…',
        testId: 'branch-submit',
        disabled: (mode === 'manual' && (!parsed.ok || !worldOk)) || (mode === 'agent' && !profile && !guidance.trim()),
      }}
      busy={busy}
      error={error}
    >
      <div className="segmented" role="radiogroup" aria-label="How to continue">
        <button type="button" role="radio" aria-checked={mode === 'agent'} className={mode === 'agent' ? 'on' : ''} data-testid="branch-mode-agent" onClick={() => setMode('agent')}>
          Continue with the agent
        </button>
        <button type="button" role="radio" aria-checked={mode === 'manual'} className={mode === 'manual' ? 'on' : ''} data-testid="branch-mode-manual" onClick={() => setMode('manual')}>
          Write the action by hand
        </button>
      </div>
      <Field label="Branch name" optional="optional">
        <input data-testid="branch-name" value={name} maxLength={100} placeholder="e.g. try-smaller-lr" onChange={(e) => setName(e.target.value)} />
      </Field>
      {mode === 'agent' ? (
        <>
          <Field label="Guidance" optional="optional — delivered as the agent's next user turn">
            <textarea data-testid="branch-guidance" rows={4} value={guidance} onChange={(e) => setGuidance(e.target.value)} placeholder="e.g. The loss diverges: halve the learning rate and retry." />
          </Field>
          <Field label="Endpoint profile">
            <ProfileSelect value={profile} onChange={setProfile} testId="branch-profile" allowNone="— none: only record the branch (and guidance) —" />
          </Field>
          {agentWorld?.kind === 'current' && (
            <p className="warn-text" data-testid="branch-agent-world">
              {agentWorld.reason} The branch&apos;s first step is marked so.
            </p>
          )}
        </>
      ) : (
        <>
          <div className="field-row">
            <Field label="Tool" className="narrow-2">
              <select
                data-testid="branch-tool"
                value={tool}
                onChange={(e) => {
                  const t = e.target.value;
                  if (!isToolName(t)) return;
                  setTool(t);
                  setArgs(templateText(t));
                }}
              >
                {TOOL_NAMES.map((t) => (
                  <option key={t} value={t}>
                    {t}
                  </option>
                ))}
              </select>
            </Field>
            <span className="field-hint grow self-end">{TOOLS[tool].hint}</span>
          </div>
          <Field
            label="Arguments (JSON)"
            error={parsed.ok ? null : parsed.error}
            hint="Runs without the model (offline) and is recorded as a human-authored step: the behaviour-cloning signal."
          >
            <textarea className="mono" data-testid="branch-args" rows={7} spellCheck={false} value={args} aria-invalid={!parsed.ok} onChange={(e) => setArgs(e.target.value)} />
          </Field>
          <HandActionWorld plan={plan} accepted={currentState} onAccept={setCurrentState} />
          <label className="check">
            <input type="checkbox" data-testid="branch-continue" checked={continueAgent} onChange={(e) => setContinueAgent(e.target.checked)} disabled={!profilesCount} />
            Then let the agent continue
          </label>
          {continueAgent && (
            <Field label="Endpoint profile">
              <ProfileSelect value={profile} onChange={setProfile} testId="branch-profile" />
            </Field>
          )}
        </>
      )}
    </FormDialog>
  );
}

export function RewindDialog({ sessionId, toStepId }: { sessionId: string; toStepId: string }) {
  const closeDialog = useApp((s) => s.closeDialog);
  const rewindTo = useApp((s) => s.rewindTo);
  const selectBranch = useApp((s) => s.selectBranch);
  const step = useApp((s) => s.trajectories[sessionId]?.t.steps.get(toStepId));
  const title = useStepTitle(sessionId, toStepId);
  const defaultProfile = useDefaultProfile();
  const [profile, setProfile] = useState(defaultProfile);
  const [guidance, setGuidance] = useState('');
  const { busy, error, run } = useSubmit();
  const transport = useTransport();
  // What the host is doing while it restores (a large folder takes a while): the latest stage it said.
  const [progress, setProgress] = useState<RestoreProgress | null>(null);
  useEffect(
    () =>
      transport.on('rewind.progress', (p) => {
        if (p.sessionId === sessionId && p.toStepId === toStepId) setProgress(p);
      }),
    [transport, sessionId, toStepId],
  );

  const submit = () => {
    setProgress(null);
    void run(
      () => rewindTo({ sessionId, toStepId, ...(profile ? { profile } : {}), ...(guidance.trim() ? { guidance: guidance.trim() } : {}) }),
      (res) => {
        selectBranch(sessionId, res.branchId, { follow: true, stepId: null });
        closeDialog();
      },
    );
  };

  return (
    <FormDialog
      title={`Rewind to ${title}?`}
      testId="rewind-dialog"
      width={560}
      onClose={closeDialog}
      onSubmit={submit}
      submit={{ label: 'Rewind', busyLabel: 'Rewinding…', testId: 'rewind-confirm' }}
      busy={busy}
      error={error}
      cancelFirst
    >
      <p>
        The working directory's files are restored to their state after this step, and fresh terminals start in the step's shell directory and
        environment. Work continues on a <strong>new branch</strong>; the current branch and its recordings stay as they are.
      </p>
      {step?.checkpointError && <p className="warn-text">This step has no checkpoint ({step.checkpointError}): the files cannot be restored.</p>}
      {step && !step.checkpoint && !step.checkpointError && <p className="warn-text">No checkpoint is recorded for this step.</p>}
      <Field label="Continue with">
        <ProfileSelect value={profile} onChange={setProfile} testId="rewind-profile" allowNone="— nobody: just restore, I will work by hand —" />
      </Field>
      <Field label="Guidance" optional="optional">
        <textarea data-testid="rewind-guidance" rows={3} value={guidance} onChange={(e) => setGuidance(e.target.value)} />
      </Field>
      {busy && progress && (
        <div className="restore-progress" data-testid="rewind-progress" role="status" aria-live="polite">
          <span>{progress.text}{progress.total ? ` — ${(progress.done ?? 0).toLocaleString('en')} of ${progress.total.toLocaleString('en')}` : '…'}</span>
          {progress.total ? <progress max={progress.total} value={progress.done ?? 0} /> : <progress />}
        </div>
      )}
    </FormDialog>
  );
}
