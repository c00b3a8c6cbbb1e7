// The shapes every importer shares. An adapter reads one format and describes each
// run it finds as a `RunIR` (the steps of a trajectory with their exact or derived
// context), or, for streams such as terminal recordings, writes events itself; the
// writer (emit.ts) turns a RunIR into the same events a live rollout writes. There
// is no second session model for imported runs.
import { ApolloError } from '../../../shared/errors';
import type { RolloutState, ToolCall, Usage, WireMessage } from '../../../shared/events';
import type { StagedSession } from './staging';

/** A malformed input: names the file and where in it (line, field, node id). */
export class ImportError extends ApolloError {
  constructor(file: string, where: string | null, message: string) {
    super('BAD_REQUEST', `${file}${where ? `, ${where}` : ''}: ${message}`, { file, where });
  }
}

export type ContextFidelity = 'exact' | 'derived' | 'none';

export interface ResultIR {
  toolCallId: string;
  name: string;
  observation: string;
  isError: boolean;
  durationMs?: number;
  exitCode?: number | null;
}

export interface StepIR {
  /** Unique within the run; step ids are derived from it (stable across imports of the same file). */
  key: string;
  /** The step this one follows (undefined: the previous step of the list; null: the start). */
  parent?: string | null;
  /** Where in the source, for messages ("line 12", "node 0af1…"). */
  where: string;
  /** Milliseconds since the epoch, when the source has it. */
  at?: number;
  finishedAt?: number;
  /**
   * The messages the model was sent for this reply (without the reply), and for
   * each the key of the step it belongs to (null: system, task, summary turns).
   */
  request?: { messages: WireMessage[]; owners: (string | null)[]; config?: Record<string, unknown> };
  content: string;
  reasoning?: string;
  toolCalls: ToolCall[];
  usage?: Usage | null;
  finishReason?: string | null;
  durationMs?: number;
  toolMode?: 'tools' | 'text';
  /** Human steps of the source (a user's shell command in Claude Code). */
  origin?: 'model' | 'hand' | 'terminal';
  author?: string;
  results: ResultIR[];
  /** Turns a person gave after this step's results (real_user / a user message mid-run). */
  guidance?: string[];
  /** The context was summarized after this step. */
  summary?: { text: string; covered: string[]; request?: { messages: WireMessage[]; owners: (string | null)[] } };
  /** A label the source carried (a training weight, a mask column). */
  label?: { label: 'keep' | 'mask'; note: string };
  /**
   * Why this step is not its source model's output as it stands (an importer-made call, a
   * rejected reply, a repaired context): recorded as a fact on the step, never trained.
   */
  notTrained?: string;
  /** Branch name when this step starts a new branch. */
  branchName?: string;
}

export interface RunIR {
  name: string;
  task: string;
  /** Where the run worked in its own environment (informative: it is not here). */
  sourceCwd?: string;
  model?: string;
  /** The request config (model, tools, sampling) shared by every request. */
  config: Record<string, unknown>;
  context: ContextFidelity;
  /** Guidance before the first step. */
  initialGuidance?: string[];
  steps: StepIR[];
  end?: { state: RolloutState; reason?: string };
  startedAt?: number;
  toolVersion?: string;
  /** Which run of a file of several ("instance django__django-1", "line 3"). */
  item?: string;
  /** Notes for the annotator, written as warning events. */
  notes: string[];
  /** Source records the adapter does not map, kept verbatim and counted by type. */
  unknown: Array<{ type: string; record: unknown }>;
}

export interface ImportInput {
  /** Absolute path of the file or folder. */
  path: string;
  /** Its base name, as recorded and shown in messages. */
  name: string;
  isDir: boolean;
  size: number;
  /** The first bytes of a file (64 KiB); for a folder, of its first JSON file. */
  head: Buffer;
  /** The last bytes of a file (64 KiB): top-level keys written after a long list show up here. */
  tail: Buffer;
  /** For a folder: its files (relative paths), sorted. */
  files?: string[];
}

export interface ImportContext {
  input: ImportInput;
  format: string;
  sha256: string;
  /** Start a session of this import (staged: it appears only when the whole input imported). */
  session(meta: {
    name: string; item?: string; context: ContextFidelity; toolVersion?: string; sourceCwd?: string;
    unknown?: Record<string, number>; startTs?: number;
  }): Promise<StagedSession>;
  /** Bytes of the input read so far (progress). */
  progress(bytes: number): void;
  signal?: AbortSignal;
}

export interface ImportAdapter {
  format: string;
  /** For people: what files it reads. */
  description: string;
  /** 0 (not this format) … 1 (certain), from the input's head and name alone. */
  detect(input: ImportInput): number;
  /** Read the input; return the runs to write, or write sessions itself through ctx. */
  read(input: ImportInput, ctx: ImportContext): AsyncIterable<RunIR> | Promise<RunIR[] | AsyncIterable<RunIR> | void>;
}
