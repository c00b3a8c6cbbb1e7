// Comments on a step: Markdown (rendered safely, see lib/markdown.ts), with author
// and time; editable and deletable. Ctrl/⌘ Enter adds.
import { useEffect, useRef, useState } from 'react';
import type { Comment, Step } from '../../../../shared/trajectory';
import { useApp } from '../../context';
import { formatDateTime } from '../../lib/format';
import { onCtrlEnter } from '../form';
import { Markdown } from '../Markdown';

export function StepComments({ sessionId, step }: { sessionId: string; step: Step }) {
  const entry = useApp((s) => s.trajectories[sessionId]);
  const tick = useApp((s) => s.commentFocusTick);
  const add = useApp((s) => s.addComment);
  const reportError = useApp((s) => s.reportError);
  const [text, setText] = useState('');
  const [busy, setBusy] = useState(false);
  const ref = useRef<HTMLTextAreaElement>(null);
  const comments = step.comments.map((id) => entry?.t.comments.get(id)).filter((c): c is Comment => !!c);

  useEffect(() => {
    if (tick > 0) ref.current?.focus();
  }, [tick]);

  const submit = async () => {
    const v = text.trim();
    if (!v || busy) return;
    setBusy(true);
    const r = await add(sessionId, step.id, v);
    setBusy(false);
    if (r.ok) setText('');
    else reportError('Could not add the comment', r.error);
  };

  return (
    <div className="step-comments" data-testid="step-comments">
      <ul className="comment-list">
        {comments.map((c) => (
          <CommentItem key={c.id} sessionId={sessionId} c={c} />
        ))}
        {comments.length === 0 && <li className="muted small pad-s">No comments on step {step.depth} yet.</li>}
      </ul>
      <div className="comment-compose">
        <textarea
          ref={ref}
          data-testid="comment-input"
          rows={2}
          value={text}
          aria-label={`Comment on step ${step.depth}`}
          placeholder={`Comment on step ${step.depth} (Markdown: **bold**, \`code\`, [link](https://…), - lists) — Ctrl/⌘ Enter to add, Esc to leave`}
          onChange={(e) => setText(e.target.value)}
          onKeyDown={onCtrlEnter(
            () => void submit(),
            () => ref.current?.blur(),
          )}
        />
        <button type="button" className="btn btn-small primary" data-testid="add-comment" disabled={!text.trim() || busy} onClick={() => void submit()}>
          Add comment
        </button>
      </div>
    </div>
  );
}

function CommentItem({ sessionId, c }: { sessionId: string; c: Comment }) {
  const edit = useApp((s) => s.editComment);
  const del = useApp((s) => s.deleteComment);
  const reportError = useApp((s) => s.reportError);
  const [editing, setEditing] = useState(false);
  const [draft, setDraft] = useState(c.text);
  const [confirm, setConfirm] = useState(false);

  const save = async () => {
    const v = draft.trim();
    if (!v) return;
    if (v === c.text) {
      setEditing(false);
      return;
    }
    const r = await edit(sessionId, c.id, v);
    if (r.ok) setEditing(false);
    else reportError('Could not save the comment', r.error);
  };

  return (
    <li className="comment" data-testid="comment" data-comment-id={c.id}>
      <div className="comment-head">
        <span className="comment-author" data-testid="comment-author">
          {c.author}
        </span>
        <span className="dim">
          {formatDateTime(c.createdAt)}
          {c.editedAt ? ` · edited ${formatDateTime(c.editedAt)}` : ''}
        </span>
        <span className="spacer" />
        {!editing && !confirm && (
          <>
            <button
              type="button"
              className="link-btn"
              data-testid="edit-comment"
              onClick={() => {
                setDraft(c.text);
                setEditing(true);
              }}
            >
              edit
            </button>
            <button type="button" className="link-btn danger" data-testid="delete-comment" onClick={() => setConfirm(true)}>
              delete
            </button>
          </>
        )}
        {confirm && (
          <>
            <span className="warn-text small">Delete this comment?</span>
            <button type="button" className="link-btn" onClick={() => setConfirm(false)}>
              keep
            </button>
            <button
              type="button"
              className="link-btn danger"
              data-testid="confirm-delete-comment"
              onClick={async () => {
                const r = await del(sessionId, c.id);
                if (!r.ok) reportError('Could not delete the comment', r.error);
                setConfirm(false);
              }}
            >
              delete
            </button>
          </>
        )}
      </div>
      {editing ? (
        <div className="comment-edit">
          <textarea
            autoFocus
            data-testid="comment-edit-input"
            aria-label="Edit the comment"
            rows={3}
            value={draft}
            onChange={(e) => setDraft(e.target.value)}
            onKeyDown={onCtrlEnter(
              () => void save(),
              () => setEditing(false),
            )}
          />
          <div className="inline-row">
            <button type="button" className="btn btn-small primary" data-testid="save-comment" disabled={!draft.trim()} onClick={() => void save()}>
              Save
            </button>
            <button type="button" className="btn btn-small" onClick={() => setEditing(false)}>
              Cancel
            </button>
          </div>
        </div>
      ) : (
        <Markdown className="comment-text" testId="comment-text" text={c.text} />
      )}
    </li>
  );
}
