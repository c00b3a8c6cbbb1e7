// Timed replay of one terminal, over the live view: its own xterm at the recorded
// size, play / pause, 1×–64×, a scrubber over the whole recording with the steps that
// ran in it, and step jumps that move the selection with them (and Back to where the
// replay was). The host streams it (replayController.ts): any length of recording.
// A search hit in the terminal's output opens it at the hit (`request`): the screen
// just after the match was written, the match selected, the step it belongs to selected.
import { useEffect, useMemo, useRef, useState, type KeyboardEvent } from 'react';
import { Terminal } from '@xterm/xterm';
import type { ReplayMarker, TerminalReplayInfo } from '../../../../shared/contract/replay';
import { markerAt } from '../../../../shared/replay-markers';
import { useApp, useAppStore, useTransport } from '../../context';
import { jumpToStep } from '../trajectory/actions';
import type { ReplayRequest } from '../../store/terminals';
import { describeError } from '../../lib/errors';
import { TERMINAL_OPTIONS } from '../terminalTheme';
import { ReplayController, SPEEDS, type ReplayState } from './replayController';
import './replay.css';

/** A scrub settles this long after the last move before it seeks (dragging asks for one screen, not hundreds). */
const SCRUB_SETTLE_MS = 120;
const LIVE_INFO_MS = 5000;

type Hit = NonNullable<ReplayRequest['at']>;

export function TerminalReplay({ sessionId, terminalId, request, onClose }: { sessionId: string; terminalId: string; request: ReplayRequest | null; onClose(): void }) {
  const transport = useTransport();
  const store = useAppStore();
  const steps = useApp((s) => s.trajectories[sessionId]?.t.steps);
  const selectedStepId = useApp((s) => s.views[sessionId]?.stepId ?? null);
  const hostRef = useRef<HTMLDivElement>(null);
  const ctlRef = useRef<ReplayController | null>(null);
  const termRef = useRef<Terminal | null>(null);
  /** The search hit on screen (its text as found there, or null when it could not be marked). */
  const [hit, setHit] = useState<{ offset: number; marked: string | null } | null>(null);
  /** The last request shown, and whether the replay has been put anywhere yet. */
  const shownSeq = useRef<number | null>(null);
  const positioned = useRef(false);
  const [info, setInfo] = useState<TerminalReplayInfo | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [st, setSt] = useState<ReplayState | null>(null);
  const [scrub, setScrub] = useState<number | null>(null);
  const [back, setBack] = useState<{ offset: number; label: string } | null>(null);
  /** The step the replay last jumped to (so the selection it sets does not jump it again). */
  const jumpedTo = useRef<string | null>(null);
  const scrubTimer = useRef<ReturnType<typeof setTimeout> | null>(null);

  useEffect(() => {
    const host = hostRef.current;
    if (!host) return;
    const term = new Terminal({ ...TERMINAL_OPTIONS, disableStdin: true, cursorBlink: false, scrollback: 1000 });
    term.open(host);
    termRef.current = term;
    const ids = { sessionId, terminalId };
    const ctl = new ReplayController(
      {
        screen: (target) => transport.request('terminal.screen', { ...ids, ...target }),
        frames: (start, maxBytes) => transport.request('terminal.frames', { ...ids, start, maxBytes }),
      },
      {
        reset: (cols, rows) => {
          term.reset();
          term.resize(cols, rows);
        },
        resize: (cols, rows) => term.resize(cols, rows),
        write: (data) => term.write(data),
      },
    );
    ctlRef.current = ctl;
    const unsub = ctl.subscribe(setSt);
    setSt(ctl.state);
    let raf = 0;
    // The cursor's row kept in view when it or the position moves (a seek, a jump,
    // output; not while the user scrolls a paused replay): in a pane shorter than the
    // recorded size the frame would otherwise stay on whichever rows it showed.
    let shownAt = '';
    const loop = (t: number) => {
      ctl.tick(t);
      const b = term.buffer.active;
      const at = `${b.baseY + b.cursorY - b.viewportY}:${ctl.state.offset}`;
      if (at !== shownAt) {
        shownAt = at;
        revealCursorRow(term, host.closest('.replay-frame'));
      }
      raf = requestAnimationFrame(loop);
    };
    raf = requestAnimationFrame(loop);
    let cancelled = false;
    transport
      .request('terminal.replayInfo', ids)
      .then((i) => {
        if (!cancelled) setInfo(i);
      })
      .catch((e) => !cancelled && setError(describeError(e).message));
    return () => {
      cancelled = true;
      cancelAnimationFrame(raf);
      unsub();
      ctl.pause();
      ctlRef.current = null;
      termRef.current = null;
      term.dispose();
    };
  }, [transport, sessionId, terminalId]);

  // A live terminal's recording grows: its span and steps are asked for again now and then.
  const live = info?.live ?? false;
  useEffect(() => {
    if (!live) return;
    const timer = setInterval(() => {
      transport.request('terminal.replayInfo', { sessionId, terminalId }).then(setInfo, () => undefined);
    }, LIVE_INFO_MS);
    return () => clearInterval(timer);
  }, [live, transport, sessionId, terminalId]);

  const startTs = info?.startTs ?? 0;
  const duration = info && info.endTs !== null && info.startTs !== null ? Math.max(1, info.endTs - info.startTs) : 1;
  const markers = info?.markers ?? [];
  const current = useMemo(() => (st ? markerAt(markers, st.offset, st.ts) : -1), [markers, st]);

  /** Where the replay is now, for Back (once it has been anywhere). */
  const keepBack = () => {
    const here = ctlRef.current?.state;
    if (here && positioned.current) setBack({ offset: here.offset, label: here.ts !== null ? clock(here.ts - startTs) : `byte ${here.offset}` });
  };
  const forgetHit = () => {
    setHit(null);
    termRef.current?.clearSelection();
  };

  const jump = (m: ReplayMarker, select: boolean) => {
    const ctl = ctlRef.current;
    if (!ctl) return;
    keepBack();
    forgetHit();
    jumpedTo.current = m.stepId;
    void ctl.seek(m.offset !== null ? { offset: m.offset } : { at: m.ts });
    // Shown in the trajectory (its branch, scrolled to), this terminal staying the one shown.
    if (select) jumpToStep(store, sessionId, m.stepId, { terminalId });
  };

  const showHit = async (at: Hit) => {
    const ctl = ctlRef.current;
    if (!ctl) return;
    keepBack();
    forgetHit();
    // The search selects the hit's step: that selection must not move the replay to the step's start.
    jumpedTo.current = at.stepId;
    ctl.pause();
    await ctl.seek({ offset: at.offset + at.length });
    const term = termRef.current;
    if (!term || ctlRef.current !== ctl || ctl.state.error) return;
    // After xterm has parsed the screen (writes are parsed in order).
    term.write('', () => {
      setHit({ offset: at.offset, marked: markMatch(term, at.text) });
      revealCursorRow(term, hostRef.current?.closest('.replay-frame') ?? null);
    });
  };

  // Opened (or asked again) at a search hit; otherwise at the start of the recording.
  useEffect(() => {
    if (!info) return;
    if (request?.at && shownSeq.current !== request.seq) {
      shownSeq.current = request.seq;
      void showHit(request.at).finally(() => (positioned.current = true));
    } else if (!positioned.current && !request?.at) {
      positioned.current = true;
      void ctlRef.current?.seek({ offset: 0 });
    }
    // `showHit` reads the controller through refs; only a new request or the info matters.
  }, [request, info]);

  // Selecting a step elsewhere (the trajectory, the timeline) moves the replay to it.
  useEffect(() => {
    if (!selectedStepId || !info || selectedStepId === jumpedTo.current) return;
    const m = info.markers.find((x) => x.stepId === selectedStepId);
    if (m) jump(m, false);
    // `jump` reads the controller through a ref; only a new selection or info matters.
  }, [selectedStepId, info]);

  const seekScrub = (v: number) => {
    setScrub(v);
    if (scrubTimer.current) clearTimeout(scrubTimer.current);
    scrubTimer.current = setTimeout(() => {
      scrubTimer.current = null;
      forgetHit();
      void ctlRef.current?.seek({ at: startTs + v }).finally(() => setScrub(null));
    }, SCRUB_SETTLE_MS);
  };
  useEffect(() => () => {
    if (scrubTimer.current) clearTimeout(scrubTimer.current);
  }, []);

  const position = scrub ?? (st?.ts !== null && st?.ts !== undefined ? Math.max(0, st.ts - startTs) : 0);
  const onKeys = (e: KeyboardEvent<HTMLElement>) => {
    if ((e.target as HTMLElement).closest('select, input[type="range"]')) return;
    if (e.key === ' ') {
      e.preventDefault();
      if (st?.playing) ctlRef.current?.pause();
      else ctlRef.current?.play();
    } else if (e.key === 'Escape') onClose();
  };
  const prev = current > 0 ? markers[current - 1] : undefined;
  const next = markers[current + 1];

  return (
    <section className="replay" data-testid="replay" aria-label={`Replay of terminal ${terminalId}`} onKeyDown={onKeys}>
      <div className="replay-bar">
        <button
          type="button"
          className="btn btn-small primary replay-play"
          data-testid="replay-play"
          data-playing={st?.playing ? 'true' : 'false'}
          disabled={!info || !st}
          onClick={() => (st?.playing ? ctlRef.current?.pause() : ctlRef.current?.play())}
        >
          {st?.playing ? 'Pause' : st?.atEnd ? 'Play again' : 'Play'}
        </button>
        <label className="replay-speed">
          <span>Speed</span>
          <select data-testid="replay-speed" value={st?.speed ?? 1} onChange={(e) => ctlRef.current?.setSpeed(Number(e.target.value))}>
            {SPEEDS.map((s) => (
              <option key={s} value={s}>
                {s}×
              </option>
            ))}
          </select>
        </label>
        <button type="button" className="btn btn-small" data-testid="replay-prev-step" disabled={!prev} onClick={() => prev && jump(prev, true)} title="Jump to the previous step">
          ‹ Step
        </button>
        <span className="replay-step" data-testid="replay-step">
          {current >= 0 ? stepLabel(markers[current]!, steps?.get(markers[current]!.stepId)) : markers.length ? 'before the first step' : 'no steps'}
        </span>
        <button type="button" className="btn btn-small" data-testid="replay-next-step" disabled={!next} onClick={() => next && jump(next, true)} title="Jump to the next step">
          Step ›
        </button>
        {back && (
          <button
            type="button"
            className="btn btn-small"
            data-testid="replay-back"
            onClick={() => {
              forgetHit();
              void ctlRef.current?.seek({ offset: back.offset });
              setBack(null);
            }}
            title="Back to where the replay was before the jump"
          >
            Back to {back.label}
          </button>
        )}
        <span className="replay-time mono" data-testid="replay-time">
          {clock(position)} / {clock(duration)}
          <span className="dim"> · byte {(st?.offset ?? 0).toLocaleString('en')}{info ? ` of ${info.bytes.toLocaleString('en')}` : ''}</span>
        </span>
        <span className="replay-note" data-testid="replay-status" role="status">
          {error ?? st?.error ?? (st?.seeking ? 'Seeking…' : st?.atEnd ? 'End of the recording' : '')}
        </span>
        {hit && !st?.seeking && (
          <span className="replay-note replay-hit" data-testid="replay-hit" data-offset={hit.offset} data-marked={hit.marked ?? ''}>
            {hit.marked !== null ? 'At the search hit (selected)' : 'At the search hit'}
          </span>
        )}
        <button type="button" className="btn btn-small replay-close" data-testid="replay-close" onClick={onClose} aria-label="Close the replay">
          Close
        </button>
      </div>
      <div className="replay-scrub">
        <div className="replay-markers" aria-hidden="true">
          {markers.map((m, i) => (
            <span key={m.stepId} className={i === current ? 'on' : ''} style={{ left: `${(Math.min(duration, Math.max(0, m.ts - startTs)) / duration) * 100}%` }} title={stepLabel(m, steps?.get(m.stepId))} />
          ))}
        </div>
        <input
          type="range"
          data-testid="replay-scrubber"
          aria-label="Position in the recording"
          aria-valuetext={clock(position)}
          min={0}
          max={duration}
          step={1}
          value={Math.min(duration, position)}
          disabled={!info}
          onChange={(e) => seekScrub(Number(e.target.value))}
        />
      </div>
      <div className="replay-frame">
        <div ref={hostRef} className="replay-host" data-testid="replay-terminal" />
      </div>
    </section>
  );
}

/**
 * Select the match on the screen just after it was written: it ends at or before the
 * cursor, on the cursor's line or (a line ending written with it) a few lines above.
 * Returns the text selected, or null when it is not on one line there (wrapped, or
 * drawn over since).
 */
function markMatch(term: Terminal, text: string): string | null {
  const buf = term.buffer.active;
  const q = text.toLowerCase();
  const cursorRow = buf.baseY + buf.cursorY;
  for (let row = cursorRow; row >= Math.max(0, cursorRow - 4); row--) {
    const line = buf.getLine(row)?.translateToString(false);
    if (!line) continue;
    const before = row === cursorRow ? line.slice(0, Math.max(buf.cursorX, q.length)) : line;
    const col = before.toLowerCase().lastIndexOf(q);
    if (col < 0) continue;
    term.select(col, row, q.length);
    return term.getSelection();
  }
  return null;
}

/**
 * Scroll the replay's frame (the recorded size can be larger than the pane: at 1280×720
 * with the step inspector open only a few rows show) so the cursor's row (where new
 * output, or a search hit, ends) is in view, at its foot when it was out of view.
 * The frame only: scrollIntoView would also scroll the app's clipped panels.
 */
function revealCursorRow(term: Terminal, frame: Element | null): void {
  const buf = term.buffer.active;
  const rowEl = term.element?.querySelectorAll('.xterm-rows > div')[buf.baseY + buf.cursorY - buf.viewportY];
  if (!frame || !rowEl) return;
  const r = rowEl.getBoundingClientRect();
  const f = frame.getBoundingClientRect();
  if (r.top >= f.top && r.bottom <= f.bottom) return;
  // At the frame's foot, as a terminal shows its latest line: what was written before it stays above.
  frame.scrollTop += r.bottom - f.bottom + 6;
}

/** As the trajectory and the search name a step: its number on its branch (the marker's start order only when the page has no such step). */
function stepLabel(m: ReplayMarker, step: { depth: number; branchId: string } | undefined): string {
  if (!step) return `step ${m.n}`;
  return `step ${step.depth}${step.branchId !== 'main' ? ` · ${step.branchId}` : ''}`;
}

/** h:mm:ss of a span. */
function clock(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return `${h}:${String(m).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
}
