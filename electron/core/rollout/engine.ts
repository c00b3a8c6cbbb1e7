// The agent loop: one Rollout drives one branch of a session's trajectory, step by
// step, recording every fact in the session's event log as it happens:
//
//   rollout.started                    first run()
//   guidance.delivered(stepId = S)     right before the prompt of the step after S
//   step.started                       a new step (a resumed step keeps its id)
//   summary.created(stepId)            when the prompt passed the token threshold
//   llm.retry                          each retry of the model request
//   model.response                     the assistant message (content, reasoning, tool calls, usage)
//   action.result                      one per tool call (or one error when there was none)
//   step.finished                      after the results; then hooks.afterStep(stepId)
//   rollout.state                      paused / running / stopped / finished / failed
//
// A remote environment whose connection drops during an action (ssh master gone, pod
// restarted): that action's result says so, the step's remaining calls are recorded
// as not executed, the rollout records `paused` (reason "connection lost") and waits
// for the connection, then records `running` and goes on with the next step. Stop and
// pause still work while it waits.
//
// Guidance queued at any time (guidance.queued) is delivered at the next step
// boundary: it becomes a `<real_user>` user turn after the current step's tool
// results and is part of the very next request.
import { randomUUID } from 'node:crypto';
import { ApolloError, errorText } from '../../../shared/errors';
import type { EndpointRecord, RolloutState, SessionEvent, SessionEventBody, StepWorld, ToolCall } from '../../../shared/events';
import { branchLeaf, branchPath, foldTrajectory, pathTo, type Step, type Trajectory } from '../../../shared/trajectory';
import { trajectoryOf } from '../session-trajectory';
import type { SessionLog } from '../store/workspace';
import { buildOwnedMessages, estimatePromptTokens, ownedMessagesForPath, SUMMARY_PROMPT, latestSummary, type BuildOptions, type ToolMode } from './context';
import { LlmClient, withoutCredentials, type ChatMessage, type DeepPartial, type LlmOptions, type LlmResult } from './llm';
import { RequestRecorder } from './request-record';
import { environmentFor } from '../env/registry';
import {
  DEFAULT_TOOL_OPTIONS, executeTool, executeToolCall, INVALID_TOOL_CALL, parseTextAction, parseToolCall, reattachTerminals, TOOL_SCHEMAS, withNote,
  type TerminalHost, type ToolContext, type ToolOptions, type ToolOutcome,
} from './tools';

export interface RolloutEndpoint {
  profile: string;
  baseURL: string;
  apiKey: string;
  model: string;
  temperature?: number;
  topP?: number;
  maxTokens?: number;
  toolMode?: ToolMode;
}

export type RunResult = 'finished' | 'stopped' | 'failed' | 'paused';

export interface RolloutDelta {
  content?: string;
  reasoning?: string;
  /** The request is being retried: drop what was streamed for this step so far. */
  reset?: boolean;
}

export interface RolloutOptions {
  session: SessionLog;
  pty: TerminalHost;
  endpoint: RolloutEndpoint | null;
  policy: 'model' | 'replay';
  task: string;
  /** Steps this rollout may take (a resumed step counts once). */
  maxSteps: number;
  /** Default 'main'. */
  branchId?: string;
  /** The step to continue from: null = from the root; undefined = the branch's last step (or the root). */
  parentStepId?: string | null;
  /** Replay: the recorded events whose main-branch tool calls are re-run. */
  replaySource?: SessionEvent[];
  /** Working directory for relative paths and new terminals. */
  cwd: string;
  /** Summarize older steps once the prompt passes this many tokens (off when unset). */
  summarizeAtTokens?: number;
  /** Steps kept verbatim after a summary (default 8). */
  keepRecentSteps?: number;
  onDelta?(stepId: string, delta: RolloutDelta): void;
  hooks?: { afterStep?(stepId: string): Promise<void> };
  /** Client tuning (timeouts, retry backoff; tests make them small). */
  llm?: DeepPartial<LlmOptions>;
  tools?: Partial<ToolOptions>;
  systemPrompt?: string;
  rolloutId?: string;
  /** session_id the agent uses → real terminal id (a rewind starts fresh terminals, e.g. main → main-r2). */
  aliases?: Record<string, string>;
  /** The world the first step acts in, when it is not its parent's (a branch from a mid-path step). */
  firstStepWorld?: StepWorld;
}

const DEFAULT_BRANCH = 'main';

/** Most characters of human terminal input quoted back to the agent. */
const HUMAN_INPUT_NOTE_CAP = 1_000;

export class Rollout {
  readonly id: string;
  readonly branchId: string;
  private readonly session: SessionLog;
  private readonly opts: RolloutOptions;
  private readonly llm: LlmClient | null;
  private readonly toolMode: ToolMode;
  private readonly toolOptions: ToolOptions;
  private readonly requests: RequestRecorder;

  private _state: RolloutState | 'idle' = 'idle';
  private _error: string | undefined;
  private started = false;
  private running: Promise<RunResult> | null = null;
  /**
   * The run has decided to pause and is only recording it: the state reads 'paused'
   * while that event is written, and the run's result is that 'paused'. (A run that
   * reads 'paused' while waiting for a lost connection is not ending: it goes on.)
   */
  private ending = false;
  private pauseRequested = false;
  private stopRequested = false;
  private abort: AbortController | null = null;

  /** The last finished step of this rollout's path (null: root). */
  private leafId: string | null | undefined;
  /** A started step still waiting for its model response (resumed after a pause). */
  private currentId: string | null = null;
  private stepsTaken = 0;
  /** Time the current step spent waiting on the endpoint, and paused (honest step timings). */
  private stepModelMs = 0;
  private stepPausedMs = 0;
  private pausedAt: number | null = null;
  /** Events up to this seq were already checked for human terminal input. */
  private seenSeq: number;
  /**
   * Terminals a human has taken control of on this branch (control.taken, not yet
   * returned), as of seenSeq: what is typed there becomes recorded human steps, so it
   * is no note for the agent.
   */
  private readonly controlled = new Set<string>();
  /** Terminals this rollout's tools drive (used, created, or used earlier on its path). */
  private readonly driven = new Set<string>();
  private pauseReason = 'paused by the user';
  /** The connection of the environment dropped during the current step's actions (why). */
  private lostInStep: string | null = null;
  private _diskFull = false;

  // replay
  private replayPath: Step[] = [];
  private replaySourceTrajectory: Trajectory | null = null;
  private replayIndex = 0;
  private readonly stepMap = new Map<string, string>();
  private readonly aliases = new Map<string, string>();

  constructor(opts: RolloutOptions) {
    if (opts.policy === 'model' && !opts.endpoint) throw new ApolloError('BAD_REQUEST', 'A model rollout needs an endpoint.');
    if (opts.policy === 'replay' && !opts.replaySource) throw new ApolloError('BAD_REQUEST', 'A replay rollout needs replaySource events.');
    if (!Number.isInteger(opts.maxSteps) || opts.maxSteps < 1) throw new ApolloError('BAD_REQUEST', 'maxSteps must be a positive integer.');
    this.opts = opts;
    this.session = opts.session;
    this.id = opts.rolloutId ?? randomUUID();
    this.branchId = opts.branchId ?? DEFAULT_BRANCH;
    this.toolMode = opts.endpoint?.toolMode ?? 'tools';
    this.toolOptions = { ...DEFAULT_TOOL_OPTIONS, ...(opts.tools ?? {}) };
    this.llm = opts.endpoint && opts.policy === 'model'
      ? new LlmClient({ baseURL: opts.endpoint.baseURL, apiKey: opts.endpoint.apiKey, model: opts.endpoint.model, temperature: opts.endpoint.temperature, topP: opts.endpoint.topP, maxTokens: opts.endpoint.maxTokens }, opts.llm)
      : null;
    this.leafId = opts.parentStepId;
    for (const [name, id] of Object.entries(opts.aliases ?? {})) this.aliases.set(name, id);
    for (const id of this.aliases.values()) this.driven.add(id);
    this.seenSeq = this.session.events.at(-1)?.seq ?? 0;
    for (const ev of this.session.events) this.trackControl(ev);
    this.requests = new RequestRecorder(this.session, () => this.t);
  }

  /** The session's trajectory, from its one owner (always up to date with the log). */
  private get t(): Trajectory {
    return trajectoryOf(this.session);
  }

  get state(): RolloutState | 'idle' {
    return this._state;
  }

  /** The error that paused or failed the rollout, if any. */
  get error(): string | undefined {
    return this._error;
  }

  /** The pause is for a full disk: resuming once space is freed continues where it stopped. */
  get diskFull(): boolean {
    return this._diskFull && this._state === 'paused';
  }

  get stepCount(): number {
    return this.stepsTaken;
  }

  /**
   * Run until the task is finished, the step budget is spent, stop() is called, or it
   * pauses (pause(), or an error retries could not fix). Calling it again while paused
   * resumes; while running it returns the same promise.
   */
  run(): Promise<RunResult> {
    if (this.running) return this.running;
    if (this._state === 'finished' || this._state === 'stopped' || this._state === 'failed') return Promise.resolve(this._state);
    this.ending = false;
    this.running = this.loopGuarded().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  /** Continue a paused rollout; a step interrupted by the pause or an error is retried. */
  resume(): Promise<RunResult> {
    this.pauseRequested = false;
    // Paused, but the run is still recording its pause (a slow write, a loaded disk):
    // its result is that pause, so resume once it has ended rather than return it.
    if (this.running && this.ending) return this.running.then(() => this.run());
    return this.run();
  }

  /** Pause at the next step boundary; an in-flight model request is cancelled and redone on resume. */
  pause(): void {
    if (!this.running) return;
    this.pauseReason = 'paused by the user';
    this.pauseRequested = true;
    this.abort?.abort();
  }

  /**
   * Pause once the current step is done (a human takes control of a terminal). A reply
   * being awaited is let in and its actions run, so no step is left half-done; a
   * sleep or wait of the step is cut short.
   */
  pauseAtBoundary(reason: string): void {
    if (!this.running) return;
    this.pauseReason = reason;
    this.pauseRequested = true;
    const cur = this.currentId ? this.t.steps.get(this.currentId) : undefined;
    if (!cur || cur.response) this.abort?.abort();
  }

  /** Terminal ids the agent's tools drive: human input there would mix into its commands. */
  drivenTerminals(): ReadonlySet<string> {
    return this.driven;
  }

  /** The session_id the agent knows a terminal by (an alias after a rewind or a replay). */
  agentSessionId(terminalId: string): string {
    for (const [name, id] of this.aliases) if (id === terminalId) return name;
    return terminalId;
  }

  /** Stop for good. A running tool call finishes (a sleep is cut short); later calls of the step are skipped. */
  async stop(): Promise<void> {
    if (this._state === 'finished' || this._state === 'stopped' || this._state === 'failed') return;
    this.stopRequested = true;
    this.abort?.abort();
    if (this.running) {
      await this.running;
      // A run already pausing when stop was asked for ends paused: record the stop below.
      if (this._state !== 'paused') return;
    }
    if (!this.started) {
      this._state = 'stopped';
      return;
    }
    // Paused: record it here.
    await this.setState('stopped', { reason: 'stopped by the user' });
  }

  /** Record guidance now; it reaches the agent at the next step boundary. Returns its id. */
  async queueGuidance(text: string, author: string): Promise<string> {
    if (!text.trim()) throw new ApolloError('BAD_REQUEST', 'Guidance text is empty.');
    const guidanceId = randomUUID();
    await this.session.append({ type: 'guidance.queued', guidanceId, text, author, branchId: this.branchId });
    return guidanceId;
  }

  /** Guidance queued for this branch and not yet delivered, oldest first. */
  pendingGuidance(): { id: string; text: string; author: string; queuedAt: number }[] {
    return [...this.t.guidance.values()]
      .filter((g) => !g.delivered && g.branchId === this.branchId)
      .sort((a, b) => a.queuedAt - b.queuedAt)
      .map((g) => ({ id: g.id, text: g.text, author: g.author, queuedAt: g.queuedAt }));
  }

  // ---- loop -------------------------------------------------------------------

  private async append(body: SessionEventBody): Promise<SessionEvent> {
    return this.session.append(body);
  }

  private async setState(state: RolloutState, extra: { reason?: string; error?: string } = {}): Promise<void> {
    this._state = state;
    this._error = extra.error;
    await this.append({ type: 'rollout.state', rolloutId: this.id, state, ...extra });
  }

  /** End this run paused (see `ending`: a resume meanwhile waits for the pause to be written). */
  private async endPaused(extra: { reason?: string; error?: string }): Promise<'paused'> {
    this.ending = true;
    await this.setState('paused', extra);
    return 'paused';
  }

  private endpointRecord(): EndpointRecord | null {
    const e = this.opts.endpoint;
    if (!e) return null;
    // Recorded without the credentials a base URL may carry (https://user:key@host, ?api_key=…).
    const r: EndpointRecord = { profile: e.profile, baseUrl: withoutCredentials(e.baseURL), model: e.model };
    if (e.temperature !== undefined) r.temperature = e.temperature;
    if (e.topP !== undefined) r.topP = e.topP;
    if (e.maxTokens !== undefined) r.maxTokens = e.maxTokens;
    return r;
  }

  private async ensureStarted(): Promise<void> {
    if (this.started) return;
    if (this.leafId === undefined) {
      let leaf = branchLeaf(this.t, this.branchId);
      // A step interrupted before its response is abandoned: continue from its parent.
      // Bounded by the number of steps: a damaged log with a parent cycle must not hang.
      for (let hops = 0; leaf && !leaf.response && hops <= this.t.steps.size; hops++) {
        leaf = leaf.parentId ? this.t.steps.get(leaf.parentId) ?? null : null;
      }
      if (leaf && !leaf.response) leaf = null;
      this.leafId = leaf?.id ?? this.t.branches.get(this.branchId)?.fromStepId ?? null;
    } else if (this.leafId !== null && !this.t.steps.has(this.leafId)) {
      throw new ApolloError('NOT_FOUND', `No step ${this.leafId} in session ${this.session.id}`);
    }
    if (this.opts.policy === 'replay') this.prepareReplay();
    for (const s of pathTo(this.t, this.leafId)) for (const r of s.results) if (r.terminalId) this.driven.add(r.terminalId);
    await this.append({
      type: 'rollout.started', rolloutId: this.id, branchId: this.branchId, task: this.opts.task, endpoint: this.endpointRecord(),
      policy: this.opts.policy, maxSteps: this.opts.maxSteps, parentStepId: this.leafId,
    });
    // Only once recorded: a start that hit a full disk is tried again on resume.
    this.started = true;
  }

  private async loopGuarded(): Promise<RunResult> {
    try {
      const wasPaused = this._state === 'paused';
      if (wasPaused) this.adoptStepsAddedWhilePaused();
      await this.ensureStarted();
      this._state = 'running';
      this._error = undefined;
      this._diskFull = false;
      if (wasPaused) await this.append({ type: 'rollout.state', rolloutId: this.id, state: 'running' });
      return await (this.opts.policy === 'replay' ? this.replayLoop() : this.modelLoop());
    } catch (err) {
      const msg = this.llm ? this.llm.redact((err as Error).message ?? String(err)) : (err as Error).message ?? String(err);
      if (err instanceof ApolloError && err.code === 'DISK_FULL') {
        // A full disk lost nothing that was recorded (the log keeps only durable
        // events), so this is a pause, not a failure: once space is freed, resuming
        // redoes the step that could not be recorded.
        this._diskFull = true;
        this.ending = true;
        this._state = 'paused';
        this._error = msg;
        this.pausedAt = Date.now();
        await this.append({ type: 'rollout.state', rolloutId: this.id, state: 'paused', reason: 'error', error: msg }).catch(() => undefined);
        return 'paused';
      }
      this._state = 'failed';
      this._error = msg;
      await this.append({ type: 'rollout.state', rolloutId: this.id, state: 'failed', error: msg }).catch(() => undefined);
      return 'failed';
    } finally {
      this.abort = null;
    }
  }

  /** A stop or pause the user asked for, recorded; null when neither was. */
  private async userHalt(): Promise<RunResult | null> {
    if (this.stopRequested) {
      await this.setState('stopped', { reason: 'stopped by the user' });
      return 'stopped';
    }
    if (this.pauseRequested) {
      this.pauseRequested = false;
      return this.endPaused({ reason: this.pauseReason });
    }
    return null;
  }

  /** Checks between steps; returns a result when the loop must end. */
  private async boundary(): Promise<RunResult | null> {
    const halt = await this.userHalt();
    if (halt) return halt;
    if (!this.currentId && this.stepsTaken >= this.opts.maxSteps) {
      await this.setState('stopped', { reason: `max steps reached (${this.opts.maxSteps})` });
      return 'stopped';
    }
    return null;
  }

  /** Deliver queued guidance after step `afterStepId` (it is part of the next prompt). */
  private async deliverGuidance(afterStepId: string | null): Promise<void> {
    for (const g of this.pendingGuidance()) {
      await this.append({ type: 'guidance.delivered', guidanceId: g.id, stepId: afterStepId });
    }
  }

  private async startStep(): Promise<string> {
    const parent = this.leafId ? this.t.steps.get(this.leafId) : undefined;
    const stepId = randomUUID();
    // Every step started from the rollout's first parent acts in that world (an abandoned one is started again).
    const world = this.opts.firstStepWorld && (this.leafId ?? null) === (this.opts.parentStepId ?? null) ? { world: this.opts.firstStepWorld } : {};
    await this.append({ type: 'step.started', stepId, parentId: this.leafId ?? null, branchId: this.branchId, depth: parent ? parent.depth + 1 : 1, rolloutId: this.id, ...world });
    return stepId;
  }

  private buildOptions(): BuildOptions {
    return { task: this.opts.task, toolMode: this.toolMode, systemPrompt: this.opts.systemPrompt, cwd: this.opts.cwd, branchId: this.branchId };
  }

  private async modelLoop(): Promise<RunResult> {
    const llm = this.llm!;
    for (;;) {
      const end = await this.boundary();
      if (end) return end;
      this.abort = new AbortController();
      const signal = this.abort.signal;
      await this.deliverGuidance(this.leafId ?? null);
      if (!this.currentId) {
        this.currentId = await this.startStep();
        this.stepModelMs = 0;
        this.stepPausedMs = 0;
        this.pausedAt = null;
      } else if (this.pausedAt !== null) {
        this.stepPausedMs += Date.now() - this.pausedAt;
        this.pausedAt = null;
      }
      const stepId = this.currentId;

      let result: LlmResult;
      let promptTokens: number;
      let requestId: string;
      const t0 = Date.now();
      try {
        await this.maybeSummarize(stepId, signal);
        const tools = this.toolMode === 'tools' ? TOOL_SCHEMAS : undefined;
        const built = buildOwnedMessages(this.t, stepId, this.buildOptions());
        promptTokens = estimatePromptTokens(this.t, stepId, this.buildOptions(), tools);
        // What is recorded is what is sent: the recorder's plain-JSON copy of the body.
        const sent = await this.requests.record(stepId, 'step', llm.wireBody({ messages: built.messages, tools }), built.owners);
        requestId = sent.requestId;
        result = await llm.complete({
          messages: sent.messages as ChatMessage[],
          tools,
          signal,
          onDelta: (d) => this.opts.onDelta?.(stepId, d),
          onRetry: (r) => {
            this.opts.onDelta?.(stepId, { reset: true });
            void this.append({ type: 'llm.retry', stepId, attempt: r.attempt, delayMs: r.delayMs, error: r.error }).catch(() => undefined);
          },
        });
      } catch (err) {
        this.stepModelMs += Date.now() - t0;
        this.pausedAt = Date.now();
        if (err instanceof ApolloError && err.code === 'CANCELLED') continue; // pause/stop: the boundary decides
        this._diskFull = err instanceof ApolloError && err.code === 'DISK_FULL';
        return this.endPaused({ reason: 'error', error: llm.redact(errorText(err)) });
      }
      this.stepModelMs += Date.now() - t0;

      let toolCalls: ToolCall[] = result.toolCalls;
      if (this.toolMode === 'text') toolCalls = parseTextAction(result.content, this.stepsTaken + 1);
      await this.append({
        type: 'model.response', stepId, content: result.content, reasoning: result.reasoning, toolCalls,
        usage: result.usage, finishReason: result.finishReason, durationMs: result.durationMs,
        requestId, toolMode: this.toolMode, origin: 'model',
      });
      const finished = await this.executeCalls(stepId, toolCalls, signal, (call) => executeToolCall(call, this.toolContext(signal)));
      await this.append({
        type: 'step.finished', stepId, promptTokens: result.usage?.promptTokens || promptTokens,
        pausedMs: this.stepPausedMs, modelMs: this.stepModelMs,
      });
      this.currentId = null;
      this.leafId = stepId;
      this.stepsTaken++;
      const held = await this.holdForConnection();
      if (held) return held;
      await this.afterStep(stepId);
      if (finished !== null) {
        await this.setState('finished', { reason: finished || 'the agent called finish' });
        return 'finished';
      }
    }
  }

  private toolContext(signal: AbortSignal): ToolContext {
    // The endpoint's key: an observation is never cut through it (capText), so the export finds it whole.
    const key = this.opts.endpoint?.apiKey;
    const secrets = key && key !== 'no-key' ? [key] : [];
    return { session: this.session, pty: this.opts.pty, cwd: this.opts.cwd, options: this.toolOptions, signal, aliases: this.aliases, secrets };
  }

  /**
   * Run the calls in order, recording one action.result each. Returns the finish
   * message when `finish` was called, else null.
   */
  private async executeCalls(stepId: string, calls: ToolCall[], signal: AbortSignal, exec: (call: ToolCall) => Promise<ToolOutcome>): Promise<string | null> {
    let note = this.humanInputNote();
    const record = async (call: Pick<ToolCall, 'id' | 'name'>, o: ToolOutcome, durationMs: number) => {
      const observation = note ? withNote(o.observation, note) : o.observation;
      note = null;
      await this.append({
        type: 'action.result', stepId, toolCallId: call.id, name: call.name, observation, isError: o.isError, durationMs,
        ...(o.terminalId ? { terminalId: o.terminalId } : {}), ...(o.range ? { range: o.range } : {}), ...(o.env ? { env: o.env } : {}),
      });
    };
    if (!calls.length) {
      const hint = this.toolMode === 'text'
        ? 'your reply contained no action. End your reply with one ```bash block or one ```json {"name": ..., "arguments": {...}} block'
        : 'your reply contained no tool call. Call one of the tools; call `finish` when the task is done';
      await record({ id: '', name: '' }, { observation: `${INVALID_TOOL_CALL}: ${hint}.`, isError: true }, 0);
      return null;
    }
    let finished: string | null = null;
    this.lostInStep = null;
    for (const call of calls) {
      if (finished !== null || this.lostInStep !== null || (this.stopRequested && signal.aborted)) {
        const why = finished !== null ? 'the task was finished by an earlier call' : this.lostInStep !== null ? 'the connection to the environment was lost by an earlier call' : 'the rollout was stopped';
        await record(call, { observation: JSON.stringify({ success: false, message: `Not executed: ${why}.`, observation_type: 'base' }), isError: false }, 0);
        continue;
      }
      this.noteDriven(call);
      const t0 = Date.now();
      const o = await exec(call);
      if (o.terminalId) this.driven.add(o.terminalId);
      await record(call, o, Date.now() - t0);
      if (o.finish) finished = o.finish.message;
      if (o.lost) this.lostInStep = o.lost;
    }
    return finished;
  }

  /** Human keystrokes typed straight into terminals since the last check, for the next observation. */
  private humanInputNote(): string | null {
    const typed = new Map<string, string>();
    const events = this.session.events;
    let i = events.length;
    while (i > 0 && events[i - 1]!.seq > this.seenSeq) i--;
    for (; i < events.length; i++) {
      const ev = events[i]!;
      this.trackControl(ev);
      if (ev.type === 'terminal.input' && ev.source === 'human' && !this.controlled.has(ev.terminalId)) {
        typed.set(ev.terminalId, (typed.get(ev.terminalId) ?? '') + ev.data);
      }
    }
    this.seenSeq = this.session.events.at(-1)?.seq ?? this.seenSeq;
    if (!typed.size) return null;
    const reverse = new Map([...this.aliases].map(([k, v]) => [v, k]));
    const parts = [...typed].map(([tid, data]) => {
      const shown = data.length > HUMAN_INPUT_NOTE_CAP ? `${data.slice(0, HUMAN_INPUT_NOTE_CAP)}…` : data;
      return `session ${reverse.get(tid) ?? tid}: ${JSON.stringify(shown)}`;
    });
    return `A human typed directly into the terminal since your last action (${parts.join('; ')}). Check the session state before relying on earlier output.`;
  }

  private trackControl(ev: SessionEvent): void {
    if (ev.type === 'control.taken' && ev.branchId === this.branchId) this.controlled.add(ev.terminalId);
    else if (ev.type === 'control.returned' && ev.branchId === this.branchId) this.controlled.delete(ev.terminalId);
  }

  /** The terminal a call is about to drive, known before it runs (a command may run for minutes). */
  private noteDriven(call: ToolCall): void {
    const p = parseToolCall(call);
    const sid = p.ok ? (p.args as Record<string, unknown>).session_id : undefined;
    if (typeof sid === 'string') this.driven.add(this.aliases.get(sid) ?? sid);
  }

  /**
   * Steps recorded on this branch while paused (a human in control of a terminal ran
   * commands) are where the agent continues, so its next request contains them. A
   * step interrupted before its reply is left behind: its prompt predates them.
   */
  private adoptStepsAddedWhilePaused(): void {
    const leaf = branchLeaf(this.t, this.branchId);
    if (!leaf?.response || leaf.id === this.leafId || leaf.id === this.currentId) return;
    if (!pathTo(this.t, leaf.id).some((s) => s.id === this.leafId) && this.leafId != null) return;
    this.leafId = leaf.id;
    this.currentId = null;
    this.pausedAt = null;
  }

  /**
   * After a step whose environment lost its connection: paused until it is back (then
   * null: go on), or the result when stopped or paused by the user meanwhile.
   */
  private async holdForConnection(): Promise<RunResult | null> {
    const lost = this.lostInStep;
    if (lost === null) return null;
    this.lostInStep = null;
    const env = environmentFor(this.session);
    // Made before the state is recorded: a stop or pause prompted by that event aborts this wait.
    const abort = (this.abort = new AbortController());
    await this.setState('paused', { reason: 'connection lost', error: `${lost} The rollout continues when the connection is back; everything up to here is recorded.` });
    try {
      if (!this.stopRequested && !this.pauseRequested) await env.waitConnected(abort.signal);
    } catch {
      // stopped or paused while waiting: decided below
    }
    const halt = await this.userHalt();
    if (halt) return halt;
    const { back, failed } = await reattachTerminals(this.toolContext(abort.signal)).catch((err: unknown) => ({ back: [], failed: [errorText(err)] }));
    this._state = 'running';
    this._error = undefined;
    const kept = back.length ? `; re-attached to ${back.join(', ')} (kept in tmux there)` : '';
    const notBack = failed.length ? `; not re-attached: ${failed.join('; ')} (the agent's next command opens a fresh terminal)` : '';
    await this.append({ type: 'rollout.state', rolloutId: this.id, state: 'running', reason: `the connection to environment ${env.name} is back${kept}${notBack}` });
    return null;
  }

  private async afterStep(stepId: string): Promise<void> {
    if (!this.opts.hooks?.afterStep) return;
    try {
      await this.opts.hooks.afterStep(stepId);
    } catch (err) {
      await this.append({ type: 'warning', message: `afterStep hook failed at step ${stepId}: ${(err as Error).message ?? String(err)}` }).catch(() => undefined);
    }
  }

  // ---- summaries --------------------------------------------------------------

  private async maybeSummarize(stepId: string, signal: AbortSignal): Promise<void> {
    const threshold = this.opts.summarizeAtTokens;
    if (!threshold || !this.llm) return;
    const tools = this.toolMode === 'tools' ? TOOL_SCHEMAS : undefined;
    const opts = this.buildOptions();
    if (estimatePromptTokens(this.t, stepId, opts, tools) <= threshold) return;
    const path = pathTo(this.t, stepId);
    const earlier = path.slice(0, -1);
    const sum = latestSummary(path);
    const verbatim = earlier.filter((s) => !sum?.covered.has(s.id));
    const keep = Math.max(0, this.opts.keepRecentSteps ?? 8);
    const cut = verbatim.length - keep;
    if (cut <= 0) return;
    const lastCovered = verbatim[cut - 1]!;
    const older = ownedMessagesForPath(this.t, pathTo(this.t, lastCovered.id), { ...opts, includeLast: true });
    const body = this.llm.wireBody({ messages: [...older.messages, { role: 'user', content: SUMMARY_PROMPT }], tools, toolChoice: tools ? 'none' : undefined });
    const sent = await this.requests.record(stepId, 'summary', body, [...older.owners, null], lastCovered.requestId ? [lastCovered.requestId] : []);
    const r = await this.llm.complete({
      messages: sent.messages as ChatMessage[],
      tools,
      toolChoice: tools ? 'none' : undefined,
      signal,
      onRetry: (info) => void this.append({ type: 'llm.retry', stepId, attempt: info.attempt, delayMs: info.delayMs, error: `summary: ${info.error}` }).catch(() => undefined),
    });
    const text = r.content.trim();
    if (!text) {
      await this.append({ type: 'warning', message: `The summary request at step ${stepId} returned no text; the context was not summarized.` });
      return;
    }
    const covered = [...(sum ? sum.step.summary!.coveredStepIds : []), ...verbatim.slice(0, cut).map((s) => s.id)];
    await this.append({ type: 'summary.created', stepId, summary: text, coveredStepIds: covered, requestId: sent.requestId });
  }

  // ---- replay -----------------------------------------------------------------

  private prepareReplay(): void {
    const src = foldTrajectory(this.opts.replaySource!);
    this.replaySourceTrajectory = src;
    const first = this.opts.replaySource!.find((e) => e.type === 'rollout.started');
    const main = first && first.type === 'rollout.started' ? first.branchId : (src.order[0] ? src.steps.get(src.order[0])!.branchId : DEFAULT_BRANCH);
    this.replayPath = branchPath(src, main).filter((s) => s.response);
    // Recorded terminal names map onto fresh terminals of this session.
    const used = new Set<string>();
    for (const ev of this.session.events) if (ev.type === 'terminal.started') used.add(ev.terminalId);
    for (const step of this.replayPath) {
      for (const c of step.response!.toolCalls) {
        const p = parseToolCall(c);
        const sid = p.ok && typeof p.args.session_id === 'string' ? p.args.session_id : null;
        if (!sid || this.aliases.has(sid)) continue;
        let name = sid;
        for (let k = 1; used.has(name); k++) name = `${sid}-r${k}`.slice(0, 64);
        used.add(name);
        this.aliases.set(sid, name);
      }
    }
  }

  private async replayLoop(): Promise<RunResult> {
    const src = this.replaySourceTrajectory!;
    if (this.replayIndex === 0 && !this.currentId) {
      // Guidance the source got before its first step.
      for (const g of src.guidance.values()) {
        if (g.delivered?.stepId === null) await this.copyGuidance(g.id, null);
      }
    }
    for (;;) {
      const end = await this.boundary();
      if (end) return end;
      const srcStep = this.replayPath[this.replayIndex];
      if (!srcStep) {
        await this.setState('finished', { reason: 'replay complete' });
        return 'finished';
      }
      this.abort = new AbortController();
      const signal = this.abort.signal;
      await this.deliverGuidance(this.leafId ?? null);
      const stepId = this.currentId ?? (this.currentId = await this.startStep());
      this.stepMap.set(srcStep.id, stepId);
      const r = srcStep.response!;
      if (srcStep.summary) {
        await this.append({
          type: 'summary.created', stepId, summary: srcStep.summary.text,
          coveredStepIds: srcStep.summary.coveredStepIds.map((id) => this.stepMap.get(id)).filter((x): x is string => !!x),
        });
      }
      await this.append({
        type: 'model.response', stepId, content: r.content, reasoning: r.reasoning, toolCalls: r.toolCalls, usage: r.usage,
        finishReason: r.finishReason, durationMs: 0, ...(r.humanAuthored ? { humanAuthored: true } : {}), ...(r.author ? { author: r.author } : {}),
        ...(r.toolMode ? { toolMode: r.toolMode } : {}), origin: 'replay',
      });
      const ctx = this.toolContext(signal);
      const finished = await this.executeCalls(stepId, r.toolCalls, signal, async (call) => {
        const p = parseToolCall(call);
        return p.ok ? executeTool(p.name, p.args, ctx) : { observation: p.error, isError: true };
      });
      await this.append({ type: 'step.finished', stepId, promptTokens: srcStep.promptTokens ?? 0 });
      for (const gid of srcStep.guidance) await this.copyGuidance(gid, stepId);
      this.currentId = null;
      this.leafId = stepId;
      this.stepsTaken++;
      this.replayIndex++;
      const held = await this.holdForConnection();
      if (held) return held;
      await this.afterStep(stepId);
      if (finished !== null) {
        await this.setState('finished', { reason: finished || 'the recorded trajectory called finish' });
        return 'finished';
      }
    }
  }

  private async copyGuidance(sourceId: string, stepId: string | null): Promise<void> {
    const g = this.replaySourceTrajectory!.guidance.get(sourceId);
    if (!g) return;
    const guidanceId = randomUUID();
    await this.append({ type: 'guidance.queued', guidanceId, text: g.text, author: g.author, branchId: this.branchId });
    await this.append({ type: 'guidance.delivered', guidanceId, stepId });
  }
}
