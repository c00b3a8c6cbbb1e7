// Small inline SVG icons (no icon fonts: nothing is fetched from the network).
const PATHS = {
  plus: 'M8 3v10M3 8h10',
  pencil: 'M3 13l1-3 7-7 2 2-7 7-3 1zM10 4l2 2',
  trash: 'M3 4.5h10M6.5 4.5V3h3v1.5M4.5 4.5l.7 8.5h5.6l.7-8.5',
  close: 'M4 4l8 8M12 4l-8 8',
  stop: 'M4.5 4.5h7v7h-7z',
  terminal: 'M2.5 3.5h11v9h-11zM5 6.5l2 1.5-2 1.5M8.5 10h2.5',
  branch: 'M5 2.5v11M11 6c0 3.5-6 2.5-6 6.5M11 6a1.6 1.6 0 1 0 0-3.2a1.6 1.6 0 1 0 0 3.2z',
  rewind: 'M3.2 8.5a5 5 0 1 0 1.4-4M3 2.5v3h3',
  sliders: 'M2.5 4.5h11M2.5 8h11M2.5 11.5h11M5.5 3v3M10.5 6.5v3M7 10v3',
  /** A pane with its left / right edge: collapse or expand a side panel. */
  panelLeft: 'M2.5 3.5h11v9h-11zM6 3.5v9',
  panelRight: 'M2.5 3.5h11v9h-11zM10 3.5v9',
  /** Two streams joining into one: merge bundles. */
  merge: 'M4 2.5v3c0 2.5 4 2.5 4 5v3M12 2.5v3c0 2.5-4 2.5-4 5',
} as const;

export type IconName = keyof typeof PATHS;

export function Icon({ name, size = 14 }: { name: IconName; size?: number }) {
  return (
    <svg width={size} height={size} viewBox="0 0 16 16" fill="none" stroke="currentColor" strokeWidth="1.4" strokeLinecap="round" strokeLinejoin="round" aria-hidden="true">
      <path d={PATHS[name]} />
    </svg>
  );
}
