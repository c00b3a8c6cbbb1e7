// An SSH profile's `options` may hold a password or a token (`ProxyCommand=sshpass -p …`,
// `SetEnv=API_TOKEN=…`). ssh needs the real value, so the profile in the workspace
// settings (an owner-only file) keeps it; every other copy of the spec holds the options
// redacted: the one recorded whole in `session.created` (events.jsonl, which exports
// read), listings for the UI and the CLI, and whatever a message quotes. A spec read
// back from a log gets its real options again, when it connects, from the saved profile
// of the same name (resolveOptions).
import type { EnvSpec, SshEnvSpec } from '../../../shared/environments';
import { Redactor } from '../dataset/redact';

const REDACTED = /\[REDACTED:[a-z-]+\]/;
/** What the spec schema asks of an option (shared/environments.ts): a redacted copy must still be one. */
const OPTION_SHAPE = /^[A-Za-z][A-Za-z0-9]*[= ]\S.*$/;

let patterns: Redactor | null = null;
function redactor(): Redactor {
  return (patterns ??= new Redactor());
}

/** The real options of the redacted copies made in this process (recordable), by copy. */
const realOptions = new WeakMap<object, readonly string[]>();

/** One ssh option as it may be recorded or shown. */
export function recordableOption(option: string): string {
  const text = redactor().redact(option).text;
  if (text === option || OPTION_SHAPE.test(text)) return text;
  // Only the name stays of an option whose redacted form no longer reads as one.
  return `${/^[A-Za-z][A-Za-z0-9]*/.exec(option)?.[0] ?? 'Option'}=[REDACTED:ssh-option]`;
}

/** Whether an option holds a value redacted from it (the real one is in the saved profile). */
export function isRedactedOption(option: string): boolean {
  return REDACTED.test(option);
}

/**
 * `spec` as it may be recorded or shown: an ssh spec whose options hold a secret is a
 * copy with them redacted, which still connects in this process (the real options go
 * with the copy, not in it: a JSON copy, a spread or a log line holds only the redacted
 * ones). Any other spec is returned as it is.
 */
export function recordableSpec<T extends EnvSpec>(spec: T): T {
  if (spec.kind !== 'ssh' || !spec.options?.length) return spec;
  const options = spec.options.map(recordableOption);
  if (options.every((o, i) => o === spec.options![i])) return spec;
  const copy = { ...spec, options };
  realOptions.set(copy, realOptions.get(spec) ?? spec.options);
  return copy;
}

/**
 * The options to connect with: `spec`'s, its redacted ones replaced by the real ones it
 * came with (recordableSpec) or, for one read back from a log, by the options of `saved`
 * (the profile of that name in the settings) that redact to the same text. Null when a
 * redacted one has no such match (the profile was removed, or its options changed).
 */
export function resolveOptions(spec: SshEnvSpec, saved?: EnvSpec): string[] | null {
  const given = spec.options ?? [];
  if (!given.some(isRedactedOption)) return [...given];
  const own = realOptions.get(spec);
  if (own) return [...own];
  const pool = saved?.kind === 'ssh' ? [...(saved.options ?? [])] : [];
  const out: string[] = [];
  for (const o of given) {
    if (!isRedactedOption(o)) {
      out.push(o);
      continue;
    }
    const i = pool.findIndex((s) => recordableOption(s) === o);
    if (i < 0) return null;
    out.push(pool.splice(i, 1)[0]!);
  }
  return out;
}

/** The secret parts of `options` (what recordableOption takes out), for redacting what quotes them. */
export function optionSecrets(options: readonly string[]): string[] {
  return options.flatMap((o) => redactor().find(o).map((m) => o.slice(m.start, m.end)));
}
