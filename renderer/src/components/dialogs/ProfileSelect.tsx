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

/** The profile to preselect: the last one used, else the first. */
export function useDefaultProfile(): string {
  const last = useApp((s) => s.lastProfile);
  const profiles = useApp((s) => s.profiles);
  if (last && profiles.some((p) => p.name === last)) return last;
  return profiles[0]?.name ?? '';
}
