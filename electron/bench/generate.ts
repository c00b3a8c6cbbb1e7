// `apollo bench --generate DIR`: a long session in the real store format, the size of
// the InnovatorBench runs reviewers open (2,523 steps over 47.9 h, 0.8–1.1 GB), so the
// benchmark measures the app on what it meets and not on a toy.
//
// What is written (DIR is a workspace home; the session appears in it on next open):
//   sessions/<id>/events.jsonl              through EventLog, with the request record a
//                                           rollout writes (RequestRecorder: request.config
//                                           once, model.request per step and per summary)
//   sessions/<id>/terminals/<t>.out         through TerminalRecording, with its timing
//   sessions/<id>/terminals/<t>.timing.*    index, at the times the output was "produced"
// The story: an agent explores a repository, starts a training job in terminal `train`
// whose tqdm bars fill ~80% of the terminal bytes for hours (one crash and relaunch),
// runs commands in `main` (installs and test runs with large output, most commands
// short), sleeps while it trains, reads the job's output back (get_session_output
// since a time and by lines), opens and edits files; ~40 guidance messages arrive and
// are delivered; summaries replace the context when it grows; side branches (two
// branches, one rewind) are taken by annotators; labels from annotators, a judge and
// the rules, comments (some edited). A few secrets appear in command output, as they
// do, so redaction has real work.
//
// Every choice comes from a seeded PRNG and a simulated clock, so a given set of
// options always produces the same story (request ids are random UUIDs, as in a real
// rollout). Sizes are adaptive so the claims hold: the train job's byte rate and the
// shell output per command are recomputed from what is left, and sleeps absorb the
// time the steps do not use.
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ApolloError } from '../../shared/errors';
import type { SessionEvent, SessionEventBody, ToolCall } from '../../shared/events';
import { applyEvent, emptyTrajectory, foldTrajectory, pathTo, requestMessages, type Trajectory } from '../../shared/trajectory';
import { buildOwnedMessages, latestSummary, ownedMessagesForPath, SUMMARY_PROMPT, type BuildOptions } from '../core/rollout/context';
import { RequestRecorder } from '../core/rollout/request-record';
import { capText, TOOL_SCHEMAS } from '../core/rollout/tools';
import { EventLog, readEventLog } from '../core/store/event-log';
import { mkdirPrivate } from '../core/store/private-files';
import { TerminalRecording } from '../core/store/terminal-recording';
import type { SessionLog } from '../core/store/workspace';
import { mulberry32 } from '../../shared/random';

export interface GenerateOptions {
  /** Workspace home: the session is written to <home>/sessions/<id>. */
  home: string;
  steps?: number;
  hours?: number;
  /** Terminal output in MB (10^6 bytes), all terminals together. */
  terminalMb?: number;
  seed?: number;
  id?: string;
  onProgress?(message: string): void;
}

export interface GenerateClaims {
  steps: number;
  hours: number;
  terminalBytes: number;
}

export interface GeneratedSession {
  id: string;
  dir: string;
  claims: GenerateClaims;
  startTs: number;
  endTs: number;
  counts: { steps: number; branches: number; guidance: number; labels: number; comments: number; summaries: number; requests: number; events: number };
  eventBytes: number;
  terminals: Record<string, { bytes: number; batches: number }>;
  /** The terminal the training job wrote to (the one with the largest timing index). */
  trainTerminal: string;
}

export const FULL_SIZE = { steps: 2500, hours: 48, terminalMb: 800 } as const;

// ---- deterministic randomness -------------------------------------------------------


class Rng {
  private readonly next: () => number;
  constructor(seed: number) {
    this.next = mulberry32(seed);
  }
  float(): number {
    return this.next();
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)]!;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  hex(n: number): string {
    let s = '';
    for (let i = 0; i < n; i++) s += '0123456789abcdef'[Math.floor(this.next() * 16)];
    return s;
  }
  alnum(n: number): string {
    const A = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
    let s = '';
    for (let i = 0; i < n; i++) s += A[Math.floor(this.next() * A.length)];
    return s;
  }
  uuid(): string {
    return `${this.hex(8)}-${this.hex(4)}-4${this.hex(3)}-a${this.hex(3)}-${this.hex(12)}`;
  }
}

// ---- text of the story --------------------------------------------------------------

const TASK = `Fine-tune the 1.3B model in /work/project on the instruction dataset in data/ and bring the validation loss below 1.10 within the compute budget.
The repository has a training script (train.py), configs/ and an evaluation script (eval.py). Report the best checkpoint, its validation loss and the accuracy of eval.py on the held-out split.`;

const GUIDANCE = [
  'Use bf16, not fp16: the loss spikes you saw are overflow.',
  'Keep the eval set untouched; do not tune on it.',
  'Lower the learning rate to 2e-4 and add 500 warmup steps.',
  'Check the GPU memory before you raise the batch size again.',
  'Save a checkpoint every 1000 steps so we can resume after a crash.',
  'Do not reinstall torch; the CUDA build in the environment is the right one.',
  'Look at the gradient norm, not only the loss.',
  'Run eval.py on the last checkpoint before you change anything else.',
  'The tokenizer pads on the right; make sure the collator masks padding in the loss.',
  'Stop sleeping so long: check the job every 10 minutes.',
  'Write the results table into results.md as you go.',
  'Use the cosine schedule from configs/cosine.yaml.',
  'Try gradient accumulation 4 instead of a bigger batch.',
  'Do not delete old checkpoints yet.',
  'Compare against the baseline numbers in README.md.',
  'Pin the random seed so the runs are comparable.',
  'The data loader is the bottleneck: raise num_workers to 8.',
  'Log the learning rate to the console too.',
  'Use the validation split from data/val.jsonl, not a random split.',
  'When the loss plateaus, try label smoothing 0.1.',
];

const THOUGHTS = [
  'The validation loss is still falling slowly; the run should continue. Next I check the GPU memory and the throughput, then decide whether to raise the batch size.',
  'Plan: (1) read train.py and the config, (2) run a short smoke test, (3) start the full run in the train session, (4) follow it with get_session_output and sleep in between, (5) evaluate the best checkpoint.',
  'The OOM happened at the first evaluation: the eval batch size is twice the train batch size. Halving it should fix it without changing the training.',
  'Throughput dropped after the checkpoint save; probably the disk. It recovered, so no action is needed.',
];

const FILES = ['train.py', 'eval.py', 'configs/base.yaml', 'configs/cosine.yaml', 'src/data.py', 'src/model.py', 'src/collator.py', 'README.md', 'results.md'];

function codeLine(rng: Rng, i: number): string {
  const lines = [
    `    loss = criterion(logits.view(-1, logits.size(-1)), labels.view(-1))`,
    `    if step % cfg.log_every == 0:`,
    `        logger.info("step=%d loss=%.4f lr=%.2e", step, loss.item(), sched.get_last_lr()[0])`,
    `def build_dataloader(path: str, tokenizer, batch_size: int, num_workers: int = 4):`,
    `    ds = load_jsonl(path)`,
    `    return DataLoader(ds, batch_size=batch_size, shuffle=True, collate_fn=Collator(tokenizer))`,
    `    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)`,
    `    scaler = torch.cuda.amp.GradScaler(enabled=cfg.fp16)`,
    `class Collator:`,
    `        input_ids = pad_sequence([x["input_ids"] for x in batch], batch_first=True, padding_value=self.pad_id)`,
    `        # mask the prompt tokens: only the response is trained`,
    `    for epoch in range(cfg.epochs):`,
    `        for step, batch in enumerate(tqdm(loader, desc=f"Epoch {epoch + 1}/{cfg.epochs}")):`,
    `            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)`,
    ``,
    `    save_checkpoint(model, optimizer, f"ckpt/step_{step}")`,
  ];
  return `${lines[(i + rng.int(0, 3)) % lines.length]}`;
}

type ShellKind = 'ls' | 'log' | 'grep' | 'nvidia' | 'eval' | 'pip' | 'pytest' | 'cat-log' | 'env' | 'curl';

/**
 * `weight` > 0: the command takes that share of the shell bytes still to write (installs,
 * test runs, log dumps: rare, and most of the bytes); otherwise `bytes` is its usual size.
 */
const SHELL: Record<ShellKind, { commands: string[]; weight: number; bytes?: [number, number]; line(rng: Rng, i: number): string }> = {
  ls: {
    commands: ['ls -la', 'ls -la ckpt/', 'du -sh ckpt/* | tail -n 20', 'df -h /work'], weight: 0, bytes: [300, 2500],
    line: (r, i) => `-rw-r--r-- 1 agent agent ${String(r.int(100, 9_999_999)).padStart(9)} Mar  3 ${String(8 + (i % 12)).padStart(2, '0')}:${String(r.int(0, 59)).padStart(2, '0')} step_${i * 1000}.pt`,
  },
  log: {
    commands: ['tail -n 40 logs/train.log', 'grep -n "val_loss" logs/train.log | tail -n 30', 'tail -n 100 logs/train.log'], weight: 0, bytes: [2000, 7000],
    line: (r, i) => `2025-03-03 ${String(8 + (i % 14)).padStart(2, '0')}:${String(r.int(0, 59)).padStart(2, '0')}:${String(r.int(0, 59)).padStart(2, '0')},${r.int(100, 999)} INFO trainer.py:212 step=${i * 50} loss=${(2.4 - i * 0.0004 + r.float() * 0.1).toFixed(4)} lr=2.0e-04 grad_norm=${(0.5 + r.float()).toFixed(2)} tokens/s=${r.int(40_000, 60_000)}`,
  },
  grep: {
    commands: ['grep -rn "lr" configs/ src/', 'grep -rn "pad_id" src/', 'git --no-pager log --oneline | head -n 50', 'git --no-pager diff'], weight: 0, bytes: [300, 5000],
    line: (r, i) => `src/${r.pick(['model', 'data', 'collator', 'train'])}.py:${i + r.int(1, 400)}:${codeLine(r, i)}`,
  },
  nvidia: {
    commands: ['nvidia-smi', 'nvidia-smi --query-gpu=memory.used,utilization.gpu --format=csv'], weight: 0, bytes: [1500, 2500],
    line: (r, i) => `|  ${i % 8}  NVIDIA A100-SXM4-80GB   On  | 00000000:${String(10 + i).padStart(2, '0')}:00.0 Off |  ${r.int(30_000, 79_000)}MiB / 81920MiB |   ${r.int(60, 100)}%  Default |`,
  },
  eval: {
    commands: ['python eval.py --ckpt ckpt/last --split val', 'python eval.py --ckpt ckpt/best --split test --batch-size 32'], weight: 0, bytes: [500, 3000],
    line: (r, i) => `eval batch ${i}: loss=${(1.1 + r.float() * 0.2).toFixed(4)} acc=${(0.6 + r.float() * 0.2).toFixed(4)} (${r.int(20, 40)} it/s)`,
  },
  pip: {
    commands: ['pip install -r requirements.txt', 'pip install -U flash-attn --no-build-isolation', 'pip install -e .'], weight: 6,
    line: (r, i) => i % 3 === 0
      ? `Collecting ${r.pick(['torch', 'transformers', 'datasets', 'accelerate', 'tokenizers', 'safetensors', 'numpy', 'tqdm'])}==${r.int(0, 4)}.${r.int(0, 40)}.${r.int(0, 9)}`
      : i % 3 === 1
        ? `  Downloading ${r.pick(['torch', 'nvidia_cudnn_cu12', 'transformers'])}-${r.int(1, 9)}.${r.int(0, 9)}.${r.int(0, 9)}-py3-none-any.whl (${(r.float() * 800).toFixed(1)} MB)`
        : `     \u2501\u2501\u2501\u2501\u2501\u2501\u2501\u2501\u2501\u2501\u2501\u2501\u2501\u2501\u2501\u2501\u2501\u2501\u2501\u2501 ${(r.float() * 800).toFixed(1)}/${(r.float() * 800).toFixed(1)} MB ${(r.float() * 90).toFixed(1)} MB/s eta 0:00:0${r.int(0, 9)}`,
  },
  pytest: {
    commands: ['python -m pytest -v tests/', 'python -m pytest -v tests/test_collator.py'], weight: 3,
    line: (r, i) => `tests/test_${r.pick(['data', 'collator', 'model', 'tokenize'])}.py::test_case[${i}] ${r.chance(0.97) ? 'PASSED' : 'FAILED'}${' '.repeat(r.int(4, 30))}[${String(i % 100).padStart(3)}%]`,
  },
  'cat-log': {
    commands: ['cat logs/train.log', 'cat logs/prepare_data.log'], weight: 8,
    line: (r, i) => `2025-03-03 ${String(8 + (i % 14)).padStart(2, '0')}:${String(r.int(0, 59)).padStart(2, '0')}:${String(r.int(0, 59)).padStart(2, '0')} INFO step=${i} loss=${(2.4 - i * 0.00001 + r.float() * 0.1).toFixed(4)} lr=2.0e-04 grad_norm=${(0.5 + r.float()).toFixed(2)}`,
  },
  env: {
    commands: ['env | sort'], weight: 0, bytes: [1500, 2500],
    line: (r, i) => `${r.pick(['CUDA_VISIBLE_DEVICES', 'PATH', 'HOME', 'PYTHONPATH', 'OMP_NUM_THREADS', 'HF_HOME', 'TORCH_HOME'])}_${i}=${r.pick(['/usr/local/bin', '0,1,2,3', '/work/.cache', '8'])}`,
  },
  curl: {
    commands: ['curl -sv http://gpu-box:8000/v1/models'], weight: 0, bytes: [600, 1200],
    line: (r, i) => `< ${r.pick(['content-type: application/json', 'server: uvicorn', 'date: Mon, 03 Mar 2025 10:00:00 GMT'])} ${i}`,
  },
};

const SHELL_KINDS = Object.keys(SHELL) as ShellKind[];
// Most commands are short; installs, test runs and log dumps are rare and carry most bytes.
const SHELL_FREQ: Record<ShellKind, number> = { ls: 14, log: 18, grep: 14, nvidia: 10, eval: 8, pip: 3, pytest: 4, 'cat-log': 3, env: 1, curl: 1 };

function pickShell(rng: Rng): ShellKind {
  const total = SHELL_KINDS.reduce((n, k) => n + SHELL_FREQ[k], 0);
  let x = rng.float() * total;
  for (const k of SHELL_KINDS) {
    x -= SHELL_FREQ[k];
    if (x < 0) return k;
  }
  return 'ls';
}

/** Weight a shell command carries on average (for the share of the bytes left). */
const MEAN_SHELL_WEIGHT = SHELL_KINDS.reduce((n, k) => n + SHELL_FREQ[k] * SHELL[k].weight, 0) / SHELL_KINDS.reduce((n, k) => n + SHELL_FREQ[k], 0);

/** Lines of `kind` until about `bytes` bytes. */
function shellText(rng: Rng, kind: ShellKind, bytes: number, secret: string | null): string {
  const parts: string[] = [];
  let n = 0;
  for (let i = 0; n < bytes; i++) {
    const l = SHELL[kind].line(rng, i);
    parts.push(l);
    n += l.length + 1;
  }
  if (secret) parts.splice(Math.min(parts.length, 3), 0, secret);
  return parts.join('\n');
}

// ---- tqdm -------------------------------------------------------------------------

const PARTIAL = [' ', '\u258f', '\u258e', '\u258d', '\u258c', '\u258b', '\u258a', '\u2589'];

function hms(sec: number): string {
  const s = Math.max(0, Math.floor(sec));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const x = s % 60;
  return h ? `${h}:${String(m).padStart(2, '0')}:${String(x).padStart(2, '0')}` : `${String(m).padStart(2, '0')}:${String(x).padStart(2, '0')}`;
}

function tqdmBar(frac: number): string {
  const cells = frac * 10;
  const full = Math.floor(cells);
  let s = '\u2588'.repeat(full);
  if (full < 10) s += PARTIAL[Math.floor((cells - full) * 8)] + ' '.repeat(9 - full);
  return s;
}

/** The training job: tqdm progress at a byte rate that lands on the claimed size at its planned end. */
class TrainingJob {
  private itPerSec = 6.2;
  private readonly perEpoch: number;
  private runStart = 0;
  private lastTs = 0;
  private epochStartIt = 0;
  private running = false;
  private crashed = false;
  private finished = false;
  private lossBase = 2.4;
  /** Recent output batches (for the observations that read it back), about the last 64 KB. */
  private recent: Array<{ ts: number; offset: number; text: string }> = [];
  private recentChars = 0;
  bytes = 0;
  batches = 0;

  constructor(
    private readonly rng: Rng,
    private readonly rec: TerminalRecording,
    private readonly targetBytes: number,
    private readonly plannedEnd: number,
    private readonly crashAt: number,
    epochHours: number,
  ) {
    this.perEpoch = Math.max(200, Math.round(epochHours * 3600 * this.itPerSec));
  }

  get isRunning(): boolean {
    return this.running;
  }
  get hasCrashed(): boolean {
    return this.crashed;
  }
  get isFinished(): boolean {
    return this.finished;
  }

  start(ts: number, relaunch: boolean): void {
    this.running = true;
    this.crashed = false;
    this.runStart = ts;
    this.lastTs = ts;
    this.epochStartIt = 0;
    if (relaunch) this.itPerSec = 5.1;
    this.write(ts, `${relaunch ? 'Resuming from ckpt/step_last\n' : ''}Loading checkpoint shards: 100%|${tqdmBar(1)}| 3/3 [00:04<00:00,  1.41s/it]\n`);
  }

  /** Output produced up to `until`. */
  async advance(until: number): Promise<void> {
    if (!this.running) return;
    const end = Math.min(until, this.plannedEnd);
    let sinceFlush = 0;
    while (this.lastTs < end) {
      const left = Math.max(1, this.targetBytes - this.bytes);
      // Bytes per ms that reach the target at the planned end, crash gap included.
      const rate = left / Math.max(1, this.plannedEnd - this.lastTs);
      const batchBytes = 520;
      const dt = Math.max(20, Math.round(batchBytes / Math.max(rate, 1e-9)));
      const ts = this.lastTs + dt;
      if (ts > end) break;
      if (!this.crashed && this.crashAt > 0 && ts >= this.crashAt && this.runStart < this.crashAt) {
        this.write(ts, `\nTraceback (most recent call last):\n  File "/work/project/train.py", line 212, in <module>\n    main()\n  File "/work/project/train.py", line 188, in train\n    loss.backward()\ntorch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.50 GiB. GPU 0 has a total capacity of 79.15 GiB of which 1.94 GiB is free.\n\x1b]133;D;1\x07\x1b]133;A\x07(venv) agent@gpu-box:/work/project$ \x1b]133;B\x07`);
        this.running = false;
        this.crashed = true;
        return;
      }
      this.lastTs = ts;
      let out = '';
      while (out.length < batchBytes / 1.2) {
        const sec = (ts - this.runStart) / 1000;
        const it = Math.floor(sec * this.itPerSec);
        const epoch = Math.floor(it / this.perEpoch);
        const inEpoch = it - epoch * this.perEpoch;
        if (epoch > this.epochStartIt) {
          this.epochStartIt = epoch;
          this.lossBase *= 0.93;
          out += `\nEpoch ${epoch}: val_loss=${(this.lossBase * 0.48).toFixed(4)} val_acc=${(0.55 + epoch * 0.01).toFixed(4)} saved ckpt/epoch_${epoch}\n`;
        }
        const frac = inEpoch / this.perEpoch;
        const loss = this.lossBase * (1 - 0.2 * frac) + this.rng.float() * 0.05;
        out += `\rEpoch ${epoch + 1}/20: ${String(Math.floor(frac * 100)).padStart(3)}%|${tqdmBar(frac)}| ${inEpoch}/${this.perEpoch} [${hms(inEpoch / this.itPerSec)}<${hms((this.perEpoch - inEpoch) / this.itPerSec)}, ${(this.itPerSec + this.rng.float() * 0.3).toFixed(2)}it/s, loss=${loss.toFixed(4)}, lr=2.0e-04]`;
      }
      this.write(ts, out);
      sinceFlush += out.length;
      if (sinceFlush > 8 << 20) {
        sinceFlush = 0;
        await this.rec.flush();
      }
    }
    if (until >= this.plannedEnd && this.running) {
      this.write(this.plannedEnd, `\nTraining complete. Best val_loss=${(this.lossBase * 0.46).toFixed(4)} at ckpt/best\n\x1b]133;D;0\x07\x1b]133;A\x07(venv) agent@gpu-box:/work/project$ \x1b]133;B\x07`);
      this.running = false;
      this.finished = true;
    }
  }

  private write(ts: number, text: string): void {
    const buf = Buffer.from(text, 'utf8');
    const { offset } = this.rec.append(buf, ts);
    this.bytes += buf.length;
    this.batches++;
    this.recent.push({ ts, offset, text });
    this.recentChars += text.length;
    if (this.recentChars > 128 * 1024) {
      // Drop the older half in one go: trimming per batch would be quadratic.
      let drop = 0;
      let chars = this.recentChars;
      while (chars > 64 * 1024) chars -= this.recent[drop++]!.text.length;
      this.recent = this.recent.slice(drop);
      this.recentChars = chars;
    }
  }

  /** What get_session_output would read back: the output since `since` (as far as kept), else the tail. */
  outputSince(since: number | null): string {
    const tail = this.recent.map((r) => r.text).join('');
    if (since === null) return tail.slice(-12_000);
    const first = this.recent.findIndex((r) => r.ts >= since);
    return first < 0 ? '' : this.recent.slice(first).map((r) => r.text).join('');
  }
}

// ---- the generator --------------------------------------------------------------------

type Kind = 'think' | 'shell' | 'start-train' | 'relaunch' | 'output-since' | 'output-lines' | 'idle' | 'sleep' | 'open' | 'edit' | 'create' | 'finish';

interface BranchCtx {
  branchId: string;
  rolloutId: string;
  leaf: string | null;
  depth: number;
  shell: string;
}

const START = Date.UTC(2025, 2, 3, 8, 0, 0);
/** Context size (characters) at which the rollout summarizes; smaller sessions summarize sooner so they have summaries at all. */
const SUMMARIZE_AT_CHARS = (steps: number): number => Math.min(360_000, Math.max(40_000, steps * 1_200));
const KEEP_RECENT = 8;
const PROMPT = '\x1b]133;A\x07(venv) agent@gpu-box:/work/project$ \x1b]133;B\x07';

function obs(o: Record<string, unknown>): string {
  return JSON.stringify(o);
}

export async function generateSession(o: GenerateOptions): Promise<GeneratedSession> {
  const steps = o.steps ?? FULL_SIZE.steps;
  const hours = o.hours ?? FULL_SIZE.hours;
  const terminalMb = o.terminalMb ?? FULL_SIZE.terminalMb;
  if (!Number.isInteger(steps) || steps < 20) throw new ApolloError('BAD_REQUEST', '--steps must be an integer of at least 20');
  if (!(hours > 0)) throw new ApolloError('BAD_REQUEST', '--hours must be positive');
  if (!(terminalMb > 0)) throw new ApolloError('BAD_REQUEST', '--terminal-mb must be positive');
  const rng = new Rng(o.seed ?? 20250303);
  const id = o.id ?? `bench-${steps}-steps-${hours}h`;
  const dir = join(o.home, 'sessions', id);
  if (await stat(dir).then(() => true, () => false)) throw new ApolloError('CONFLICT', `${dir} already exists`);
  await mkdirPrivate(join(dir, 'terminals'));
  const progress = o.onProgress ?? (() => {});

  const D = Math.round(hours * 3_600_000);
  const END = START + D;
  const terminalBytes = Math.round(terminalMb * 1e6);
  const trainTarget = Math.round(terminalBytes * 0.8);
  const shellTarget = terminalBytes - trainTarget;

  // Side branches: two branches and one rewind, ~1% of the steps each.
  const perBranch = Math.max(2, Math.round(steps * 0.01));
  const sideAt = [0.2, 0.5, 0.75];
  const mainSteps = steps - perBranch * sideAt.length;
  const guidanceTotal = Math.max(3, Math.round((40 * steps) / FULL_SIZE.steps));
  const mainGuidance = guidanceTotal - sideAt.length;
  // Model and tool times shrink when the steps would not fit in the hours asked for.
  const squeeze = Math.min(1, D / (steps * 40_000));

  const { log } = await EventLog.open(join(dir, 'events.jsonl'), { durable: false });
  const t: Trajectory = emptyTrajectory();
  let clock = START;
  const counts = { steps: 0, branches: 1, guidance: 0, labels: 0, comments: 0, summaries: 0, requests: 0, events: 0 };
  const emit = (b: SessionEventBody): SessionEvent => {
    const { event } = log.append(b, Math.round(clock));
    applyEvent(t, event);
    counts.events++;
    if (b.type === 'model.request') counts.requests++;
    return event;
  };
  const session = { id, dir, events: [], append: async (b: SessionEventBody) => emit(b) } as unknown as SessionLog;
  const recorder = new RequestRecorder(session, () => t);

  const recs = new Map<string, TerminalRecording>();
  const termStats: Record<string, { bytes: number; batches: number }> = {};
  /** Shell bytes (every terminal but the training job's) still to write. */
  const shellLeft = (): number => shellTarget - Object.entries(termStats).reduce((n, [tid, x]) => n + (tid === 'train' ? 0 : x.bytes), 0);
  const terminal = async (tid: string): Promise<TerminalRecording> => {
    let r = recs.get(tid);
    if (!r) {
      r = await TerminalRecording.open(join(dir, 'terminals'), tid, false);
      recs.set(tid, r);
      termStats[tid] = { bytes: 0, batches: 0 };
      emit({ type: 'terminal.started', terminalId: tid, command: '/bin/bash', args: ['--noprofile', '--norc'], cwd: '/work/project', cols: 160, rows: 40, pid: rng.int(2000, 60000), integrated: true, offset: 0 });
      writeTerm(tid, PROMPT, clock, clock);
    }
    return r;
  };
  /** `text` into terminal `tid` in PTY-sized batches spread over [t0, t1]. */
  const writeTerm = (tid: string, text: string, t0: number, t1: number, batch = 4096): [number, number] => {
    const r = recs.get(tid)!;
    const buf = Buffer.from(text, 'utf8');
    const start = r.size;
    const n = Math.max(1, Math.ceil(buf.length / batch));
    for (let i = 0; i < n; i++) {
      r.append(buf.subarray(i * batch, Math.min(buf.length, (i + 1) * batch)), Math.round(t0 + ((t1 - t0) * i) / n));
    }
    termStats[tid]!.bytes += buf.length;
    termStats[tid]!.batches += n;
    return [start, r.size];
  };

  emit({ type: 'session.created', name: `Fine-tuning run, ${steps.toLocaleString('en')} steps over ${hours} h (generated)`, cwd: '/work/project', appVersion: 'bench-generator' });
  const endpoint = { profile: 'vllm-gpu-box', baseUrl: 'http://gpu-box:8000/v1', model: 'Qwen3-32B', temperature: 0.6 };
  const buildOpts = (branchId: string): BuildOptions => ({ task: TASK, toolMode: 'tools', cwd: '/work/project', branchId });
  const wire = (messages: unknown[], toolChoice?: string): Record<string, unknown> => ({
    model: endpoint.model, messages, temperature: endpoint.temperature, tools: TOOL_SCHEMAS, ...(toolChoice ? { tool_choice: toolChoice } : {}),
    stream: true, stream_options: { include_usage: true },
  });

  const main: BranchCtx = { branchId: 'main', rolloutId: rng.uuid(), leaf: null, depth: 0, shell: 'main' };
  emit({ type: 'rollout.started', rolloutId: main.rolloutId, branchId: 'main', task: TASK, endpoint, policy: 'model', maxSteps: mainSteps + 50, parentStepId: null });
  await terminal('main');

  const trainRec = await terminal('train');
  // The job runs from ~2% to ~97% of the session; it crashes once at ~35%.
  const trainEnd = START + Math.round(D * 0.97);
  const job = new TrainingJob(rng, trainRec, trainTarget - termStats.train!.bytes, trainEnd, START + Math.round(D * 0.35), Math.max(0.05, hours / 22));
  const trainStartStep = Math.max(2, Math.round(mainSteps * 0.02));

  /** Guidance queued per branch, delivered at that branch's next step. */
  const pending = new Map<string, string[]>();
  let lastOutputCheck: number | null = null;
  let windowChars = 0;
  const stepChars: number[] = [];
  const mainStepIds: string[] = [];
  let nextSecretAt = Math.round(steps / 10);
  const secrets = [
    `HF_TOKEN=hf_${rng.alnum(34)}`,
    `WANDB_API_KEY=${rng.hex(40)}`,
    `> Authorization: Bearer sk-${rng.alnum(12)}${rng.int(0, 9)}${rng.alnum(24)}`,
  ];

  const queueGuidance = (text: string, author: string, branchId: string): void => {
    const guidanceId = rng.uuid();
    emit({ type: 'guidance.queued', guidanceId, text, author, branchId });
    pending.set(branchId, [...(pending.get(branchId) ?? []), guidanceId]);
    counts.guidance++;
  };

  /** Time left for the rest of the session, spread over the steps still to take. */
  const slack = (done: number): number => START + (D * done) / steps - clock;

  const runStep = async (b: BranchCtx, kind: Kind, ordinal: number): Promise<string> => {
    for (const gid of pending.get(b.branchId)?.splice(0) ?? []) emit({ type: 'guidance.delivered', guidanceId: gid, stepId: b.leaf });
    const stepId = rng.uuid();
    emit({ type: 'step.started', stepId, parentId: b.leaf, branchId: b.branchId, depth: b.depth + 1, rolloutId: b.rolloutId });
    counts.steps++;

    if (b.branchId === 'main' && windowChars > SUMMARIZE_AT_CHARS(steps)) await summarize(stepId);

    const built = buildOwnedMessages(t, stepId, buildOpts(b.branchId));
    const sent = await recorder.record(stepId, 'step', wire(built.messages), built.owners);
    const promptTokens = Math.round(built.messages.reduce((n, m) => n + (typeof m.content === 'string' ? m.content.length : 0) + 40, 0) / 3.6) + 2800;
    const modelMs = Math.round((4_000 + rng.float() * 26_000) * squeeze);
    clock += modelMs;

    const call = (name: string, args: Record<string, unknown>): ToolCall => ({ id: `call_${rng.alnum(24)}`, name, arguments: JSON.stringify(args) });
    let tc: ToolCall;
    let observation: string;
    const isError = false;
    let toolMs = 50;
    let terminalId: string | undefined;
    let range: [number, number] | undefined;
    let content = '';
    const reasoning = `${rng.pick(THOUGHTS)} ${'Considering the last observation in detail before acting. '.repeat(rng.int(2, 20))}`;

    const shellCommand = async (tid: string, command: string, text: string, ms: number, wait = true): Promise<void> => {
      await terminal(tid);
      const r = recs.get(tid)!;
      emit({ type: 'terminal.input', terminalId: tid, data: `${command}\r`, source: 'agent', offset: r.size });
      writeTerm(tid, `${command}\r\n`, clock, clock);
      emit({ type: 'terminal.command', terminalId: tid, phase: 'start', offset: r.size, command });
      const from = r.size;
      if (wait) {
        writeTerm(tid, `\x1b]133;C\x07${text.replace(/\n/g, '\r\n')}\r\n`, clock, clock + ms);
        clock += ms;
        emit({ type: 'terminal.command', terminalId: tid, phase: 'end', offset: r.size, exitCode: 0, cwd: '/work/project' });
        writeTerm(tid, `\x1b]133;D;0\x07${PROMPT}`, clock, clock);
      } else {
        clock += ms;
      }
      terminalId = tid;
      range = [from, r.size];
    };

    switch (kind) {
      case 'think': {
        const thought = rng.pick(THOUGHTS);
        tc = call('think', { thought });
        observation = obs({ success: true, message: 'OK, your thought has been logged. Go ahead. Do not think more until you generate tools and interact with the real environment', observation_type: 'base' });
        break;
      }
      case 'start-train':
      case 'relaunch': {
        const command = `python train.py --config configs/${kind === 'relaunch' ? 'cosine' : 'base'}.yaml --batch-size ${kind === 'relaunch' ? 16 : 32} 2>&1 | tee -a logs/train.log`;
        content = kind === 'relaunch' ? 'The run died with a CUDA OOM; relaunching with a smaller batch and resuming from the last checkpoint.' : 'Starting the full training run in its own session.';
        tc = call('run_command', { session_id: 'train', command, wait_for_completion: false });
        const created = !recs.has('train');
        await shellCommand('train', command, '', 300, false);
        job.start(clock, kind === 'relaunch');
        observation = obs({ success: true, message: `${created ? 'Session train was created. ' : ''}Command sent to session train`, observation_type: 'command_run', timestamp: new Date(clock).toISOString(), session_id: 'train', command, async_execution: true, execution_time: 0.3 });
        break;
      }
      case 'shell': {
        const k = pickShell(rng);
        const command = rng.pick(SHELL[k].commands);
        // This command's share of the shell bytes still to write.
        const expectedLeft = Math.max(1, (steps - ordinal) * 0.32 * MEAN_SHELL_WEIGHT);
        const spec = SHELL[k];
        const want = spec.bytes ? rng.int(spec.bytes[0], spec.bytes[1]) : Math.max(2000, Math.round((Math.max(0, shellLeft()) * spec.weight) / expectedLeft));
        // Never past the claimed size: the last commands get what is left.
        const bytes = Math.max(200, Math.min(want, shellLeft()));
        // A few secrets, spread over the session, in the output of ordinary commands.
        const secret = secrets.length && ordinal >= nextSecretAt ? secrets.shift()! : null;
        if (secret) nextSecretAt += Math.max(1, Math.round(steps / 4));
        const text = shellText(rng, k, bytes, secret);
        const ms = Math.round(Math.min(600_000, 800 + bytes / 40) * squeeze);
        tc = call('run_command', { session_id: b.shell, command, wait_for_completion: true });
        await shellCommand(b.shell, command, text, ms);
        observation = obs({
          success: true, message: `Command \`${command}\` executed in ${(ms / 1000).toFixed(2)} seconds. It is completed with exit code 0!`, observation_type: 'command_run',
          timestamp: new Date(clock).toISOString(), session_id: b.shell, command, async_execution: false, execution_time: ms / 1000, still_running: false, exit_code: 0,
          output: capText(text, 8_000),
        });
        toolMs = 0;
        break;
      }
      case 'output-since':
      case 'output-lines': {
        const since = kind === 'output-since' ? lastOutputCheck ?? clock - 600_000 : null;
        const args: Record<string, unknown> = { session_id: 'train', start_lines: 50 };
        if (since !== null) args.since_timestamp = new Date(since).toISOString();
        tc = call('get_session_output', args);
        await job.advance(clock);
        const text = job.outputSince(since);
        lastOutputCheck = clock;
        const end = trainRec.size;
        terminalId = 'train';
        // A read-back causes no output of its own: it is placed where the recording stood (tools.ts).
        range = [end, end];
        observation = obs({
          success: true, message: since !== null ? `Successfully retrieved the output since ${new Date(since).toISOString()}.` : 'Successfully retrieved 50 lines of output from line 50 (counting from the end) to the end.',
          observation_type: 'command_output_session', session_id: 'train', output: capText(text, 8_000), is_alive: true, is_idle: !job.isRunning, last_activity: clock / 1000,
        });
        toolMs = 200;
        break;
      }
      case 'idle': {
        tc = call('check_session_idle', { session_id: 'train' });
        const idle = !job.isRunning;
        observation = obs({
          success: true, observation_type: 'command_session_status', session_id: 'train', is_idle: idle,
          message: idle ? 'Session is idle, because no command is running (last output 3 s ago).' : 'Session is busy, because a command is still running (last output 0 s ago); the session has the following active child processes:\n- python train.py\n- tee -a logs/train.log',
        });
        terminalId = 'train';
        toolMs = 300;
        break;
      }
      case 'sleep': {
        const secs = Math.max(30, Math.min(3600, Math.round(slack(ordinal + 1) / 10_000) * 10));
        tc = call('sleep', { sleep_time: secs });
        toolMs = secs * 1000;
        observation = obs({ success: true, message: 'Sleep completed. Please check the situation of the environment first (e.g. Is the command still alive in the terminal?). Do not sleep again in the next action. But you can sleep in the future.', observation_type: 'base' });
        break;
      }
      case 'open': {
        const path = `/work/project/${rng.pick(FILES)}`;
        const first = rng.int(1, 300);
        const n = rng.chance(0.3) ? 100 : rng.int(20, 50);
        const lines = Array.from({ length: n }, (_, i) => `${String(first + i).padStart(6)}\t${codeLine(rng, first + i)}`);
        tc = call('open_file', { path, line_number: first + Math.floor(n / 2), context_lines: n });
        observation = obs({ success: true, message: `File ${path} opened successfully.`, observation_type: 'file_read', file_path: path, output: capText(`[File: ${path} (412 lines total)]\n(${first - 1} more lines above)\n${lines.join('\n')}`, 8_000, 'ask for fewer context_lines') });
        break;
      }
      case 'edit':
      case 'create': {
        const path = `/work/project/${rng.pick(FILES)}`;
        const start = rng.int(1, 300);
        const newLines = Array.from({ length: rng.int(2, 30) }, (_, i) => codeLine(rng, start + i));
        if (kind === 'edit') {
          tc = call('edit_file', { path, start, end: start + 2, content: newLines.join('\n') });
          observation = obs({
            success: true, message: `File ${path} edited successfully (lines ${start} to ${start + 2} replaced by ${newLines.length} line(s)). Line numbers below line ${start} may have changed: review the edit with open_file.`,
            observation_type: 'file_write', file_path: path, removed_context: [0, 1, 2].map((i) => `${String(start + i).padStart(6)}\t${codeLine(rng, i)}`).join('\n'),
            added_context: newLines.map((l, i) => `${String(start + i).padStart(6)}\t${l}`).join('\n'),
          });
        } else {
          const file = `/work/project/notes/run_${ordinal}.md`;
          const text = `# Run notes (step ${ordinal})\n\n| step | val_loss | acc |\n|---|---|---|\n${Array.from({ length: 12 }, (_, i) => `| ${i * 1000} | ${(1.4 - i * 0.02).toFixed(3)} | ${(0.6 + i * 0.01).toFixed(3)} |`).join('\n')}\n`;
          tc = call('create_file', { filename: file, content: text });
          observation = obs({ success: true, message: `File ${file} created successfully`, observation_type: 'file_write', file_path: file, removed_context: '', added_context: text.split('\n').map((l, i) => `${String(i + 1).padStart(6)}\t${l}`).join('\n') });
        }
        break;
      }
      case 'finish': {
        content = 'Training finished; evaluating and reporting.';
        tc = call('finish', { message: 'Best checkpoint ckpt/best: val_loss 1.07, eval accuracy 0.712 on the held-out split. Results in results.md.' });
        observation = obs({ success: true, message: 'Task finished.', observation_type: 'finish' });
        break;
      }
    }
    clock += Math.round(toolMs * (kind === 'sleep' ? 1 : squeeze));
    emit({
      type: 'model.response', stepId, content, reasoning, toolCalls: [tc], usage: { promptTokens, completionTokens: 120 + rng.int(0, 900), totalTokens: promptTokens + 500 },
      finishReason: 'tool_calls', durationMs: modelMs, requestId: sent.requestId, toolMode: 'tools', origin: 'model',
    });
    emit({ type: 'action.result', stepId, toolCallId: tc.id, name: tc.name, observation, isError, durationMs: toolMs, ...(terminalId ? { terminalId } : {}), ...(range ? { range } : {}) });
    emit({ type: 'step.finished', stepId, promptTokens, pausedMs: 0, modelMs });
    emit({ type: 'checkpoint.taken', stepId, commit: rng.hex(40), cwd: '/work/project', shellCwd: '/work/project' });
    if (b.branchId === 'main') {
      const added = observation.length + tc.arguments.length + content.length + 200;
      windowChars += added;
      stepChars.push(added);
      mainStepIds.push(stepId);
    }
    b.leaf = stepId;
    b.depth++;
    await job.advance(clock);
    return stepId;
  };

  /** The engine's summary (maybeSummarize): everything but the last KEEP_RECENT verbatim steps is replaced. */
  const summarize = async (stepId: string): Promise<void> => {
    const path = pathTo(t, stepId);
    const earlier = path.slice(0, -1);
    const sum = latestSummary(path);
    const verbatim = earlier.filter((s) => !sum?.covered.has(s.id));
    const cut = verbatim.length - KEEP_RECENT;
    if (cut <= 0) return;
    const lastCovered = verbatim[cut - 1]!;
    const older = ownedMessagesForPath(t, pathTo(t, lastCovered.id), { ...buildOpts('main'), includeLast: true });
    const sent = await recorder.record(stepId, 'summary', wire([...older.messages, { role: 'user', content: SUMMARY_PROMPT }], 'none'), [...older.owners, null], lastCovered.requestId ? [lastCovered.requestId] : []);
    clock += Math.round((20_000 + rng.float() * 40_000) * squeeze);
    const text = `<state_snapshot>\n<overall_goal>Fine-tune the 1.3B model to val_loss < 1.10.</overall_goal>\n<key_knowledge>\n${Array.from({ length: rng.int(12, 30) }, (_, i) => `- fact ${i}: step ${i * 1000} val_loss ${(1.5 - i * 0.01).toFixed(3)}; checkpoint ckpt/step_${i * 1000}; the train session runs python train.py.`).join('\n')}\n</key_knowledge>\n<recent_actions>followed the run, evaluated checkpoints</recent_actions>\n</state_snapshot>`;
    const covered = [...(sum ? sum.step.summary!.coveredStepIds : []), ...verbatim.slice(0, cut).map((s) => s.id)];
    emit({ type: 'summary.created', stepId, summary: text, coveredStepIds: covered, requestId: sent.requestId });
    counts.summaries++;
    windowChars = stepChars.slice(-KEEP_RECENT).reduce((a, x) => a + x, 0) + text.length;
  };

  const chooseKind = (ordinal: number, i: number): Kind => {
    if (i === 0) return 'think';
    if (i === mainSteps - 1) return 'finish';
    if (i === trainStartStep) return 'start-train';
    if (job.hasCrashed && !job.isRunning && rng.chance(0.6)) return 'relaunch';
    const s = slack(ordinal + 1);
    if (job.isRunning && s > 120_000 && rng.chance(Math.min(0.6, 0.08 + s / 3_600_000))) return 'sleep';
    const x = rng.float();
    if (!job.isRunning && !job.hasCrashed && i > trainStartStep) return x < 0.5 ? 'shell' : x < 0.7 ? 'open' : x < 0.85 ? 'edit' : x < 0.9 ? 'create' : 'think';
    if (i < trainStartStep) return x < 0.55 ? 'shell' : x < 0.85 ? 'open' : 'think';
    return x < 0.34 ? 'shell' : x < 0.5 ? 'output-since' : x < 0.58 ? 'output-lines' : x < 0.66 ? 'idle' : x < 0.8 ? 'open' : x < 0.9 ? 'edit' : x < 0.93 ? 'create' : 'think';
  };

  const annotators = ['alice', 'bob'];
  const review = (ids: string[]): void => {
    // An annotator reviews a batch: most steps labelled, a few masked with a reason, some commented.
    clock += 1_000;
    const author = rng.pick(annotators);
    for (const sid of ids) {
      if (!rng.chance(0.7)) continue;
      const mask = rng.chance(0.15);
      emit({ type: 'label.set', stepId: sid, label: mask ? 'mask' : 'keep', tags: mask ? [rng.pick(['error', 'redundant', 'off-track'] as const)] : [], note: mask ? 'Repeats the previous check without a reason.' : '', source: 'annotator', author });
      counts.labels++;
      if (rng.chance(0.06)) {
        const commentId = rng.uuid();
        emit({ type: 'comment.added', commentId, stepId: sid, text: rng.pick(['Good catch on the OOM.', 'This sleep is too long; the job died 20 minutes in.', 'Why not check the GPU first?', 'This is the step where the loss starts to plateau.']), author });
        counts.comments++;
        if (rng.chance(0.15)) emit({ type: 'comment.edited', commentId, text: 'This is the step where the loss plateaus (edited: see step notes).', author });
      }
    }
  };

  let ordinal = 0;
  const guidanceAt = new Set(Array.from({ length: mainGuidance }, (_, k) => Math.round(((k + 0.5) * mainSteps) / mainGuidance)));
  let branchNo = 0;
  let lastReport = Date.now();
  for (let i = 0; i < mainSteps; i++) {
    await runStep(main, chooseKind(ordinal, i), ordinal);
    ordinal++;
    if (guidanceAt.has(i)) {
      clock += 2_000;
      queueGuidance(GUIDANCE[counts.guidance % GUIDANCE.length]!, rng.pick(annotators), 'main');
    }
    if (mainStepIds.length % 50 === 0) review(mainStepIds.slice(-50));
    if (branchNo < sideAt.length && i === Math.round(mainSteps * sideAt[branchNo]!)) {
      // An annotator branches off here while the main rollout goes on afterwards.
      const from = mainStepIds[mainStepIds.length - 1 - rng.int(3, 10)] ?? main.leaf!;
      const rewind = branchNo === 1;
      const branchId = `${rewind ? 'rewind' : 'branch'}-${branchNo + 1}`;
      const author = rng.pick(annotators);
      clock += 30_000;
      emit({ type: 'branch.created', branchId, fromStepId: from, name: rewind ? `Rewind to before the OOM` : `Try ${branchNo ? 'label smoothing' : 'the cosine schedule'}`, author, reason: rewind ? 'rewind' : 'branch' });
      counts.branches++;
      queueGuidance(rewind ? 'Go back to batch size 16 from here and keep bf16.' : 'Try this variant for a few steps and compare the loss.', author, branchId);
      const b: BranchCtx = { branchId, rolloutId: rng.uuid(), leaf: from, depth: t.steps.get(from)!.depth, shell: rewind ? 'main-r1' : 'main' };
      emit({ type: 'rollout.started', rolloutId: b.rolloutId, branchId, task: TASK, endpoint, policy: 'model', maxSteps: perBranch, parentStepId: from });
      const ids: string[] = [];
      for (let k = 0; k < perBranch; k++) {
        const x = rng.float();
        ids.push(await runStep(b, x < 0.5 ? 'shell' : x < 0.7 ? 'open' : x < 0.9 ? 'edit' : 'think', ordinal));
        ordinal++;
      }
      emit({ type: 'rollout.state', rolloutId: b.rolloutId, state: 'stopped', reason: `max steps reached (${perBranch})` });
      review(ids);
      branchNo++;
    }
    if (Date.now() - lastReport > 2000) {
      lastReport = Date.now();
      progress(`  ${ordinal.toLocaleString('en')} / ${steps.toLocaleString('en')} steps, ${((termStats.main!.bytes + job.bytes) / 1e6).toFixed(0)} MB of terminal output`);
      await Promise.all([log.flush(), ...[...recs.values()].map((r) => r.flush())]);
    }
  }
  emit({ type: 'rollout.state', rolloutId: main.rolloutId, state: 'finished', reason: 'the agent called finish' });
  // A judge and the rules label part of the main branch after the run.
  for (const sid of mainStepIds) {
    if (rng.chance(0.2)) {
      const keep = rng.chance(0.85);
      emit({ type: 'label.set', stepId: sid, label: keep ? 'keep' : 'mask', tags: keep ? [] : ['redundant'], note: '', source: 'judge', author: 'judge:Qwen3-32B (alice)', rationale: keep ? 'The action follows from the observation and moves the task forward.' : 'Repeats the previous check without new information.' });
      counts.labels++;
    } else if (rng.chance(0.03)) {
      emit({ type: 'label.set', stepId: sid, label: 'mask', tags: ['redundant'], note: '', source: 'rule', author: 'rules', rule: 'repeated-action' });
      counts.labels++;
    }
  }
  if (clock > END) throw new ApolloError('INTERNAL', `the generated steps took ${((clock - START) / 3.6e6).toFixed(1)} h, more than the ${hours} h asked for`);
  // The training output after the last step, then the end of the session.
  await job.advance(END);
  clock = END;
  // Shell output the commands did not use up (rounding) is the session's last output.
  const rest = shellLeft();
  if (rest > 0) writeTerm('main', shellText(rng, 'cat-log', rest, null).slice(0, rest), END - 1000, END);
  for (const tid of recs.keys()) emit({ type: 'terminal.exited', terminalId: tid, exitCode: 0, signal: null, offset: recs.get(tid)!.size });
  for (const r of recs.values()) await r.close();
  termStats.train!.bytes += job.bytes;
  termStats.train!.batches += job.batches;
  await log.close();
  const eventBytes = (await stat(join(dir, 'events.jsonl'))).size;
  return { id, dir, claims: { steps, hours, terminalBytes }, startTs: START, endTs: END, counts, eventBytes, terminals: termStats, trainTerminal: 'train' };
}

export interface VerifiedSession {
  steps: number;
  hours: number;
  eventBytes: number;
  terminalBytes: number;
  /** Per terminal: recording bytes and timing index bytes (the JSONL the recorder writes). */
  terminals: Record<string, { bytes: number; timingBytes: number }>;
  branches: number;
  guidance: number;
}

/**
 * Measure a generated session from its files, independently of the generator's own
 * counts, and throw when it is not what it claims: a benchmark on a smaller session
 * than it says would report numbers that mean nothing.
 */
export async function verifyGenerated(dir: string, claims: GenerateClaims): Promise<VerifiedSession> {
  const parsed = await readEventLog(join(dir, 'events.jsonl'));
  const problems: string[] = [];
  if (parsed.report.tornTail || parsed.report.corruptLines.length) problems.push(`its event log has ${parsed.report.corruptLines.length} corrupt line(s)${parsed.report.tornTail ? ' and a torn tail' : ''}`);
  const t = foldTrajectory(parsed.events);
  if (t.steps.size !== claims.steps) problems.push(`${t.steps.size} steps fold, not ${claims.steps}`);
  let unrecorded = 0;
  for (const s of t.steps.values()) if (!s.requestId || !requestMessages(t, s.requestId)) unrecorded++;
  if (unrecorded) problems.push(`${unrecorded} step(s) have no request record that rebuilds`);
  const first = parsed.events[0]?.ts ?? 0;
  // Opening it in the app may append notes of what it built (keyframes) at today's time: not part of the run.
  let last = 0;
  for (const e of parsed.events) if (e.type !== 'warning') last = e.ts;
  const hours = (last - first) / 3_600_000;
  if (Math.abs(hours - claims.hours) > claims.hours * 0.01) problems.push(`it spans ${hours.toFixed(2)} h, not ${claims.hours} h`);
  const terminals: VerifiedSession['terminals'] = {};
  let terminalBytes = 0;
  for (const f of await readdir(join(dir, 'terminals'))) {
    if (!f.endsWith('.out')) continue;
    const tid = f.slice(0, -4);
    const bytes = (await stat(join(dir, 'terminals', f))).size;
    const timingBytes = await stat(join(dir, 'terminals', `${tid}.timing.jsonl`)).then((s) => s.size, () => 0);
    terminals[tid] = { bytes, timingBytes };
    terminalBytes += bytes;
  }
  if (Math.abs(terminalBytes - claims.terminalBytes) > claims.terminalBytes * 0.01) problems.push(`its terminals hold ${(terminalBytes / 1e6).toFixed(1)} MB, not ${(claims.terminalBytes / 1e6).toFixed(1)} MB`);
  const guidance = [...t.guidance.values()].filter((g) => g.delivered).length;
  if (t.branches.size < 4) problems.push(`it has ${t.branches.size} branch(es), not 4`);
  if (problems.length) throw new Error(`The generated session ${dir} is not the size it claims: ${problems.join('; ')}.`);
  const eventBytes = (await stat(join(dir, 'events.jsonl'))).size;
  return { steps: t.steps.size, hours, eventBytes, terminalBytes, terminals, branches: t.branches.size, guidance };
}
