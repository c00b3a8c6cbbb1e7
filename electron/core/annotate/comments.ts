// Comments on steps: Markdown text stored exactly as written, with author and time
// (the event's ts). Edits and deletions are events too, so the history stays.
import { randomUUID } from 'node:crypto';
import { ApolloError } from '../../../shared/errors';
import { requireStep, trajectoryOf, type AnnotateCore } from './state';

function checkText(text: string): void {
  if (typeof text !== 'string' || !text.trim()) throw new ApolloError('BAD_REQUEST', 'A comment needs some text.');
}

export async function addComment(core: AnnotateCore, o: { sessionId: string; stepId: string; text: string }): Promise<{ commentId: string }> {
  checkText(o.text);
  const session = await core.session(o.sessionId);
  requireStep(trajectoryOf(session), o.sessionId, o.stepId);
  const commentId = randomUUID();
  await session.append({ type: 'comment.added', commentId, stepId: o.stepId, text: o.text, author: core.annotator() });
  return { commentId };
}

export async function editComment(core: AnnotateCore, o: { sessionId: string; commentId: string; text: string }): Promise<{ ok: true }> {
  checkText(o.text);
  const session = await core.session(o.sessionId);
  requireComment(trajectoryOf(session).comments, o.sessionId, o.commentId);
  await session.append({ type: 'comment.edited', commentId: o.commentId, text: o.text, author: core.annotator() });
  return { ok: true };
}

export async function deleteComment(core: AnnotateCore, o: { sessionId: string; commentId: string }): Promise<{ ok: true }> {
  const session = await core.session(o.sessionId);
  requireComment(trajectoryOf(session).comments, o.sessionId, o.commentId);
  await session.append({ type: 'comment.deleted', commentId: o.commentId, author: core.annotator() });
  return { ok: true };
}

function requireComment(comments: Map<string, unknown>, sessionId: string, commentId: string): void {
  if (!comments.has(commentId)) throw new ApolloError('NOT_FOUND', `No comment ${commentId} in session ${sessionId} (it may have been deleted).`);
}
