// asciicast v2 and v3 recordings (asciinema): a session with one recorded terminal,
// replayable like a terminal recorded here (raw output bytes plus the timing index),
// streamed line by line so a 1 GB cast imports with bounded memory.
//
//   header   v2 {version: 2, width, height, timestamp?, command?, title?, env?}
//            v3 {version: 3, term: {cols, rows}, timestamp?, command?, title?, env?}
//   events   [time, code, data]: v2 times are seconds since the start, v3 times are
//            intervals since the previous event; v3 lines starting with # are comments.
//            o output → recording; i input → terminal.input; r "COLSxROWS" →
//            terminal.resized; x exit status (v3) → terminal.exited; m marker → a step.
//
// Markers name what follows them (chapters of the recording), so each marker is a
// step whose observation is the terminal's output from it to the next marker; output
// before the first marker is a step of its own. A recording without markers has no
// steps. Events of codes this importer does not know are kept verbatim and counted.
//
// No model took part in a recording, so no step has a reply: each is an empty one
// (no text, no call), which an export never trains, and a marker's label is kept as
// a comment of the recording on its step. Writing the label (or a placeholder) as the
// reply would export it as a model's assistant turn under a prompt the recording never had.
import { z } from 'zod';
import { terminalText, terminalTextAtWidths, type WidthChange } from '../../pty/strip-ansi';
import { stableId } from '../emit';
import { check, parseJson, readLines, toMs } from '../source';
import type { StagedRecording, StagedSession } from '../staging';
import { ImportError, type ImportAdapter, type ImportContext, type ImportInput } from '../types';

const header = z.looseObject({
  version: z.union([z.literal(2), z.literal(3)]),
  width: z.number().int().positive().optional(),
  height: z.number().int().positive().optional(),
  term: z.looseObject({ cols: z.number().int().positive(), rows: z.number().int().positive(), type: z.string().optional() }).optional(),
  timestamp: z.number().optional(),
  command: z.string().optional(),
  title: z.string().optional(),
  env: z.record(z.string(), z.string().nullable()).optional(),
});
const event = z.tuple([z.number().nonnegative(), z.string(), z.string()]).rest(z.unknown());

/** Keep at most this much of a segment's text as its step's observation (the full output is in the recording). */
const OBSERVATION_CHARS = 64 * 1024;
const TERMINAL = 'main';

export const asciicastAdapter: ImportAdapter = {
  format: 'asciicast',
  description: 'asciicast v2 / v3 terminal recordings (.cast)',
  detect(input) {
    if (input.isDir) return 0;
    const first = input.head.toString('utf8').split('\n')[0] ?? '';
    try {
      const h = JSON.parse(first) as { version?: unknown; width?: unknown; term?: unknown };
      if ((h.version === 2 && typeof h.width === 'number') || (h.version === 3 && typeof h.term === 'object')) return 0.99;
    } catch {
      // not a one-line JSON header
    }
    return /\.cast$/i.test(input.name) && /"version"\s*:\s*[23]/.test(first) ? 0.6 : 0;
  },
  read: (input, ctx) => readCast(input, ctx),
};

interface Segment {
  /** The marker's label ('' when it has none); null: the output before the first marker. */
  label: string | null;
  start: number;
  at: number;
  text: string;
  truncated: boolean;
  /** The terminal's width as the part began, and where in `text` it changed. */
  cols: number;
  widths: WidthChange[];
}

class Steps {
  private rollout: string | null = null;
  private last: string | null = null;
  private n = 0;
  private markers = 0;
  count = 0;

  constructor(
    private readonly s: StagedSession,
    private readonly id: (...p: string[]) => string,
    private readonly task: string,
  ) {}

  async close(seg: Segment, end: number, at: number): Promise<void> {
    if (!this.rollout) {
      this.rollout = this.id('rollout');
      await this.s.append({ type: 'rollout.started', rolloutId: this.rollout, branchId: 'main', task: this.task, endpoint: null, policy: 'human', maxSteps: 1, parentStepId: null }, seg.at);
    }
    const n = this.n++;
    const stepId = this.id('marker', String(n));
    await this.s.append({ type: 'step.started', stepId, parentId: this.last, branchId: 'main', depth: this.n, rolloutId: this.rollout }, seg.at);
    await this.s.append({
      type: 'model.response', stepId, content: '', reasoning: '', toolCalls: [], usage: null, finishReason: null, durationMs: 0,
      humanAuthored: true, author: 'recording', origin: 'terminal',
    }, seg.at);
    // A part whose text starts inside a line cannot count its rows.
    const text = seg.truncated ? terminalText(seg.text) : terminalTextAtWidths(seg.text, seg.cols, seg.widths);
    await this.s.append({
      type: 'action.result', stepId, toolCallId: '', name: 'terminal', isError: false, durationMs: Math.max(0, at - seg.at), terminalId: TERMINAL, range: [seg.start, end],
      observation: seg.truncated ? `[…the start of this part is left out here; it is in the recording]\n${text}` : text,
    }, at);
    await this.s.append({ type: 'checkpoint.failed', stepId, error: 'Imported terminal recording: the environment it was made in was not recorded, so there is no checkpoint to restore.' }, at);
    await this.s.append({ type: 'step.finished', stepId, promptTokens: 0 }, at);
    if (seg.label !== null) {
      // Markers are counted from 1 among the markers (the part before the first is none).
      const comment = seg.label ? `asciicast marker: ${seg.label}` : `asciicast marker ${this.markers + 1} (no label)`;
      await this.s.append({ type: 'comment.added', commentId: this.id('marker-comment', String(n)), stepId, text: comment, author: 'recording' }, at);
      this.markers++;
    }
    this.last = stepId;
    this.count++;
  }

  async end(at: number): Promise<void> {
    if (!this.rollout) return;
    await this.s.append({ type: 'rollout.state', rolloutId: this.rollout, state: 'finished', reason: 'end of the recording' }, at);
    await this.s.append({
      type: 'warning',
      message: 'A terminal recording has no model: its steps are the parts of the recording between markers, each with an empty reply (never trained), and each marker\'s label is a comment on its step.',
    }, at);
  }
}

async function readCast(input: ImportInput, ctx: ImportContext): Promise<void> {
  const lines = readLines(input.path, input.name);
  const first = await lines.next();
  if (first.done) throw new ImportError(input.name, null, 'is empty');
  const raw = parseJson(first.value.text, input.name, first.value.n);
  if (raw && typeof raw === 'object' && (raw as { version?: unknown }).version === 1) throw new ImportError(input.name, 'line 1', 'asciicast v1 is not supported (convert it with `asciinema convert`)');
  const h = check(header, raw, input.name, 'line 1', 'an asciicast v2/v3 header');
  const cols = h.term?.cols ?? h.width;
  const rows = h.term?.rows ?? h.height;
  if (!cols || !rows) throw new ImportError(input.name, 'line 1', `the header has no terminal size (${h.version === 3 ? 'term.cols/rows' : 'width/height'})`);
  const base = toMs(h.timestamp) ?? Date.now();
  const name = h.title || h.command || input.name.replace(/\.cast$/i, '');
  const s = await ctx.session({ name, context: 'none', toolVersion: `asciicast v${h.version}`, startTs: base });
  const id = (...p: string[]) => stableId(ctx.sha256, ...p);
  const command = h.command ?? h.env?.SHELL ?? 'recording';
  await s.append({ type: 'terminal.started', terminalId: TERMINAL, command, args: [], cwd: '', cols, rows, pid: 0, integrated: false, offset: 0 }, base);
  const rec: StagedRecording = await s.recording(TERMINAL);
  const steps = new Steps(s, id, h.title ?? `Terminal recording ${input.name}`);
  const unknown = new Map<string, number>();
  let clock = 0; // seconds since the start
  let exitCode: number | null = null;
  let width = cols;
  let seg: Segment | null = null;
  const at = () => base + clock * 1000;
  const addText = (text: string) => {
    if (!seg) return;
    seg.text += text;
    if (seg.text.length > 2 * OBSERVATION_CHARS) {
      seg.text = seg.text.slice(-OBSERVATION_CHARS);
      seg.truncated = true;
      seg.widths = []; // read without a width now (it starts inside a line)
    }
  };

  for await (const line of lines) {
    ctx.progress(line.bytes);
    if (h.version === 3 && line.text.startsWith('#')) continue;
    const where = `line ${line.n}`;
    const ev = check(event, parseJson(line.text, input.name, line.n), input.name, where, 'an asciicast event [time, code, data]');
    const [t, code, data] = ev;
    clock = h.version === 3 ? clock + t : t;
    switch (code) {
      case 'o': {
        const buf = Buffer.from(data, 'utf8');
        // Output before the first marker is a part of its own, once there are markers.
        if (!seg && rec.size === 0) seg = { label: null, start: 0, at: at(), text: '', truncated: false, cols: width, widths: [] };
        await rec.append(buf, at());
        addText(data);
        break;
      }
      case 'i':
        await s.append({ type: 'terminal.input', terminalId: TERMINAL, data, source: 'human', offset: rec.size }, at(), { where });
        break;
      case 'r': {
        const m = /^(\d+)x(\d+)$/.exec(data.trim());
        if (!m) throw new ImportError(input.name, where, `a resize event needs "COLSxROWS", not ${JSON.stringify(data)}`);
        width = Number(m[1]);
        seg?.widths.push({ at: seg.text.length, cols: width });
        await s.append({ type: 'terminal.resized', terminalId: TERMINAL, cols: width, rows: Number(m[2]), offset: rec.size }, at(), { where });
        break;
      }
      case 'm': {
        if (seg && (seg.label !== null || rec.size > seg.start)) await steps.close(seg, rec.size, at());
        seg = { label: data, start: rec.size, at: at(), text: '', truncated: false, cols: width, widths: [] };
        break;
      }
      case 'x': {
        const n = Number(data);
        exitCode = Number.isFinite(n) ? n : null;
        break;
      }
      default:
        unknown.set(code, (unknown.get(code) ?? 0) + 1);
        await s.side('import/unknown.jsonl', JSON.stringify({ type: `event ${code}`, record: ev, where }));
    }
  }
  // The part after the last marker; a recording with no marker at all has no steps.
  if (seg && steps.count + (seg.label === null ? 0 : 1) > 0) await steps.close(seg, rec.size, at());
  await s.append({ type: 'terminal.exited', terminalId: TERMINAL, exitCode, signal: null, offset: rec.size }, at());
  await steps.end(at());
  if (unknown.size) {
    const list = [...unknown].map(([k, n]) => `"${k}" ×${n}`).join(', ');
    await s.append({ type: 'warning', message: `Events of codes this importer does not map were kept verbatim in import/unknown.jsonl: ${list}.` }, at());
  }
}
