import { memo, useMemo } from 'react';
import { renderMarkdown } from '../lib/markdown';

/** A Markdown text (a comment) rendered as sanitised HTML (see lib/markdown.ts). */
export const Markdown = memo(function Markdown({ text, className, testId }: { text: string; className?: string; testId?: string }) {
  const html = useMemo(() => renderMarkdown(text), [text]);
  return <div className={`md${className ? ` ${className}` : ''}`} data-testid={testId} dangerouslySetInnerHTML={{ __html: html }} />;
});
