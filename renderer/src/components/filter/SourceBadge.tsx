import type { LabelSource } from '../../../../shared/events';

const TEXT: Record<LabelSource, string> = { annotator: 'annotator', judge: 'judge', rule: 'rule' };

/** Where a label comes from: rule, judge or annotator (precedence annotator > judge > rule). */
export function SourceBadge({ source, pending, title }: { source: LabelSource; pending?: boolean; title?: string }) {
  return (
    <span className={`src src-${source}${pending ? ' pending' : ''}`} data-testid="source-badge" data-source={source} title={title ?? `Set by the ${source}`}>
      {TEXT[source]}
    </span>
  );
}
