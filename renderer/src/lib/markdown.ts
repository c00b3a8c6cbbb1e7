// Comments are Markdown: rendered here, safely. `marked` (a widely used, maintained
// CommonMark/GFM parser) turns the text into HTML and DOMPurify (the standard HTML
// sanitiser, maintained by Cure53) keeps only a small set of formatting tags, so a
// comment can never run script, load a resource or restyle the app. Raw HTML typed in
// a comment is shown as text, not rendered. Links keep only http(s) and mailto and
// open outside the app (Electron asks first: see electron/main).
import DOMPurify from 'dompurify';
import { Marked } from 'marked';

const escapeHtml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

const marked = new Marked({
  gfm: true,
  // A comment is typed like a chat message: a line break is a line break.
  breaks: true,
  renderer: {
    html: ({ text }) => escapeHtml(text),
    // Images would load from the network (and track who read the comment): show their link instead.
    image: ({ href, text }) => `<a href="${escapeHtml(href)}">${escapeHtml(text || href)}</a>`,
  },
});

const ALLOWED_TAGS = ['p', 'br', 'strong', 'b', 'em', 'i', 'del', 's', 'code', 'pre', 'blockquote', 'ul', 'ol', 'li', 'a', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'hr', 'table', 'thead', 'tbody', 'tr', 'th', 'td'];
const SAFE_LINK = /^(https?:|mailto:)/i;

let hooked = false;
function purifier(): typeof DOMPurify {
  if (!hooked) {
    hooked = true;
    DOMPurify.addHook('afterSanitizeAttributes', (node) => {
      if (node.nodeName !== 'A') return;
      const href = node.getAttribute('href') ?? '';
      if (!SAFE_LINK.test(href)) {
        node.removeAttribute('href');
        return;
      }
      // Never inside the app's own window.
      node.setAttribute('target', '_blank');
      node.setAttribute('rel', 'noopener noreferrer');
      if (!node.getAttribute('title')) node.setAttribute('title', href);
    });
  }
  return DOMPurify;
}

/** Sanitised HTML for a Markdown comment. */
export function renderMarkdown(src: string): string {
  const html = marked.parse(src, { async: false });
  return purifier().sanitize(html, { ALLOWED_TAGS, ALLOWED_ATTR: ['href', 'title', 'target', 'rel', 'align'] });
}

/** Previews made lately, by source: each is a Markdown render and an HTML parse (~0.2 ms), and a session's rows show the same comments on every render. */
const texts = new Map<string, string>();
const KEEP_TEXTS = 1000;

/** The text a Markdown comment reads as (for one-line previews): no `**`, `[..](..)` or `#`. */
export function markdownText(src: string): string {
  const hit = texts.get(src);
  if (hit !== undefined) return hit;
  const doc = new DOMParser().parseFromString(renderMarkdown(src), 'text/html');
  const text = doc.body.textContent ?? '';
  if (texts.size >= KEEP_TEXTS) texts.delete(texts.keys().next().value!);
  texts.set(src, text);
  return text;
}

/**
 * Render a small comment once while the page is idle after it loads: the first render
 * compiles marked's lexer and DOMPurify (~35 ms on the 2-core machine), which otherwise
 * happens in the task that shows a session's first rows, their comments' previews.
 */
export function warmMarkdown(): void {
  const run = () => void new DOMParser().parseFromString(renderMarkdown('A **comment** with a [link](https://example.org), `code` and\n- a list'), 'text/html').body.textContent;
  const idle = (globalThis as { requestIdleCallback?: (cb: () => void, o?: { timeout: number }) => void }).requestIdleCallback;
  if (idle) idle(run, { timeout: 2000 });
  else setTimeout(run, 0);
}
