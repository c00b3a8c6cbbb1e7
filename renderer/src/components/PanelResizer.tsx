import type { KeyboardEvent } from 'react';
import { dragResize } from './dragResize';

/**
 * The handle on a side panel's inner edge: drag it, or focus it and use the arrow keys
 * (Shift: larger steps; Home / End: narrowest / widest). `edge` is the side of the
 * panel it sits on, so that the handle moves the way the arrow points.
 */
export function PanelResizer({ label, width, min, max, edge, onWidth, testId }: {
  label: string;
  width: number;
  min: number;
  max: number;
  edge: 'left' | 'right';
  onWidth(px: number): void;
  testId: string;
}) {
  const dir = edge === 'right' ? 1 : -1;
  const onKeyDown = (e: KeyboardEvent<HTMLDivElement>) => {
    const step = e.shiftKey ? 64 : 16;
    let next: number | null = null;
    if (e.key === 'ArrowRight') next = width + dir * step;
    else if (e.key === 'ArrowLeft') next = width - dir * step;
    else if (e.key === 'Home') next = min;
    else if (e.key === 'End') next = max;
    if (next === null) return;
    // The trajectory's and the terminal's own arrow keys are not for this handle.
    e.preventDefault();
    e.stopPropagation();
    onWidth(next);
  };
  return (
    <div
      className={`panel-resizer edge-${edge}`}
      data-testid={testId}
      role="separator"
      aria-orientation="vertical"
      aria-label={label}
      aria-valuenow={width}
      aria-valuemin={min}
      aria-valuemax={max}
      tabIndex={0}
      title={`${label}: drag, or focus and use ← →`}
      onKeyDown={onKeyDown}
      onPointerDown={(e) => {
        const start = width;
        dragResize(e, (dx) => onWidth(start + dir * dx));
      }}
    />
  );
}
