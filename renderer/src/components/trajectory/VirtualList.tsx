// A windowed list with variable, measured row heights: only the rows in (or near)
// the viewport are in the DOM, so a 2,500-step trajectory scrolls like a 20-step
// one. Heights start as estimates and are corrected by a ResizeObserver; when a row
// above the viewport changes size, the scroll position is compensated so that what
// the user is reading does not jump.
import { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState, type HTMLAttributes, type ReactNode } from 'react';

interface Props<T> extends Omit<HTMLAttributes<HTMLDivElement>, 'children' | 'onScroll'> {
  items: readonly T[];
  itemKey(item: T): string;
  estimate(item: T): number;
  renderItem(item: T, index: number): ReactNode;
  /** Keep the end in view while items are added or grow. */
  stickToEnd: boolean;
  /** The user scrolled to (true) or away from (false) the end. */
  onStickChange?(atEnd: boolean): void;
  /** Scroll this row into view each time `revealTick` changes. */
  revealKey?: string | null;
  revealTick?: number;
  /** Extra pixels rendered above and below the viewport. */
  overscan?: number;
  testId?: string;
}

const END_SLACK_PX = 32;

export function VirtualList<T>({ items, itemKey, estimate, renderItem, stickToEnd, onStickChange, revealKey, revealTick, overscan = 600, testId, className, ...rest }: Props<T>) {
  const scrollRef = useRef<HTMLDivElement>(null);
  const heights = useRef(new Map<string, number>());
  const [measureTick, setMeasureTick] = useState(0);
  const [viewport, setViewport] = useState({ top: 0, height: 600 });
  const stickRef = useRef(stickToEnd);
  stickRef.current = stickToEnd;

  const offsets = useMemo(() => {
    void measureTick;
    const arr = new Float64Array(items.length + 1);
    for (let i = 0; i < items.length; i++) {
      const it = items[i]!;
      arr[i + 1] = arr[i]! + (heights.current.get(itemKey(it)) ?? estimate(it));
    }
    return arr;
  }, [items, itemKey, estimate, measureTick]);
  const offsetsRef = useRef(offsets);
  offsetsRef.current = offsets;
  const keyIndex = useMemo(() => new Map(items.map((it, i) => [itemKey(it), i])), [items, itemKey]);
  const keyIndexRef = useRef(keyIndex);
  keyIndexRef.current = keyIndex;
  const total = offsets[items.length] ?? 0;

  // ---- measuring ----
  const rafRef = useRef(0);
  const observer = useMemo(
    () =>
      typeof ResizeObserver === 'undefined'
        ? null
        : new ResizeObserver((entries) => {
            const el = scrollRef.current;
            let changed = false;
            let anchorDelta = 0;
            for (const e of entries) {
              const target = e.target as HTMLElement;
              if (!target.isConnected) {
                observer?.unobserve(target);
                continue;
              }
              const key = target.dataset.vkey;
              if (!key) continue;
              const h = e.borderBoxSize?.[0]?.blockSize ?? target.offsetHeight;
              const old = heights.current.get(key);
              if (old !== undefined && Math.abs(old - h) < 0.5) continue;
              const idx = keyIndexRef.current.get(key);
              const estimated = idx === undefined ? h : (offsetsRef.current[idx + 1] ?? 0) - (offsetsRef.current[idx] ?? 0);
              heights.current.set(key, h);
              changed = true;
              // A row entirely above the viewport changed: keep the visible content in place.
              if (el && idx !== undefined && !stickRef.current && (offsetsRef.current[idx + 1] ?? 0) <= el.scrollTop) anchorDelta += h - estimated;
            }
            if (!changed) return;
            if (el && anchorDelta) el.scrollTop += anchorDelta;
            cancelAnimationFrame(rafRef.current);
            rafRef.current = requestAnimationFrame(() => setMeasureTick((n) => n + 1));
          }),
    [],
  );
  useEffect(() => () => {
    observer?.disconnect();
    cancelAnimationFrame(rafRef.current);
  }, [observer]);
  const measure = useCallback((el: HTMLDivElement | null) => {
    if (el) observer?.observe(el);
  }, [observer]);

  // ---- viewport ----
  const readViewport = useCallback(() => {
    const el = scrollRef.current;
    if (!el) return;
    setViewport((v) => (v.top === el.scrollTop && v.height === el.clientHeight ? v : { top: el.scrollTop, height: el.clientHeight }));
    const atEnd = el.scrollHeight - el.scrollTop - el.clientHeight < END_SLACK_PX;
    if (atEnd !== stickRef.current) onStickChange?.(atEnd);
  }, [onStickChange]);
  useEffect(() => {
    const el = scrollRef.current;
    if (!el || typeof ResizeObserver === 'undefined') return;
    const ro = new ResizeObserver(() => readViewport());
    ro.observe(el);
    return () => ro.disconnect();
  }, [readViewport]);

  useLayoutEffect(() => {
    const el = scrollRef.current;
    if (!el || !stickToEnd) return;
    const target = Math.max(0, el.scrollHeight - el.clientHeight);
    if (Math.abs(el.scrollTop - target) > 1) el.scrollTop = target;
    setViewport((v) => (v.top === el.scrollTop && v.height === el.clientHeight ? v : { top: el.scrollTop, height: el.clientHeight }));
  }, [stickToEnd, total, items.length]);

  useLayoutEffect(() => {
    if (!revealKey) return;
    const el = scrollRef.current;
    const idx = keyIndexRef.current.get(revealKey);
    if (!el || idx === undefined) return;
    const top = offsetsRef.current[idx] ?? 0;
    const bottom = offsetsRef.current[idx + 1] ?? top;
    if (top < el.scrollTop) el.scrollTop = Math.max(0, top - 8);
    else if (bottom > el.scrollTop + el.clientHeight) el.scrollTop = Math.min(top - 8, bottom - el.clientHeight + 8);
    else return;
    setViewport({ top: el.scrollTop, height: el.clientHeight });
    // `revealKey` alone must not scroll: only an explicit reveal request does.
  }, [revealTick]);

  // ---- window ----
  // A list kept at its end renders the end's rows on the first pass: from the top, the
  // rows there were made, laid out (the effect above reads scrollHeight) and thrown away
  // in the same frame, which delayed the first paint of a session opened on its newest step.
  const top = stickToEnd ? Math.max(0, total - viewport.height) : viewport.top;
  const from = Math.max(0, upperBound(offsets, top - overscan) - 1);
  const to = Math.min(items.length, upperBound(offsets, top + viewport.height + overscan));
  const rows: ReactNode[] = [];
  for (let i = from; i < to; i++) {
    const it = items[i]!;
    const key = itemKey(it);
    rows.push(
      <div key={key} ref={measure} data-vkey={key} className="vrow" style={{ transform: `translateY(${offsets[i]}px)` }}>
        {renderItem(it, i)}
      </div>,
    );
  }

  return (
    <div ref={scrollRef} className={`vlist ${className ?? ''}`} data-testid={testId} onScroll={readViewport} {...rest}>
      <div className="vlist-inner" style={{ height: total }}>
        {rows}
      </div>
    </div>
  );
}

/** First index i with arr[i] > x. */
function upperBound(arr: Float64Array, x: number): number {
  let lo = 0;
  let hi = arr.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (arr[mid]! <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
