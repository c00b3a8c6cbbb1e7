// The session timeline: a thin strip over the terminal picturing the whole session
// (steps by kind, idle gaps, guidance, branches, comments, keep/mask), one canvas
// painted per pixel column from binTimeline. Hover says what is there, a click goes
// to that moment (selects the step and shows its terminal), the wheel zooms around
// the pointer, a drag pans; as a slider it moves through the steps from the keyboard.
import { useCallback, useEffect, useMemo, useRef, useState, type KeyboardEvent, type PointerEvent } from 'react';
import { useAppStore } from '../../context';
import { useAfterFirstPaint } from '../../lib/afterPaint';
import { formatDateTime, formatDuration } from '../../lib/format';
import { jumpToStep } from '../trajectory/actions';
import { useTrajectoryView } from '../trajectory/useTrajectoryView';
import {
  binTimeline, buildTimeline, columnOf, formatElapsed, hitTest, panWindow, stepAt, timeTicks, zoomWindow,
  type TimelineBins, type TimelineHit, type TimelineModel, type TimelineStep,
} from './model';
import { useTimelineShown } from './prefs';
import './timeline.css';

/** Canvas rows (css px). */
const H = 44;
const MARK = { y: 1, h: 7 };
const PATH = { y: 10, h: 13 };
const OTHER = { y: 24, h: 3 };
const LABEL = { y: 29, h: 3 };
const AXIS_Y = 42;

/** Colours per STEP_KINDS index + 1 (0: none). */
const KIND_COLOURS = ['', '#56617a', '#8d99b3', '#4d8dff', '#c59bff', '#f06a6a'];
const MARK_COLOURS = { guidance: '#e0b43a', branch: '#c59bff', comment: '#7fb3ff' } as const;

/** What the strip says it shows (its data- attributes): one pass over the model. */
function countsOf(model: TimelineModel): { guidance: number; branch: number; comment: number; keep: number; mask: number; errors: number } {
  const c = { guidance: 0, branch: 0, comment: 0, keep: 0, mask: 0, errors: 0 };
  for (const m of model.marks) {
    if (m.kind === 'guidance') c.guidance++;
    else if (m.kind === 'branch') c.branch++;
    else if (m.kind === 'comment') c.comment++;
  }
  for (const s of model.steps) {
    if (s.onPath && s.label === 'keep') c.keep++;
    else if (s.onPath && s.label === 'mask') c.mask++;
    if (s.kind === 'error') c.errors++;
  }
  return c;
}

/** The strip, when shown (header toggle, Shift+T). */
export function Timeline({ live }: { live: boolean }) {
  const shown = useTimelineShown();
  // Built after the second frame: a session opening paints its steps first, then makes its
  // terminal (after the first frame), then this (the model is a pass over the whole
  // session, the strip's first render ~10-15 ms, ~150 ms at 2,500 steps); its place is kept.
  const painted = useAfterFirstPaint(2);
  const tv = useTrajectoryView();
  const steps = tv.path.length;
  if (!shown) return null;
  // Nor before every step's details are in (a paged open): its errors and durations come from them.
  if (!painted || tv.entry?.pending) return steps > 0 ? <div className="session-timeline" aria-hidden="true"><div className="timeline-host" /></div> : null;
  return <TimelineStrip live={live} />;
}

function TimelineStrip({ live }: { live: boolean }) {
  const tv = useTrajectoryView();
  const store = useAppStore();
  const { entry, path, sessionId } = tv;
  const selectedId = tv.view.stepId;
  const hostRef = useRef<HTMLDivElement>(null);
  const canvasRef = useRef<HTMLCanvasElement>(null);
  const [width, setWidth] = useState(0);
  const [win, setWin] = useState<[number, number] | null>(null);
  /** The column under the pointer (or the keyboard's step); what is there follows the window and the model. */
  const [hoverX, setHoverX] = useState<number | null>(null);
  const [now, setNow] = useState(() => Date.now());
  const drawMs = useRef(0);

  // A live session's running steps grow towards now.
  useEffect(() => {
    if (!live) return;
    const timer = setInterval(() => setNow(Date.now()), 10_000);
    return () => clearInterval(timer);
  }, [live]);

  const model = useMemo(() => (entry ? buildTimeline(entry.t, path, live ? now : null) : null), [entry, path, live, now]);
  const byId = useMemo(() => new Map(model?.steps.map((s) => [s.id, s]) ?? []), [model]);
  const [from, to] = win ?? (model ? [model.start, model.end] : [0, 1]);
  const bins = useMemo(() => (model && width > 0 ? binTimeline(model, from, to, width) : null), [model, from, to, width]);
  // The strip renders again on every pointer move (the hover); the counts change only with the model.
  const counts = useMemo(() => (model ? countsOf(model) : null), [model]);

  useEffect(() => {
    const host = hostRef.current;
    if (!host) return;
    const ro = new ResizeObserver(() => setWidth(Math.floor(host.clientWidth)));
    ro.observe(host);
    setWidth(Math.floor(host.clientWidth));
    return () => ro.disconnect();
  }, []);

  // A window from an older, shorter session state still fits: keep it within the session.
  useEffect(() => {
    if (win && model && (win[0] < model.start || win[1] > model.end)) setWin(null);
  }, [win, model]);

  const selected = selectedId ? byId.get(selectedId) ?? null : null;
  const hover = useMemo(() => (model && hoverX !== null && width > 0 ? { x: hoverX, hit: hitTest(model, from, to, width, hoverX) } : null), [model, hoverX, from, to, width]);
  useEffect(() => {
    const c = canvasRef.current;
    if (!c || !bins || !model) return;
    const t0 = performance.now();
    paint(c, bins, model, selected, hover?.x ?? null);
    drawMs.current = performance.now() - t0;
    c.dataset.drawMs = drawMs.current.toFixed(2);
  }, [bins, model, selected, hover]);

  // Wheel zoom needs a listener that may cancel the page's scroll (React's is passive).
  const zoomRef = useRef<(e: WheelEvent) => void>(() => {});
  zoomRef.current = (e: WheelEvent) => {
    if (!model || width <= 0) return;
    e.preventDefault();
    const rect = canvasRef.current!.getBoundingClientRect();
    const at = from + ((e.clientX - rect.left) / width) * (to - from);
    if (e.shiftKey || Math.abs(e.deltaX) > Math.abs(e.deltaY)) {
      const d = e.shiftKey ? e.deltaY || e.deltaX : e.deltaX;
      setWin(panWindow(from, to, (d / width) * (to - from), model.start, model.end));
    } else {
      setWin(zoomWindow(from, to, at, Math.exp(Math.max(-1, Math.min(1, e.deltaY * 0.002))), model.start, model.end));
    }
  };
  useEffect(() => {
    const c = canvasRef.current;
    if (!c) return;
    const onWheel = (e: WheelEvent) => zoomRef.current(e);
    c.addEventListener('wheel', onWheel, { passive: false });
    return () => c.removeEventListener('wheel', onWheel);
  }, []);

  const go = useCallback((s: TimelineStep | null) => sessionId && s && jumpToStep(store, sessionId, s.id), [store, sessionId]);

  const drag = useRef<{ x: number; from: number; to: number; moved: boolean } | null>(null);
  const xOf = (e: { clientX: number }) => e.clientX - canvasRef.current!.getBoundingClientRect().left;
  const onPointerDown = (e: PointerEvent<HTMLCanvasElement>) => {
    if (e.button !== 0) return;
    e.currentTarget.setPointerCapture(e.pointerId);
    drag.current = { x: xOf(e), from, to, moved: false };
  };
  const onPointerMove = (e: PointerEvent<HTMLCanvasElement>) => {
    if (!model || width <= 0) return;
    const x = xOf(e);
    const d = drag.current;
    if (d && (d.moved || Math.abs(x - d.x) > 3)) {
      d.moved = true;
      setWin(panWindow(d.from, d.to, (-(x - d.x) / width) * (d.to - d.from), model.start, model.end));
      setHoverX(null);
      return;
    }
    setHoverX(Math.floor(x));
  };
  const onPointerUp = (e: PointerEvent<HTMLCanvasElement>) => {
    const d = drag.current;
    drag.current = null;
    if (!d || d.moved || !model || width <= 0) return;
    const hit = hitTest(model, from, to, width, Math.floor(xOf(e)));
    // Below the marks' row a click means the step there, not a mark a pixel or two away.
    const y = e.clientY - canvasRef.current!.getBoundingClientRect().top;
    go(stepAt(model, y < PATH.y - 1 ? hit : { ...hit, marks: [] }));
  };

  const onKeyDown = (e: KeyboardEvent<HTMLDivElement>) => {
    if (!model || e.ctrlKey || e.metaKey || e.altKey) return;
    const steps = path;
    const i = selectedId ? steps.findIndex((s) => s.id === selectedId) : -1;
    const notable = (id: string) => {
      const s = byId.get(id);
      return !!s && (s.kind === 'error' || s.kind === 'long' || s.label === 'mask' || model.marks.some((m) => m.stepId === id));
    };
    let target: string | undefined;
    const at = selected ? (selected.start + selected.end) / 2 : (from + to) / 2;
    switch (e.key) {
      case 'ArrowRight':
      case 'ArrowLeft': {
        const dir = e.key === 'ArrowRight' ? 1 : -1;
        let j = i < 0 ? (dir > 0 ? 0 : steps.length - 1) : i + dir;
        if (e.shiftKey) while (j >= 0 && j < steps.length && !notable(steps[j]!.id)) j += dir;
        target = steps[Math.max(0, Math.min(steps.length - 1, j))]?.id;
        break;
      }
      case 'Home':
        target = steps[0]?.id;
        break;
      case 'End':
        target = steps[steps.length - 1]?.id;
        break;
      case '+':
      case '=':
        setWin(zoomWindow(from, to, at, 0.5, model.start, model.end));
        break;
      case '-':
        setWin(zoomWindow(from, to, at, 2, model.start, model.end));
        break;
      case '0':
        setWin(null);
        break;
      default:
        return;
    }
    // The trajectory's own keys (←/→ parent/child) are not also applied.
    e.preventDefault();
    const s = target ? byId.get(target) : undefined;
    if (!s) return;
    go(s);
    // Keep the step in the window when zoomed in.
    if (win && (s.start < from || s.end > to)) setWin(panWindow(from, to, (s.start + s.end) / 2 - (from + to) / 2, model.start, model.end));
    const x = columnOf(s.start, from, to, width);
    if (x >= 0 && x < width) setHoverX(x);
  };

  if (!entry || !model || !counts || model.steps.length === 0) return null;
  const idx = selected ? path.findIndex((s) => s.id === selected.id) : -1;
  return (
    <div className="session-timeline" data-testid="timeline">
      <div
        ref={hostRef}
        className="timeline-host"
        role="slider"
        tabIndex={0}
        aria-label="Session timeline"
        aria-valuemin={1}
        aria-valuemax={Math.max(1, path.length)}
        aria-valuenow={idx >= 0 ? idx + 1 : undefined}
        aria-valuetext={selected ? `step ${selected.depth} of ${path.length}, ${selected.title}, at ${formatElapsed(selected.start - model.start)}` : `${path.length} steps over ${formatElapsed(model.end - model.start)}; no step selected`}
        aria-keyshortcuts="ArrowLeft ArrowRight Shift+ArrowLeft Shift+ArrowRight Home End + - 0"
        title={LEGEND}
        data-from={from}
        data-to={to}
        data-width={width}
        data-steps={model.steps.length}
        data-path-steps={path.length}
        data-guidance={counts.guidance}
        data-branches={counts.branch}
        data-comments={counts.comment}
        data-keep={counts.keep}
        data-mask={counts.mask}
        data-errors={counts.errors}
        data-gaps={model.gaps.length}
        data-zoomed={win ? 'true' : 'false'}
        onKeyDown={onKeyDown}
        onBlur={() => setHoverX(null)}
      >
        <canvas
          ref={canvasRef}
          data-testid="timeline-canvas"
          onPointerDown={onPointerDown}
          onPointerMove={onPointerMove}
          onPointerUp={onPointerUp}
          onPointerLeave={() => !drag.current && setHoverX(null)}
          onDoubleClick={() => setWin(null)}
        />
        {hover && <Tip x={hover.x} width={width} hit={hover.hit} model={model} />}
      </div>
      {win && (
        <button type="button" className="tool-btn timeline-reset" data-testid="timeline-reset" title="Show the whole session (0)" onClick={() => setWin(null)}>
          whole
        </button>
      )}
    </div>
  );
}

const LEGEND =
  'Session timeline — steps: grey commands, blue long commands, dim sleeps, red errors, violet running; ' +
  'hatched: idle; below: other branches, then keep (green) / mask (red). ' +
  'Marks: amber ▼ guidance, violet ◆ branch or rewind, blue • comment. ' +
  'Click: go to that moment · wheel: zoom · drag or Shift+wheel: pan · double-click or 0: whole session · ←/→ steps, Shift+←/→ notable steps.';

function Tip({ x, width, hit, model }: { x: number; width: number; hit: TimelineHit; model: TimelineModel }) {
  const TIP_W = 340;
  const left = Math.max(0, Math.min(width - TIP_W, x - TIP_W / 2));
  const shown = hit.steps.slice(0, 3);
  return (
    <div className="timeline-tip" role="tooltip" data-testid="timeline-tip" style={{ left, width: TIP_W }}>
      <div className="timeline-tip-time">
        +{formatElapsed(hit.at - model.start)} · {formatDateTime(hit.at)}
      </div>
      {shown.map((s) => (
        <div key={s.id} className="timeline-tip-step" data-kind={s.kind}>
          <span className={`timeline-swatch k-${s.kind}`} />
          step {s.depth}
          {s.onPath ? '' : ` (branch ${s.branchId})`} · {s.title} · {formatDuration(s.end - s.start) || '0 s'}
          {s.kind === 'error' ? ' · error' : s.kind === 'sleep' ? ' · sleep' : s.kind === 'long' ? ' · long' : ''}
          {s.label ? ` · ${s.label}` : ''}
        </div>
      ))}
      {hit.steps.length > shown.length && <div className="muted">+{hit.steps.length - shown.length} more steps here (zoom in)</div>}
      {hit.marks.slice(0, 3).map((m) => (
        <div key={`${m.kind}:${m.id}`} className={`timeline-tip-mark m-${m.kind}`}>
          {m.kind}: {m.text}
        </div>
      ))}
      {hit.gap && <div className="timeline-tip-gap">idle {formatDuration(hit.gap.end - hit.gap.start)}</div>}
      {hit.steps.length === 0 && !hit.gap && hit.marks.length === 0 && <div className="muted">nothing running · click for the nearest step</div>}
    </div>
  );
}

const hatches = new WeakMap<HTMLCanvasElement, CanvasPattern | null>();

function paint(c: HTMLCanvasElement, bins: TimelineBins, model: TimelineModel, selected: TimelineStep | null, hoverX: number | null): void {
  const w = bins.width;
  const dpr = window.devicePixelRatio || 1;
  if (c.width !== Math.round(w * dpr) || c.height !== Math.round(H * dpr)) {
    c.width = Math.round(w * dpr);
    c.height = Math.round(H * dpr);
    c.style.width = `${w}px`;
    c.style.height = `${H}px`;
  }
  const g = c.getContext('2d');
  if (!g) return;
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, w, H);
  // Lane backgrounds, so an empty stretch reads as time passing, not as a missing strip.
  g.fillStyle = '#161b24';
  g.fillRect(0, PATH.y, w, PATH.h);
  if (model.hasOtherBranches) g.fillRect(0, OTHER.y, w, OTHER.h);
  g.fillRect(0, LABEL.y, w, LABEL.h);
  if (!hatches.has(c)) hatches.set(c, makeHatch(g));
  const hatch = hatches.get(c);
  runs(bins.idle, w, (x0, x1) => {
    g.fillStyle = hatch ?? '#1d2330';
    g.fillRect(x0, PATH.y, x1 - x0, PATH.h);
  });
  runs(bins.path, w, (x0, x1, k) => {
    g.fillStyle = KIND_COLOURS[k]!;
    // Sleeps are half height: time passed, little happened.
    if (k === 1) g.fillRect(x0, PATH.y + PATH.h / 2, x1 - x0, PATH.h / 2);
    else g.fillRect(x0, PATH.y, x1 - x0, PATH.h);
  });
  if (model.hasOtherBranches) {
    g.globalAlpha = 0.75;
    runs(bins.other, w, (x0, x1, k) => {
      g.fillStyle = KIND_COLOURS[k]!;
      g.fillRect(x0, OTHER.y, x1 - x0, OTHER.h);
    });
    g.globalAlpha = 1;
  }
  const labelCode = new Uint8Array(w);
  for (let x = 0; x < w; x++) labelCode[x] = (bins.keep[x]! > 0 ? 1 : 0) | (bins.mask[x]! > 0 ? 2 : 0);
  runs(labelCode, w, (x0, x1, k) => {
    if (k & 1) {
      g.fillStyle = '#3fb950';
      g.fillRect(x0, LABEL.y, x1 - x0, k & 2 ? LABEL.h / 2 : LABEL.h);
    }
    if (k & 2) {
      g.fillStyle = '#f06a6a';
      g.fillRect(x0, k & 1 ? LABEL.y + LABEL.h / 2 : LABEL.y, x1 - x0, k & 1 ? LABEL.h / 2 : LABEL.h);
    }
  });
  for (let x = 0; x < w; x++) {
    const cx = x + 0.5;
    if (bins.comment[x]) {
      g.fillStyle = MARK_COLOURS.comment;
      g.beginPath();
      g.arc(cx, MARK.y + MARK.h / 2, 2.2, 0, Math.PI * 2);
      g.fill();
    }
    if (bins.branch[x]) {
      g.fillStyle = MARK_COLOURS.branch;
      g.beginPath();
      g.moveTo(cx, MARK.y);
      g.lineTo(cx + 3.5, MARK.y + MARK.h / 2);
      g.lineTo(cx, MARK.y + MARK.h);
      g.lineTo(cx - 3.5, MARK.y + MARK.h / 2);
      g.fill();
      g.fillRect(x, MARK.y + MARK.h, 1, OTHER.y + OTHER.h - MARK.y - MARK.h);
    }
    if (bins.guidance[x]) {
      g.fillStyle = MARK_COLOURS.guidance;
      g.beginPath();
      g.moveTo(cx - 4, MARK.y);
      g.lineTo(cx + 4, MARK.y);
      g.lineTo(cx, MARK.y + MARK.h);
      g.fill();
    }
  }
  if (selected) {
    const x0 = Math.max(0, columnOf(selected.start, bins.from, bins.to, w));
    const x1 = Math.min(w - 1, columnOf(selected.end, bins.from, bins.to, w));
    if (x1 >= 0 && x0 < w) {
      g.fillStyle = 'rgba(255, 255, 255, 0.22)';
      g.fillRect(x0, PATH.y - 1, Math.max(1, x1 - x0 + 1), LABEL.y + LABEL.h - PATH.y + 2);
      g.fillStyle = '#ffffff';
      g.fillRect(Math.min(w - 2, x0), 0, 2, LABEL.y + LABEL.h + 1);
    }
  }
  if (hoverX !== null) {
    g.fillStyle = 'rgba(212, 216, 224, 0.6)';
    g.fillRect(Math.floor(hoverX), 0, 1, LABEL.y + LABEL.h + 1);
  }
  // Axis: elapsed time since the session's first moment.
  g.font = '10px system-ui, sans-serif';
  g.textBaseline = 'alphabetic';
  for (const tk of timeTicks(bins.from, bins.to, w, model.start)) {
    const tw = g.measureText(tk.label).width;
    const x = Math.round(tk.x);
    g.fillStyle = '#3a4356';
    g.fillRect(x, LABEL.y + LABEL.h + 1, 1, H - LABEL.y - LABEL.h - 2);
    g.fillStyle = '#8c95a8';
    g.fillText(tk.label, Math.max(0, Math.min(w - tw, x + 3)), AXIS_Y);
  }
}

/** Call `fill(x0, x1, value)` for each run of equal non-zero values. */
function runs(a: ArrayLike<number>, w: number, fill: (x0: number, x1: number, v: number) => void): void {
  let x = 0;
  while (x < w) {
    const v = a[x]!;
    let e = x + 1;
    while (e < w && a[e] === v) e++;
    if (v) fill(x, e, v);
    x = e;
  }
}

function makeHatch(g: CanvasRenderingContext2D): CanvasPattern | null {
  const p = document.createElement('canvas');
  p.width = p.height = 6;
  const h = p.getContext('2d');
  if (!h) return null;
  h.fillStyle = '#161b24';
  h.fillRect(0, 0, 6, 6);
  h.strokeStyle = '#2c3445';
  h.lineWidth = 1;
  h.beginPath();
  h.moveTo(0, 6);
  h.lineTo(6, 0);
  h.stroke();
  return g.createPattern(p, 'repeat');
}
