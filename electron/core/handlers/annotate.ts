import type { ApolloCore } from '../app';
import type { HandlerMap } from '../dispatch';
import { addComment, checkpointFiles, checkpointReadFile, createBranch, deleteComment, editComment, handActionPlan, rewind, runPendingActions } from '../annotate/index';

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
    'branch.rewind': async ({ sessionId, toStepId, profile, guidance }) => {
      const r = await rewind(core, { sessionId, toStepId, profile, guidance });
      return { branchId: r.branchId, ...(r.rolloutId ? { rolloutId: r.rolloutId } : {}) };
    },
    'actions.runPending': ({ sessionId }) => runPendingActions(core, sessionId),
    'comment.add': (a) => addComment(core, a),
    'comment.edit': (a) => editComment(core, a),
    'comment.delete': (a) => deleteComment(core, a),
    'checkpoint.files': ({ sessionId, stepId }) => checkpointFiles(core, sessionId, stepId),
    'checkpoint.readFile': ({ sessionId, stepId, path }) => checkpointReadFile(core, sessionId, stepId, path),
  };
}
