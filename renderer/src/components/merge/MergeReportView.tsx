// The merge report in the Merge view: what goes in and comes out, per annotator (with
// a chart of their keep and mask labels and the estimated time spent), and agreement
// with the number of actions behind each figure. The same figures as merge-report.html.
import type { MergeReport } from '../../../../shared/merge-report';
import { formatDuration, formatPercent, formatRatio } from '../../../../shared/merge-report';

const fixed = formatRatio;
const pct = formatPercent;

export function MergeSummary({ report: r }: { report: MergeReport }) {
  const e = r.examples;
  const a = r.actions;
  return (
    <dl className="mv-kv" data-testid="merge-summary" data-kept={a.kept} data-masked={a.masked} data-conflicts={a.conflicts} data-unsettled={a.unsettled} data-examples-out={e.out}>
      <dt>Trajectories</dt>
      <dd>
        {e.in} in → <b>{e.out}</b> out <span className="dim">({e.duplicates} duplicate cop{e.duplicates === 1 ? 'y' : 'ies'} dropped{e.nothingToTrain ? `, ${e.nothingToTrain} with nothing left to train` : ''})</span>
      </dd>
      <dt>Actions</dt>
      <dd>
        {a.total}: <span className="k-keep">{a.kept} kept</span> (trained once), <span className="k-mask">{a.masked} masked</span>
        {a.unlabelled ? <span className="dim"> · {a.unlabelled} unlabelled</span> : null}
      </dd>
      <dt>Conflicts</dt>
      <dd>
        {a.conflicts} of {a.multiplyLabelled} labelled more than once
        {a.unsettled ? <span className="warn-text"> · {a.unsettled} to settle</span> : null}
      </dd>
      <dt>Sessions</dt>
      <dd>
        {r.sessions} <span className="dim">from {r.origins} export{r.origins === 1 ? '' : 's'}</span>
      </dd>
    </dl>
  );
}

/** Each annotator's keep and mask labels as stacked bars. */
export function KeepMaskChart({ rows }: { rows: MergeReport['annotators'] }) {
  if (!rows.length) return null;
  const barH = 16;
  const gap = 7;
  const labelW = 110;
  const barW = 260;
  const top = 4;
  const height = top + rows.length * (barH + gap);
  const max = Math.max(1, ...rows.map((r) => r.keep + r.mask));
  return (
    <svg className="mv-chart" data-testid="merge-chart" role="img" aria-label="Keep and mask labels per annotator" width={labelW + barW + 110} height={height} viewBox={`0 0 ${labelW + barW + 110} ${height}`}>
      {rows.map((r, i) => {
        const y = top + i * (barH + gap);
        const kw = (r.keep / max) * barW;
        const mw = (r.mask / max) * barW;
        return (
          <g key={r.annotator} data-annotator={r.annotator}>
            <text x={labelW - 6} y={y + barH * 0.75} textAnchor="end" className="mv-chart-name">
              {r.annotator.length > 16 ? `${r.annotator.slice(0, 15)}…` : r.annotator}
            </text>
            <rect x={labelW} y={y} width={kw} height={barH} className="mv-bar-keep">
              <title>{`${r.annotator}: ${r.keep} keep`}</title>
            </rect>
            <rect x={labelW + kw} y={y} width={mw} height={barH} className="mv-bar-mask">
              <title>{`${r.annotator}: ${r.mask} mask`}</title>
            </rect>
            <text x={labelW + kw + mw + 6} y={y + barH * 0.75} className="mv-chart-count">
              {r.keep} keep · {r.mask} mask
            </text>
          </g>
        );
      })}
    </svg>
  );
}

export function AnnotatorTable({ report: r }: { report: MergeReport }) {
  if (!r.annotators.length) return <p className="dim small">No annotator labelled any action.</p>;
  return (
    <table className="mv-table" data-testid="merge-annotators">
      <thead>
        <tr>
          <th>Annotator</th>
          <th className="num" title="Actions they labelled (their latest label each)">labelled</th>
          <th className="num">keep</th>
          <th className="num">mask</th>
          <th className="num" title="Of the actions they labelled, trained in the merged bundle">trained</th>
          <th className="num" title={`Estimated: ${r.timeSpent.method}`}>time spent</th>
        </tr>
      </thead>
      <tbody>
        {r.annotators.map((a) => (
          <tr key={a.annotator} data-testid="merge-annotator" data-annotator={a.annotator} data-time-ms={a.timeSpentMs}>
            <td className="mv-name" title={a.bundles.join('\n')}>{a.annotator}</td>
            <td className="num">{a.actions}</td>
            <td className="num k-keep">{a.keep}</td>
            <td className="num k-mask">{a.mask}</td>
            <td className="num">{a.trained}</td>
            <td className="num" title={`${a.labelEvents} label events in ${a.sessions} session${a.sessions === 1 ? '' : 's'}`}>{formatDuration(a.timeSpentMs)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function AgreementTable({ report: r }: { report: MergeReport }) {
  const a = r.agreement;
  if (a.items === 0) return <p className="dim small" data-testid="merge-agreement" data-items={0}>No action was labelled by two annotators: agreement cannot be measured.</p>;
  return (
    <table className="mv-table" data-testid="merge-agreement" data-items={a.items} data-fleiss={a.fleissKappa ?? ''}>
      <thead>
        <tr>
          <th>Annotators</th>
          <th className="num" title="Actions both labelled">items</th>
          <th className="num">agreed</th>
          <th className="num">agreement</th>
          <th className="num" title="Cohen's kappa: agreement beyond chance, from each annotator's own label rates">Cohen&apos;s κ</th>
        </tr>
      </thead>
      <tbody>
        {a.pairs.map((p) => (
          <tr key={p.annotators.join('\u0000')} data-testid="merge-pair" data-kappa={p.kappa ?? ''}>
            <td className="mv-name">
              {p.annotators[0]} – {p.annotators[1]}
            </td>
            <td className="num">{p.items}</td>
            <td className="num">{p.agreed}</td>
            <td className="num">{pct(p.agreement)}</td>
            <td className="num">{fixed(p.kappa)}</td>
          </tr>
        ))}
        <tr className="mv-total">
          <td title="Fleiss' kappa over every action labelled by two or more annotators">Everyone (Fleiss&apos; κ)</td>
          <td className="num">{a.items}</td>
          <td className="num dim">—</td>
          <td className="num" title="Share of agreeing pairs of labels">{pct(a.pairwise)}</td>
          <td className="num">{fixed(a.fleissKappa)}</td>
        </tr>
      </tbody>
    </table>
  );
}
