// Is an environment usable? Connect, run a command there, and say what was found (for
// `apollo env test`, `apollo rollout --env` before it creates anything, and Settings).
import { randomUUID } from 'node:crypto';
import { describeEnvTarget, type EnvSpec } from '../../../shared/environments';
import { createEnvironment } from './registry';
import type { EnvDescription } from './types';

/**
 * Connect, run a command, and say what was found; `error` when it is not usable. The
 * working folder, when the profile names one, must exist there.
 */
export async function testEnvironment(spec: EnvSpec, workdir = spec.workdir): Promise<{ lines: string[]; error?: string; description?: EnvDescription; workdir?: string }> {
  const env = createEnvironment(spec, { sessionId: `env-test-${randomUUID().slice(0, 8)}` });
  const lines: string[] = [`environment ${spec.name}: ${describeEnvTarget(spec)}`];
  try {
    const d = await env.describe();
    lines.push(`  reached in ${d.latencyMs ?? '?'} ms: ${d.system ?? 'unknown system'}, home ${d.home ?? '?'}, shell ${d.shell ?? '?'}`);
    lines.push(d.git ? `  ${d.git}: checkpoints and rewind work there` : '  no git there: sessions there run without checkpoints (no rewind)');
    if (spec.kind !== 'local') {
      lines.push(d.tmux ? '  tmux: shells run in tmux there, so a job outlives a dropped connection' : `  ${spec.tmux === false ? 'tmux off for this profile' : 'no tmux 3.0+ there'}: a dropped connection ends the job of a terminal`);
    }
    let dir: string | undefined;
    if (workdir) {
      dir = await env.resolvePath(d.home ?? '/', workdir);
      const st = await env.stat(dir);
      if (st?.kind !== 'dir') return { lines, error: `the working folder ${dir} does not exist in ${spec.name}`, description: d };
      lines.push(`  working folder ${dir}`);
      const off = await env.checkpointsOff(dir);
      if (off && d.git) lines.push(`  ${off}`);
    }
    return { lines, description: d, workdir: dir };
  } catch (e) {
    return { lines, error: (e as Error).message };
  } finally {
    await env.dispose();
  }
}
