// Labels over the session's time: one stacked bar per time bucket (keep / mask /
// unreviewed), plain SVG. A click on a bar moves the cursor to its first action.
import { memo } from 'react';
import { formatDateTime, formatDuration } from '../../lib/format';
import type { TimeBucket } from './model';

const W = 300;
const H = 64;

export const LabelChart = memo(function LabelChart({ buckets, onPick }: { buckets: TimeBucket[]; onPick(index: number): void }) {
  if (buckets.length === 0) return <div className="lchart-empty muted small" data-testid="label-chart">No actions yet.</div>;
  const max = Math.max(1, ...buckets.map((b) => b.keep + b.mask + b.unreviewed));
  const bw = W / buckets.length;
  const gap = bw > 4 ? 1 : 0;
  const first = buckets[0]!;
  const last = buckets[buckets.length - 1]!;
  return (
    <div className="lchart" data-testid="label-chart">
      <svg viewBox={`0 0 ${W} ${H}`} preserveAspectRatio="none" role="img" aria-label="Labels over the session's time">
        <line x1={0} x2={W} y1={H - 0.5} y2={H - 0.5} className="lchart-axis" />
        {buckets.map((b, i) => {
          const x = i * bw;
          const total = b.keep + b.mask + b.unreviewed;
          if (total === 0) return null;
          const scale = (H - 2) / max;
          const hk = b.keep * scale;
          const hm = b.mask * scale;
          const hu = b.unreviewed * scale;
          let y = H;
          const seg = (h: number, cls: string) => {
            if (h <= 0) return null;
            y -= h;
            return <rect x={x + gap / 2} y={y} width={Math.max(0.5, bw - gap)} height={h} className={cls} />;
          };
          return (
            <g key={i} className="lchart-bar" data-bucket={i} onClick={() => b.first >= 0 && onPick(b.first)}>
              <title>
                {`${formatDateTime(b.start)} · ${total} action${total === 1 ? '' : 's'}: ${b.keep} keep, ${b.mask} mask, ${b.unreviewed} unreviewed`}
              </title>
              <rect x={x} y={0} width={bw} height={H} className="lchart-hit" />
              {seg(hk, 'lk-keep')}
              {seg(hm, 'lk-mask')}
              {seg(hu, 'lk-unrev')}
            </g>
          );
        })}
      </svg>
      <div className="lchart-axis-text">
        <span>{formatDateTime(first.start)}</span>
        <span>{formatDuration(last.end - first.start)}</span>
      </div>
    </div>
  );
});
