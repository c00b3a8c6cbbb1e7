// Merge jobs for the Merge view: a dry run (merge.plan) and merges written in the
// background (merge.start), as `apollo merge` does them (the same mergeBundles). A job
// reports progress through a sink (throttled) and can be cancelled; a cancelled or
// failed merge leaves nothing (mergeBundles writes into a temporary folder and renames
// it into place only when complete). The merged bundle is signed with the lead's key,
// as every export of the app is, and redacted with the lead's configured secrets, as
// every export is with them (a dry run's report too).
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import type { MergePlanResult, MergePushEvents } from '../../shared/contract/merge';
import type { ParsedArgsOf } from '../../shared/contract/index';
import { ApolloError } from '../../shared/errors';
import { mergeBundles, parseMergePolicy, type MergeBundlesOptions } from './dataset/merge';
import { parseTrustedKeys, type SigningKey, type TrustedKey } from './dataset/signing';
import type { SecretSpec } from './dataset/key-fingerprint';

export type MergeProgress = MergePushEvents['merge.progress'];
export type MergeRequest = ParsedArgsOf<'merge.start'>;
export type MergePlanRequest = ParsedArgsOf<'merge.plan'>;

export interface MergeManagerOptions {
  sink(p: MergeProgress): void;
  /** The key that signs merged bundles (absent: unsigned, as in tests). */
  signingKey?(): Promise<SigningKey>;
  /** The lead's configured secrets (profiles.ts secrets()), redacted from what a merge writes; absent: the patterns only. */
  secrets?(): Promise<SecretSpec[]>;
  /** Minimum time between two 'running' reports (default 100 ms); the first and the final one always go. */
  throttleMs?: number;
}

interface Job {
  id: string;
  controller: AbortController;
  state: MergeProgress['state'];
  finished: Promise<MergeProgress>;
}

function absolute(p: string, what: string): string {
  if (!isAbsolute(p)) throw new ApolloError('BAD_REQUEST', `${what} must be a full path (such as /home/me/bundles/alice), not ${JSON.stringify(p)}`);
  return p;
}

/** The keys of trust files (lines of `apollo keys export-public`), as `apollo merge --trust` reads them. */
async function trustedKeysOf(files: readonly string[]): Promise<TrustedKey[]> {
  const keys: TrustedKey[] = [];
  for (const file of files) {
    const text = await readFile(file, 'utf8').catch((e: NodeJS.ErrnoException) => {
      throw new ApolloError(e.code === 'ENOENT' ? 'NOT_FOUND' : 'BAD_REQUEST', `Trust file ${file}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`);
    });
    keys.push(...parseTrustedKeys(text, file));
  }
  return keys;
}

type Options = Omit<MergeBundlesOptions, 'outDir'> & { trustFiles: string[] };

/** The mergeBundles options of a request (paths checked, policy parsed; trust files are read when it runs). */
function mergeOptions(req: MergePlanRequest): Options {
  const policy = parseMergePolicy(req.policy);
  if (!policy) throw new ApolloError('BAD_REQUEST', `Unknown merge policy ${JSON.stringify(req.policy)}: any-mask, majority, prefer:NAME[,NAME…] or manual`);
  return {
    trustFiles: (req.trust ?? []).map((f) => absolute(f.trim(), 'A trust file')),
    inputs: req.inputs.map((p) => absolute(p.trim(), 'A bundle folder')),
    policy,
    ...(req.settlements?.length ? { settlements: req.settlements } : {}),
    ...(req.settlementsFrom?.length ? { settlementsFrom: req.settlementsFrom.map((p) => absolute(p.trim(), 'An earlier merge')) } : {}),
    allowUnsigned: req.allowUnsigned === true,
    allowMixedPolicies: req.allowMixedPolicies === true,
  };
}

export class MergeManager {
  private readonly jobs = new Map<string, Job>();

  constructor(private readonly opts: MergeManagerOptions) {}

  /** What merge.start with the same arguments would write; nothing is written. */
  async plan(req: MergePlanRequest): Promise<MergePlanResult> {
    const { trustFiles, ...o } = mergeOptions(req);
    const secrets = (await this.opts.secrets?.()) ?? [];
    return mergeBundles({ ...o, ...(trustFiles.length ? { trustedKeys: await trustedKeysOf(trustFiles) } : {}), secrets, outDir: '', dryRun: true });
  }

  /** Check the request and start the merge in the background; what goes wrong later ends the job as 'failed'. */
  start(req: MergeRequest): { mergeId: string; finished: Promise<MergeProgress> } {
    const options = { ...mergeOptions(req), outDir: absolute(req.outDir.trim(), 'The merged bundle folder') };
    const id = randomUUID();
    const job = { id, controller: new AbortController(), state: 'running' } as Job;
    job.finished = this.run(job, options);
    this.jobs.set(id, job);
    // Remember finished jobs for a while (a late cancel is answered, not refused).
    const over = [...this.jobs.values()].filter((j) => j.state !== 'running');
    for (const j of over.slice(0, Math.max(0, over.length - 50))) this.jobs.delete(j.id);
    return { mergeId: id, finished: job.finished };
  }

  /** Ask a running merge to stop; true when it was still running. Unknown ids are NOT_FOUND. */
  cancel(mergeId: string): boolean {
    const job = this.jobs.get(mergeId);
    if (!job) throw new ApolloError('NOT_FOUND', `No merge ${mergeId}`);
    if (job.state !== 'running') return false;
    job.controller.abort();
    return true;
  }

  async cancelAll(): Promise<void> {
    const running = [...this.jobs.values()].filter((j) => j.state === 'running');
    for (const j of running) j.controller.abort();
    await Promise.all(running.map((j) => j.finished));
  }

  private async run(job: Job, { trustFiles, ...options }: Options & { outDir: string }): Promise<MergeProgress> {
    const throttle = this.opts.throttleMs ?? 100;
    let last = 0;
    let at = { done: 0, total: 0, stage: 'starting' };
    const report = (p: Omit<MergeProgress, 'mergeId'>): MergeProgress => {
      const full = { mergeId: job.id, ...p };
      try {
        this.opts.sink(full);
      } catch {
        // a failing listener must not break the merge
      }
      return full;
    };
    // Let the caller answer with the id before the first report.
    await new Promise<void>((r) => setImmediate(r));
    report({ ...at, state: 'running' });
    try {
      const signWith = await this.opts.signingKey?.();
      const secrets = (await this.opts.secrets?.()) ?? [];
      const r = await mergeBundles({
        ...options,
        secrets,
        ...(trustFiles.length ? { trustedKeys: await trustedKeysOf(trustFiles) } : {}),
        ...(signWith ? { signWith } : {}),
        signal: job.controller.signal,
        onProgress: (done, total, stage) => {
          at = { done, total, stage };
          const now = Date.now();
          if (now - last < throttle || done >= total) return;
          last = now;
          report({ done, total, stage, state: 'running' });
        },
      });
      job.state = 'done';
      return report({ done: at.total, total: at.total, stage: 'done', state: 'done', dir: r.dir, report: r.report });
    } catch (e) {
      const err = e instanceof ApolloError ? e : new ApolloError('INTERNAL', (e as Error)?.message ?? String(e));
      job.state = err.code === 'CANCELLED' || job.controller.signal.aborted ? 'cancelled' : 'failed';
      return report({ ...at, state: job.state, ...(job.state === 'failed' ? { error: err.message } : {}) });
    }
  }
}
