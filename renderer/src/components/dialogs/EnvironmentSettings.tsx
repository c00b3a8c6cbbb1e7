// Settings → Environments: the SSH hosts, containers and pods a session can work in,
// as `apollo env` lists them. Add, test (connects and says what it found) and remove.
// A profile holds no secret: SSH keys stay with the user's ssh agent and config.
import { useCallback, useEffect, useState } from 'react';
import type { EnvironmentInfo } from '../../../../shared/contract/environments';
import { useTransport } from '../../context';
import { onEnter } from '../form';

type Kind = 'ssh' | 'docker' | 'image' | 'kubectl';

const PLACEHOLDER: Record<Kind, string> = {
  ssh: 'user@gpu-box:22 (or an ~/.ssh/config alias)',
  docker: 'running container name',
  image: 'image, e.g. python:3.12',
  kubectl: 'pod name',
};

/** The profile the form describes (validated again, whole, by the host). */
function specOf(kind: Kind, name: string, target: string, workdir: string): Record<string, unknown> | string {
  const base = { name: name.trim(), ...(workdir.trim() ? { workdir: workdir.trim() } : {}) };
  const t = target.trim();
  if (!t) return 'Say where it is.';
  if (kind === 'ssh') {
    const m = /^(?:([^@\s]+)@)?([^:@\s]+)(?::(\d{1,5}))?$/.exec(t);
    if (!m) return 'SSH: [user@]host[:port].';
    return { kind: 'ssh', ...base, host: m[2], ...(m[1] ? { user: m[1] } : {}), ...(m[3] ? { port: Number(m[3]) } : {}) };
  }
  if (kind === 'docker') return { kind: 'docker', ...base, container: t };
  if (kind === 'image') return { kind: 'docker', ...base, image: t };
  return { kind: 'kubectl', ...base, pod: t };
}

export function EnvironmentSettings() {
  const transport = useTransport();
  const [list, setList] = useState<EnvironmentInfo[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [tested, setTested] = useState<{ name: string; ok: boolean; lines: string[]; error?: string } | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const [kind, setKind] = useState<Kind>('ssh');
  const [name, setName] = useState('');
  const [target, setTarget] = useState('');
  const [workdir, setWorkdir] = useState('');

  const load = useCallback(async () => {
    try {
      setList((await transport.request('environments.list', {})).environments);
    } catch (e) {
      setError((e as Error).message);
    }
  }, [transport]);
  useEffect(() => void load(), [load]);

  const add = async () => {
    const spec = specOf(kind, name, target, workdir);
    if (typeof spec === 'string') return setError(spec);
    try {
      // The host checks the whole profile against its schema.
      await transport.request('environments.save', { spec: spec as never });
      setName('');
      setTarget('');
      setWorkdir('');
      setError(null);
      await load();
    } catch (e) {
      setError((e as Error).message);
    }
  };
  const test = async (n: string) => {
    setBusy(n);
    try {
      setTested({ name: n, ...(await transport.request('environments.test', { name: n })) });
    } catch (e) {
      setTested({ name: n, ok: false, lines: [], error: (e as Error).message });
    } finally {
      setBusy(null);
    }
  };
  const remove = async (n: string) => {
    try {
      await transport.request('environments.delete', { name: n });
      if (tested?.name === n) setTested(null);
      await load();
    } catch (e) {
      setError((e as Error).message);
    }
  };

  return (
    <div className="field" data-testid="environment-settings">
      <span className="field-label">Environments (where a session works: this machine, an SSH host, a container, a pod)</span>
      <ul className="profile-list" data-testid="environment-list">
        {(list ?? []).map((e) => (
          <li key={e.spec.name} className="inline-row" data-testid="environment-item" data-name={e.spec.name}>
            <span className="profile-item-name">{e.spec.name}</span>
            <span className="mono small">{e.target}</span>
            {e.spec.workdir && <span className="mono small muted">{e.spec.workdir}</span>}
            {e.spec.kind !== 'local' && (
              <>
                <button type="button" className="btn btn-small" data-testid="environment-test" disabled={busy !== null} onClick={() => void test(e.spec.name)}>
                  {busy === e.spec.name ? 'Testing…' : 'Test'}
                </button>
                <button type="button" className="btn btn-small" data-testid="environment-remove" onClick={() => void remove(e.spec.name)}>
                  Remove
                </button>
              </>
            )}
          </li>
        ))}
      </ul>
      {tested && (
        <pre className={`small mono ${tested.ok ? 'ok-text' : 'field-error'}`} data-testid="environment-test-result">
          {[...tested.lines, ...(tested.error ? [tested.error] : [])].join('\n')}
        </pre>
      )}
      <div className="inline-row">
        <select aria-label="Environment kind" data-testid="environment-kind" value={kind} onChange={(e) => setKind(e.target.value as Kind)}>
          <option value="ssh">SSH host</option>
          <option value="docker">Docker container</option>
          <option value="image">Docker image</option>
          <option value="kubectl">Kubernetes pod</option>
        </select>
        <input aria-label="Environment name" data-testid="environment-name" placeholder="name" size={12} value={name} onChange={(e) => setName(e.target.value)} />
        <input aria-label="Where" data-testid="environment-target" className="mono" placeholder={PLACEHOLDER[kind]} size={28} value={target} onChange={(e) => setTarget(e.target.value)} onKeyDown={onEnter(() => void add())} />
        <input aria-label="Working folder" data-testid="environment-workdir" className="mono" placeholder="working folder (~/project)" size={18} value={workdir} onChange={(e) => setWorkdir(e.target.value)} onKeyDown={onEnter(() => void add())} />
        <button type="button" className="btn btn-small" data-testid="environment-add" disabled={!name.trim() || !target.trim()} onClick={() => void add()}>
          Add
        </button>
      </div>
      {error && <span className="field-error" data-testid="environment-error">{error}</span>}
      <span className="field-hint">
        SSH uses your own ssh config, keys and agent; nothing secret is stored. Identity files, ssh options and --mount: <span className="mono">apollo env add --help</span>.
      </span>
    </div>
  );
}
