import { useApp } from '../../context';

/** Endpoint profile picker; `allowNone` adds an empty choice (e.g. "no agent"). */
export function ProfileSelect(props: { value: string; onChange(v: string): void; testId: string; allowNone?: string; autoFocus?: boolean; ariaLabel?: string }) {
  const profiles = useApp((s) => s.profiles);
  const openDialog = useApp((s) => s.openDialog);
  if (profiles.length === 0 && !props.allowNone) {
    return (
      <div className="field-hint">
        No endpoint profile yet.{' '}
        <button type="button" className="link-btn" data-testid="configure-endpoints" onClick={() => openDialog({ kind: 'settings' })}>
          Configure an endpoint…
        </button>
      </div>
    );
  }
  return (
    <select data-testid={props.testId} aria-label={props.ariaLabel} value={props.value} autoFocus={props.autoFocus} onChange={(e) => props.onChange(e.target.value)}>
      {props.allowNone !== undefined && <option value="">{props.allowNone}</option>}
      {profiles.map((p) => (
        <option key={p.name} value={p.name}>
          {p.name} — {p.model}
          {p.keySource === 'none' ? ' (no key)' : ''}
        </option>
      ))}
    </select>
  );
}

/**
 * The profile to preselect: the last one used (kept by the host across reloads), else
 * one that can answer now (its key is set, or it is a local server that needs none),
 * else the first. The alphabetically first was a poor guess for a judge.
 */
export function useDefaultProfile(): string {
  const last = useApp((s) => s.lastProfile);
  const profiles = useApp((s) => s.profiles);
  if (last && profiles.some((p) => p.name === last)) return last;
  const usable = profiles.find((p) => p.keySource !== 'none') ?? profiles.find((p) => !p.apiKeyEnv && isLocal(p.baseUrl));
  return (usable ?? profiles[0])?.name ?? '';
}

function isLocal(url: string): boolean {
  try {
    return ['127.0.0.1', 'localhost', '[::1]'].includes(new URL(url).hostname);
  } catch {
    return false;
  }
}
