import type { PointerEvent as ReactPointerEvent } from 'react';

/**
 * Follow a pointer drag that started on a resize handle: `apply` gets the distance
 * moved since the press. Ends on release, cancel or a lost capture (so no listener
 * outlives the drag).
 */
export function dragResize(e: ReactPointerEvent<HTMLElement>, apply: (dx: number, dy: number) => void): void {
  e.preventDefault();
  const el = e.currentTarget;
  const x0 = e.clientX;
  const y0 = e.clientY;
  el.setPointerCapture(e.pointerId);
  const move = (ev: PointerEvent) => apply(ev.clientX - x0, ev.clientY - y0);
  const end = () => {
    el.removeEventListener('pointermove', move);
    el.removeEventListener('pointerup', end);
    el.removeEventListener('pointercancel', end);
    el.removeEventListener('lostpointercapture', end);
  };
  el.addEventListener('pointermove', move);
  el.addEventListener('pointerup', end);
  el.addEventListener('pointercancel', end);
  el.addEventListener('lostpointercapture', end);
}
