// merge-report.html: the merge report for people, one self-contained page (no
// script, no external style, font or image; a CSP that forbids loading anything), so
// it opens the same from the bundle folder, an archive or a mail attachment. Every
// text from a bundle (paths, names, notes, warnings) is escaped. The figures are the
// ones in merge-report.json; the chart is inline SVG.
import type { MergeReport } from '../../../shared/merge-report';
import { formatDuration, formatPercent, formatRatio } from '../../../shared/merge-report';

const ESC: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => ESC[c]!);

const fixed = formatRatio;
const pct = formatPercent;

const when = (t: number | null): string => (t === null ? '—' : new Date(t).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC'));

function table(head: string[], rows: string[][], cls = ''): string {
  const th = head.map((h) => `<th>${h}</th>`).join('');
  const body = rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`).join('\n');
  return `<table${cls ? ` class="${cls}"` : ''}><thead><tr>${th}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

/** Horizontal stacked bars: each annotator's keep and mask labels. */
export function keepMaskChart(rows: ReadonlyArray<{ annotator: string; keep: number; mask: number }>): string {
  const barH = 22;
  const gap = 10;
  const labelW = 150;
  const barW = 420;
  const top = 28;
  const height = top + rows.length * (barH + gap) + 4;
  const max = Math.max(1, ...rows.map((r) => r.keep + r.mask));
  const bars = rows.map((r, i) => {
    const y = top + i * (barH + gap);
    const kw = (r.keep / max) * barW;
    const mw = (r.mask / max) * barW;
    const name = r.annotator.length > 22 ? `${r.annotator.slice(0, 21)}…` : r.annotator;
    return [
      `<text x="${labelW - 8}" y="${y + barH * 0.7}" text-anchor="end">${escapeHtml(name)}</text>`,
      `<rect x="${labelW}" y="${y}" width="${kw.toFixed(1)}" height="${barH}" class="keep"><title>${escapeHtml(r.annotator)}: ${r.keep} keep</title></rect>`,
      `<rect x="${(labelW + kw).toFixed(1)}" y="${y}" width="${mw.toFixed(1)}" height="${barH}" class="mask"><title>${escapeHtml(r.annotator)}: ${r.mask} mask</title></rect>`,
      `<text x="${(labelW + kw + mw + 6).toFixed(1)}" y="${y + barH * 0.7}">${r.keep} keep · ${r.mask} mask</text>`,
    ].join('');
  });
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="Keep and mask labels per annotator" width="${labelW + barW + 150}" height="${height}" viewBox="0 0 ${labelW + barW + 150} ${height}">`,
    `<rect x="${labelW}" y="4" width="12" height="12" class="keep"/><text x="${labelW + 16}" y="14">keep</text>`,
    `<rect x="${labelW + 64}" y="4" width="12" height="12" class="mask"/><text x="${labelW + 80}" y="14">mask</text>`,
    ...bars,
    '</svg>',
  ].join('\n');
}

const STYLE = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;max-width:1100px;padding:0 16px;color:#1d2330;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #d8dce4;padding-bottom:4px}
table{border-collapse:collapse;margin:6px 0;font-variant-numeric:tabular-nums}th,td{border:1px solid #d8dce4;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f1f3f7}td:has(>.n){text-align:right}.dim{color:#5b6475}.keep{fill:#2f8a4c;color:#1f6e39}.mask{fill:#c0453a;color:#a3352b}
.kv{display:grid;grid-template-columns:max-content auto;gap:2px 16px}.kv dt{color:#5b6475}.kv dd{margin:0}
code{font:12.5px ui-monospace,Menlo,Consolas,monospace;word-break:break-all}svg text{font:12px system-ui,sans-serif;fill:#1d2330}
ul.warn li{color:#8a5a00}.tag{display:inline-block;border:1px solid #c8cdd8;border-radius:3px;padding:0 4px;margin-left:4px;font-size:12px}
`;

/** The report as a page. */
export function mergeReportHtml(r: MergeReport): string {
  const n = (x: number): string => `<span class="n">${x}</span>`;
  const e = escapeHtml;
  const summary = [
    ['Policy', `<code>${e(r.policy)}</code>`],
    ['Bundles', `${r.bundles.length} (${r.origins} export${r.origins === 1 ? '' : 's'} behind them)`],
    ['Sessions', String(r.sessions)],
    ['Trajectories', `${r.examples.in} in → ${r.examples.out} out (${r.examples.duplicates} duplicate cop${r.examples.duplicates === 1 ? 'y' : 'ies'} dropped, ${r.examples.nothingToTrain} with nothing left to train)`],
    ['Actions', `${r.actions.total}: <span class="keep">${r.actions.kept} kept</span> (trained once), <span class="mask">${r.actions.masked} masked</span>; ${r.actions.unlabelled} unlabelled`],
    ['Conflicts', `${r.actions.conflicts} of ${r.actions.multiplyLabelled} actions labelled more than once${r.actions.unsettled ? `; ${r.actions.unsettled} not settled yet` : ''}`],
    ['Recordings', `${r.casts.written} written, ${r.casts.duplicatesDropped} identical dropped, ${r.casts.renamed} renamed`],
  ];
  const bundles = table(
    ['Bundle', 'Signed by', 'Annotators', 'Examples used'],
    r.bundles.map((b) => [
      `<code>${e(b.path)}</code>${b.merged ? ' <span class="dim">(merged)</span>' : ''}`,
      b.signer ? `${e(b.signer.name)} <span class="dim">${e(b.signer.fingerprint)}${b.signer.trusted ? ', trusted' : ''}</span>` : '<span class="mask">unsigned</span>',
      e(b.annotators.join(', ') || '—'),
      `${b.examples.used} / ${b.examples.total}`,
    ]),
  );
  const annotators = r.annotators.length
    ? table(
        ['Annotator', 'Actions labelled', 'Keep', 'Mask', 'Trained', 'Not trained', 'Label events', 'Sessions', 'Time spent (est.)', 'First label', 'Last label'],
        r.annotators.map((a) => [e(a.annotator), n(a.actions), n(a.keep), n(a.mask), n(a.trained), n(a.notTrained), n(a.labelEvents), n(a.sessions), formatDuration(a.timeSpentMs), when(a.firstLabelAt), when(a.lastLabelAt)]),
      )
    : '<p class="dim">No annotator labelled any action.</p>';
  const a = r.agreement;
  const agreement = a.items === 0
    ? '<p class="dim">No action was labelled by two annotators: agreement cannot be measured.</p>'
    : table(
        ['Annotators', 'Items', 'Agreed', 'Agreement', "Cohen's κ"],
        [
          ...a.pairs.map((p) => [`${e(p.annotators[0])} – ${e(p.annotators[1])}`, n(p.items), n(p.agreed), pct(p.agreement), fixed(p.kappa)]),
          [`<b>Everyone</b> <span class="dim">(Fleiss' κ)</span>`, n(a.items), '—', `${pct(a.pairwise)} <span class="dim">of pairs</span>`, `<b>${fixed(a.fleissKappa)}</b>`],
        ],
        'agreement',
      );
  const conflicts = r.conflicts.length
    ? table(
        ['Session / step', 'Branches', 'Labels', 'Decision', 'Settled by'],
        r.conflicts.map((c) => [
          `<code>${e(c.sessionId)}</code> / <code>${e(c.stepId)}</code>`,
          e(c.branchIds.join(', ')),
          c.votes.map((v) => `<div><b>${e(v.annotator)}</b> <span class="${v.label}">${v.label}</span>${v.source !== 'annotator' ? ` <span class="dim">(${v.source})</span>` : ''}${v.tags.map((t) => `<span class="tag">${e(t)}</span>`).join('')}${v.note ? ` <span class="dim">— ${e(v.note)}</span>` : ''}</div>`).join(''),
          `<span class="${c.decision}">${c.decision}</span>`,
          e(c.settledBy),
        ]),
      )
    : '<p class="dim">No conflicts: everyone who labelled an action gave it the same label.</p>';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Merge report</title>
<style>${STYLE}</style>
</head>
<body>
<h1>Merge report</h1>
<p class="dim">The merged bundle's manifest.json lists this page and merge-report.json (the same figures) with their SHA-256.</p>
<dl class="kv">
${summary.map(([k, v]) => `<dt>${k}</dt><dd>${v}</dd>`).join('\n')}
</dl>
<h2>Bundles</h2>
${bundles}
<h2>Annotators</h2>
${keepMaskChart(r.annotators)}
${annotators}
<p class="dim">Time spent is estimated: ${e(r.timeSpent.method)}.</p>
<h2>Agreement</h2>
<p class="dim">On the ${a.items} action${a.items === 1 ? '' : 's'} labelled by two or more annotators; each figure says how many actions are behind it.</p>
${agreement}
<h2>Conflicts</h2>
${conflicts}
${r.warnings.length ? `<h2>Warnings</h2>\n<ul class="warn">${r.warnings.map((w) => `<li>${e(w)}</li>`).join('')}</ul>` : ''}
</body>
</html>
`;
}
