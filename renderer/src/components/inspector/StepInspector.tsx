// Below the live terminal: the selected step in detail — its terminal output at that
// moment (from the recording), what the model saw (the request its reply came from),
// the files as checkpointed after it, its comments — with "Branch here" and "Rewind here".
import type { Step } from '../../../../shared/trajectory';
import { useApp } from '../../context';
import { formatDuration } from '../../lib/format';
import { describeTimings, stepTimings, summarizeShownStep } from '../../lib/steps';
import type { InspectorTab } from '../../store/view';
import { StepComments } from './StepComments';
import { StepContext } from './StepContext';
import { StepFiles } from './StepFiles';
import { StepTerminal } from './StepTerminal';
import { Icon } from '../Icon';
import { dragResize } from '../dragResize';

/** `loading`: the step's details are still on their way (stepDetailsReady), so it is not shown as waiting for its model or without output. */
export function StepInspector({ sessionId, step, loading = false }: { sessionId: string; step: Step; loading?: boolean }) {
  const tab = useApp((s) => s.inspectorTab);
  const setTab = useApp((s) => s.setInspectorTab);
  const height = useApp((s) => s.inspectorHeight);
  const setHeight = useApp((s) => s.setInspectorHeight);
  const selectStep = useApp((s) => s.selectStep);
  const setFollow = useApp((s) => s.setFollow);
  const openDialog = useApp((s) => s.openDialog);
  const comments = step.comments.length;
  const sum = summarizeShownStep(step, loading);
  const timings = stepTimings(step);

  const tabs: Array<[InspectorTab, string, string]> = [
    ['output', 'Terminal', 'step-tab-output'],
    ['context', 'Context', 'step-tab-context'],
    ['files', 'Files', 'step-tab-files'],
    ['comments', comments ? `Comments (${comments})` : 'Comments', 'step-tab-comments'],
  ];

  return (
    <section className="inspector" data-testid="step-inspector" data-step-id={step.id} style={{ height }} aria-label={`Step ${step.depth}`}>
      <div
        className="inspector-resizer"
        role="separator"
        aria-orientation="horizontal"
        aria-label="Resize the step inspector"
        onPointerDown={(e) => {
          const start = height;
          dragResize(e, (_dx, dy) => setHeight(start - dy));
        }}
      />
      <div className="inspector-head">
        <span className="inspector-title" title={sum.detail}>
          <span className="step-n-big">Step {step.depth}</span> <span className="step-tool">{sum.tool}</span> <span className="mono dim">{sum.detail}</span>
        </span>
        <div className="inspector-tabs" role="tablist">
          {tabs.map(([id, label, testId]) => (
            <button key={id} type="button" role="tab" aria-selected={tab === id} className={`itab${tab === id ? ' on' : ''}`} data-testid={testId} onClick={() => setTab(id)}>
              {label}
            </button>
          ))}
        </div>
        <span className="spacer" />
        {timings && (
          <span className={`inspector-timing${timings.pausedMs > 0 ? ' warn-text' : ''}`} data-testid="inspector-timing" title={describeTimings(timings)}>
            {formatDuration(timings.activeMs)} active{timings.pausedMs > 0 ? ` · paused ${formatDuration(timings.pausedMs)}` : ''}
          </span>
        )}
        <button
          type="button"
          className="btn btn-small"
          data-testid="branch-here"
          aria-label="Branch here"
          title="Continue from this step on a new branch (Shift+B)"
          onClick={() => openDialog({ kind: 'branch', sessionId, fromStepId: step.id })}
        >
          <Icon name="branch" size={13} /> <span className="btn-label">Branch here</span>
        </button>
        <button
          type="button"
          className="btn btn-small"
          data-testid="rewind-here"
          aria-label="Rewind here"
          title="Restore this step's files and shell, then continue on a new branch (Shift+R)"
          disabled={!step.finishedAt}
          onClick={() => openDialog({ kind: 'rewind', sessionId, toStepId: step.id })}
        >
          <Icon name="rewind" size={13} /> <span className="btn-label">Rewind here</span>
        </button>
        <button
          type="button"
          className="icon-btn"
          data-testid="close-inspector"
          aria-label="Close the step inspector (Esc)"
          title="Close (Esc)"
          onClick={() => {
            selectStep(sessionId, null);
            setFollow(sessionId, true);
          }}
        >
          ×
        </button>
      </div>
      <div className="inspector-body">
        {tab === 'output' && <StepTerminal sessionId={sessionId} step={step} loading={loading} />}
        {tab === 'context' && <StepContext key={step.id} sessionId={sessionId} step={step} loading={loading} />}
        {tab === 'files' && <StepFiles key={step.id} sessionId={sessionId} step={step} />}
        {tab === 'comments' && <StepComments key={step.id} sessionId={sessionId} step={step} />}
      </div>
    </section>
  );
}
