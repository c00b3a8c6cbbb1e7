import { z } from 'zod';
import { command } from './define';
import { LABEL_TAGS, type StepWorld, type WireMessage } from '../events';

const id = z.string().min(1).max(200);
const toolCall = z.object({ name: z.string().min(1).max(100), arguments: z.record(z.string(), z.unknown()) });

export interface FileEntry { path: string; size: number; sha: string }

/** A file a step changed: its checkpoint against the checkpoint it started from. */
export interface FileChange {
  path: string;
  status: 'added' | 'deleted' | 'modified' | 'typechange';
  /** Size before / after (absent on the side where the file does not exist). */
  beforeSize?: number;
  afterSize?: number;
}

/**
 * What a step changed in the working directory. `base`: the step whose checkpoint it
 * is compared with (the nearest ancestor that has one); null when the step has the
 * first checkpoint of its path, so every file counts as added.
 */
export interface StepChanges {
  base: { stepId: string; depth: number } | null;
  changes: FileChange[];
}

/** Why a hand-written action cannot run on the checkpoint of the step it branches from. */
export type HandActionRefusal = 'root' | 'checkpoints-off' | 'not-run' | 'checkpoint-failed' | 'no-checkpoint' | 'store-missing' | 'store-damaged';

/**
 * Where a hand-written action branched from a step will run, asked before confirming:
 * on that step's checkpoint (files, shell directory, environment restored in fresh
 * terminals; `waits` says why it is only recorded for now), or nowhere unless the
 * user accepts the current state (`runInCurrentState`).
 */
export type HandActionPlan =
  | { mode: 'checkpoint'; stepId: string; stepNumber: number; commit: string; waits?: string }
  | { mode: 'refuse'; cause: HandActionRefusal; reason: string };

/**
 * What the model saw for a step: the wire body of the request its reply came from.
 * 'recorded': exactly as sent; 'reconstructed': rebuilt by today's prompt code for a
 * log older than the request record (`note` says so, for people).
 */
export interface StepRequestView {
  body: Record<string, unknown> & { messages: WireMessage[] };
  source: 'recorded' | 'reconstructed';
  requestId?: string;
  note?: string;
}

export const EXPORT_FORMAT_NAMES = ['openai', 'sharegpt', 'mistral', 'trajectory', 'asciicast'] as const;

/** What an export takes, planned (export.plan) or written (export.start). */
const exportSelection = {
  sessionIds: z.array(id).min(1).max(1000),
  /** Branches to export, looked up in every session (compatibility; see `branches`). */
  branchIds: z.array(id).max(1000).optional(),
  /** Branches to export per session (sessionId → branch ids); overrides `branchIds` for the sessions it names. */
  branches: z.record(id, z.array(id).min(1).max(1000)).optional(),
  formats: z.array(z.enum(EXPORT_FORMAT_NAMES)).min(1),
  /** Unreviewed actions (no label from an honoured source): train them, skip them (weight 0), or refuse to export. */
  labelPolicy: z.object({ unlabelled: z.enum(['keep', 'mask', 'refuse']).optional() }).optional(),
  /** Split examples longer than this many tokens. */
  maxTokens: z.number().int().min(64).max(100_000_000).optional(),
};

/** Counts of an export plan (the manifest's counts; `examples` = lines of openai.jsonl). */
export interface ExportPlanCounts {
  examples: number;
  /** Lines of sharegpt.jsonl / mistral.jsonl (one per trained action). */
  actionLines: number;
  actions: number;
  /** Actions trained (weight 1 in exactly one example). */
  kept: number;
  /** Actions not trained (weight 0 everywhere). */
  masked: number;
  /** Actions without a label from an honoured source (counted in kept or masked, per the policy). */
  unlabelled: number;
  maskedBy: Record<string, number>;
  examplesSkipped: number;
  /** Examples whose context was rebuilt by today's code. */
  reconstructed: number;
  tokens: { tokenizer: string; total: number; longest: number; limit: number; overLimit: number };
}

export interface ExportPlanSession {
  sessionId: string;
  name: string | null;
  counts: ExportPlanCounts;
  warnings: string[];
  branches: Array<{ branchId: string; name: string; exported: boolean; skipped: string | null }>;
}

/** What export.start would write, computed without writing anything. */
export interface ExportPlan {
  policy: 'keep' | 'mask' | 'refuse';
  /** Export would be refused as things are: the policy refuses and unreviewed actions are left. */
  refused: boolean;
  total: ExportPlanCounts;
  warnings: string[];
  sessions: ExportPlanSession[];
}

export const annotateCommands = {
  /** Branch from a step: continue with the agent (optionally with guidance) or with a hand-written action. */
  'branch.create': command<{ branchId: string; stepId?: string; rolloutId?: string }>()(
    z.object({
      sessionId: id,
      fromStepId: id.nullable(),
      name: z.string().max(100).optional(),
      guidance: z.string().max(100_000).optional(),
      action: toolCall.optional(),
      profile: z.string().max(64).optional(),
      /** Run the hand-written action in the working directory as it is when the step's checkpoint cannot be restored (the step is marked so). */
      runInCurrentState: z.boolean().optional(),
    }),
  ),
  /** Where a hand-written action branched from this step would run (see HandActionPlan); changes nothing. */
  'branch.handActionPlan': command<HandActionPlan>()(z.object({ sessionId: id, fromStepId: id.nullable() })),
  /**
   * The world an agent continuing straight from this step would act in, when it is not
   * the step's own (null: it is): a branch keeps the current files and shells.
   */
  'branch.agentWorld': command<StepWorld | null>()(z.object({ sessionId: id, fromStepId: id.nullable() })),
  /** Restore files, shell directory and environment of a step in fresh terminals; continue as a new branch. */
  'branch.rewind': command<{ branchId: string; rolloutId?: string }>()(
    z.object({ sessionId: id, toStepId: id, profile: z.string().max(64).optional(), guidance: z.string().max(100_000).optional() }),
  ),
  /** Run hand-written actions recorded offline, now that a shell is available. */
  'actions.runPending': command<{ ran: string[]; pending: string[] }>()(z.object({ sessionId: id })),
  'comment.add': command<{ commentId: string }>()(z.object({ sessionId: id, stepId: id, text: z.string().min(1).max(100_000) })),
  'comment.edit': command<{ ok: true }>()(z.object({ sessionId: id, commentId: id, text: z.string().min(1).max(100_000) })),
  'comment.delete': command<{ ok: true }>()(z.object({ sessionId: id, commentId: id })),
  /** What the model saw for a step (see StepRequestView); null for a step without a model reply (hand-written, human, replayed). */
  'steps.request': command<StepRequestView | null>()(z.object({ sessionId: id, stepId: id })),
  'checkpoint.files': command<{ files: FileEntry[]; usage: { bytes: number; budgetBytes: number } }>()(z.object({ sessionId: id, stepId: id })),
  'checkpoint.readFile': command<{ text: string; binary: boolean }>()(z.object({ sessionId: id, stepId: id, path: z.string().min(1).max(4096) })),
  /** What the step changed: its checkpoint against its nearest checkpointed ancestor's (see StepChanges). */
  'checkpoint.changes': command<StepChanges>()(z.object({ sessionId: id, stepId: id })),
  'labels.set': command<{ count: number }>()(
    z.object({
      sessionId: id,
      stepIds: z.array(id).min(1).max(100_000),
      label: z.enum(['keep', 'mask']),
      tags: z.array(z.enum(LABEL_TAGS)).max(6).optional(),
      note: z.string().max(10_000).optional(),
    }),
  ),
  'labels.clear': command<{ count: number }>()(z.object({ sessionId: id, stepIds: z.array(id).min(1).max(100_000) })),
  /**
   * Put the rule or judge labels of steps back as they were before log position
   * `beforeSeq` (one undo of a whole rules / judge application; annotator labels are
   * never touched). `fromSeq`: where the events it appended start (what a redo reverts to).
   */
  'labels.revert': command<{ count: number; fromSeq?: number }>()(
    z.object({ sessionId: id, source: z.enum(['rule', 'judge']), stepIds: z.array(id).min(1).max(100_000), beforeSeq: z.number().int().min(0) }),
  ),
  'rules.list': command<Array<{ name: string; description: string; params: Record<string, unknown> }>>()(z.object({})),
  'rules.preview': command<Array<{ rule: string; count: number; stepIds: string[] }>>()(
    z.object({ sessionId: id, branchId: id, rules: z.array(z.string().max(64)).min(1).max(20), params: z.record(z.string(), z.unknown()).optional() }),
  ),
  /** `stepIds`: the steps given a rule label; `fromSeq`: where those labels start in the log (labels.revert undoes them). */
  'rules.apply': command<{ count: number; stepIds: string[]; fromSeq?: number }>()(
    z.object({ sessionId: id, branchId: id, rules: z.array(z.string().max(64)).min(1).max(20), params: z.record(z.string(), z.unknown()).optional() }),
  ),
  'judge.run': command<{ labelled: number; tokens: number; error?: string; stepIds: string[]; fromSeq?: number }>()(z.object({ sessionId: id, branchId: id, profile: z.string().min(1).max(64) })),
  'export.start': command<{ exportId: string }>()(z.object({ ...exportSelection, outDir: z.string().min(1).max(4096) })),
  /** What export.start with the same arguments would write (counts, tokens, warnings per session and in total); writes nothing. */
  'export.plan': command<ExportPlan>()(z.object(exportSelection)),
  'export.cancel': command<{ ok: true }>()(z.object({ exportId: id })),
};

/** A rewind's progress: what it is doing now, and for a stage that counts, how far it is. */
export interface RestoreProgress {
  stage: 'scan' | 'save' | 'write' | 'swap' | 'shell';
  /** What a person reads ("Writing 1,204 files from the checkpoint"). */
  text: string;
  done?: number;
  total?: number;
}

export interface AnnotatePushEvents {
  /** To the client that asked for the rewind, while it runs. */
  'rewind.progress': RestoreProgress & { sessionId: string; toStepId: string };
  'export.progress': {
    exportId: string; done: number; total: number; stage: string; state: 'running' | 'done' | 'failed' | 'cancelled'; dir?: string; error?: string;
    /** With state 'done': the counts of the manifest written. */
    counts?: ExportPlanCounts;
    /** With state 'done': the files were copied from the bundle an earlier export of the same inputs kept (byte for byte what building writes). */
    reused?: boolean;
    /** With state 'done', when the files were built though a kept bundle was looked for: why none could be taken. */
    builtBecause?: string;
  };
}
