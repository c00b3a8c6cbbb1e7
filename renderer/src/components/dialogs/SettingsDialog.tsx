// Endpoint profiles (OpenAI-compatible: OpenAI, vLLM, SGLang, Ollama…), the
// annotator's name and the checkpoint limits. Keys go to the host (OS keychain, or
// memory in browser mode) and are never shown again: only where the key comes from.
import { useEffect, useState } from 'react';
import { KeySettings } from './KeySettings';
import { EnvironmentSettings } from './EnvironmentSettings';
import type { EndpointProfile } from '../../../../shared/contract/rollout';
import { useApp } from '../../context';
import type { ProfileInput } from '../../store/settings';
import { Dialog } from '../Dialog';
import { Field, FormError, onEnter } from '../form';
import { checkLimit, formatByteSize, parseByteSize } from '../../../../shared/checkpoint-limits';

interface Form {
  name: string;
  baseUrl: string;
  model: string;
  apiKeyEnv: string;
  temperature: string;
  topP: string;
  maxTokens: string;
  toolMode: 'tools' | 'text';
}

const BLANK: Form = { name: '', baseUrl: 'http://127.0.0.1:8000/v1', model: '', apiKeyEnv: '', temperature: '', topP: '', maxTokens: '', toolMode: 'tools' };

function toForm(p: EndpointProfile): Form {
  return {
    name: p.name, baseUrl: p.baseUrl, model: p.model, apiKeyEnv: p.apiKeyEnv ?? '',
    temperature: p.temperature?.toString() ?? '', topP: p.topP?.toString() ?? '', maxTokens: p.maxTokens?.toString() ?? '',
    toolMode: p.toolMode ?? 'tools',
  };
}

/** The form as profile input, or the first problem with it. */
function parseForm(f: Form): { ok: true; value: ProfileInput } | { ok: false; field: keyof Form; error: string } {
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(f.name)) return { ok: false, field: 'name', error: 'Name: 1–64 letters, digits, “_”, “.” or “-”.' };
  try {
    const u = new URL(f.baseUrl.trim());
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('scheme');
  } catch {
    return { ok: false, field: 'baseUrl', error: 'Base URL: an http(s) URL such as http://127.0.0.1:8000/v1.' };
  }
  if (!f.model.trim()) return { ok: false, field: 'model', error: 'Model: required (e.g. gpt-4.1, Qwen/Qwen3-32B).' };
  if (f.apiKeyEnv && !/^[A-Za-z_][A-Za-z0-9_]{0,127}$/.test(f.apiKeyEnv)) return { ok: false, field: 'apiKeyEnv', error: 'Key variable: a name such as OPENAI_API_KEY.' };
  const v: ProfileInput = { name: f.name, baseUrl: f.baseUrl.trim(), model: f.model.trim(), toolMode: f.toolMode };
  if (f.apiKeyEnv) v.apiKeyEnv = f.apiKeyEnv;
  const num = (s: string, min: number, max: number, int: boolean): number | null | undefined => {
    if (!s.trim()) return undefined;
    const n = Number(s);
    if (!Number.isFinite(n) || n < min || n > max || (int && !Number.isInteger(n))) return null;
    return n;
  };
  const temperature = num(f.temperature, 0, 2, false);
  if (temperature === null) return { ok: false, field: 'temperature', error: 'Temperature: 0 to 2.' };
  const topP = num(f.topP, 0, 1, false);
  if (topP === null) return { ok: false, field: 'topP', error: 'top_p: 0 to 1.' };
  const maxTokens = num(f.maxTokens, 1, 1_000_000, true);
  if (maxTokens === null) return { ok: false, field: 'maxTokens', error: 'Max tokens: a whole number from 1.' };
  if (temperature !== undefined) v.temperature = temperature;
  if (topP !== undefined) v.topP = topP;
  if (maxTokens !== undefined) v.maxTokens = maxTokens;
  return { ok: true, value: v };
}

const KEY_SOURCE: Record<EndpointProfile['keySource'], string> = {
  env: 'from its environment variable',
  keychain: 'stored in the OS keychain',
  memory: 'held in memory until the host restarts',
  none: 'no key (only servers that need none answer, e.g. a local vLLM or Ollama)',
};

/**
 * Where the key comes from, truthfully: a profile that names a variable the host does
 * not have gets no key, and says so (it said "fine for local servers" while Test
 * connection failed for want of that key).
 */
function keySourceText(p: EndpointProfile): string {
  if (p.keySource === 'env' && p.apiKeyEnv) return `from $${p.apiKeyEnv}`;
  if (p.keySource === 'none' && p.apiKeyEnv) return `no key: $${p.apiKeyEnv} is not set`;
  return KEY_SOURCE[p.keySource];
}

export function SettingsDialog() {
  const closeDialog = useApp((s) => s.closeDialog);
  const profiles = useApp((s) => s.profiles);
  const hostKind = useApp((s) => s.appInfo?.host);
  const keyStore = useApp((s) => s.appInfo?.keyStore);
  const [selected, setSelected] = useState<string | null>(() => profiles[0]?.name ?? null);
  const current = profiles.find((p) => p.name === selected) ?? null;

  return (
    <Dialog
      title="Settings"
      testId="settings-dialog"
      width={860}
      onClose={closeDialog}
      footer={
        <button type="button" className="btn" data-testid="settings-close" onClick={closeDialog}>
          Close
        </button>
      }
    >
      <AnnotatorField />
      <CheckpointFields />
      <div className="settings-grid">
        <div className="profile-list-col">
          <div className="section-label flush">Endpoints</div>
          <ul className="profile-list" data-testid="profile-list">
            {profiles.map((p) => (
              <li key={p.name}>
                <button
                  type="button"
                  className={`profile-item${p.name === selected ? ' active' : ''}`}
                  data-testid="profile-item"
                  data-name={p.name}
                  onClick={() => setSelected(p.name)}
                >
                  <span className="profile-item-name">{p.name}</span>
                  <span className="profile-item-model mono">{p.model}</span>
                </button>
              </li>
            ))}
            {profiles.length === 0 && <li className="muted small">No profiles yet.</li>}
          </ul>
          <button type="button" className={`btn btn-small${selected === null ? ' primary' : ''}`} data-testid="profile-new" onClick={() => setSelected(null)}>
            + New profile
          </button>
        </div>
        <div className="profile-form-col">
          <ProfileForm key={current?.name ?? '__new'} profile={current} onSaved={(name) => setSelected(name)} onDeleted={() => setSelected(null)} />
          {current && <KeyAndTest profile={current} browser={hostKind === 'web'} keyStoreNotice={keyStore?.kind === 'memory' ? keyStore.notice : undefined} />}
        </div>
      </div>
      <EnvironmentSettings />
      <KeySettings />
    </Dialog>
  );
}

function AnnotatorField() {
  const annotator = useApp((s) => s.annotator);
  const setAnnotator = useApp((s) => s.setAnnotator);
  const [value, setValue] = useState(annotator);
  // Typed but not saved: the host's value arriving late (the dialog can open before the
  // settings load) must not overwrite what the annotator is typing.
  const [dirty, setDirty] = useState(false);
  const [msg, setMsg] = useState<{ ok: boolean; text: string } | null>(null);
  useEffect(() => {
    if (!dirty) setValue(annotator);
  }, [annotator, dirty]);
  const save = async () => {
    const v = value.trim();
    if (!v) return;
    const r = await setAnnotator(v);
    if (r.ok) setDirty(false);
    setMsg(r.ok ? { ok: true, text: 'Saved' } : { ok: false, text: r.error.message });
  };
  return (
    <div className="field">
      <span className="field-label">Annotator name (recorded on guidance, comments, labels and branches)</span>
      <div className="inline-row">
        <input
          data-testid="annotator-input"
          aria-label="Annotator name"
          value={value}
          maxLength={100}
          onChange={(e) => {
            setValue(e.target.value);
            setDirty(true);
            setMsg(null);
          }}
          onKeyDown={onEnter(() => void save())}
        />
        <button type="button" className="btn btn-small" data-testid="annotator-save" disabled={!value.trim() || value.trim() === annotator} onClick={() => void save()}>
          Save
        </button>
        {msg && <span className={msg.ok ? 'ok-text small' : 'field-error'} data-testid="annotator-msg" data-ok={msg.ok}>{msg.text}</span>}
      </div>
    </div>
  );
}

/**
 * The checkpoint budget (per session) and the size over which files are left out.
 * Sizes are typed as people write them ("2G", "500M"); they apply from the next step.
 */
function CheckpointFields() {
  const limits = useApp((s) => s.checkpointLimits);
  const save = useApp((s) => s.setCheckpointLimits);
  const [budget, setBudget] = useState('');
  const [maxFile, setMaxFile] = useState('');
  const [msg, setMsg] = useState<{ ok: boolean; text: string } | null>(null);
  useEffect(() => {
    if (!limits) return;
    setBudget(formatByteSize(limits.checkpointBudgetBytes));
    setMaxFile(formatByteSize(limits.checkpointMaxFileBytes));
  }, [limits]);
  if (!limits) return null;
  const submit = async () => {
    const patch: { checkpointBudgetBytes?: number; checkpointMaxFileBytes?: number } = {};
    for (const [text, kind, key] of [
      [budget, 'budgetBytes', 'checkpointBudgetBytes'],
      [maxFile, 'maxFileBytes', 'checkpointMaxFileBytes'],
    ] as const) {
      const n = parseByteSize(text);
      if (n === null) return setMsg({ ok: false, text: `“${text}” is not a size: write e.g. 2G, 500M or 10M.` });
      const problem = checkLimit(kind, n);
      if (problem) return setMsg({ ok: false, text: problem });
      if (n !== limits[key]) patch[key] = n;
    }
    if (Object.keys(patch).length === 0) return setMsg({ ok: true, text: 'Unchanged' });
    const r = await save(patch);
    setMsg(r.ok ? { ok: true, text: 'Saved: applies from the next step' } : { ok: false, text: r.error.message });
  };
  const edit = (set: (v: string) => void) => (e: { target: { value: string } }) => {
    set(e.target.value);
    setMsg(null);
  };
  return (
    <div className="field" data-testid="checkpoint-settings">
      <span className="field-label">Checkpoints (per session; a step that would go over the budget is recorded as not checkpointed)</span>
      <div className="inline-row">
        <label className="small">
          Budget{' '}
          <input data-testid="checkpoint-budget" aria-label="Checkpoint budget" className="mono" size={10} value={budget} spellCheck={false} onChange={edit(setBudget)} onKeyDown={onEnter(() => void submit())} />
        </label>
        <label className="small">
          Leave out files over{' '}
          <input data-testid="checkpoint-max-file" aria-label="Checkpoint file size limit" className="mono" size={10} value={maxFile} spellCheck={false} onChange={edit(setMaxFile)} onKeyDown={onEnter(() => void submit())} />
        </label>
        <button type="button" className="btn btn-small" data-testid="checkpoint-save" onClick={() => void submit()}>
          Save
        </button>
        {msg && <span className={msg.ok ? 'ok-text small' : 'field-error'} data-testid="checkpoint-settings-msg">{msg.text}</span>}
      </div>
      <span className="field-hint">Sizes like 2G or 500M (powers of 1024). The CLI takes --checkpoint-budget and --checkpoint-max-file for one run.</span>
    </div>
  );
}

function ProfileForm({ profile, onSaved, onDeleted }: { profile: EndpointProfile | null; onSaved(name: string): void; onDeleted(): void }) {
  const saveProfile = useApp((s) => s.saveProfile);
  const deleteProfile = useApp((s) => s.deleteProfile);
  const [f, setF] = useState<Form>(() => (profile ? toForm(profile) : BLANK));
  const [error, setError] = useState<{ field?: keyof Form; text: string } | null>(null);
  const [saved, setSaved] = useState(false);
  const [busy, setBusy] = useState(false);
  const [confirmDelete, setConfirmDelete] = useState(false);
  const dirty = !profile || JSON.stringify(toForm(profile)) !== JSON.stringify(f);

  const set = (k: keyof Form) => (e: { target: { value: string } }) => {
    setF({ ...f, [k]: e.target.value });
    setError(null);
    setSaved(false);
  };
  const save = async () => {
    const parsed = parseForm(f);
    if (!parsed.ok) {
      setError({ field: parsed.field, text: parsed.error });
      return;
    }
    setBusy(true);
    const r = await saveProfile(parsed.value);
    setBusy(false);
    if (!r.ok) setError({ text: r.error.message });
    else {
      setSaved(true);
      onSaved(r.value.name);
    }
  };
  const inv = (k: keyof Form) => (error?.field === k ? true : undefined);

  return (
    <form
      className="profile-form"
      data-testid="profile-form"
      onSubmit={(e) => {
        e.preventDefault();
        void save();
      }}
    >
      <div className="form-grid">
        <Field label="Name">
          <input data-testid="profile-name" value={f.name} readOnly={!!profile} aria-invalid={inv('name')} placeholder="e.g. local-vllm" spellCheck={false} onChange={set('name')} autoFocus={!profile} />
        </Field>
        <Field label="Model">
          <input data-testid="profile-model" className="mono" value={f.model} aria-invalid={inv('model')} placeholder="e.g. Qwen/Qwen3-32B" spellCheck={false} onChange={set('model')} />
        </Field>
        <Field label="Base URL" className="span2">
          <input data-testid="profile-base-url" className="mono" value={f.baseUrl} aria-invalid={inv('baseUrl')} spellCheck={false} onChange={set('baseUrl')} />
        </Field>
        <Field label="API key environment variable" optional="optional">
          <input data-testid="profile-key-env" className="mono" value={f.apiKeyEnv} aria-invalid={inv('apiKeyEnv')} placeholder="OPENAI_API_KEY" spellCheck={false} onChange={set('apiKeyEnv')} />
        </Field>
        <Field label="Tool mode">
          <select data-testid="profile-tool-mode" value={f.toolMode} onChange={(e) => setF({ ...f, toolMode: e.target.value as Form['toolMode'] })}>
            <option value="tools">tools — native function calling</option>
            <option value="text">text — actions parsed from the reply</option>
          </select>
        </Field>
        <div className="field-row span2">
          <Field label="Temperature">
            <input data-testid="profile-temperature" inputMode="decimal" value={f.temperature} aria-invalid={inv('temperature')} placeholder="default" onChange={set('temperature')} />
          </Field>
          <Field label="top_p">
            <input data-testid="profile-top-p" inputMode="decimal" value={f.topP} aria-invalid={inv('topP')} placeholder="default" onChange={set('topP')} />
          </Field>
          <Field label="Max tokens">
            <input data-testid="profile-max-tokens" inputMode="numeric" value={f.maxTokens} aria-invalid={inv('maxTokens')} placeholder="default" onChange={set('maxTokens')} />
          </Field>
        </div>
      </div>
      <FormError error={error?.text} testId="profile-error" />
      <div className="form-actions">
        <button type="submit" className="btn btn-small primary" data-testid="profile-save" disabled={busy || !dirty}>
          {profile ? 'Save changes' : 'Create profile'}
        </button>
        {saved && !dirty && <span className="ok-text small">Saved</span>}
        <span className="spacer" />
        {profile &&
          (confirmDelete ? (
            <>
              <span className="warn-text small">Delete “{profile.name}” and its stored key?</span>
              <button type="button" className="btn btn-small" onClick={() => setConfirmDelete(false)}>
                Keep
              </button>
              <button
                type="button"
                className="btn btn-small danger-fill"
                data-testid="profile-delete-confirm"
                onClick={async () => {
                  const r = await deleteProfile(profile.name);
                  if (r.ok) onDeleted();
                  else setError({ text: r.error.message });
                }}
              >
                Delete
              </button>
            </>
          ) : (
            <button type="button" className="btn btn-small danger" data-testid="profile-delete" onClick={() => setConfirmDelete(true)}>
              Delete…
            </button>
          ))}
      </div>
    </form>
  );
}

function KeyAndTest({ profile, browser, keyStoreNotice }: { profile: EndpointProfile; browser: boolean; keyStoreNotice?: string }) {
  const setKey = useApp((s) => s.setProfileKey);
  const test = useApp((s) => s.testProfile);
  const result = useApp((s) => s.profileTests[profile.name]);
  const [key, setKeyText] = useState('');
  const [msg, setMsg] = useState<{ ok: boolean; text: string } | null>(null);
  const saveKey = async () => {
    if (!key) return;
    const r = await setKey(profile.name, key);
    setKeyText('');
    setMsg(r.ok ? { ok: true, text: 'Key stored' } : { ok: false, text: r.error.message });
  };
  return (
    <div className="key-test">
      <div className="field">
        <span className="field-label">
          API key{' '}
          <span className={`key-source ks-${profile.keySource}`} data-testid="profile-key-source" data-source={profile.keySource}>
            {keySourceText(profile)}
          </span>
        </span>
        {profile.keySource === 'none' && profile.apiKeyEnv && (
          <span className="warn-text small" data-testid="profile-key-missing">
            The host runs without ${profile.apiKeyEnv}: set it where the host starts and restart the host, or paste a key below. Test connection fails until then unless the server needs no key.
          </span>
        )}
        <div className="inline-row">
          <input
            type="password"
            data-testid="profile-key"
            aria-label={`API key of ${profile.name}`}
            autoComplete="off"
            value={key}
            placeholder={profile.keySource === 'none' ? 'paste a key to store it' : 'paste a new key to replace it'}
            onChange={(e) => {
              setKeyText(e.target.value);
              setMsg(null);
            }}
            onKeyDown={onEnter(() => void saveKey())}
          />
          <button type="button" className="btn btn-small" data-testid="profile-set-key" disabled={!key} onClick={() => void saveKey()}>
            Set key
          </button>
          {msg && <span className={msg.ok ? 'ok-text small' : 'field-error'}>{msg.text}</span>}
        </div>
        <span className="field-hint">
          {browser ? 'Browser mode: the host keeps the key in memory only; it is never shown again.' : keyStoreNotice ? 'Kept in memory only; it is never shown again.' : 'Stored with the OS keychain; it is never shown again.'} An environment
          variable, when set, wins.
        </span>
        {keyStoreNotice && (
          <span className="warn-text small" data-testid="key-store-notice" role="note">
            {keyStoreNotice}
          </span>
        )}
      </div>
      <div className="inline-row">
        <button type="button" className="btn btn-small" data-testid="test-connection" disabled={result === 'running'} onClick={() => void test(profile.name)}>
          {result === 'running' ? 'Testing…' : 'Test connection'}
        </button>
        {result && result !== 'running' && (
          <span className={result.ok ? 'ok-text' : 'err-text'} data-testid="test-result" data-ok={result.ok ? 'true' : 'false'}>
            {result.ok ? `✓ OK · ${result.latencyMs} ms` : `✗ ${result.error ?? 'failed'}${result.latencyMs ? ` (${result.latencyMs} ms)` : ''}`}
          </span>
        )}
        {result && result !== 'running' && !result.ok && profile.keySource === 'none' && /\b40[13]\b|api.?key|unauthori[sz]ed|authenticat/i.test(result.error ?? '') && (
          <span className="warn-text small" data-testid="test-key-hint">
            The endpoint wants a key, and this profile has none{profile.apiKeyEnv ? ` ($${profile.apiKeyEnv} is not set)` : ''}.
          </span>
        )}
      </div>
    </div>
  );
}
