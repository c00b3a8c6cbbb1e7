import type { CliCommand } from './index';
import { FULL_SIZE, generateSession, verifyGenerated } from '../bench/generate';
import { openCore } from './branch';
import { UsageError } from './usage';

const USAGE = 'apollo bench --generate DIR [--steps N] [--hours H] [--terminal-mb MB] [--seed N] [--id ID]';

function num(v: unknown, name: string, fallback: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--${name} must be a positive number (got "${String(v)}")`);
  return n;
}

export const benchCommand: CliCommand = {
  usage: USAGE,
  options: {
    generate: { type: 'string' },
    steps: { type: 'string' },
    hours: { type: 'string' },
    'terminal-mb': { type: 'string' },
    seed: { type: 'string' },
    id: { type: 'string' },
  },
  async run(values, positionals) {
    const home = values.generate as string | undefined;
    if (!home || positionals.length) {
      console.error(`apollo bench: ${positionals.length ? `unexpected argument "${positionals[0]}"` : '--generate DIR is required'}\n\nUsage: ${USAGE}`);
      return 2;
    }
    const steps = num(values.steps, 'steps', FULL_SIZE.steps);
    const hours = num(values.hours, 'hours', FULL_SIZE.hours);
    const terminalMb = num(values['terminal-mb'], 'terminal-mb', FULL_SIZE.terminalMb);
    const seed = values.seed === undefined ? undefined : num(values.seed, 'seed', 1);
    const t0 = performance.now();
    // A session written into a workspace: with its lock held (never beside the app or a
    // server writing it), and indexed through the core when complete.
    const core = await openCore({ home }, undefined, { create: true });
    let g: Awaited<ReturnType<typeof generateSession>>;
    try {
      console.log(`Generating ${steps.toLocaleString('en')} steps over ${hours} h with ${terminalMb} MB of terminal output into ${home}`);
      g = await generateSession({ home: core.ws.home, steps, hours, terminalMb, seed, id: values.id as string | undefined, onProgress: (m) => console.log(m) });
      await core.ws.adopt([g.id]);
    } finally {
      await core.close();
    }
    const v = await verifyGenerated(g.dir, g.claims);
    console.log(`Session ${g.id} (${((performance.now() - t0) / 1000).toFixed(1)} s): ${v.steps.toLocaleString('en')} steps over ${v.hours.toFixed(1)} h, `
      + `${v.branches} branches, ${v.guidance} guidance messages, ${g.counts.labels} labels, ${g.counts.comments} comments, ${g.counts.summaries} summaries`);
    console.log(`  events.jsonl ${(v.eventBytes / 1e6).toFixed(1)} MB; terminals ${Object.entries(v.terminals).map(([t, x]) => `${t} ${(x.bytes / 1e6).toFixed(1)} MB (timing ${(x.timingBytes / 1e6).toFixed(1)} MB)`).join(', ')}`);
    console.log(`  open it with: apollo serve --home ${home}`);
    return 0;
  },
};
