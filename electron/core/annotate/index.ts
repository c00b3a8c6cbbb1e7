// Annotation: branches, rewinds, hand-written actions, comments, checkpoint reading.
export {
  createBranch, rewind, runPendingActions, pendingHandSteps, takeCheckpoint, handActionPlan, agentWorldFor,
  type HandAction, type Continuation, type CreateBranchOptions, type BranchResult, type RewindOptions, type RewindResult,
} from './branching';
export { addComment, editComment, deleteComment } from './comments';
export { checkpointChanges, checkpointFiles, checkpointReadFile, closeCheckpointReaders, READ_CAP_BYTES } from './checkpoint-files';
export { trajectoryOf, resolveStepRef, mainBranchId, sessionLocks, type AnnotateCore } from './state';
export { aliasesFor } from './terminals';
