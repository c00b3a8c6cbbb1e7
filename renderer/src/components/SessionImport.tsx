// Import runs of other tools from the session list: an "Import…" file picker and
// drag-and-drop of files onto the list. Each file is uploaded to the host in chunks
// (the renderer may not see the host's disk) and imported there like `apollo
// import`; each shows a progress bar and a Cancel button, then its sessions or its
// error (a file imported before can be imported again on request).
import { useEffect, useRef, useState, type ReactNode } from 'react';
import { IMPORT_CHUNK_BYTES, type ImportPushEvents, type ImportStage } from '../../../shared/contract/import';
import { useApp, useTransport } from '../context';
import { Icon } from './Icon';
import './import.css';

type Progress = ImportPushEvents['import.progress'];

interface Job {
  key: number;
  file: File;
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
  const [jobs, setJobs] = useState<Job[]>([]);
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
    setJobs((js) => [...js.filter((j) => !(j.file === file && over(j.stage))), { key, file, stage: 'uploading', bytes: 0, total: file.size }]);
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
      {jobs.length > 0 && (
        <ul className="import-jobs" data-testid="import-jobs">
          {jobs.map((j) => (
            <li key={j.key} className={`import-job stage-${j.stage}`} data-testid="import-job" data-stage={j.stage}>
              <div className="import-job-head">
                <span className="import-file" title={j.file.name}>{j.file.name}</span>
                <span className="import-stage">{STAGE_TEXT[j.stage]}</span>
                {over(j.stage) ? (
                  <button type="button" className="icon-btn" aria-label={`Dismiss ${j.file.name}`} onClick={() => setJobs((js) => js.filter((x) => x.key !== j.key))}>
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
                    <button type="button" className="btn btn-small" data-testid="import-again" onClick={() => void start(j.file, true)}>
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
