// The action under the cursor: its thought, tool calls and observations, and the
// full history of its labels (every change, with source, author, time, and the rule
// or the judge's rationale).
import { memo, useState } from 'react';
import type { LabelRecord, Step } from '../../../../shared/trajectory';
import { useFullReasoning, useFullResults } from '../../lib/useFullResults';
import { ElidedNote, ElidedReasoningNote } from '../ElidedNote';
import { formatDateTime, formatDuration, formatTokens } from '../../lib/format';
import { observationOf, prettyArguments, thoughtOf } from '../../lib/steps';
import type { FilterRow } from './model';
import { formatStamp, labelKey } from './model';
import { SourceBadge } from './SourceBadge';

const OBS_SHOWN = 20_000;

export const DetailPane = memo(function DetailPane({ row, version }: { row: FilterRow | null; version: number }) {
  void version; // steps are mutated in place: the version re-renders the pane as labels arrive
  if (!row) {
    return (
      <div className="fd fd-empty muted" data-testid="filter-detail">
        <p>Select an action (click, or j / ↓) to see what the agent thought, did and saw, and its label history.</p>
      </div>
    );
  }
  const step = row.step;
  const th = thoughtOf(step);
  const usage = step.response?.usage;
  const lk = labelKey(row);
  return (
    <div className="fd" data-testid="filter-detail" data-step-id={step.id}>
      <div className="fd-head">
        <span className="fd-n">Step {row.n}</span>
        <span className="fd-tool">{row.tool}</span>
        {row.isError ? <span className="st-err">error</span> : <span className="st-ok">ok</span>}
        <span className="spacer" />
        <span className={`lchip lchip-${lk}`} data-testid="detail-label">
          {lk}
        </span>
        {row.source && <SourceBadge source={row.source} pending={row.pending} />}
      </div>
      <div className="fd-meta">
        <span>{formatDateTime(step.startedAt)}</span>
        {step.finishedAt !== undefined && <span>{formatDuration(step.finishedAt - step.startedAt)}</span>}
        {usage && <span>{formatTokens(usage.totalTokens)}</span>}
        {step.response?.humanAuthored && <span className="chip chip-human">human · {step.response.author ?? '?'}</span>}
      </div>
      {(row.tags.length > 0 || row.note) && (
        <div className="fd-reason">
          {row.tags.map((t) => (
            <span key={t} className="tag">
              {t}
            </span>
          ))}
          {row.note && <span className="fd-note">{row.note}</span>}
        </div>
      )}

      <section className="fd-sec">
        <h3>Thought</h3>
        <Reasoning step={step} />
        {th.content ? <div className="fd-text">{th.content}</div> : !th.reasoning && <div className="dim small">(none)</div>}
      </section>

      <section className="fd-sec">
        <h3>Action</h3>
        {step.response?.toolCalls.length ? (
          step.response.toolCalls.map((c) => (
            <div key={c.id} className="fd-call">
              <div className="fd-call-name">{c.name}</div>
              <pre className="fd-pre">{prettyArguments(c.arguments)}</pre>
            </div>
          ))
        ) : (
          <div className="dim small">(no tool call)</div>
        )}
      </section>

      <section className="fd-sec">
        <h3>Observation</h3>
        {step.results.length === 0 && <div className="dim small">(none)</div>}
        {step.results.length > 0 && <Observations step={step} />}
      </section>

      <section className="fd-sec">
        <h3>Label history</h3>
        <History records={step.labelHistory} />
      </section>
    </div>
  );
});

/** The step's reasoning whole: one the compact log cut is fetched, and says so meanwhile. */
function Reasoning({ step }: { step: Step }) {
  const full = useFullReasoning(step);
  const text = full.value.trim();
  if (!text) return null;
  return (
    <div data-state={full.state} data-testid="filter-reasoning">
      {full.state !== 'ready' && <ElidedReasoningNote full={full} chars={step.response?.reasoningElided ?? 0} />}
      <div className="fd-reasoning">{text}</div>
    </div>
  );
}

/** The step's observations whole: those the compact log cut are fetched, and say so meanwhile. */
function Observations({ step }: { step: Step }) {
  const full = useFullResults(step);
  return (
    <div data-state={full.state} data-testid="filter-observations">
      {full.state !== 'ready' && <ElidedNote full={full} />}
      {full.value.map((r) => (
        <Observation key={r.toolCallId} result={r} isError={r.isError} durationMs={r.durationMs} />
      ))}
    </div>
  );
}

function Observation({ result, isError, durationMs }: { result: { observation: string }; isError: boolean; durationMs: number }) {
  const [all, setAll] = useState(false);
  // Cached per result: the pane re-renders on every change of the trajectory.
  const o = observationOf(result);
  const text = o.json ? o.output : o.raw;
  const cut = !all && text.length > OBS_SHOWN;
  return (
    <div className={`fd-obs${isError ? ' err' : ''}`}>
      {o.message && <div className="fd-obs-msg">{o.message}</div>}
      <div className="fd-obs-facts dim small">
        {isError ? 'tool error' : 'ok'}
        {typeof o.exitCode === 'number' ? ` · exit ${o.exitCode}` : ''} · {formatDuration(durationMs)}
      </div>
      {text && <pre className="fd-pre">{cut ? `${text.slice(0, OBS_SHOWN)}\n…` : text}</pre>}
      {cut && (
        <button type="button" className="link-btn" onClick={() => setAll(true)}>
          Show all {text.length.toLocaleString()} characters
        </button>
      )}
    </div>
  );
}

function History({ records }: { records: LabelRecord[] }) {
  if (records.length === 0) {
    return (
      <p className="dim small" data-testid="label-history" data-count={0}>
        Never labelled.
      </p>
    );
  }
  return (
    <ol className="fd-history" data-testid="label-history" data-count={records.length}>
      {[...records].reverse().map((l) => {
        const cleared = l.rule === '__cleared__';
        return (
          <li key={l.seq} className="fd-hist" data-testid="label-history-entry" data-source={l.source} data-label={cleared ? 'cleared' : l.label}>
            <div className="fd-hist-head">
              {cleared ? <span className="lchip lchip-cleared">cleared</span> : <span className={`lchip lchip-${l.label}`}>{l.label}</span>}
              <SourceBadge source={l.source} />
              <span className="fd-hist-author">{l.author}</span>
              <span className="spacer" />
              <span className="dim small" title={`event #${l.seq}`}>{formatStamp(l.at)}</span>
            </div>
            {!cleared && (l.rule || l.tags.length > 0 || l.note || l.rationale) && (
              <div className="fd-hist-body">
                {l.rule && <span className="fd-rule">rule {l.rule}</span>}
                {l.tags.map((t) => (
                  <span key={t} className="tag">
                    {t}
                  </span>
                ))}
                {l.note && <div className="fd-note">{l.note}</div>}
                {l.rationale && <div className="fd-rationale">{l.rationale}</div>}
              </div>
            )}
          </li>
        );
      })}
    </ol>
  );
}
