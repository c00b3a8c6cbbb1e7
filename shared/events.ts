// Every persisted fact of a session is one of these events, appended to
// sessions/<id>/events.jsonl. Views (trajectory tree, labels, comments, terminal
// state) are folds over the log, so the log is the single source of truth.

export interface EventBase {
  /** Monotonic per session, starting at 1. */
  seq: number;
  /** Milliseconds since the epoch. */
  ts: number;
}

export interface ToolCall {
  id: string;
  name: string;
  /** Raw JSON text as the model produced it (may be invalid). */
  arguments: string;
}

export interface Usage {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
}

/** Endpoint description as it may be recorded: never contains a key. */
export interface EndpointRecord {
  profile: string;
  baseUrl: string;
  model: string;
  temperature?: number;
  topP?: number;
  maxTokens?: number;
}

export type LabelValue = 'keep' | 'mask';
export type LabelSource = 'rule' | 'judge' | 'annotator';
export const LABEL_TAGS = ['error', 'redundant', 'off-track', 'unsafe', 'superseded', 'other'] as const;
export type LabelTag = (typeof LABEL_TAGS)[number];

export type RolloutState = 'running' | 'paused' | 'stopped' | 'finished' | 'failed';

export type SessionEventBody =
  | { type: 'session.created'; name: string; cwd: string; appVersion: string }
  | { type: 'session.renamed'; name: string }
  | { type: 'terminal.started'; terminalId: string; command: string; args: string[]; cwd: string; cols: number; rows: number; pid: number; integrated: boolean; offset: number }
  | { type: 'terminal.failed'; terminalId: string; command: string; error: string }
  | { type: 'terminal.exited'; terminalId: string; exitCode: number | null; signal: number | null; offset: number }
  | { type: 'terminal.resized'; terminalId: string; cols: number; rows: number; offset: number }
  | { type: 'terminal.input'; terminalId: string; data: string; source: 'human' | 'agent'; offset: number }
  | { type: 'terminal.command'; terminalId: string; phase: 'start' | 'end'; offset: number; exitCode?: number; cwd?: string }
  | { type: 'terminal.closed'; terminalId: string }
  | { type: 'rollout.started'; rolloutId: string; branchId: string; task: string; endpoint: EndpointRecord | null; policy: 'model' | 'replay' | 'human'; maxSteps: number; parentStepId: string | null }
  | { type: 'rollout.state'; rolloutId: string; state: RolloutState; reason?: string; error?: string }
  | { type: 'step.started'; stepId: string; parentId: string | null; branchId: string; depth: number; rolloutId: string }
  | { type: 'model.response'; stepId: string; content: string; reasoning: string; toolCalls: ToolCall[]; usage: Usage | null; finishReason: string | null; durationMs: number; humanAuthored?: boolean; author?: string }
  | { type: 'action.result'; stepId: string; toolCallId: string; name: string; observation: string; isError: boolean; durationMs: number; terminalId?: string; range?: [number, number] }
  | { type: 'step.finished'; stepId: string; promptTokens: number }
  | { type: 'llm.retry'; stepId: string; attempt: number; delayMs: number; error: string }
  | { type: 'guidance.queued'; guidanceId: string; text: string; author: string; branchId?: string }
  | { type: 'guidance.delivered'; guidanceId: string; /** The step after whose results it was inserted; null = before the first step. */ stepId: string | null }
  | { type: 'summary.created'; stepId: string; summary: string; coveredStepIds: string[] }
  | { type: 'branch.created'; branchId: string; fromStepId: string | null; name: string; author: string; reason: 'branch' | 'rewind' }
  | { type: 'checkpoint.taken'; stepId: string; commit: string; cwd: string; shellCwd?: string; env?: Record<string, string> }
  | { type: 'checkpoint.failed'; stepId: string; error: string }
  | { type: 'comment.added'; commentId: string; stepId: string; text: string; author: string }
  | { type: 'comment.edited'; commentId: string; text: string; author: string }
  | { type: 'comment.deleted'; commentId: string; author: string }
  | { type: 'label.set'; stepId: string; label: LabelValue; tags: LabelTag[]; note: string; source: LabelSource; author: string; rule?: string; rationale?: string }
  | { type: 'label.cleared'; stepId: string; source: LabelSource; author: string }
  | { type: 'export.made'; bundle: string; formats: string[]; branchIds: string[] }
  | { type: 'warning'; message: string };

export type SessionEvent = EventBase & SessionEventBody;
export type SessionEventType = SessionEventBody['type'];
export type EventOf<T extends SessionEventType> = EventBase & Extract<SessionEventBody, { type: T }>;
