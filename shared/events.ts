// Every persisted fact of a session is one of these events, appended to
// sessions/<id>/events.jsonl. Views (trajectory tree, labels, comments, terminal
// state) are folds over the log, so the log is the single source of truth.
//
// Each event type has a zod schema and its TypeScript type is derived from it:
// a log line is validated on read (parseSessionEvent), so a line that is JSON but
// not a valid event is reported like a corrupt line instead of reaching a fold.
// Schemas are lenient about unknown extra keys (a newer writer may add fields) and
// strict about the fields a reader relies on.
import { z } from 'zod';

export const LABEL_TAGS = ['error', 'redundant', 'off-track', 'unsafe', 'superseded', 'other'] as const;

const str = z.string();
const int = z.number().int();
const nonNeg = z.number().nonnegative();

export const toolCallSchema = z.object({
  id: str,
  name: str,
  /** Raw JSON text as the model produced it (may be invalid). */
  arguments: str,
});
export type ToolCall = z.infer<typeof toolCallSchema>;

export const usageSchema = z.object({ promptTokens: nonNeg, completionTokens: nonNeg, totalTokens: nonNeg });
export type Usage = z.infer<typeof usageSchema>;

/** Endpoint description as it may be recorded: never contains a key. */
export const endpointRecordSchema = z.object({
  profile: str,
  baseUrl: str,
  model: str,
  temperature: z.number().optional(),
  topP: z.number().optional(),
  maxTokens: z.number().optional(),
});
export type EndpointRecord = z.infer<typeof endpointRecordSchema>;

export const labelValueSchema = z.enum(['keep', 'mask']);
export type LabelValue = z.infer<typeof labelValueSchema>;
export const labelSourceSchema = z.enum(['rule', 'judge', 'annotator']);
export type LabelSource = z.infer<typeof labelSourceSchema>;
export type LabelTag = (typeof LABEL_TAGS)[number];
export const rolloutStateSchema = z.enum(['running', 'paused', 'stopped', 'finished', 'failed']);
export type RolloutState = z.infer<typeof rolloutStateSchema>;
export const toolModeSchema = z.enum(['tools', 'text']);

/**
 * One chat message exactly as it went over the wire (role, content, tool_calls,
 * tool_call_id and whatever else the request carried). Kept as loose JSON: the
 * record must reproduce what was sent, not what today's code would send.
 */
export const wireMessageSchema = z.looseObject({ role: str });
export type WireMessage = z.infer<typeof wireMessageSchema>;

/**
 * A path a checkpoint left out: over the file size limit, unreadable, or excluded
 * (.gitignore, built-in exclusions; an excluded folder is one entry ending with '/',
 * without bytes).
 */
export const skippedFileSchema = z.object({ path: str, bytes: nonNeg.optional(), reason: z.enum(['too-big', 'unreadable', 'excluded']) });
export type SkippedFile = z.infer<typeof skippedFileSchema>;

/** Where a hand-written or human step ran: on a restored checkpoint, or knowingly in the current state. */
export const stepWorldSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('checkpoint'), stepId: z.string().nullable(), commit: str }),
  z.object({ kind: z.literal('current'), reason: str }),
]);
export type StepWorld = z.infer<typeof stepWorldSchema>;

const range = z.tuple([nonNeg, nonNeg]);

/**
 * Which environment a terminal or an action ran in: the profile name, its engine and
 * where it is (see shared/environments.ts; never a secret). Absent in older logs and
 * for the local machine as sessions have always used it.
 */
export const envRecordSchema = z.looseObject({ name: str, kind: str, target: str.optional() });
export type EnvRecord = z.infer<typeof envRecordSchema>;

const bodies = [
  z.object({
    type: z.literal('session.created'), name: str, cwd: str, appVersion: str,
    /** The environment the session works in (a whole profile, shared/environments.ts); absent: this machine. */
    environment: z.looseObject({ kind: str, name: str }).optional(),
  }),
  z.object({ type: z.literal('session.renamed'), name: str }),
  z.object({
    type: z.literal('terminal.started'), terminalId: str, command: str, args: z.array(str), cwd: str, cols: int, rows: int, pid: int, integrated: z.boolean(), offset: nonNeg,
    /** Where the shell runs (absent: this machine); `cwd` is a path there. */
    env: envRecordSchema.optional(),
  }),
  z.object({ type: z.literal('terminal.failed'), terminalId: str, command: str, error: str }),
  z.object({ type: z.literal('terminal.exited'), terminalId: str, exitCode: z.number().nullable(), signal: z.number().nullable(), offset: nonNeg }),
  z.object({ type: z.literal('terminal.resized'), terminalId: str, cols: int, rows: int, offset: nonNeg }),
  z.object({ type: z.literal('terminal.input'), terminalId: str, data: str, source: z.enum(['human', 'agent']), offset: nonNeg }),
  z.object({
    type: z.literal('terminal.command'), terminalId: str, phase: z.enum(['start', 'end']), offset: nonNeg, exitCode: z.number().optional(), cwd: str.optional(),
    /** start: the command line as the shell read it, when its integration reports it (OSC 133;E). */
    command: str.optional(),
  }),
  z.object({ type: z.literal('terminal.closed'), terminalId: str }),
  z.object({
    type: z.literal('rollout.started'), rolloutId: str, branchId: str, task: str, endpoint: endpointRecordSchema.nullable(),
    policy: z.enum(['model', 'replay', 'human']), maxSteps: int, parentStepId: str.nullable(),
  }),
  z.object({ type: z.literal('rollout.state'), rolloutId: str, state: rolloutStateSchema, reason: str.optional(), error: str.optional() }),
  z.object({
    type: z.literal('step.started'), stepId: str, parentId: str.nullable(), branchId: str, depth: int, rolloutId: str,
    /** Hand-written and human steps: the world the action ran in. */
    world: stepWorldSchema.optional(),
    /**
     * An imported step that is not its source model's output as it stands (an importer-made
     * call, a rejected reply, a context the import had to repair), and why: a fact, so it is
     * never trained, whatever its labels or a merge's votes.
     */
    notTrained: str.optional(),
    /**
     * An imported step whose source records less time than the events hold: 'none', no
     * time at all (its times stand in: the previous event's, else the import's; its
     * durations 0); 'no-durations', the source's times but no durations (written 0).
     */
    timing: z.enum(['none', 'no-durations']).optional(),
  }),
  /**
   * What does not change from request to request (model, tools, tool_choice,
   * sampling, stream options: the wire body without `messages`), stored once per
   * session under its SHA-256 and referenced by `model.request.config`.
   */
  z.object({ type: z.literal('request.config'), hash: str, config: z.record(str, z.unknown()) }),
  /**
   * A model request as sent: the messages of request `base` (null: none) cut to
   * their first `keep`, then `append`. Recorded each time a request is built
   * (a resumed step may be rebuilt); the last one before a step's response is the
   * one that produced it.
   */
  z.object({
    type: z.literal('model.request'), requestId: str, stepId: str, purpose: z.enum(['step', 'summary']),
    base: str.nullable(), keep: int.nonnegative(), append: z.array(wireMessageSchema), config: str,
    /** Parallel to `append`: the step whose reply, results or guidance each message carries (null: system, task, summary). */
    owners: z.array(str.nullable()).optional(),
  }),
  z.object({
    type: z.literal('model.response'), stepId: str, content: str, reasoning: str, toolCalls: z.array(toolCallSchema),
    usage: usageSchema.nullable(), finishReason: str.nullable(), durationMs: nonNeg,
    humanAuthored: z.boolean().optional(), author: str.optional(),
    /** The request that produced this reply (absent: recorded before the request record, or hand-written). */
    requestId: str.optional(),
    /** How the action was expressed: native tool calls, or a fenced block in the text (`toolCalls` parsed from it). */
    toolMode: toolModeSchema.optional(),
    /** Human steps taken in a terminal under human control. */
    origin: z.enum(['model', 'hand', 'terminal', 'replay']).optional(),
  }),
  z.object({
    type: z.literal('action.result'), stepId: str, toolCallId: str, name: str, observation: str, isError: z.boolean(), durationMs: nonNeg,
    terminalId: str.optional(), range: range.optional(), exitCode: z.number().nullable().optional(),
    /** The environment the action ran in (absent: this machine, or recorded before environments). */
    env: envRecordSchema.optional(),
  }),
  z.object({
    type: z.literal('step.finished'), stepId: str, promptTokens: nonNeg,
    /** Time the step spent paused (between a pause and the resume that redid it). */
    pausedMs: nonNeg.optional(),
    /** Time spent waiting on the endpoint, retries and backoff included. */
    modelMs: nonNeg.optional(),
  }),
  z.object({ type: z.literal('llm.retry'), stepId: str, attempt: int, delayMs: nonNeg, error: str }),
  z.object({ type: z.literal('guidance.queued'), guidanceId: str, text: str, author: str, branchId: str.optional() }),
  /** stepId: the step after whose results it was inserted; null = before the first step. */
  z.object({ type: z.literal('guidance.delivered'), guidanceId: str, stepId: str.nullable() }),
  z.object({ type: z.literal('summary.created'), stepId: str, summary: str, coveredStepIds: z.array(str), /** The summary request that produced it. */ requestId: str.optional() }),
  z.object({ type: z.literal('branch.created'), branchId: str, fromStepId: str.nullable(), name: str, author: str, reason: z.enum(['branch', 'rewind']) }),
  z.object({
    type: z.literal('checkpoint.taken'), stepId: str, commit: str, cwd: str, shellCwd: str.optional(), env: z.record(str, str).optional(),
    /** What the snapshot left out (bounded list; skippedCount is the whole number). Absent in older logs. */
    skipped: z.array(skippedFileSchema).optional(), skippedCount: int.nonnegative().optional(),
  }),
  z.object({ type: z.literal('checkpoint.failed'), stepId: str, error: str, skipped: z.array(skippedFileSchema).optional(), skippedCount: int.nonnegative().optional() }),
  z.object({ type: z.literal('control.taken'), terminalId: str, branchId: str, author: str }),
  z.object({ type: z.literal('control.returned'), terminalId: str, branchId: str, author: str }),
  z.object({ type: z.literal('comment.added'), commentId: str, stepId: str, text: str, author: str }),
  z.object({ type: z.literal('comment.edited'), commentId: str, text: str, author: str }),
  z.object({ type: z.literal('comment.deleted'), commentId: str, author: str }),
  z.object({
    type: z.literal('label.set'), stepId: str, label: labelValueSchema, tags: z.array(z.enum(LABEL_TAGS)), note: str, source: labelSourceSchema, author: str,
    rule: str.optional(), rationale: str.optional(),
  }),
  z.object({ type: z.literal('label.cleared'), stepId: str, source: labelSourceSchema, author: str }),
  z.object({ type: z.literal('export.made'), bundle: str, formats: z.array(str), branchIds: z.array(str) }),
  z.object({ type: z.literal('warning'), message: str }),
  /**
   * Where an imported session came from (written right after session.created): the
   * source format, file name (no directories: the path may be private), SHA-256 of
   * the source (a folder: of its sorted file list and contents), so importing the same
   * file again is recognised. `item` names the run inside a file of several (an
   * OpenHands instance, an Inspect sample, an SFT line). `context`: 'exact' when each
   * step's request is the source's own record of what the model saw, 'derived' when
   * it is rebuilt from the source's conversation, 'none' when there is none (a
   * terminal recording). `unknown` counts source records of types the importer does
   * not map (kept verbatim in import/unknown.jsonl beside the log).
   */
  z.object({
    type: z.literal('import.origin'), format: str, file: str, sha256: str, toolVersion: str.optional(),
    item: str.optional(), context: z.enum(['exact', 'derived', 'none']).optional(), sourceCwd: str.optional(),
    unknown: z.record(str, int.nonnegative()).optional(),
  }),
] as const;

export const sessionEventBodySchema = z.discriminatedUnion('type', bodies);
export type SessionEventBody = z.infer<typeof sessionEventBodySchema>;

const eventBaseSchema = z.object({
  /** Monotonic per session, starting at 1. */
  seq: int.positive(),
  /** Milliseconds since the epoch. */
  ts: nonNeg,
});
export type EventBase = z.infer<typeof eventBaseSchema>;

export const sessionEventSchema = z.discriminatedUnion(
  'type',
  bodies.map((b) => b.extend(eventBaseSchema.shape)) as unknown as typeof bodies,
);
export type SessionEvent = EventBase & SessionEventBody;
export type SessionEventType = SessionEventBody['type'];
export type EventOf<T extends SessionEventType> = EventBase & Extract<SessionEventBody, { type: T }>;

/**
 * Whether a log's content holds `ev` (the running hash that names an export's inputs,
 * SessionLog.eventsDigest): every event but export.made, which each export appends and
 * no export reads.
 */
export function inContent(ev: SessionEvent): boolean {
  return ev.type !== 'export.made';
}

/** Validate one decoded log line; null when it is not a valid event. */
export function parseSessionEvent(value: unknown): SessionEvent | null {
  const r = sessionEventSchema.safeParse(value);
  // The parsed copy drops nothing we read, but returning the original keeps
  // unknown fields of newer writers (and saves a deep copy per event).
  return r.success ? (value as SessionEvent) : null;
}
