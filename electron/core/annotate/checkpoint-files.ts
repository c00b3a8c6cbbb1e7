// Reading a step's checkpoint: its file list and the content of one file. This
// works offline and also when the working directory is gone (another machine, a
// deleted folder): reading only needs the shadow repository in the session folder.
import { existsSync, rmSync } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApolloError } from '../../../shared/errors';
import type { FileEntry, StepChanges } from '../../../shared/contract/annotate';
import { CheckpointStore } from '../checkpoints/shadow-git';
import type { SessionLog } from '../store/workspace';
import type { Checkpoints } from '../env/checkpoints';
import { environmentFor } from '../env/registry';
import { requireStep, trajectoryOf, type AnnotateCore } from './state';

/** Most bytes of a file returned as text; the rest is left out with a note. */
export const READ_CAP_BYTES = 2 * 1024 * 1024;

const readers = new WeakMap<SessionLog, Promise<Checkpoints>>();
/** Per core, the empty scratch folder its readers use as a work tree (removed at close, else at exit). */
const scratchDirs = new WeakMap<AnnotateCore, Promise<string>>();
/** Scratch folders not removed yet: a process that ends without closing its core must not leave them behind. */
const unremoved = new Set<string>();
const removeAtExit = (): void => {
  for (const d of unremoved) rmSync(d, { recursive: true, force: true });
};

/** The session's checkpoint store for reading (never created here); NOT_FOUND when there is none. */
export async function checkpointReader(core: AnnotateCore, session: SessionLog): Promise<Checkpoints> {
  // A remote environment keeps its store there: read through its connection.
  if (environmentFor(session).kind !== 'local') return core.rollouts.checkpoints(session, core.ws.entry(session.id).cwd);
  const storeDir = join(session.dir, 'checkpoints.git');
  if (!existsSync(join(storeDir, 'HEAD')) && !existsSync(join(storeDir, 'objects'))) {
    throw new ApolloError('NOT_FOUND', `Session ${session.id} has no checkpoint store.`);
  }
  const cwd = core.ws.entry(session.id).cwd;
  if (await stat(cwd).then((s) => s.isDirectory(), () => false)) return core.rollouts.checkpoints(session, cwd);
  // No working directory: a reader whose work tree is an empty scratch folder (only
  // object and ref reads are made through it).
  let r = readers.get(session);
  if (!r) {
    let scratch = scratchDirs.get(core);
    if (!scratch) {
      scratch = mkdtemp(join(tmpdir(), 'apollo-checkpoint-reader-')).then((d) => {
        if (unremoved.size === 0) process.once('exit', removeAtExit);
        unremoved.add(d);
        return d;
      });
      scratchDirs.set(core, scratch);
    }
    r = scratch.then((workDir) => CheckpointStore.open({ storeDir, workDir }));
    r.catch(() => readers.delete(session));
    readers.set(session, r);
  }
  return r;
}

/** Remove the core's scratch folder (the core is closing: its sessions, and so their readers, are closed). */
export async function closeCheckpointReaders(core: AnnotateCore): Promise<void> {
  const scratch = scratchDirs.get(core);
  scratchDirs.delete(core);
  const dir = await scratch?.catch(() => null);
  if (!dir) return;
  await rm(dir, { recursive: true, force: true });
  unremoved.delete(dir);
  if (unremoved.size === 0) process.off('exit', removeAtExit);
}

async function checkpointOf(core: AnnotateCore, sessionId: string, stepId: string): Promise<{ session: SessionLog; commit: string }> {
  const session = await core.session(sessionId);
  const step = requireStep(trajectoryOf(session), sessionId, stepId);
  if (!step.checkpoint) {
    const why = step.checkpointError ? `: taking it failed (${step.checkpointError})` : '';
    throw new ApolloError('NOT_FOUND', `Step ${step.depth} of session ${sessionId} has no checkpoint${why}.`);
  }
  return { session, commit: step.checkpoint.commit };
}

export async function checkpointFiles(core: AnnotateCore, sessionId: string, stepId: string): Promise<{ files: FileEntry[]; usage: { bytes: number; budgetBytes: number } }> {
  const { session, commit } = await checkpointOf(core, sessionId, stepId);
  const store = await checkpointReader(core, session);
  const files = (await store.files(commit)).map((f) => ({ path: f.path, size: f.size, sha: f.sha }));
  const u = await store.usage();
  // The budget in force (settings), also when reading through a store opened without them.
  return { files, usage: { bytes: u.bytes, budgetBytes: core.rollouts.limits().budgetBytes } };
}

/**
 * What a step changed: its checkpoint against the nearest ancestor's (the world it
 * started from; steps whose checkpoint failed are skipped over), or against nothing
 * for the first checkpoint of the path.
 */
export async function checkpointChanges(core: AnnotateCore, sessionId: string, stepId: string): Promise<StepChanges> {
  const { session, commit } = await checkpointOf(core, sessionId, stepId);
  const t = trajectoryOf(session);
  let base = t.steps.get(stepId)?.parentId ? t.steps.get(t.steps.get(stepId)!.parentId!) : undefined;
  while (base && !base.checkpoint) base = base.parentId ? t.steps.get(base.parentId) : undefined;
  const store = await checkpointReader(core, session);
  const changes = await store.diff(base?.checkpoint?.commit ?? null, commit);
  return {
    base: base ? { stepId: base.id, depth: base.depth } : null,
    changes: changes.map((c) => ({
      path: c.path,
      status: c.status,
      ...(c.before ? { beforeSize: c.before.size } : {}),
      ...(c.after ? { afterSize: c.after.size } : {}),
    })),
  };
}

/**
 * One file of a step's checkpoint as text. Content that is not UTF-8 (or holds NUL
 * bytes) is reported as binary with no text; text over READ_CAP_BYTES is cut, with
 * a last line saying how much was left out.
 */
export async function checkpointReadFile(core: AnnotateCore, sessionId: string, stepId: string, path: string): Promise<{ text: string; binary: boolean }> {
  const { session, commit } = await checkpointOf(core, sessionId, stepId);
  const store = await checkpointReader(core, session);
  const buf = await store.readFile(commit, path);
  let head = buf.length > READ_CAP_BYTES ? buf.subarray(0, READ_CAP_BYTES) : buf;
  if (head.includes(0)) return { text: '', binary: true };
  if (head !== buf) {
    // Do not judge (or show) a character cut in half at the cap.
    let end = head.length;
    for (let k = 1; k <= 3 && end - k >= 0; k++) {
      const b = head[end - k]!;
      if ((b & 0xc0) === 0x80) continue;
      if (b >= 0xc0) end -= k;
      break;
    }
    head = head.subarray(0, end);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(head);
  } catch {
    return { text: '', binary: true };
  }
  if (head.length < buf.length) text += `\n[… ${buf.length - head.length} more bytes not shown (file is ${buf.length} bytes) …]`;
  return { text, binary: false };
}
