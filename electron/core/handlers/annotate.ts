import type { ApolloCore } from '../app';
import { push, type HandlerMap } from '../dispatch';
import { addComment, checkpointChanges, checkpointFiles, checkpointReadFile, agentWorldFor, createBranch, deleteComment, editComment, handActionPlan, rewind, runPendingActions, trajectoryOf } from '../annotate/index';
import { requireStep } from '../annotate/state';
import { requestForStep } from '../rollout/request-record';

/** Branches, rewinds, comments and checkpoint reading (labels, rules, judge and export live elsewhere). */
export function annotateHandlers(core: ApolloCore): HandlerMap {
  return {
    'branch.create': async ({ sessionId, fromStepId, name, guidance, action, profile, runInCurrentState }) => {
      // Without the agent, a hand-written action runs in the background: its result
      // arrives as events, and the request does not wait for a long command (a refusal
      // to run it, e.g. no checkpoint to restore, is still this request's error).
      const r = await createBranch(core, { sessionId, fromStepId, name, guidance, action, profile, runInCurrentState, background: !profile });
      return { branchId: r.branchId, ...(r.stepId ? { stepId: r.stepId } : {}), ...(r.rolloutId ? { rolloutId: r.rolloutId } : {}) };
    },
    'branch.handActionPlan': ({ sessionId, fromStepId }) => handActionPlan(core, sessionId, fromStepId),
    'branch.agentWorld': ({ sessionId, fromStepId }) => agentWorldFor(core, sessionId, fromStepId),
    'branch.rewind': async ({ sessionId, toStepId, profile, guidance }, conn) => {
      const r = await rewind(core, { sessionId, toStepId, profile, guidance, onProgress: (p) => push(conn, 'rewind.progress', { sessionId, toStepId, ...p }) });
      return { branchId: r.branchId, ...(r.rolloutId ? { rolloutId: r.rolloutId } : {}) };
    },
    'actions.runPending': ({ sessionId }) => runPendingActions(core, sessionId),
    'comment.add': (a) => addComment(core, a),
    'comment.edit': (a) => editComment(core, a),
    'comment.delete': (a) => deleteComment(core, a),
    'steps.request': async ({ sessionId, stepId }) => {
      const session = await core.session(sessionId);
      const t = trajectoryOf(session);
      requireStep(t, sessionId, stepId);
      // The system prompt of old rollouts names the working directory the session was
      // created in (the export rebuilds them from the same one).
      const created = session.events.find((e) => e.type === 'session.created');
      const cwd = created?.type === 'session.created' && created.cwd ? created.cwd : undefined;
      return requestForStep(t, stepId, { cwd });
    },
    'checkpoint.files': ({ sessionId, stepId }) => checkpointFiles(core, sessionId, stepId),
    'checkpoint.readFile': ({ sessionId, stepId, path }) => checkpointReadFile(core, sessionId, stepId, path),
    'checkpoint.changes': ({ sessionId, stepId }) => checkpointChanges(core, sessionId, stepId),
  };
}
