// Search the open session (sessions.search on the host: actions, observations,
// guidance, comments, summaries and terminal output). A header button and the keys
// of the `sessionSearch` binding (/ and Ctrl/⌘+F, the latter also from a terminal) open a box over the terminal;
// typing searches after a short pause, ↑/↓ move through the results, Enter or a click
// goes to the result's step (and, for terminal output, its terminal's replay at the
// hit), Esc closes.
import { useEffect, useLayoutEffect, useRef, useState, type KeyboardEvent } from 'react';
import { SEARCH_KINDS, type SearchKind, type SearchResponse, type SearchResult } from '../../../../shared/contract/sessions';
import { useApp, useAppStore, useTransport } from '../../context';
import { describeError } from '../../lib/errors';
import { actionFor, keyHint } from '../../lib/keymap';
import { inModal, isTypingTarget, useDocumentKeys } from '../keys';
import { jumpToStep } from '../trajectory/actions';
import { highlightParts } from './highlight';
import './search.css';

/** Typing pauses this long before a query is sent. */
const DEBOUNCE_MS = 150;
/** Results asked for; the host says when there are more. */
const LIMIT = 200;

type State =
  | { status: 'idle' }
  | { status: 'searching'; query: string }
  | { status: 'done'; query: string; res: SearchResponse; roundTripMs: number }
  | { status: 'error'; query: string; message: string };

export function SessionSearch({ sessionId }: { sessionId: string }) {
  const transport = useTransport();
  const store = useAppStore();
  const keymap = useApp((s) => s.keymap);
  const [open, setOpen] = useState(false);
  const [query, setQuery] = useState('');
  const [kind, setKind] = useState<SearchKind | 'all'>('all');
  const [state, setState] = useState<State>({ status: 'idle' });
  const [active, setActive] = useState(0);
  const inputRef = useRef<HTMLInputElement>(null);
  const listRef = useRef<HTMLUListElement>(null);
  const returnFocus = useRef<HTMLElement | null>(null);
  const seq = useRef(0);

  /** Set by show: the box takes the focus as soon as it is in the page. */
  const focusPending = useRef(false);
  const show = () => {
    if (open && inputRef.current) {
      inputRef.current.focus();
      inputRef.current.select();
      return;
    }
    returnFocus.current = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    focusPending.current = true;
    setOpen(true);
  };
  // Before the next key is handled (a layout effect of the render the key that opened
  // it caused): focused on the next frame, the first letters typed at once were lost
  // while a long session's page painted.
  useLayoutEffect(() => {
    if (!open || !focusPending.current || !inputRef.current) return;
    focusPending.current = false;
    inputRef.current.focus();
    inputRef.current.select();
  });
  const close = () => {
    setOpen(false);
    seq.current++;
    const back = returnFocus.current;
    returnFocus.current = null;
    if (back?.isConnected) back.focus();
  };

  // Caught before the terminal sees it, as Ctrl+K is (App.tsx): a terminal has the focus
  // most of the time, and Ctrl/⌘+F is the page's search everywhere (in a shell, → moves
  // forward a character as readline's Ctrl+F does). A printable binding (/) is text in
  // a field or a terminal.
  useDocumentKeys((e) => {
    if (e.defaultPrevented || inModal(e.target) || store.getState().dialog) return;
    if (actionFor('live', e, keymap) !== 'sessionSearch') return;
    if (!(e.ctrlKey || e.metaKey) && isTypingTarget(e.target)) return;
    e.preventDefault();
    e.stopPropagation();
    show();
  }, true);

  useEffect(() => {
    if (!open || !query.trim()) {
      seq.current++;
      setState({ status: 'idle' });
      return;
    }
    const my = ++seq.current;
    const timer = setTimeout(() => {
      setState({ status: 'searching', query });
      const t0 = performance.now();
      transport
        .request('sessions.search', { sessionId, query, limit: LIMIT, ...(kind === 'all' ? {} : { kinds: [kind] }) })
        .then((res) => {
          if (seq.current !== my) return;
          setState({ status: 'done', query, res, roundTripMs: performance.now() - t0 });
          setActive(0);
        })
        .catch((err) => {
          if (seq.current === my) setState({ status: 'error', query, message: describeError(err).message });
        });
    }, DEBOUNCE_MS);
    return () => clearTimeout(timer);
  }, [open, query, kind, sessionId, transport]);

  const results = state.status === 'done' ? state.res.results : [];
  // The results of what was typed before stay until the new ones come, but the status
  // says the search is under way (it said done, with the older query's count, while the
  // newer one waited out its debounce).
  const shownState: State = (state.status === 'done' || state.status === 'error') && state.query !== query && query.trim() ? { status: 'searching', query } : state;
  useEffect(() => {
    listRef.current?.querySelector<HTMLElement>(`[data-index="${active}"]`)?.scrollIntoView({ block: 'nearest' });
  }, [active, results]);

  const go = (r: SearchResult | undefined) => {
    if (!r) return;
    // Terminal output opens the terminal's replay at the hit: the screen as it was just
    // after those bytes were written (the live view shows only the present).
    if (r.kind === 'terminal' && r.terminalId && r.offset !== undefined) {
      const text = (state.status === 'done' ? state.query : query).trim();
      store.getState().openReplay(sessionId, { terminalId: r.terminalId, offset: r.offset, length: r.length ?? new TextEncoder().encode(text).length, text, stepId: r.stepId });
    }
    if (!r.stepId) return;
    jumpToStep(store, sessionId, r.stepId, {
      ...(r.terminalId ? { terminalId: r.terminalId } : {}),
      tab: r.kind === 'comment' ? 'comments' : r.kind === 'action' || r.kind === 'guidance' || r.kind === 'summary' ? undefined : 'output',
    });
  };

  const onKeyDown = (e: KeyboardEvent<HTMLElement>) => {
    if (e.key === 'Escape') {
      e.preventDefault();
      e.stopPropagation();
      close();
    } else if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault();
      if (results.length) setActive((a) => (a + (e.key === 'ArrowDown' ? 1 : results.length - 1)) % results.length);
    } else if (e.key === 'Enter' && (e.target as HTMLElement).tagName !== 'SELECT') {
      e.preventDefault();
      go(results[active]);
    }
  };

  const hint = keyHint('sessionSearch', 'live', keymap);
  return (
    <span className="session-search">
      <button
        type="button"
        className={`tool-btn${open ? ' on' : ''}`}
        data-testid="search-open"
        aria-expanded={open}
        title={`Search this session: actions, observations, guidance, comments and terminal output${hint ? ` (${hint})` : ''}`}
        onClick={() => (open ? close() : show())}
      >
        search
      </button>
      {open && (
        <div className="search-panel" data-testid="search-panel" role="search" aria-label="Search the session" onKeyDown={onKeyDown}>
          <div className="search-row">
            <input
              ref={inputRef}
              className="search-input"
              data-testid="search-input"
              type="text"
              role="combobox"
              aria-label="Search the session"
              aria-expanded={results.length > 0}
              aria-controls="session-search-results"
              aria-autocomplete="list"
              aria-activedescendant={results.length ? `session-search-${active}` : undefined}
              placeholder="Search actions, output, guidance, comments…"
              spellCheck={false}
              autoComplete="off"
              value={query}
              onChange={(e) => setQuery(e.target.value)}
            />
            <select className="search-kind" data-testid="search-kind" aria-label="Where to search" value={kind} onChange={(e) => setKind(e.target.value as SearchKind | 'all')}>
              <option value="all">everywhere</option>
              {SEARCH_KINDS.map((k) => (
                <option key={k} value={k}>
                  {k === 'terminal' ? 'terminal output' : `${k}s`}
                </option>
              ))}
            </select>
            <button type="button" className="icon-btn search-close" data-testid="search-close" aria-label="Close the search (Esc)" title="Close (Esc)" onClick={close}>
              ×
            </button>
          </div>
          <SearchStatus state={shownState} />
          {results.length > 0 && (
            <ul ref={listRef} id="session-search-results" className="search-results" role="listbox" aria-label="Results" data-testid="search-results">
              {results.map((r, i) => (
                <ResultRow key={`${r.kind}:${r.stepId ?? ''}:${r.terminalId ?? ''}:${r.offset ?? r.at ?? 0}:${i}`} sessionId={sessionId} r={r} i={i} active={i === active} query={state.status === 'done' ? state.query : query} onPick={() => { setActive(i); go(r); }} />
              ))}
            </ul>
          )}
        </div>
      )}
    </span>
  );
}

function SearchStatus({ state }: { state: State }) {
  let text = 'Type to search; ↑/↓ move, Enter goes to the step, Esc closes.';
  if (state.status === 'searching') text = 'Searching…';
  else if (state.status === 'error') text = `Search failed: ${state.message}`;
  else if (state.status === 'done') {
    const n = state.res.results.length;
    const count = n === 0 ? 'No match' : `${n.toLocaleString()}${state.res.truncated ? '+' : ''} result${n === 1 && !state.res.truncated ? '' : 's'}${state.res.truncated ? ` (the first ${n})` : ''}`;
    text = `${count} · ${Math.round(state.res.ms)} ms`;
  }
  return (
    <div
      className={`search-status${state.status === 'error' ? ' error' : ''}`}
      data-testid="search-status"
      data-status={state.status}
      data-query={state.status === 'idle' ? undefined : state.query}
      data-count={state.status === 'done' ? state.res.results.length : undefined}
      title={state.status === 'done' ? `${Math.round(state.res.ms)} ms on the host, ${Math.round(state.roundTripMs)} ms with the round trip` : undefined}
      role="status"
    >
      {text}
    </div>
  );
}

const KIND_LABEL: Record<SearchKind, string> = { action: 'action', observation: 'output', guidance: 'guidance', comment: 'comment', summary: 'summary', terminal: 'terminal' };

function ResultRow({ sessionId, r, i, active, query, onPick }: { sessionId: string; r: SearchResult; i: number; active: boolean; query: string; onPick(): void }) {
  const step = useApp((s) => (r.stepId ? s.trajectories[sessionId]?.t.steps.get(r.stepId) : undefined));
  const where = step ? `step ${step.depth}${step.branchId !== 'main' ? ` · ${step.branchId}` : ''}` : r.stepId ? 'step ?' : 'before step 1';
  return (
    <li
      id={`session-search-${i}`}
      role="option"
      aria-selected={active}
      className={`search-result${active ? ' active' : ''}${r.stepId ? '' : ' nostep'}`}
      data-testid="search-result"
      data-index={i}
      data-kind={r.kind}
      data-step-id={r.stepId ?? ''}
      data-terminal-id={r.terminalId ?? ''}
      data-offset={r.offset}
      onMouseDown={(e) => e.preventDefault()}
      onClick={onPick}
    >
      <span className={`search-kind-chip k-${r.kind}`}>{KIND_LABEL[r.kind]}</span>
      <span className="search-where" title={r.terminalId ? `${r.terminalId}, byte ${r.offset?.toLocaleString() ?? '?'} of the recording` : undefined}>
        {where}
        {r.terminalId ? ` · in ${r.terminalId}` : ''}
      </span>
      <span className="search-snippet mono">
        {highlightParts(r.snippet, query).map((p, j) => (p.match ? <mark key={j}>{p.text}</mark> : <span key={j}>{p.text}</span>))}
      </span>
    </li>
  );
}
