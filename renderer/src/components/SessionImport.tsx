// Import runs of other tools from the session list: an "Import…" file picker and
// drag-and-drop of files onto the list. Each file is uploaded to the host in chunks
// (the renderer may not see the host's disk) and imported there like `apollo
// import`; each shows a progress bar and a Cancel button, then its sessions or its
// error (a file imported before can be imported again on request). Folders (node
// dumps, OpenHands sessions) cannot be uploaded from a browser: "Path…" names a file
// or folder on the host's machine (the person's own), which the host reads itself;
// in Electron a folder can be chosen in the OS dialog.
import { useEffect, useRef, useState, type FormEvent, type ReactNode } from 'react';
import { IMPORT_CHUNK_BYTES, type ImportPushEvents, type ImportStage } from '../../../shared/contract/import';
import { useApp, useTransport } from '../context';
import { Icon } from './Icon';
import './import.css';

type Progress = ImportPushEvents['import.progress'];

interface Job {
  key: number;
  /** What is imported: a file of the browser's (uploaded), or a path on the host's machine. */
  file?: File;
  path?: string;
  name: string;
  importId?: string;
  stage: ImportStage;
  bytes: number;
  total: number;
  sessionIds?: string[];
  format?: string;
  error?: string;
  duplicateOf?: string[];
}

const STAGE_TEXT: Record<ImportStage, string> = {
  uploading: 'uploading',
  hashing: 'checking',
  reading: 'importing',
  committing: 'saving',
  done: 'imported',
  failed: 'failed',
  cancelled: 'cancelled',
};

function toBase64(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

const over = (s: ImportStage) => s === 'done' || s === 'failed' || s === 'cancelled';

export function SessionImport({ children }: { children: ReactNode }) {
  const transport = useTransport();
  const pushToast = useApp((s) => s.pushToast);
  const openSession = useApp((s) => s.openSession);
  const canChooseFolder = useApp((s) => s.appInfo?.host === 'electron');
  const [jobs, setJobs] = useState<Job[]>([]);
  const [pathOpen, setPathOpen] = useState(false);
  const [pathText, setPathText] = useState('');
  const [dragging, setDragging] = useState(false);
  const picker = useRef<HTMLInputElement>(null);
  const nextKey = useRef(1);
  const cancelled = useRef(new Set<number>());

  const update = (key: number, patch: Partial<Job>) => setJobs((js) => js.map((j) => (j.key === key ? { ...j, ...patch } : j)));

  useEffect(
    () =>
      transport.on('import.progress', (p: Progress) => {
        setJobs((js) =>
          js.map((j) =>
            j.importId !== p.importId || over(j.stage)
              ? j
              : {
                  ...j, stage: p.stage, bytes: p.bytes, total: p.total || j.total, sessionIds: p.sessionIds, format: p.format,
                  error: p.error?.message, duplicateOf: p.duplicateOf,
                },
          ),
        );
        if (p.stage === 'done') pushToast({ level: 'info', title: `Imported ${p.file}`, message: `${p.sessions} session${p.sessions === 1 ? '' : 's'} (${p.format ?? 'detected'})` });
      }),
    [transport, pushToast],
  );

  const start = async (file: File, allowDuplicate = false) => {
    const key = nextKey.current++;
    setJobs((js) => [...js.filter((j) => !(j.file === file && over(j.stage))), { key, file, name: file.name, stage: 'uploading', bytes: 0, total: file.size }]);
    try {
      const { importId } = await transport.request('import.begin', { name: file.name, size: file.size, ...(allowDuplicate ? { allowDuplicate } : {}) });
      update(key, { importId });
      for (let off = 0; off < file.size; off += IMPORT_CHUNK_BYTES) {
        if (cancelled.current.has(key)) return;
        const bytes = new Uint8Array(await file.slice(off, off + IMPORT_CHUNK_BYTES).arrayBuffer());
        await transport.request('import.chunk', { importId, offset: off, data: toBase64(bytes) });
      }
      if (cancelled.current.has(key)) return;
      await transport.request('import.finish', { importId });
    } catch (err) {
      if (!cancelled.current.has(key)) update(key, { stage: 'failed', error: (err as Error).message });
    }
  };

  /** A file or folder on the host's machine: announced (the host checks it is there), then read by the host. */
  const startPath = async (path: string, allowDuplicate = false) => {
    const key = nextKey.current++;
    setJobs((js) => [...js.filter((j) => !(j.path === path && over(j.stage))), { key, path, name: path, stage: 'hashing', bytes: 0, total: 0 }]);
    try {
      const { importId, name, size } = await transport.request('import.path', { path, ...(allowDuplicate ? { allowDuplicate } : {}) });
      update(key, { importId, name, total: size });
      if (cancelled.current.has(key)) return;
      await transport.request('import.finish', { importId });
    } catch (err) {
      if (!cancelled.current.has(key)) update(key, { stage: 'failed', error: (err as Error).message });
    }
  };

  const submitPath = (e: FormEvent) => {
    e.preventDefault();
    const p = pathText.trim();
    if (!p) return;
    void startPath(p);
    setPathText('');
  };

  const chooseFolder = async () => {
    try {
      const { path } = await transport.request('import.chooseFolder', {});
      if (path) void startPath(path);
    } catch (err) {
      pushToast({ level: 'error', title: 'Could not open the folder dialog', message: (err as Error).message });
    }
  };

  const again = (j: Job) => (j.file ? start(j.file, true) : j.path ? startPath(j.path, true) : undefined);

  const cancel = async (job: Job) => {
    cancelled.current.add(job.key);
    update(job.key, { stage: 'cancelled' });
    if (job.importId) await transport.request('import.cancel', { importId: job.importId }).catch(() => undefined);
  };

  const startAll = (files: FileList | null) => {
    for (const f of Array.from(files ?? [])) void start(f);
  };

  return (
    <div
      className={`session-import${dragging ? ' dragging' : ''}`}
      data-testid="session-import"
      onDragOver={(e) => {
        if (!e.dataTransfer.types.includes('Files')) return;
        e.preventDefault();
        e.dataTransfer.dropEffect = 'copy';
        setDragging(true);
      }}
      onDragLeave={(e) => {
        if (!e.currentTarget.contains(e.relatedTarget as Node | null)) setDragging(false);
      }}
      onDrop={(e) => {
        if (!e.dataTransfer.files.length) return;
        e.preventDefault();
        setDragging(false);
        startAll(e.dataTransfer.files);
      }}
    >
      <div className="import-bar">
        <button type="button" className="btn btn-small" data-testid="import-open" title="Import trajectories, logs, datasets or recordings of other tools (or drop files on the list)" onClick={() => picker.current?.click()}>
          <Icon name="plus" size={12} /> Import…
        </button>
        <button
          type="button"
          className="btn btn-small"
          data-testid="import-path-open"
          aria-expanded={pathOpen}
          title="Import a file or a folder (node dumps, OpenHands sessions) by its path on the machine the host runs on"
          onClick={() => setPathOpen(!pathOpen)}
        >
          Path…
        </button>
        <input
          ref={picker}
          type="file"
          multiple
          hidden
          data-testid="import-file"
          onChange={(e) => {
            startAll(e.target.files);
            e.target.value = '';
          }}
        />
      </div>
      {pathOpen && (
        <form className="import-path" data-testid="import-path-form" onSubmit={submitPath}>
          <label className="import-path-label" htmlFor="import-path-input">
            File or folder on this machine
          </label>
          <div className="import-path-row">
            <input
              id="import-path-input"
              className="mono"
              data-testid="import-path-input"
              value={pathText}
              placeholder="/home/me/runs/nodes"
              spellCheck={false}
              autoComplete="off"
              onChange={(e) => setPathText(e.target.value)}
            />
            <button type="submit" className="btn btn-small primary" data-testid="import-path-submit" disabled={!pathText.trim()}>
              Import
            </button>
          </div>
          {canChooseFolder && (
            <button type="button" className="link-btn" data-testid="import-choose-folder" onClick={() => void chooseFolder()}>
              Choose a folder…
            </button>
          )}
        </form>
      )}
      {jobs.length > 0 && (
        <ul className="import-jobs" data-testid="import-jobs">
          {jobs.map((j) => (
            <li key={j.key} className={`import-job stage-${j.stage}`} data-testid="import-job" data-stage={j.stage}>
              <div className="import-job-head">
                <span className="import-file" title={j.path ?? j.name}>{j.name}</span>
                <span className="import-stage">{STAGE_TEXT[j.stage]}</span>
                {over(j.stage) ? (
                  <button type="button" className="icon-btn" aria-label={`Dismiss ${j.name}`} onClick={() => setJobs((js) => js.filter((x) => x.key !== j.key))}>
                    <Icon name="close" size={11} />
                  </button>
                ) : (
                  <button type="button" className="btn btn-small" data-testid="import-cancel" onClick={() => void cancel(j)}>
                    Cancel
                  </button>
                )}
              </div>
              {!over(j.stage) && (
                <progress className="import-progress" data-testid="import-progress" max={Math.max(1, j.total)} value={Math.min(j.bytes, j.total)} />
              )}
              {j.stage === 'done' && j.sessionIds && (
                <div className="import-result muted">
                  {j.sessionIds.length} session{j.sessionIds.length === 1 ? '' : 's'} ({j.format}){' '}
                  {j.sessionIds[0] && (
                    <button type="button" className="link-btn" onClick={() => void openSession(j.sessionIds![0]!)}>
                      open
                    </button>
                  )}
                </div>
              )}
              {j.stage === 'failed' && (
                <div className="import-error" data-testid="import-error">
                  {j.error}
                  {j.duplicateOf && (
                    <button type="button" className="btn btn-small" data-testid="import-again" onClick={() => void again(j)}>
                      Import again
                    </button>
                  )}
                </div>
              )}
            </li>
          ))}
        </ul>
      )}
      {children}
      {dragging && <div className="import-drop-hint">Drop files to import them</div>}
    </div>
  );
}
