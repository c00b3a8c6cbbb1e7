// "What the model saw": the request a step's reply was produced from, as the core
// rebuilds it from the request record (steps.request): model and sampling settings,
// the tools it was offered, then every message in order, exactly as sent. A context
// can hold thousands of messages, so they are windowed (VirtualList) and long texts
// are cut until asked for. Logs older than the request record get a context rebuilt by
// today's code, and the banner says so; a step with no model reply has no request.
import { useCallback, useEffect, useMemo, useState } from 'react';
import type { StepRequestView } from '../../../../shared/contract/annotate';
import type { WireMessage } from '../../../../shared/events';
import type { Step } from '../../../../shared/trajectory';
import { useTransport } from '../../context';
import { copyText } from '../../lib/clipboard';
import { describeError } from '../../lib/errors';
import { formatDuration } from '../../lib/format';
import { describeTimings, prettyArguments, stepTimings } from '../../lib/steps';
import { VirtualList } from '../trajectory/VirtualList';
import './context.css';

type Loaded = { state: 'loading' } | { state: 'error'; message: string } | { state: 'ok'; req: StepRequestView | null };

/**
 * How much of a message shows before "Show all": a tool result can be megabytes, and
 * the system prompt of every request is the same few thousand characters; a context
 * of thousands of messages should scan like a list, not a wall.
 */
const CUT_CHARS = 1500;
const CUT_LINES = 16;

/** Where the preview of `text` ends, or null when it shows whole. */
export function cutAt(text: string): number | null {
  let end = Math.min(text.length, CUT_CHARS);
  let lines = 0;
  for (let i = 0; i < end; i++) {
    if (text.charCodeAt(i) === 10 && ++lines === CUT_LINES) {
      end = i;
      break;
    }
  }
  return end < text.length ? end : null;
}

interface ToolCallView {
  id: string;
  name: string;
  arguments: string;
}

interface MessageView {
  key: string;
  index: number;
  role: string;
  text: string;
  name?: string;
  toolCallId?: string;
  calls: ToolCallView[];
  /** Fields other than the usual ones, as sent (e.g. reasoning_content, weight). */
  extra: Record<string, unknown>;
}

const KNOWN = new Set(['role', 'content', 'tool_calls', 'tool_call_id', 'name']);

/** Content as text: a string as is, content parts' text joined, anything else as JSON. */
function contentText(content: unknown): string {
  if (content === null || content === undefined) return '';
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content
      .map((p) => (p && typeof p === 'object' && (p as { type?: unknown }).type === 'text' && typeof (p as { text?: unknown }).text === 'string' ? (p as { text: string }).text : JSON.stringify(p, null, 2)))
      .join('\n');
  }
  return JSON.stringify(content, null, 2);
}

function callsOf(raw: unknown): ToolCallView[] {
  if (!Array.isArray(raw)) return [];
  return raw.map((c, i) => {
    const o = (c ?? {}) as { id?: unknown; function?: { name?: unknown; arguments?: unknown } };
    const args = o.function?.arguments;
    return {
      id: typeof o.id === 'string' ? o.id : `#${i + 1}`,
      name: typeof o.function?.name === 'string' ? o.function.name : '?',
      arguments: typeof args === 'string' ? args : JSON.stringify(args ?? null),
    };
  });
}

export function messageViews(messages: readonly WireMessage[]): MessageView[] {
  return messages.map((m, index) => {
    const extra: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(m)) if (!KNOWN.has(k) && v !== undefined) extra[k] = v;
    return {
      key: String(index),
      index,
      role: m.role,
      text: contentText(m.content),
      ...(typeof m.name === 'string' ? { name: m.name } : {}),
      ...(typeof m.tool_call_id === 'string' ? { toolCallId: m.tool_call_id } : {}),
      calls: callsOf(m.tool_calls),
      extra,
    };
  });
}

/** Everything of the body but the messages and tools: model, sampling, tool_choice, stream options… */
function settingsOf(body: StepRequestView['body']): Array<[string, string]> {
  return Object.entries(body)
    .filter(([k]) => k !== 'messages' && k !== 'tools')
    .sort(([a], [b]) => (a === 'model' ? -1 : b === 'model' ? 1 : a.localeCompare(b)))
    .map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]);
}

interface ToolView {
  name: string;
  description: string;
  parameters: string;
}

function toolsOf(body: StepRequestView['body']): ToolView[] {
  const raw = body.tools;
  if (!Array.isArray(raw)) return [];
  return raw.map((t) => {
    const f = ((t ?? {}) as { function?: { name?: unknown; description?: unknown; parameters?: unknown } }).function ?? {};
    return {
      name: typeof f.name === 'string' ? f.name : '?',
      description: typeof f.description === 'string' ? f.description : '',
      parameters: JSON.stringify(f.parameters ?? {}, null, 2),
    };
  });
}

export function StepContext({ sessionId, step, loading = false }: { sessionId: string; step: Step; loading?: boolean }) {
  const transport = useTransport();
  const [loaded, setLoaded] = useState<Loaded>({ state: 'loading' });
  const [toolsOpen, setToolsOpen] = useState(false);
  const [openTool, setOpenTool] = useState<string | null>(null);
  /** Messages shown in full (by index); kept here because windowed rows unmount. */
  const [full, setFull] = useState<ReadonlySet<number>>(() => new Set());
  /** Keep the end in view ("end"), until the user scrolls away: heights are only estimates until rows are measured. */
  const [atEnd, setAtEnd] = useState(false);
  const [copied, setCopied] = useState<boolean | null>(null);
  // A running step gets its request, then its reply: ask again when either arrives.
  const requestKey = `${step.requestId ?? ''}|${step.response?.requestId ?? ''}|${step.response ? 1 : 0}`;

  useEffect(() => {
    // Asked once the step's reply is in (a paged open sends it later): asking before, then again, lost the "Show all"s.
    if (loading) return;
    let cancelled = false;
    setLoaded({ state: 'loading' });
    setFull(new Set());
    transport
      .request('steps.request', { sessionId, stepId: step.id })
      .then((req) => !cancelled && setLoaded({ state: 'ok', req }))
      .catch((err) => !cancelled && setLoaded({ state: 'error', message: describeError(err).message }));
    return () => {
      cancelled = true;
    };
  }, [transport, sessionId, step.id, requestKey, loading]);

  const req = loaded.state === 'ok' ? loaded.req : null;
  const messages = useMemo(() => (req ? messageViews(req.body.messages) : []), [req]);
  const settings = useMemo(() => (req ? settingsOf(req.body) : []), [req]);
  const tools = useMemo(() => (req ? toolsOf(req.body) : []), [req]);
  const timings = stepTimings(step);

  const itemKey = useCallback((m: MessageView) => m.key, []);
  const estimate = useCallback(
    (m: MessageView) => {
      const cut = full.has(m.index) ? null : cutAt(m.text);
      const shown = cut === null ? m.text : m.text.slice(0, cut);
      // ~90 characters a line at the inspector's usual width, plus the head, "Show all" and the calls.
      const lines = shown.split('\n').reduce((n, l) => n + Math.max(1, Math.ceil(l.length / 90)), 0);
      return 30 + (m.text ? lines * 17 : 0) + (cut === null ? 0 : 18) + m.calls.length * 70;
    },
    [full],
  );
  const renderItem = (m: MessageView) => (
    <MessageRow
      m={m}
      full={full.has(m.index)}
      onShowAll={() => setFull((s) => new Set(s).add(m.index))}
    />
  );

  if (loaded.state === 'loading') return <div className="step-context" data-testid="step-context" data-state="loading"><p className="muted pad">Loading the request…</p></div>;
  if (loaded.state === 'error') {
    return (
      <div className="step-context" data-testid="step-context" data-state="error">
        <p className="err-text pad" data-testid="context-error">Could not rebuild the request: {loaded.message}</p>
      </div>
    );
  }
  if (!req) {
    return (
      <div className="step-context" data-testid="step-context" data-state="none">
        {timings && <div className="sc-bar"><span className="sc-timing" data-testid="context-timings">{describeTimings(timings)}</span></div>}
        <p className="muted pad" data-testid="context-none">
          {step.response ? 'No model request: this step was written by hand, run by a human or replayed.' : 'The model has not been asked for this step yet.'}
        </p>
      </div>
    );
  }
  return (
    <div className="step-context" data-testid="step-context" data-state="ok" data-source={req.source}>
      <div className="sc-bar">
        {timings && (
          <span className="sc-timing" data-testid="context-timings" title={`wall time ${formatDuration(timings.wallMs)}`}>
            {describeTimings(timings)}
          </span>
        )}
        <span className="sc-actions">
          {tools.length > 0 ? (
            <button type="button" className="tool-btn" data-testid="context-tools-toggle" aria-expanded={toolsOpen} onClick={() => setToolsOpen(!toolsOpen)}>
              {toolsOpen ? '▾' : '▸'} {tools.length} tool{tools.length === 1 ? '' : 's'}
            </button>
          ) : (
            <span className="dim small" data-testid="context-no-tools" title="The request listed no tools (text-action mode: the model answers with a fenced block)">
              no tools
            </span>
          )}
          <span className="dim small" data-testid="context-count">{messages.length} message{messages.length === 1 ? '' : 's'}</span>
          <button type="button" className="tool-btn" data-testid="context-end" title="Scroll to the last message" onClick={() => setAtEnd(true)}>
            end
          </button>
          <button
            type="button"
            className="tool-btn"
            data-testid="context-copy"
            title="Copy the request body (JSON) to the clipboard"
            onClick={() => void copyText(JSON.stringify(req.body, null, 2)).then(setCopied)}
          >
            {copied === null ? 'copy JSON' : copied ? 'copied' : 'copy failed'}
          </button>
        </span>
      </div>
      <div className="sc-settings" data-testid="context-settings" aria-label="Model and sampling settings">
        {settings.map(([k, v]) => (
          <span key={k} className={`sc-setting${k === 'model' ? ' sc-model' : ''}`} title={`${k}: ${v}`}>
            {k === 'model' ? v : `${k} ${v}`}
          </span>
        ))}
      </div>
      {req.source === 'reconstructed' && (
        <div className="sc-banner" data-testid="context-reconstructed" role="note">
          <strong>Reconstructed, not recorded.</strong> {req.note ?? 'This context was rebuilt by the current prompt code.'}
        </div>
      )}
      {toolsOpen && (
        <ul className="sc-tools" data-testid="context-tools">
          {tools.map((t) => (
            <li key={t.name}>
              <button type="button" className="sc-tool" aria-expanded={openTool === t.name} onClick={() => setOpenTool(openTool === t.name ? null : t.name)}>
                <span className="mono sc-tool-name">{t.name}</span>
                <span className="sc-tool-desc">{t.description}</span>
              </button>
              {openTool === t.name && <pre className="mono pre-block sc-pre">{t.parameters}</pre>}
            </li>
          ))}
        </ul>
      )}
      <VirtualList
        items={messages}
        itemKey={itemKey}
        estimate={estimate}
        renderItem={renderItem}
        stickToEnd={atEnd}
        onStickChange={setAtEnd}
        overscan={800}
        testId="context-messages"
        className="sc-list"
        aria-label="Messages sent to the model"
      />
    </div>
  );
}

function MessageRow({ m, full, onShowAll }: { m: MessageView; full: boolean; onShowAll(): void }) {
  const cut = full ? null : cutAt(m.text);
  const extra = Object.keys(m.extra);
  return (
    <div className={`sc-msg sc-role-${m.role}`} data-testid="context-message" data-index={m.index} data-role={m.role}>
      <div className="sc-msg-head">
        <span className="sc-idx">{m.index + 1}</span>
        <span className="sc-role">{m.role}</span>
        {m.name && <span className="mono dim">name {m.name}</span>}
        {m.toolCallId && <span className="mono dim" data-testid="context-tool-call-id">tool_call_id {m.toolCallId}</span>}
        {m.text.length > 0 && <span className="dim small">{m.text.length.toLocaleString()} chars</span>}
      </div>
      {m.text.length > 0 && (
        <pre className="sc-content mono" data-testid="context-content" data-cut={cut === null ? undefined : 'true'}>
          {cut === null ? m.text : `${m.text.slice(0, cut)}…`}
        </pre>
      )}
      {cut !== null && (
        <button type="button" className="link-btn sc-more" data-testid="context-show-all" onClick={onShowAll}>
          Show all ({(m.text.length - cut).toLocaleString()} more characters)
        </button>
      )}
      {m.calls.map((c) => (
        <div key={c.id} className="sc-call" data-testid="context-call">
          <div className="sc-call-head">
            <span className="section-tag">{c.name}</span> <span className="mono dim">{c.id}</span>
          </div>
          <pre className="mono pre-block sc-pre">{prettyArguments(c.arguments)}</pre>
        </div>
      ))}
      {extra.length > 0 && <pre className="mono pre-block sc-pre sc-extra">{JSON.stringify(m.extra, null, 2)}</pre>}
    </div>
  );
}
