// One step of the trajectory: what the agent thought, what it did, what it saw, and
// what the humans added there (guidance delivered after it, comments, labels).
// Rows are windowed (VirtualList), so everything here must be cheap to render.
import { memo, useEffect, useState, type ReactNode } from 'react';
import { effectiveLabel, type Comment, type Guidance, type Step } from '../../../../shared/trajectory';
import type { StreamingText } from '../../store/rollout';
import { Icon } from '../Icon';
import type { RetryInfo } from '../../store/trajectory';
import { formatDuration, formatTokens, truncate } from '../../lib/format';
import { markdownText } from '../../lib/markdown';
import { useFullReasoning, useFullResults } from '../../lib/useFullResults';
import { ElidedNote, ElidedReasoningNote } from '../ElidedNote';
import { describeTimings, observationOf, observationPreview, prettyArguments, runningActiveMs, stepTimings, summarizeShownStep, thoughtOf, type PauseSpan } from '../../lib/steps';

export interface StepRowProps {
  step: Step;
  /** Bumps whenever the trajectory changed (steps are mutated in place by the fold). */
  version: number;
  selected: boolean;
  /** Text the model is streaming for this step, when it is the running one. */
  streaming: StreamingText | null;
  retry: RetryInfo | null;
  /** The pauses of the step's rollout (its timer stops while paused). */
  pauses: readonly PauseSpan[] | undefined;
  /** Set on the first step of a branch that forks from another one. */
  branchStart: { label: string; fromDepth: number; reason: string; author: string } | null;
  /** Other branches continue from this step (children beyond the one shown). */
  forks: number;
  guidance: Guidance[];
  comments: Comment[];
  expanded: { thought: boolean; action: boolean; obs: boolean };
  /** Collapsed sections are not previewed (one line per step plus its meta). */
  compact: boolean;
  /** What the step said and got is still being fetched (a paged open, store/trajectory.ts). */
  loading?: boolean;
  onSelect(stepId: string): void;
  onToggle(stepId: string, section: 'thought' | 'action' | 'obs'): void;
  onFork(stepId: string): void;
}

/** Who made a human step, and how: typed in a terminal they took from the agent, or written by hand. */
function humanTitle(step: Step): string {
  const who = step.response?.author ?? 'a human';
  const where = step.results[0]?.terminalId;
  return step.response?.origin === 'terminal' ? `Run by ${who} in terminal ${where ?? '?'} (in control of it)` : `Written by ${who}`;
}

export const StepRow = memo(function StepRow(p: StepRowProps) {
  const { step, selected, expanded } = p;
  const s = summarizeShownStep(step, !!p.loading);
  const thought = thoughtOf(step);
  const hasThought = !!(thought.reasoning || thought.content);
  const label = effectiveLabel(step);
  const usage = step.response?.usage;
  const toolMs = step.results.reduce((n, r) => n + r.durationMs, 0);
  const timings = stepTimings(step);
  const pausedNow = s.running && !!p.pauses?.length && p.pauses[p.pauses.length - 1]!.to === undefined;
  const exitCodes = step.results.map((r) => observationOf(r).exitCode).filter((c): c is number => typeof c === 'number');
  const waitingModel = !step.response && s.running;
  const obsPreview = observationPreview(step);

  return (
    <div
      className={`step-row${selected ? ' selected' : ''}${s.isError ? ' step-error' : ''}${s.running ? ' step-running' : ''}${step.response || p.loading ? '' : ' step-pending'}${p.loading ? ' step-loading' : ''}`}
      data-testid="step"
      data-step-id={step.id}
      data-depth={step.depth}
      data-branch-id={step.branchId}
      data-selected={selected ? 'true' : 'false'}
      data-loading={p.loading ? 'true' : undefined}
      aria-current={selected ? 'true' : undefined}
      id={`step-${step.id}`}
      onClick={() => p.onSelect(step.id)}
    >
      {p.branchStart && (
        <div className="branch-start" data-testid="branch-start">
          <Icon name="branch" size={11} /> {p.branchStart.reason === 'rewind' ? 'rewound to' : 'branch'} <strong>{p.branchStart.label}</strong>{' '}
          {p.branchStart.fromDepth > 0 ? `from step ${p.branchStart.fromDepth}` : 'from the start'} · {p.branchStart.author}
        </div>
      )}
      <div className="step-head">
        <span className="step-n">{step.depth}</span>
        <button
          type="button"
          className="caret"
          aria-label={expanded.action ? 'Hide the action arguments' : 'Show the action arguments'}
          aria-expanded={expanded.action}
          data-testid="toggle-action"
          onClick={() => p.onToggle(step.id, 'action')}
          disabled={!step.response?.toolCalls.length}
        >
          {expanded.action ? '▾' : '▸'}
        </button>
        <span className="step-tool" data-testid="step-tool">{s.tool}</span>
        <span className="step-detail mono" data-testid="step-action" title={s.detail}>
          {s.detail}
        </span>
        <span className="step-badges">
          {p.forks > 0 && (
            <button
              type="button"
              className="chip chip-fork"
              data-testid="fork-marker"
              title={`${p.forks + 1} branches continue from this step — click to switch`}
              onClick={() => p.onFork(step.id)}
            >
              <Icon name="branch" size={10} /> {p.forks + 1}
            </button>
          )}
          {p.comments.length > 0 && (
            <span className="chip" title={`${p.comments.length} comment(s)`}>
              ✎ {p.comments.length}
            </span>
          )}
          {label && (
            <span className={`chip chip-${label.label}`} title={`${label.label} (${label.source}${label.tags.length ? `: ${label.tags.join(', ')}` : ''})`}>
              {label.label}
            </span>
          )}
          {step.response?.humanAuthored && (
            <span className="chip chip-human" data-testid="human-chip" data-origin={step.response.origin ?? 'hand'} title={humanTitle(step)}>
              human
            </span>
          )}
        </span>
      </div>
      <div className="step-meta">
        {s.running ? (
          <span className={pausedNow ? 'warn-text' : 'running-text'} data-testid="step-running" data-paused={pausedNow ? 'true' : 'false'}>
            {pausedNow ? 'paused' : waitingModel ? (p.retry ? `retry ${p.retry.attempt}…` : 'thinking') : `running ${s.tool}`}{' '}
            <Elapsed since={step.startedAt} pauses={p.pauses} frozen={pausedNow} />
          </span>
        ) : (
          <span data-testid="step-duration" title={timings ? describeTimings(timings) : undefined}>
            {formatDuration(s.durationMs || (step.response ? step.response.durationMs + toolMs : undefined))}
          </span>
        )}
        {timings && timings.pausedMs > 0 && (
          <span className="warn-text" data-testid="step-paused" title={`The rollout was paused during this step; the time shown is active time (wall ${formatDuration(timings.wallMs)})`}>
            paused {formatDuration(timings.pausedMs)}
          </span>
        )}
        {usage ? (
          <span title={`prompt ${usage.promptTokens} · completion ${usage.completionTokens}`}>
            {formatTokens(usage.promptTokens)} in · {usage.completionTokens} out
          </span>
        ) : (
          !!step.promptTokens && <span>{formatTokens(step.promptTokens)} prompt</span>
        )}
        {step.retries > 0 && (
          <span className="warn-text" data-testid="step-retries">
            {step.retries} retr{step.retries === 1 ? 'y' : 'ies'}
          </span>
        )}
        {exitCodes.length > 0 && <span className={exitCodes.some((c) => c !== 0) ? 'err-text' : ''}>exit {exitCodes.join(',')}</span>}
        {step.checkpointError && <span className="warn-text" title={step.checkpointError}>no checkpoint</span>}
        {step.notTrained && (
          <span className="warn-text" data-testid="step-not-trained" title={step.notTrained}>
            not trained: not the source model&apos;s output as it stands
          </span>
        )}
        {step.world?.kind === 'current' && (
          <span className="warn-text" data-testid="step-world-current" title={step.world.reason}>
            ran in the current state, not {step.parentId ? `step ${step.depth - 1}'s` : "the start's"}
          </span>
        )}
      </div>

      {expanded.action && step.response && step.response.toolCalls.length > 0 && (
        <div className="step-section" data-testid="step-action-args">
          {step.response.toolCalls.map((c, i) => (
            <div key={c.id || i}>
              <div className="section-tag">{c.name}</div>
              <pre className="mono pre-block">{prettyArguments(c.arguments)}</pre>
            </div>
          ))}
        </div>
      )}

      {hasThought && (!p.compact || expanded.thought) && (
        <div className="step-section">
          <SectionToggle testId="toggle-thought" tag="thought" open={expanded.thought} onClick={() => p.onToggle(step.id, 'thought')}>
            {!expanded.thought && <span className="section-preview">{truncate(thought.content || thought.reasoning, 220)}</span>}
          </SectionToggle>
          {expanded.thought && <Thought step={step} content={thought.content} />}
        </div>
      )}

      {p.streaming && (p.streaming.content || p.streaming.reasoning) && (
        <div className="step-section streaming" data-testid="streaming-step" data-step-id={step.id}>
          {p.streaming.reasoning && <div className="reasoning">{p.streaming.reasoning}</div>}
          {p.streaming.content && <div className="content">{p.streaming.content}</div>}
          <span className="cursor" aria-hidden="true" />
        </div>
      )}

      {step.results.length > 0 && (!p.compact || expanded.obs) && (
        <div className="step-section">
          <SectionToggle testId="toggle-observation" tag="observation" error={s.isError} open={expanded.obs} onClick={() => p.onToggle(step.id, 'obs')}>
            {!expanded.obs && <span className="section-preview mono">{obsPreview}</span>}
          </SectionToggle>
          {expanded.obs && <Observations step={step} />}
        </div>
      )}

      {p.guidance.map((g) => (
        <div key={g.id} className="guidance" data-testid="step-guidance" data-guidance-id={g.id}>
          <span className="guidance-state">
            guidance · delivered at step {step.depth + 1} · {g.author}
          </span>
          <span className="guidance-text">{g.text}</span>
        </div>
      ))}

      {p.comments.slice(0, 3).map((c) => (
        <div key={c.id} className="step-comment" data-testid="step-comment">
          <span className="comment-author">{c.author}</span> {truncate(markdownText(c.text), 160)}
        </div>
      ))}
      {p.comments.length > 3 && <div className="step-comment dim">+{p.comments.length - 3} more</div>}
    </div>
  );
}, sameRow);

/** The step's thought in full: a reasoning the compact log cut is fetched (the preview shows meanwhile, and says so). */
function Thought({ step, content }: { step: Step; content: string }) {
  const full = useFullReasoning(step);
  const reasoning = full.value.trim();
  return (
    <div className="thought-body" data-testid="step-thought" data-state={full.state}>
      {full.state !== 'ready' && <ElidedReasoningNote full={full} chars={step.response?.reasoningElided ?? 0} />}
      {reasoning && <div className="reasoning">{reasoning}</div>}
      {content && <div className="content">{content}</div>}
    </div>
  );
}

/** The step's observations in full: those the compact log cut are fetched (the preview shows meanwhile, and says so). */
function Observations({ step }: { step: Step }) {
  const full = useFullResults(step);
  return (
    <div data-testid="step-observation" data-state={full.state}>
      {full.state !== 'ready' && <ElidedNote full={full} />}
      {full.value.map((r, i) => {
        const o = observationOf(r);
        return (
          <div key={i} className="obs-block">
            {full.value.length > 1 && <div className="section-tag">{r.name || 'result'}</div>}
            {o.message && <div className={`obs-message${r.isError ? ' err-text' : ''}`}>{o.message}</div>}
            {(o.output || !o.message) && <pre className="mono pre-block">{o.output || o.raw}</pre>}
          </div>
        );
      })}
    </div>
  );
}

/**
 * The parent builds `expanded`, `branchStart`, `guidance` and `comments` afresh on each
 * render: compare them by content, so that text streaming into one step (many times
 * a second) re-renders that row only. Steps are mutated in place by the fold, so any
 * change of the trajectory (`version`) re-renders every row in view.
 */
function sameRow(a: StepRowProps, b: StepRowProps): boolean {
  return (
    a.step === b.step &&
    a.version === b.version &&
    a.selected === b.selected &&
    a.streaming === b.streaming &&
    a.retry === b.retry &&
    a.pauses === b.pauses &&
    a.forks === b.forks &&
    a.compact === b.compact &&
    a.onSelect === b.onSelect &&
    a.onToggle === b.onToggle &&
    a.onFork === b.onFork &&
    a.expanded.thought === b.expanded.thought &&
    a.expanded.action === b.expanded.action &&
    a.expanded.obs === b.expanded.obs &&
    sameItems(a.guidance, b.guidance) &&
    sameItems(a.comments, b.comments) &&
    (a.branchStart === b.branchStart ||
      (!!a.branchStart &&
        !!b.branchStart &&
        a.branchStart.label === b.branchStart.label &&
        a.branchStart.fromDepth === b.branchStart.fromDepth &&
        a.branchStart.reason === b.branchStart.reason &&
        a.branchStart.author === b.branchStart.author))
  );
}

function sameItems<T>(a: readonly T[], b: readonly T[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** The caret, tag and (when collapsed) preview that open or close a section of a step. */
function SectionToggle(props: { testId: string; tag: string; error?: boolean; open: boolean; onClick(): void; children: ReactNode }) {
  return (
    <button type="button" className="section-toggle" data-testid={props.testId} aria-expanded={props.open} onClick={props.onClick}>
      <span className="caret-glyph">{props.open ? '▾' : '▸'}</span>
      <span className={`section-tag${props.error ? ' err-text' : ''}`}>{props.tag}</span>
      {props.children}
    </button>
  );
}

/** Active time since `since` (pauses left out), ticking; still while `frozen` (the rollout is paused). */
function Elapsed({ since, pauses, frozen }: { since: number; pauses: readonly PauseSpan[] | undefined; frozen: boolean }) {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    setNow(Date.now());
    if (frozen) return;
    const id = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(id);
  }, [frozen]);
  // While paused, the open span ends at the pause's start: `now` no longer adds to it.
  return <span className="elapsed">{formatDuration(runningActiveMs(since, pauses, now))}</span>;
}

/** A rough height before a row is measured (the list corrects it once rendered). */
export function estimateStepHeight(step: Step, expanded: { thought: boolean; action: boolean; obs: boolean }, compact = false): number {
  let h = 40;
  if (step.response && (step.response.content || step.response.reasoning)) h += expanded.thought ? 80 : compact ? 0 : 20;
  if (step.results.length) h += expanded.obs ? 160 : compact ? 0 : 20;
  if (expanded.action) h += 80;
  h += step.guidance.length * 44 + Math.min(step.comments.length, 4) * 18;
  return h;
}

