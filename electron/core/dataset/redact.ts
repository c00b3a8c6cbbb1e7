// Secrets must not leave the machine inside a dataset. Every string written into a
// bundle passes through a Redactor; each hit becomes `[REDACTED:<kind>]` and is
// counted in a report that names where it was, never what it was.
//
// Kinds:
//   configured-secret  exact values passed in (the app's API keys), also in JSON-escaped form
//   private-key        -----BEGIN … PRIVATE KEY----- … -----END … PRIVATE KEY----- (or to the
//                      end of the base64 body when the END line is missing, e.g. truncated output);
//                      a kubeconfig's `client-key-data: <base64 of one>`
//   anthropic-key      sk-ant-…
//   openai-key         sk-…, sk-proj-…, sk-svcacct-… (20+ chars with a digit)
//   github-token       ghp_/gho_/ghu_/ghs_/ghr_…, github_pat_…
//   aws-access-key     AKIA…/ASIA… (20 chars)
//   slack-token        xoxb-/xoxp-/xoxa-/… ; slack-webhook https://hooks.slack.com/services/…
//   hf-token           hf_…
//   google-api-key     AIza…
//   stripe-key         sk_live_/rk_live_/sk_test_…
//   jwt                eyJ….eyJ….sig
//   bearer             the credential after `Authorization: Bearer|Basic|Token` or `Bearer <tok>`
//   url-password       the password in scheme://user:password@host (the user may be empty), also
//                      percent-encoded as the shell integration reports a variable
//                      (postgres%3A//app%3A<password>%40db…)
//   url-token          a lone token as the user of a URL: https://<token>@host (a generated value,
//                      not a name such as git@ or alice@)
//   assignment         the value in PASSWORD=…, API_KEY: "…", --token …, aws_secret_access_key = …
//                      (8+ chars, not all digits nor a number, not a tokenizer's special token, not
//                      a $VARIABLE reference, not code such as
//                      `token = get_token()`, `password=password`, `key = self.key`); unquoted after
//                      a colon (YAML, INI, an HTTP header as curl -v prints it: `password: …`,
//                      `x-api-key: …`) only when the name ends in the keyword and the value ends its
//                      line; a name ending in _PASS, _PWD, _PW or _CREDENTIALS given a value (not
//                      another such name: first_pass = second_pass); a name ending in _KEY/-KEY
//                      (MISTRAL_KEY=…) holding a generated value
//                      (16+ chars mixing letters and digits: not PRIMARY_KEY=id, sort_key=created_at)
//                      and not named as no secret (md5_key, cache-key, idempotency_key, sort_key=<hex>);
//                      ?key=, &sig=, &signature= in a URL holding one (a ?key= not of words and
//                      numbers: not ?key=page2024p03item17). A quoted value is taken up to its
//                      closing quote on the line, spaces included (`password = "correct horse
//                      battery staple"`), unless it starts or ends with a blank (`"Password: " +
//                      pw + "…"` is code), starts as a template, a format or a regular
//                      expression does (`"{{ .Values.pw }}"`, `'<your password>'`, `"%d,%d"`,
//                      `"(?u)\w+"`), or follows a name in the plural (`maxTokens: 'max tokens'`);
//                      then, and with no closing quote on its line, it is taken as unquoted. A
//                      name that holds the keyword as a part (`password_hint="what is your pet"`,
//                      `secret_name`) is taken as naming a secret, as its JSON key is
//                      (sensitive-field): a hint often gives the password away
//   netrc-password     the password of a netrc entry: machine <host> login <user> password <…>
//   docker-auth        the base64 user:password of `"auth": "…"` (a docker config.json)
//   cli-password       the password given on a command line: mysql/mariadb/mysqldump -p<…>,
//                      sshpass -p <…> (quoted: up to the closing quote, -p"My S3cret Pass"),
//                      curl -u user:<…>, docker login -p <…>, redis-cli -a <…>
//   wandb-key          the key of `wandb login <40 hex>` and `wandb.login(key="<40 hex>")`
//   aws-secret-key     what `aws configure` echoes: AWS Secret Access Key [****]: <…>
//   azure-storage-key  AccountKey=<base64> of an Azure storage connection string
//   gitlab-token, npm-token, pypi-token, sendgrid-key, vault-token, databricks-token,
//   perplexity-key, hf-token (api_org_…), age-secret-key, aws-bedrock-key,
//   digitalocean-token, shopify-token, groq-key, replicate-token, xai-key, docker-token,
//   langsmith-key, google-oauth-token, linear-key, notion-token, sentry-token, doppler-token,
//   pulumi-token, stripe-webhook-secret, stripe-key (sk_prod_…)
//   telegram-bot-token the secret half of a bot token, <bot id>:AA<33 chars> (in a bot API URL too)
//   discord-webhook    the token of https://discord.com/api/webhooks/<id>/<token>, which posts as the hook
//                      provider tokens with a fixed prefix (PREFIXED_TOKENS, MORE_PREFIXED_TOKENS),
//                      anywhere, glued to nothing of their own characters
//   twilio-key         SK + 32 hex, glued to nothing of its own characters
//   private-key        also the Private-Lines of a PuTTY key file (.ppk)
//   azure-storage-key  also each "value" beside a "keyName" (az storage account keys list)
//   sensitive-field    a whole JSON string value whose key names a secret (env maps in checkpoints;
//                      camelCase and PascalCase keys read as words: SecretAccessKey, accessToken),
//                      or whose key is a *_KEY name holding a generated value, `auth` holding a
//                      docker auth, `client-key-data` (a kubeconfig's private key)
// Only the secret part is replaced (the `Bearer ` or `PASSWORD=` prefix stays).
//
// Patterns only ever see decoded text. A secret inside JSON text is preceded by the
// letter of an escape (`\nghp_…`, `\tsk-…`), which defeats every "starts at a token
// boundary" look-behind, so:
//   - a string that is JSON text (tool-call `arguments`, run_command observations
//     `{"output": "…", "exit_code": 0}`, a JSON string holding JSON) is parsed and its
//     strings are redacted recursively; only the string tokens that changed are
//     re-encoded and spliced back, so the rest of the text — the model's own argument
//     text included — stays byte-identical, and an untouched string is returned as is;
//   - any other text is matched through a decoded view of it (see `textView`): escape
//     sequences left in it (JSON printed by a command, `printf 'a\nb'`, a truncated JSON
//     observation) read as the characters they stand for and terminal control sequences
//     (colours, erase-line) as nothing, with every match mapped back to whole source
//     characters, so a replacement never cuts an escape in half.
// `scan` reports each hit with a pointer into the decoded structure, so the exporter can
// mask (weight 0) or leave out a trained assistant turn that contained a secret instead
// of teaching the model to type `[REDACTED:…]`; `RedactionLog.addMasked` records that.
import { createHash } from 'node:crypto';
import { KeyFingerprints, type KeyFingerprint, type SecretSpec } from './key-fingerprint';

export interface SecretMatch {
  start: number;
  end: number;
  kind: string;
}

/** One secret found by `Redactor.scan`. Never holds the secret. */
export interface SecretHit {
  /**
   * JSON pointer to where the secret was, continued into JSON text held by a string
   * (`/tool_calls/0/function/arguments/content`: `arguments` is a string, `content` a
   * key of the object it decodes to). Object keys in it are the redacted keys.
   */
  pointer: string;
  /** JSON pointer to the string of the scanned value that held it (`/tool_calls/0/function/arguments`). */
  field: string;
  kind: string;
}

export interface ScanResult<T> {
  /** A redacted deep copy (strings without a hit are the original strings). */
  value: T;
  /** In document order. */
  hits: SecretHit[];
}

/** One line of the redaction report: where, what kind, how many. Never the secret. */
export interface RedactionReport {
  /** Bundle-relative file path. */
  file: string;
  /** 1-based line in the file (JSONL, asciicast). */
  line: number;
  /** JSON pointer inside that line's JSON value. */
  path: string;
  kind: string;
  count: number;
}

/**
 * A trained turn taken out of training because it contained a secret: masked (kept with
 * weight 0) or dropped (the example left out). Redacting it alone would train the model
 * to write `[REDACTED:…]`.
 */
export interface MaskedTurnReport {
  file: string;
  /** 1-based line of the record (0 when the whole record was left out). */
  line: number;
  /** JSON pointer to the turn (e.g. `/messages/3`). */
  path: string;
  /** Kinds of the secrets it contained, sorted, once each. */
  kinds: string[];
  action: 'masked' | 'dropped';
}

interface Pattern {
  kind: string;
  re: RegExp;
  /** Capture group holding the secret; 0 = the whole match. */
  group?: number;
  accept?: (m: RegExpExecArray) => boolean;
  /** The kind of each alternative, by its capture group (1, 2, …): the first group that took part names it. */
  kinds?: readonly string[];
}

const KEYWORD = String.raw`(?:password|passwd|passphrase|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|client[_-]?secret|auth[_-]?token)`;
// Backslashes are allowed: the text is decoded, so a backslash is part of the value. Backticks
// are not: `API_KEY=…` in markdown ends at the closing one.
//
// After its opening quote (the pattern's `(["'])?` took it) a value runs to the same quote,
// spaces and all (`password = "correct horse battery staple"`, `DB_PASSWORD="Tr0ub4dor &3
// horse"`), when that quote closes it on the line; else it is taken unquoted, as it was. Not
// after a name in the plural (`maxTokens: 'max tokens'`, `secrets: "see the vault"`): a label
// or a list, not one secret; as unquoted, a word of 8 or more is still taken, as before.
const VALUE = String.raw`(?!\[REDACTED)(?:${quotedRun(8, 1024, String.raw`${KEYWORD}e?s["']?\s*[=:]\s*`)}|[^\s'"\`;&|,)(\]\[{}<>]{8,1024})`;

/**
 * Alternatives matching the text of a quoted value, `min` to `max` characters, at the
 * character after its opening quote (a look-behind reads which quote that was), when what
 * comes before that quote does not end in `notAfter`: up to the same quote, which must
 * follow on the same line (a look-ahead: the quote stays out of the match). It starts and
 * ends with a non-blank character, which the concatenation of two strings does not
 * (`"Password: " + pw + "…"`), and does not start as a template (`"{{ .Values.pw }}"`,
 * `'<your password>'`), a format (`"%(pw)s"`, `"%d,%d-%d"`) or a regular expression
 * (`"(?u)\b\w\w+\b"`, `'[A-Za-z]+ '`, `"^tok"`) does: the unquoted form, which none of those
 * passed, is tried instead. One bounded run each, no nested quantifier: a quote that never
 * closes costs a scan of the rest of the line (at most `max` characters) and back, before
 * the unquoted form is tried.
 */
function quotedRun(min: number, max: number, notAfter = ''): string {
  return [`"`, `'`].map((q) => String.raw`(?<=${q})${notAfter && `(?<!${notAfter}${q})`}(?![\s{<%(\[^])[^${q}\r\n]{${min},${max}}(?<=\S)(?=${q})`).join('|');
}

/** A password given quoted on a command line (`mysql -p"My S3cret Pass"`, `sshpass -p 'two words'`), spaces and all. */
const QUOTED_PASSWORD = quotedRun(1, 256);

function plausibleValue(v: string): boolean {
  return !/^\d+$/.test(v)
    // a count, a size, a rate or a time (`'num_tokens': 1234567.0`, `tokens_per_second: 45.21`)
    && !NUMBER.test(v)
    // a tokenizer's special tokens (`"eos_token": "<|im_end|>"`, `pad_token: [PAD]`, `</s>`)
    && !/^(?:<\|?[^\s<>|]{1,40}\|?>|\[[A-Z]{2,10}\])$/.test(v)
    && !v.startsWith('$')
    // (REDACTED, DATA+OMITTED: what kubectl config view prints in their place)
    && !/^(?:true|false|null|none|undefined|required|optional|redacted|data\+omitted)$/i.test(v)
    // xxxxxxxx, ********, --------: placeholders
    && !/^(.)\1*$/.test(v)
    // a plain URL (credentials in one are the url-password kind) or a file path: TOKEN_URL=https://…, password_file: /run/secrets/db
    && !/^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^@\s]*$/.test(v)
    && !/^(?:~|\.{1,2})?\/[\w.@%+/-]*$/.test(v);
}

const NAMES_SECRET = new RegExp(String.raw`^(?:[A-Za-z][A-Za-z0-9]*_)*${KEYWORD}(?:e?s)?(?:_[A-Za-z0-9]+)*$`, 'i');

/**
 * An unquoted value that is code rather than a literal: a call or an index
 * (`token = get_token()`, `key = os.environ["K"]`), a member of a lower-case name
 * (`password=self.password`), or a variable named after a secret (`login(password=password)`).
 */
function codeExpression(value: string, next: string | undefined): boolean {
  return next === '(' || next === '['
    // a member (`self.password`), unless a part of it is generated: a kubeadm or Vault token
    // (`abcdef.l348yyowl4rf42pp`, `s.QJpyLlvohBy7R0ALQowaQWVl`) is dotted too
    || (/^[a-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)+$/.test(value) && !value.split('.').some((part) => generatedValue(part, 12)))
    || NAMES_SECRET.test(value);
}

/**
 * A generated value (a key, a token, a signature) rather than a name or a word: `min`+
 * characters holding letters and digits that change from one to the other at least 3 times
 * where they touch (hex, base64, a UUID: not `session-cache-v2`, `created_at_2024`,
 * `tenant_id`), or 24+ characters of both cases with a digit (base64 with few digits).
 */
function generatedValue(v: string, min = 16): boolean {
  if (v.length < min || !/[0-9]/.test(v) || !/[A-Za-z]/.test(v)) return false;
  return (v.match(/[A-Za-z](?=[0-9])|[0-9](?=[A-Za-z])/g)?.length ?? 0) >= 3
    || (v.length >= 24 && /[a-z]/.test(v) && /[A-Z]/.test(v));
}

/**
 * A name ending in _KEY or -KEY (MISTRAL_KEY, deepl-key, App_Key, app.signing_key); not a public
 * one. The three spellings of key are those of its anchor (a case-sensitive one: as a
 * case-insensitive one the prefilter's scan of every text took 15% longer).
 */
const KEY_NAME = /^(?:[A-Za-z0-9]{1,64}[_.-]){0,6}[A-Za-z0-9]{1,64}[_-](?:key|KEY|Key)$/;
const PUBLIC_KEY_NAME = /(?:^|[_.-])pub(?:lic|lishable)?[_-]key$/i;
/** The same, of the name before its _KEY. */
const PUBLIC_KEY_PREFIX = /(?:^|[_.-])pub(?:lic|lishable)?$/i;

/**
 * The last word before a _KEY that says the key is no secret: a digest (md5_key, CONTENT_HASH_KEY),
 * a cache or request key (cache-key, idempotency_key), a database or pagination key (sort_key,
 * primary_key, partition_key, next_page_key). Their values are generated (hex, UUIDs), so the value
 * test alone masked every commit hash and cache key of a build log.
 */
const NOT_SECRET_KEY_WORD = /(?:^|[_.-])(?:[A-Za-z0-9]{0,32}hash|md5(?:sum)?|sha[0-9]{0,3}(?:sum)?|checksum|crc[0-9]{0,2}|cache|idempotency|idempotence|dedup|dedupe|deduplication|sort|primary|foreign|unique|composite|compound|surrogate|natural|candidate|partition|range|row|shard|cluster|clustering|routing|lookup|index|page|cursor|pagination)$/i;
/**
 * Words that make such a name a secret again: a key for a MAC, a signature or a cipher
 * (SESSION_HASH_KEY and HMAC_SHA256_KEY are random keys as securecookie and HMAC use them).
 */
const SECRET_KEY_HINT = /hmac|sign|crypt|cipher|aes|mac|secret|private|master|session|cookie|jwt|auth|salt|pepper|token|passw|credential|api|access/i;

/** A name before its _KEY (or the whole name with it) that says its key is no secret. */
function notSecretKeyName(name: string): boolean {
  const bare = name.replace(/[_-](?:key|KEY|Key)$/, '');
  return NOT_SECRET_KEY_WORD.test(bare) && !SECRET_KEY_HINT.test(bare);
}

/**
 * A URL's ?key= value made of words and numbers (`page2024p03item17`, `Spring2024Catalog2`),
 * as a page or a record is named, rather than a generated key: every run of letters is a word
 * (one case, or capitalised; three letters or more, holding a vowel), but for at most one
 * short one. Hex, a UUID and base64 have runs of one or two letters, or change case inside one.
 */
function wordsAndNumbers(v: string): boolean {
  let odd = 0;
  for (const run of v.match(/[A-Za-z]+/g) ?? []) {
    if (!/^(?:[a-z]+|[A-Z]+|[A-Z][a-z]+)$/.test(run)) return false;
    if (run.length < 3 || !/[aeiouy]/i.test(run)) odd++;
    if (odd > 1) return false;
  }
  return true;
}

/** The unquoted value of `name: value` is one (see bareColonValue) only when the name ends in the keyword itself. */
const ENDS_IN_KEYWORD = new RegExp(`${KEYWORD}$`, 'i');
/** A count or a size (`num_tokens: 1.23e+09`, `secret: 12:30:45`), not a secret. */
const NUMBER = /^[+-]?\d[\d.,_:]*(?:e[+-]?\d+)?(?:[kmgt]i?b?|b|s|ms|%)?$/i;

/**
 * `name: value` with no quote around either (YAML, INI, an HTTP header as curl -v prints it)
 * holds a secret only when it reads as a setting: the name ends in the keyword (not
 * `tokens: 12`, `secret_name: db-creds`, `token_type: …`), the value comes after one space or
 * more on the same line (not a prompt `Password: ` and whatever the next line holds), nothing
 * but a comment or a closing quote follows it on its line (not prose: `the password: it must
 * be …`), and it is not a number, a YAML alias (`*db_pw`) or tag (`!vault`), a reST role
 * (`:type passphrase: :py:data:`bytes``) nor another name (`password: username:`).
 */
function bareColonValue(m: RegExpExecArray): boolean {
  const sep = m.indices![2]!;
  const value = m.indices![4]!;
  const after = m.input.slice(value[1], value[1] + 64);
  return ENDS_IN_KEYWORD.test(m.input.slice(m.index, sep[0]).trimEnd())
    && /^[ \t]+$/.test(m.input.slice(sep[1], value[0]))
    && /^[ \t]*(?:[\r\n#"'`]|$)/.test(after)
    && !/^[*!:]|:$/.test(m[4]!)
    && !NUMBER.test(m[4]!);
}

/**
 * A quote after a name (`close`, '' for none) closes one before it, at `before` (the character
 * before the name): `"SERVICE_KEY": …` or `SERVICE_KEY=…`, not `SERVICE_KEY": …`.
 */
function closesQuote(m: RegExpExecArray, before: number, close: string): boolean {
  return close === '' || m.input[before] === close;
}

/** base64 of `user:password` (a docker config's `auth`), as printable text. */
function basicAuthPair(v: string): boolean {
  if (!/^[A-Za-z0-9+/]{8,8192}={0,2}$/.test(v)) return false;
  return /^[^\x00-\x1f\x7f:]{1,1024}:[^\x00-\x1f\x7f]{1,4096}$/.test(Buffer.from(v, 'base64').toString('latin1'));
}

/** The password of a URL's user part is not a template (`{password}`, `${PASS}`, `%(pw)s`) nor the placeholder `user:password@`. */
function urlPassword(v: string): boolean {
  return !/^[{$%<]/.test(v) && !/^(?:pass(?:word)?|secret|token|pwd|\*+|x+)$/i.test(v);
}

/** A password given on a command line or in a netrc: not a $VARIABLE, a template (`{password}`, `<pw>`, `%(pw)s`) nor a placeholder. */
function cliPassword(v: string): boolean {
  return !/^[{$<%]/.test(v) && !/^(.)\1*$/.test(v) && !/^(?:password|passwd|pass|secret|pwd)$/i.test(v);
}

/** A percent-encoded text as it reads, or null when it is not one. */
function percentDecoded(v: string): string | null {
  try {
    return decodeURIComponent(v);
  } catch {
    return null;
  }
}

// Pieces of a percent-encoded URL (the shell integration encodes all but [A-Za-z0-9/._~-],
// encodeURIComponent all but [A-Za-z0-9-_.!~*'()]): a character of the user part is any but
// `:` `@` `/` (%3A %40 %2F), of the password any but `@` and `/`.
const PCT_USER = String.raw`(?:[A-Za-z0-9._~!*'()-]|%(?!3[Aa]|40|2[Ff])[0-9A-Fa-f]{2})`;
const PCT_PASSWORD = String.raw`(?:[A-Za-z0-9._~!*'()-]|%(?!40|2[Ff])[0-9A-Fa-f]{2})`;

/**
 * Tokens a provider issues with a fixed prefix, each shaped as gitleaks' default rules
 * (config/gitleaks.toml) or trufflehog's detectors give it, with the kind it is reported as.
 * One pattern for all of them (led by the alternation of their literals, so the prefilter's
 * anchor is that alternation and the regex runs only on a text holding one); a token glued
 * to more of its characters on either side is not taken (PREFIXED_BOUNDS).
 *
 * Chosen for what an ML agent's terminal prints, within what one more presence scan of
 * every text affords (LATE_ANCHORS): V8 scans an alternation of literals at memchr speed
 * only up to a point, past which the scan takes 4-6× as long; the tokens after those
 * (MORE_PREFIXED_TOKENS) have a presence scan of their own (LATER_ANCHORS).
 */
const PREFIXED_TOKENS: ReadonlyArray<readonly [kind: string, source: string]> = [
  ['gitlab-token', String.raw`gl(?:pat|rt|dt|ptt|ft|agent|oas)-[\w-]{20,255}`],
  ['npm-token', String.raw`npm_[A-Za-z0-9]{36}`],
  ['pypi-token', String.raw`pypi-AgEIcHlwaS5vcmc[\w-]{50,1000}`],
  ['sendgrid-key', String.raw`SG\.[\w-]{22}\.[\w-]{43}`],
  ['vault-token', String.raw`hv[sb]\.[\w-]{90,120}`],
  ['databricks-token', String.raw`dapi[a-f0-9]{32}(?:-\d)?`],
  ['perplexity-key', String.raw`pplx-[A-Za-z0-9]{48}`],
  ['hf-token', String.raw`api_org_[A-Za-z]{34}`],
  ['age-secret-key', String.raw`AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}`],
  ['aws-bedrock-key', String.raw`ABSK[A-Za-z0-9+/]{109,269}={0,2}`],
  ['digitalocean-token', String.raw`do[opr]_v1_[a-f0-9]{64}`],
  ['shopify-token', String.raw`shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}`],
  ['groq-key', String.raw`gsk_[A-Za-z0-9]{52}`],
  ['replicate-token', String.raw`r8_[0-9A-Za-z_-]{37}`],
  ['xai-key', String.raw`xai-[0-9A-Za-z_]{80}`],
  ['docker-token', String.raw`dckr_(?:pat|oat)_[A-Za-z0-9_-]{27,32}`],
  ['langsmith-key', String.raw`lsv2_(?:pt|sk)_[a-f0-9]{32}_[a-f0-9]{10}`],
  ['google-oauth-token', String.raw`ya29\.[\w-]{30,2048}`],
];
/** As gitleaks' rules (and trufflehog's detectors for Doppler's other tokens and Stripe's webhook secret) give them. */
const MORE_PREFIXED_TOKENS: ReadonlyArray<readonly [kind: string, source: string]> = [
  ['linear-key', String.raw`lin_api_[A-Za-z0-9]{40}`],
  ['notion-token', String.raw`ntn_[0-9]{11}[A-Za-z0-9]{35}`],
  ['sentry-token', String.raw`sntrys_eyJpYXQiO[A-Za-z0-9+/]{10,200}(?:LCJyZWdpb25fdXJs|InJlZ2lvbl91cmwi|cmVnaW9uX3VybCI6)[A-Za-z0-9+/]{10,200}={0,2}_[A-Za-z0-9+/]{43}`],
  ['sentry-token', String.raw`sntryu_[a-f0-9]{64}`],
  ['doppler-token', String.raw`dp\.(?:pt|st|sa|ct|scim|audit)\.(?:[a-z0-9_-]{2,35}\.)?[A-Za-z0-9]{40,44}`],
  ['pulumi-token', String.raw`pul-[a-f0-9]{40}`],
  ['stripe-webhook-secret', String.raw`whsec_[A-Za-z0-9+/]{32,128}`],
  ['stripe-key', String.raw`[sr]k_prod_[A-Za-z0-9]{10,99}`],
];
const MORE_PREFIXED_ANCHOR = /lin_api_|ntn_|sntry[su]_|dp\.(?:pt|st|sa|ct|scim|audit)\.|pul-|whsec_|k_prod_/;
/** The literal each of PREFIXED_TOKENS starts with (the tests redact a token of every kind, through it). */
const PREFIXED_ANCHOR = /gl(?:pat|rt|dt|ptt|ft|agent|oas)-|npm_|pypi-AgEI|SG\.|hv[sb]\.|dapi|pplx-|api_org_|AGE-SECRET-KEY-1|ABSK|do[opr]_v1_|shp(?:at|ca|pa|ss)_|gsk_|r8_|xai-|dckr_|lsv2_|ya29\./;
/** A name of the same kind as a value (`first_pass = second_pass`): a variable, not a password. */
const PASS_NAME = /^[A-Za-z_][\w]*[_-](?:pass|pwd|pw|creds|credentials?)$/i;
/** A token's characters: one of them right before or after a match makes it part of something longer. */
const PREFIXED_BOUNDS = /[A-Za-z0-9_-]/;
/** A match glued to none of those characters on either side. */
const standsAlone = (m: RegExpExecArray): boolean => !PREFIXED_BOUNDS.test(m.input[m.index - 1] ?? '') && !PREFIXED_BOUNDS.test(m.input[m.index + m[0].length] ?? '');

// A pattern added here leads with its literal (a look-behind for what comes before it goes after
// the literal): V8 finds a leading literal with one fast scan of the text, while a pattern led by a
// character class or a look-behind is tried at every word (10-50× slower on source code).
const PATTERNS: Pattern[] = [
  {
    kind: 'private-key',
    re: /-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY(?: BLOCK)?-----(?:[\s\S]{0,16384}?-----END \1PRIVATE KEY(?: BLOCK)?-----|(?:\s*(?:[A-Za-z0-9+/=]{8,}|[A-Za-z-]+: [^\n]{0,200})){0,300})/g,
  },
  { kind: 'anthropic-key', re: /(?<![A-Za-z0-9_-])sk-ant-[A-Za-z0-9_-]{20,300}/g },
  // With a run of 16 letters and digits (every real key has one): not `sk-runner-2024-06-01-nightly`.
  { kind: 'openai-key', re: /(?<![A-Za-z0-9_-])sk-(?=[A-Za-z_-]*[0-9])(?=[A-Za-z0-9_-]*?[A-Za-z0-9]{16})[A-Za-z0-9_-]{20,300}/g },
  { kind: 'github-token', re: /(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{30,255}|github_pat_[A-Za-z0-9_]{30,255})/g },
  { kind: 'aws-access-key', re: /(?<![A-Z0-9])(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Z0-9])/g },
  { kind: 'slack-webhook', re: /https:\/\/hooks\.slack\.com\/services\/[A-Za-z0-9/_-]{20,200}/g },
  { kind: 'slack-token', re: /(?<![A-Za-z0-9])xox[abposre]-[A-Za-z0-9-]{10,250}/g },
  { kind: 'hf-token', re: /(?<![A-Za-z0-9_])hf_[A-Za-z0-9]{30,64}(?![A-Za-z0-9])/g },
  { kind: 'google-api-key', re: /(?<![A-Za-z0-9_-])AIza[0-9A-Za-z_-]{35}/g },
  { kind: 'stripe-key', re: /(?<![A-Za-z0-9])(?:sk|rk)_(?:live|test)_[0-9A-Za-z]{20,200}/g },
  { kind: 'jwt', re: /(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{8,2000}\.eyJ[A-Za-z0-9_-]{8,4000}\.[A-Za-z0-9_-]{8,2000}/g },
  { kind: 'bearer', re: /\bAuthorization\s*:\s*(?:Bearer|Basic|Token)\s+((?!\[REDACTED)[A-Za-z0-9._~+/=-]{8,4000})/gi, group: 1 },
  { kind: 'bearer', re: /\bBearer\s+((?!\[REDACTED)(?=[A-Za-z._~+/=-]*[0-9])[A-Za-z0-9._~+/=-]{16,4000})/g, group: 1 },
  {
    // The user part may be DOMAIN\user, or empty (redis://:password@host); a template
    // (`{password}`, `${PASS}`, `%(pw)s`) or the placeholder `user:password@` is not a
    // credential, nor the `[REDACTED:kind]` another pattern left as the user (https://<token>@).
    kind: 'url-password',
    re: /\b[A-Za-z][A-Za-z0-9+.-]{1,20}:\/\/(?!\[REDACTED)[^\s:/@"'<>]{0,256}:((?!\[REDACTED)[^\s/@"'<>]{1,256})@/g,
    group: 1,
    accept: (m) => urlPassword(m[1]!),
  },
  {
    // The same percent-encoded, as the shell integration reports a variable (OSC 1337;ApolloEnv:
    // DATABASE_URL=postgres%3A//app%3A<password>%40db%3A5432/prod) or encodeURIComponent writes it.
    kind: 'url-password',
    re: new RegExp(String.raw`%3[Aa](?<=\b[A-Za-z][A-Za-z0-9+.-]{1,20}%3[Aa])(?:\/\/|%2[Ff]%2[Ff])${PCT_USER}{0,256}%3[Aa]((?!\[REDACTED)${PCT_PASSWORD}{1,256})%40`, 'g'),
    group: 1,
    accept: (m) => {
      const v = percentDecoded(m[1]!);
      return v !== null && urlPassword(v);
    },
  },
  {
    // https://<token>@host/…: a generated value as the whole user part (git@, alice@ are names).
    // The scheme is a look-behind after the literal `://`, so the regex is one fast scan for the
    // literal: led by the scheme (or by a look-behind) it tries every word, 6.6 ms a megabyte of
    // source code against 0.3.
    kind: 'url-token',
    re: /:\/\/(?<=\b[A-Za-z][A-Za-z0-9+.-]{1,20}:\/\/)((?!\[REDACTED)[A-Za-z0-9._~-]{20,256})@/g,
    group: 1,
    accept: (m) => generatedValue(m[1]!, 20),
  },
  {
    // KEY=value, KEY = 'value', "key": "value", key: 'value' (a colon needs a quote nearby, or
    // the line must read as a setting: see bareColonValue).
    kind: 'assignment',
    // Bounded and anchored at a token start: no quadratic scans over long runs of
    // dashes or base64 in terminal output.
    re: new RegExp(String.raw`(?<![A-Za-z0-9_.-])(["']?)[A-Za-z0-9_.-]{0,64}?${KEYWORD}(?:e?s)?(?:[_.-][A-Za-z0-9]+){0,6}\1\s*([=:])\s*(["'])?(${VALUE})`, 'gi'),
    group: 4,
    accept: (m) => plausibleValue(m[4]!) && (m[2] === '=' || !!m[1] || !!m[3] || bareColonValue(m)) && (!!m[3] || !codeExpression(m[4]!, m.input[m.index + m[0].length])),
  },
  {
    kind: 'assignment',
    re: new RegExp(String.raw`(?<![A-Za-z0-9_-])--[A-Za-z0-9-]{0,40}?${KEYWORD}\s+(["'])?(${VALUE})`, 'gi'),
    group: 2,
    accept: (m) => plausibleValue(m[2]!) && (!!m[1] || !codeExpression(m[2]!, m.input[m.index + m[0].length])),
  },
  {
    // MISTRAL_KEY=…, deepl-key: "…", "SERVICE_KEY": "…": a name ending in _KEY or -KEY. Many such
    // names hold no secret (PRIMARY_KEY=id, sort_key: created_at, foreign_key: user_id), so the
    // value must be a generated one; a bare KEY, monkey=, keyboard= are no such name. The name
    // is a look-behind after the literal _KEY, so the regex is one fast scan for it: led by the
    // name it tried every word and number of the text (16 ms a megabyte of source code against 0.4).
    kind: 'assignment',
    // A look-around is atomic (once it matched, a later failure does not try it another way), so
    // a quote before the name is not captured in it: a closing one must match it (closesQuote).
    re: new RegExp(String.raw`[_-](?:key|KEY|Key)(?<=(?<![A-Za-z0-9_.-])["']?([A-Za-z0-9](?:[A-Za-z0-9_.-]{0,62}[A-Za-z0-9])?)[_-](?:key|KEY|Key))(["']?)[ \t]*([=:])[ \t]*(["'])?((?!\[REDACTED)[^\s'"\`;&|,)(\]\[{}<>]{16,1024})`, 'g'),
    group: 5,
    accept: (m) => closesQuote(m, m.index - m[1]!.length - 1, m[2]!) && generatedValue(m[5]!) && plausibleValue(m[5]!) && !PUBLIC_KEY_PREFIX.test(m[1]!) && !notSecretKeyName(m[1]!) && (!!m[4] || !codeExpression(m[5]!, m.input[m.index + m[0].length])),
  },
  {
    // A URL's ?key=, &sig=, &signature= (an API key, a SAS or presigned URL's signature); not
    // ?key=sort, nor a key that names a page or a record (?key=page2024p03item17). A signature
    // is always generated.
    kind: 'assignment',
    re: /[?&](?:key|sig|signature|X-Amz-Signature|X-Goog-Signature)=((?!\[REDACTED)[^\s&#'"`<>;]{16,1024})/g,
    group: 1,
    accept: (m) => generatedValue(m[1]!) && !(m[0].startsWith('key=', 1) && wordsAndNumbers(m[1]!)),
  },
  {
    // machine <host> [login <user>] [account …] password <password>, on one line or several. A
    // host without a dot needs a login (not prose: "the machine x password y").
    kind: 'netrc-password',
    re: /machine(?<![A-Za-z0-9_-]machine)[ \t\r\n]+([^\s]{1,253})((?:[ \t\r\n]+(?:login|account|port)[ \t\r\n]+[^\s]{1,256}){0,3})[ \t\r\n]+password[ \t\r\n]+(["']?)((?!\[REDACTED)[^\s'"]{1,1024})\3/g,
    group: 4,
    accept: (m) => (m[2] !== '' || m[1]!.includes('.')) && cliPassword(m[4]!),
  },
  {
    // A docker config's "auth": "<base64 of user:password>" (a key named exactly auth).
    kind: 'docker-auth',
    re: /(["'])auth\1[ \t]*:[ \t]*(["'])([A-Za-z0-9+/]{8,8192}={0,2})\2/g,
    group: 3,
    accept: (m) => basicAuthPair(m[3]!),
  },
  {
    // A kubeconfig's client-key-data: the base64 of a PEM private key.
    kind: 'private-key',
    re: /client-key-data(?<![A-Za-z0-9_-]client-key-data)(["']?)[ \t]*:[ \t]*(["']?)([A-Za-z0-9+/]{16,16384}={0,2})/g,
    group: 3,
    accept: (m) => closesQuote(m, m.index - 1, m[1]!),
  },
  {
    // mysql -pS3cr3t (no space: `-p db` asks for one and names the database), mysqldump, mariadb;
    // quoted, up to its closing quote (-p"My S3cret Pass").
    kind: 'cli-password',
    re: new RegExp(String.raw`(?:mysql(?:dump|admin|import|show|check|pump)?|mariadb(?:-dump|-admin)?)(?<![A-Za-z0-9_.-](?:mysql(?:dump|admin|import|show|check|pump)?|mariadb(?:-dump|-admin)?))(?:[ \t]+(?!-p)[^\s;&|]{1,256}){0,16}[ \t]+-p(["']?)((?!\[REDACTED)(?:${QUOTED_PASSWORD}|[^\s'"]{1,256}))\1`, 'g'),
    group: 2,
    accept: (m) => cliPassword(m[2]!),
  },
  {
    // sshpass -p <password> (its other options first: -v, -e, -f file, -d fd, -P prompt).
    kind: 'cli-password',
    re: new RegExp(String.raw`sshpass(?<![A-Za-z0-9_.-]sshpass)(?:[ \t]+-[ve]|[ \t]+-[fdP][ \t]*[^\s-][^\s]{0,255}){0,3}[ \t]+-p[ \t]*(["']?)((?!\[REDACTED)(?:${QUOTED_PASSWORD}|[^\s'"]{1,256}))\1`, 'g'),
    group: 2,
    accept: (m) => cliPassword(m[2]!),
  },
  {
    // curl -u user:password, --user=user:password (its other arguments first, or after).
    kind: 'cli-password',
    re: new RegExp(String.raw`curl(?<![A-Za-z0-9_.-]curl)(?:[ \t]+(?!-u\b|--user\b)[^\s;&|]{1,256}){0,16}[ \t]+(?:-u|--user)(?:=|[ \t]+)(["']?)[^\s:'"]{0,256}:((?!\[REDACTED)[^\s'"]{1,256})\1`, 'g'),
    group: 2,
    accept: (m) => cliPassword(m[2]!),
  },
  {
    // docker login -p <password>, --password <password> (not --password-stdin).
    kind: 'cli-password',
    re: new RegExp(String.raw`docker(?<![A-Za-z0-9_.-]docker)[ \t]+login(?:[ \t]+(?!-p\b|--password\b)[^\s;&|]{1,256}){0,8}[ \t]+(?:-p|--password)(?:=|[ \t]+)(["']?)((?!\[REDACTED)(?:${QUOTED_PASSWORD}|[^\s'"]{1,256}))\1`, 'g'),
    group: 2,
    accept: (m) => cliPassword(m[2]!),
  },
  {
    // redis-cli -a <password>, --pass <password>.
    kind: 'cli-password',
    re: new RegExp(String.raw`redis-cli(?<![A-Za-z0-9_.-]redis-cli)(?:[ \t]+(?!-a\b|--pass\b)[^\s;&|]{1,256}){0,16}[ \t]+(?:-a|--pass)[ \t]+(["']?)((?!\[REDACTED)(?:${QUOTED_PASSWORD}|[^\s'"]{1,256}))\1`, 'g'),
    group: 2,
    accept: (m) => cliPassword(m[2]!),
  },
  {
    // wandb login <its 40-hex key> (its --options first).
    kind: 'wandb-key',
    re: /wandb(?<![A-Za-z0-9_.-]wandb)[ \t]+login(?:[ \t]+--?[A-Za-z][\w-]*(?:=[^\s]{1,256})?){0,4}[ \t]+([a-f0-9]{40})(?![A-Za-z0-9])/g,
    group: 1,
  },
  {
    // wandb.login(key="<40 hex>") in code (its other arguments first, or after).
    kind: 'wandb-key',
    re: /wandb(?<![A-Za-z0-9_-]wandb)\.login\([^)]{0,256}?\bkey[ \t]*=[ \t]*["']([a-f0-9]{40})["']/g,
    group: 1,
  },
  {
    // An Azure storage connection string's key: DefaultEndpointsProtocol=https;AccountName=…;AccountKey=<base64>;…
    kind: 'azure-storage-key',
    re: /AccountKey=([A-Za-z0-9+/]{86,88}={0,2})(?![A-Za-z0-9+/=])/g,
    group: 1,
  },
  {
    // What `aws configure` echoes as it is typed: AWS Secret Access Key [****************abcd]: <key>
    kind: 'aws-secret-key',
    re: /Secret Access Key \[[^\]\r\n]{0,40}\]:[ \t]*([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])/g,
    group: 1,
  },
  {
    // A name ending in _PASS, _PWD, _PW or _CREDENTIALS (REDIS_PASS=, SMTP_PASS=, MONGO_PWD=,
    // APP_CREDENTIALS=) given a value of 8 or more: a look-behind after the literal, as *_KEY.
    kind: 'assignment',
    re: new RegExp(String.raw`[_-](?:pass|PASS|Pass|pwd|PWD|Pwd|pw|PW|creds|CREDS|credentials?|CREDENTIALS?|Credentials?)(?<=(?<![A-Za-z0-9_.-])["']?([A-Za-z0-9](?:[A-Za-z0-9_.-]{0,62}[A-Za-z0-9])?)[_-](?:pass|PASS|Pass|pwd|PWD|Pwd|pw|PW|creds|CREDS|credentials?|CREDENTIALS?|Credentials?))(["']?)[ \t]*=[ \t]*(["'])?(${VALUE})`, 'g'),
    group: 4,
    accept: (m) => closesQuote(m, m.index - m[1]!.length - 1, m[2]!) && plausibleValue(m[4]!) && (!!m[3] || (!codeExpression(m[4]!, m.input[m.index + m[0].length]) && !PASS_NAME.test(m[4]!))),
  },
  ...[PREFIXED_TOKENS, MORE_PREFIXED_TOKENS].map((tokens) => ({
    kind: 'provider-token',
    re: new RegExp(tokens.map(([, src]) => `(${src})`).join('|'), 'g'),
    kinds: tokens.map(([kind]) => kind),
    accept: standsAlone,
  })),
  {
    // A Twilio API key's SID (gitleaks twilio-api-key), glued to nothing of its own characters.
    kind: 'twilio-key',
    re: /SK[0-9a-fA-F]{32}/g,
    accept: standsAlone,
  },
  {
    // The private half of a PuTTY key file (.ppk): the base64 lines after `Private-Lines: N`.
    kind: 'private-key',
    re: /Private-Lines:[ \t]*\d{1,3}\r?\n((?:[A-Za-z0-9+/=]{1,128}\r?\n){0,63}[A-Za-z0-9+/=]{1,128})(?![^\r\n])/g,
    group: 1,
  },
  {
    // `az storage account keys list`: each key's base64 "value" beside its "keyName" (the CLI sorts the fields).
    kind: 'azure-storage-key',
    re: /keyName"[ \t]*:[ \t]*"[\w-]{1,64}"[^{}]{0,300}?"value"[ \t]*:[ \t]*"([A-Za-z0-9+/]{86}==)"/g,
    group: 1,
  },
  {
    // A Telegram bot token (gitleaks telegram-bot-api-token, without its keyword: agents paste
    // it into api.telegram.org/bot<token>/… URLs): the bot id is public, the 35 characters after
    // the colon are not. Led by its literal, the id checked behind it.
    kind: 'telegram-bot-token',
    re: /:(?<=(?:\/bot|(?<![0-9A-Za-z_-]))[0-9]{5,16}:)(AA[A-Za-z0-9_-]{33})(?![A-Za-z0-9_-])/g,
    group: 1,
  },
  {
    // A Discord webhook URL: whoever holds its token posts as the hook.
    kind: 'discord-webhook',
    re: /discord(?:app)?\.com\/api\/(?:v\d{1,2}\/)?webhooks\/[0-9]{17,20}\/([A-Za-z0-9_-]{60,80})(?![A-Za-z0-9_-])/g,
    group: 1,
  },
];

// Patterns with a capture group need match indices (the `d` flag).
for (const p of PATTERNS) if (p.group && !p.re.hasIndices) p.re = new RegExp(p.re.source, `${p.re.flags}d`);

// ---- prefilter ------------------------------------------------------------------------
//
// Every match of a pattern contains a literal part (its anchor, below, in the same case
// rule as the pattern), so a pattern whose anchor is not in the text cannot match and
// is not run. One combined scan per case rule rules out most texts at once. Measured on
// a 30-hour session's terminal output: the ~17 regexes over every 1 MB window were most
// of the export's time, and most of that output holds no anchor at all.
// The anchors of the patterns added after the first scan was at its limit (see
// PREFIXED_TOKENS): case-sensitive, found by a presence scan of their own (ANY_LATE).
const CLI_ANCHOR = /curl|docker|redis-cli|wandb/;
const AWS_CONFIGURE_ANCHOR = /Secret Access Key/;
const AZURE_ANCHOR = /AccountKey=/;
const PASS_ANCHOR = /[_-](?:pass|PASS|Pass|pwd|PWD|Pwd|pw|PW|creds|CREDS|credentials?|CREDENTIALS?|Credentials?)/;
const LATE_ANCHORS: ReadonlySet<RegExp> = new Set([CLI_ANCHOR, AZURE_ANCHOR, AWS_CONFIGURE_ANCHOR, PASS_ANCHOR, PREFIXED_ANCHOR]);
// And those added after that scan was at its limit: a fourth presence scan (ANY_LATER).
const TWILIO_ANCHOR = /SK/;
const PUTTY_ANCHOR = /Private-Lines/;
const AZURE_KEYS_ANCHOR = /keyName/;
const TELEGRAM_ANCHOR = /:AA/;
const DISCORD_ANCHOR = /discord(?:app)?\.com\/api\//;
const LATER_ANCHORS: ReadonlySet<RegExp> = new Set([MORE_PREFIXED_ANCHOR, TWILIO_ANCHOR, PUTTY_ANCHOR, AZURE_KEYS_ANCHOR, TELEGRAM_ANCHOR, DISCORD_ANCHOR]);
const ANCHORS: RegExp[] = [
  /PRIVATE KEY/, // private-key
  /sk-ant-/, // anthropic-key
  /sk-/, // openai-key
  /gh[pousr]_|github_pat_/, // github-token
  /AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA|ABIA|ACCA/, // aws-access-key
  /hooks\.slack\.com\/services\//, // slack-webhook
  /xox[abposre]-/, // slack-token
  /hf_/, // hf-token
  /AIza/, // google-api-key
  /_(?:live|test)_/, // stripe-key
  /eyJ/, // jwt
  /authorization/i, // bearer (header)
  /Bearer/, // bearer
  /:\/\//, // url-password
  /%3[Aa](?:\/\/|%2[Ff]%2[Ff])/, // url-password (percent-encoded)
  /:\/\//, // url-token
  new RegExp(KEYWORD, 'i'), // assignment
  new RegExp(`--[A-Za-z0-9-]{0,40}?${KEYWORD}`, 'i'), // assignment (--flag)
  // The anchors below are chosen for what they add to the combined scans of every text: each
  // literal added to a scan costs it 1-10% (measured on terminal output), so a pattern whose
  // match holds the literal of another anchor shares it (tested once, see FIRST_SAME_ANCHOR).
  /[_-](?:key|KEY|Key)/, // assignment (*_KEY)
  /[?&](?:key|sig|signature|X-Amz-Signature|X-Goog-Signature)=/, // assignment (URL parameter)
  // Its match holds `password`: the assignment's anchor. On text with a keyword and no netrc
  // the regex costs ~0.4 ms a megabyte (against `machine` in every text's scan).
  new RegExp(KEYWORD, 'i'), // netrc-password
  /auth/i, // docker-auth (the case-insensitive scan's `auth`, which holds authorization and auth[_-]?token)
  /[_-](?:key|KEY|Key)/, // private-key (kubeconfig's client-key-data)
  /mysql|mariadb|sshpass/, // cli-password (mysql)
  /mysql|mariadb|sshpass/, // cli-password (sshpass)
  CLI_ANCHOR, // cli-password (curl)
  CLI_ANCHOR, // cli-password (docker login)
  CLI_ANCHOR, // cli-password (redis-cli)
  CLI_ANCHOR, // wandb-key
  CLI_ANCHOR, // wandb-key (wandb.login)
  AZURE_ANCHOR, // azure-storage-key
  AWS_CONFIGURE_ANCHOR, // aws-secret-key
  PASS_ANCHOR, // assignment (*_PASS)
  PREFIXED_ANCHOR, // provider-token
  MORE_PREFIXED_ANCHOR, // provider-token (more)
  TWILIO_ANCHOR, // twilio-key
  PUTTY_ANCHOR, // private-key (PuTTY)
  AZURE_KEYS_ANCHOR, // azure-storage-key (az storage account keys list)
  TELEGRAM_ANCHOR, // telegram-bot-token
  DISCORD_ANCHOR, // discord-webhook
];
if (ANCHORS.length !== PATTERNS.length) throw new Error('redact: one anchor per pattern');
// No anchor may hold a character that JSON.stringify escapes in text (see Redactor.mayHold).
if (ANCHORS.some((a) => /["\n\r\t]|\\[sn]/.test(a.source))) throw new Error('redact: an anchor holds a character JSON escapes');
// Split by case rule: one case-insensitive alternation over everything scanned 3× slower.
const ANY_CASED = new RegExp([...new Set(ANCHORS.filter((a) => !a.ignoreCase && !LATE_ANCHORS.has(a) && !LATER_ANCHORS.has(a)).map((a) => a.source))].map((s) => `(?:${s})`).join('|'));
/** The late anchors' presence scan, apart: joined to ANY_CASED they took both 4× as long. */
const ANY_LATE = new RegExp([...LATE_ANCHORS].map((a) => `(?:${a.source})`).join('|'));
/** The later ones', apart again (joined to ANY_LATE, past the same cliff). */
const ANY_LATER = new RegExp([...LATER_ANCHORS].map((a) => `(?:${a.source})`).join('|'));
if ([...LATE_ANCHORS, ...LATER_ANCHORS].some((a) => a.ignoreCase || !ANCHORS.includes(a))) throw new Error('redact: a late anchor is case-sensitive and one of ANCHORS');
// Case-insensitive: auth (which authorization holds) and KEYWORD, which the --flag anchor holds
// (this is a presence test, and leaving that anchor out halves the scan).
const ANY_UNCASED = new RegExp(`auth|${KEYWORD}`, 'i');
if (ANCHORS.some((a) => a.ignoreCase && a.source !== 'authorization' && a.source !== 'auth' && !a.source.includes(KEYWORD))) throw new Error('redact: ANY_UNCASED must cover every case-insensitive anchor');
const ALL_PATTERNS = PATTERNS.map((_, i) => i);
/** For each anchor, the first index of an anchor with the same source and flags (looked for once for both). */
const FIRST_SAME_ANCHOR = ANCHORS.map((a) => ANCHORS.findIndex((b) => b.source === a.source && b.flags === a.flags));
/** The scan group of an anchor: 0 case-sensitive, 1 case-insensitive, 2 late (LATE_ANCHORS), 3 later (LATER_ANCHORS). */
type AnchorGroup = 0 | 1 | 2 | 3;
const groupOf = (a: RegExp): AnchorGroup => (LATER_ANCHORS.has(a) ? 3 : LATE_ANCHORS.has(a) ? 2 : a.ignoreCase ? 1 : 0);
/** The distinct anchors of each scan group. */
const ANCHOR_GROUPS = ([0, 1, 2, 3] as const).map((g) => ANCHORS.flatMap((a, i) => (FIRST_SAME_ANCHOR[i] === i && groupOf(a) === g ? [i] : [])));
if (ANCHOR_GROUPS.some((g) => g.length > 30)) throw new Error('redact: too many anchors for a bit set');
if (ANCHORS.some((a) => new RegExp(`${a.source}|`).exec('')!.length !== 1)) throw new Error('redact: an anchor has a capture group');
/** Alternations of the anchors of a group not found yet, one capture group each, by the bit set of those anchors. */
const ANCHOR_SCANS = ANCHOR_GROUPS.map(() => new Map<number, { re: RegExp; of: number[] }>());

/**
 * Marks in `found` the anchors of group `g` (0: case-sensitive, 1: case-insensitive) that occur
 * in `vt`, none of which occurs before `from`. One scan, however many anchors: the leftmost
 * match of those not found yet names one more, and none of the others can start before it, so
 * the next scan goes on from there without it (testing every anchor on its own was most of the
 * prefilter's time on text with a keyword: each is a scan of the whole text).
 */
function markAnchors(vt: string, g: AnchorGroup, from: number, found: boolean[]): void {
  const group = ANCHOR_GROUPS[g]!;
  const scans = ANCHOR_SCANS[g]!;
  let left = 2 ** group.length - 1;
  while (left !== 0) {
    let scan = scans.get(left);
    if (!scan) {
      const of = group.filter((_, k) => (left & (1 << k)) !== 0);
      scan = { re: new RegExp(of.map((i) => `(${ANCHORS[i]!.source})`).join('|'), g === 1 ? 'gi' : 'g'), of };
      // Bounded: the sets seen are those of the order anchors first occur in, a few in practice.
      if (scans.size < 1024) scans.set(left, scan);
    }
    scan.re.lastIndex = from;
    const m = scan.re.exec(vt);
    if (!m) return;
    let alt = 1;
    while (m[alt] === undefined) alt++;
    const i = scan.of[alt - 1]!;
    found[i] = true;
    left &= ~(1 << group.indexOf(i));
    from = m.index;
  }
}

/**
 * Indices of the patterns that may match `vt` (the text as it reads): those whose anchor occurs
 * in it, found by markAnchors for each case rule whose combined scan found something.
 */
function candidatePatterns(vt: string): number[] {
  // ANY_CASED is every case-sensitive anchor: none occurs before its first match.
  const cased = ANY_CASED.exec(vt);
  const uncased = ANY_UNCASED.test(vt);
  const late = ANY_LATE.exec(vt);
  const later = ANY_LATER.exec(vt);
  if (!cased && !uncased && !late && !later) return [];
  const found: boolean[] = ANCHORS.map(() => false);
  if (cased) markAnchors(vt, 0, cased.index, found);
  // ANY_UNCASED leaves out the --flag anchor, which may start before its keyword: from 0.
  if (uncased) markAnchors(vt, 1, 0, found);
  if (late) markAnchors(vt, 2, late.index, found);
  if (later) markAnchors(vt, 3, later.index, found);
  const out: number[] = [];
  for (let i = 0; i < ANCHORS.length; i++) if (found[FIRST_SAME_ANCHOR[i]!]) out.push(i);
  return out;
}

// A CSI sequence (ESC [ or 0x9b, parameters, intermediates, final), and the other
// control characters textView reads as a space.
const CSI = /(?:\x1b\[|\x9b)[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]/g;
const CONTROL = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\x9b]/g;

/**
 * textView(raw).text for a raw text without backslashes (so no escape to decode):
 * colour and erase-line sequences read as nothing, other CSI sequences as one space,
 * any other control character (a lone ESC included) as a space.
 */
function readControls(raw: string): string {
  return takeBack(raw.replace(CSI, (m) => (m.endsWith('m') || m.endsWith('K') ? '' : ' '))).replace(CONTROL, ' ');
}

/** `s` with each backspace or DEL taking back the character before it on its line (as textView reads them). */
function takeBack(s: string): string {
  if (!/[\b\x7f]/.test(s)) return s;
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 8 || c === 127) {
      const last = out[out.length - 1];
      if (last !== undefined && last !== 10 && last !== 13) out.pop();
    } else out.push(c);
  }
  let text = '';
  for (let i = 0; i < out.length; i += 8192) text += String.fromCharCode(...out.slice(i, i + 8192));
  return text;
}

const SENSITIVE_KEY = new RegExp(String.raw`^(?:(?:.*[_.-])?${KEYWORD}(?:e?s)?(?:[_.-].*)?|(?:proxy[_-])?authorization)$`, 'i');

/** A camelCase or PascalCase key as words (`SecretAccessKey` → `Secret_Access_Key`), as AWS, JavaScript and Go name them. */
function camelWords(key: string): string {
  return key.replace(/([a-z0-9])(?=[A-Z])/g, '$1_');
}

/**
 * An Azure storage account key's name (`accountKey`, `account_key`, `AccountKey`): outside
 * KEYWORD, whose case-insensitive scan of every text took a third longer with one more word.
 */
const ACCOUNT_KEY = /(?:^|[_.-])account[_-]?keys?(?:[_.-]|$)/i;

function sensitiveField(key: string, value: string): boolean {
  if (value.length < 4 || value.startsWith('[REDACTED:')) return false;
  switch (keySense(key)) {
    case 'named': return plausibleValue(value);
    // As the patterns take them in text: a *_KEY holding a generated value, a docker config's
    // auth, a kubeconfig's client-key-data (kubectl config view -o json).
    case 'key-name': return generatedValue(value) && plausibleValue(value);
    case 'auth': return basicAuthPair(value);
    case 'client-key-data': return /^[A-Za-z0-9+/]{16,16384}={0,2}$/.test(value);
    // `az storage account keys list -o json`, walked as JSON: a "value" of exactly a 64-byte key in base64.
    case 'value': return AZURE_KEY_VALUE.test(value);
    case 'none': return false;
  }
}
const AZURE_KEY_VALUE = /^[A-Za-z0-9+/]{86}==$/;

/**
 * What a member name says of its value, for sensitiveField, kept per name: the same few
 * names ("content", "role", "arguments") hold every value of a record, and their
 * camelCase split and four scans were a tenth of an export's redaction.
 */
type KeySense = 'named' | 'key-name' | 'auth' | 'client-key-data' | 'value' | 'none';
function keySense(key: string): KeySense {
  let sense = keySenses.get(key);
  if (sense === undefined) {
    const words = camelWords(key);
    sense = SENSITIVE_KEY.test(key) || SENSITIVE_KEY.test(words) || ACCOUNT_KEY.test(words) ? 'named'
      : KEY_NAME.test(key) && !PUBLIC_KEY_NAME.test(key) && !notSecretKeyName(key) ? 'key-name'
        : key === 'auth' || key === 'client-key-data' || key === 'value' ? key
          : 'none';
    if (keySenses.size >= 4096) keySenses.clear();
    keySenses.set(key, sense);
  }
  return sense;
}
const keySenses = new Map<string, KeySense>();

/** Whether sensitiveField can be true of `key` for some value. */
function keyMaySense(key: string): boolean {
  return keySense(key) !== 'none';
}

function escapeForRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function pointerSegment(key: string): string {
  return key.includes('~') || key.includes('/') ? key.replace(/~/g, '~0').replace(/\//g, '~1') : key;
}

// ---- decoded view of text -----------------------------------------------------------

/**
 * `text` as it reads, for matching: `start[i]..end[i]` is the source range of view
 * character i. Ranges never overlap and grow with i; source characters that read as
 * nothing (colour codes) belong to no view character.
 */
interface TextView {
  text: string;
  start: Int32Array;
  end: Int32Array;
}

// A backslash (an escape may follow) or a control character other than \t \n \r.
const NEEDS_VIEW = /[\\\x00-\x08\x0b\x0c\x0e-\x1f\x7f\x9b]/;
// No character of NEEDS_VIEW, as one anchored run: the same answer, in a third of the
// time of NEEDS_VIEW.test over a megabyte with none (most terminal output). Made from
// NEEDS_VIEW's class, so the two cannot drift apart.
const READS_AS_ITSELF = new RegExp(`^[^${NEEDS_VIEW.source.slice(1, -1)}]*$`);
/** NEEDS_VIEW less the escapes whose characters are in no anchor: `\n` `\t` `\r` `\"` (see Redactor.mayHold). */
const HIDING_ESCAPE = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\x9b]|\\(?![ntr"])/;

function hexAt(s: string, i: number, n: number): number {
  if (i + n > s.length) return -1;
  let v = 0;
  for (let k = i; k < i + n; k++) {
    const c = s.charCodeAt(k);
    const d = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

const SIMPLE_ESCAPES: Record<string, number> = { n: 10, r: 13, t: 9, b: 8, f: 12, v: 11, a: 7, e: 27, '"': 34, "'": 39, '/': 47, '`': 96 };

/** The escape after a run of backslashes ending before `i`: [code, source length], or null. */
function escapeAt(s: string, i: number): [number, number] | null {
  const ch = s[i];
  if (ch === undefined) return null;
  const simple = SIMPLE_ESCAPES[ch];
  if (simple !== undefined) return [simple, 1];
  if (ch === 'u') {
    const v = hexAt(s, i + 1, 4);
    return v < 0 ? null : [v, 5];
  }
  if (ch === 'x') {
    const v = hexAt(s, i + 1, 2);
    return v < 0 ? null : [v, 3];
  }
  if (ch >= '0' && ch <= '7') {
    // \0, \033 (ESC in shell and C strings)
    let n = 1;
    while (n < 3 && s[i + n]! >= '0' && s[i + n]! <= '7') n++;
    const v = parseInt(s.slice(i, i + n), 8);
    return v > 255 ? null : [v, n];
  }
  return null;
}

/**
 * The decoded view of `raw`, or null when it reads as itself (no backslash, no control
 * character). Escapes: `\n` `\t` `\"` `\uXXXX` `\xXX` `\033` … read as their character;
 * a run of backslashes before one (`\\n`, text escaped twice) reads as that one
 * character too, since only boundaries matter here; other backslashes read as
 * themselves, a JSON `\\` pair as one. Terminal: SGR colour and erase-line sequences
 * (`ESC[…m`, `ESC[K`, as `grep --color` puts around a match) read as nothing, other
 * escape sequences and control characters as a space.
 */
function textView(raw: string): TextView | null {
  if (!NEEDS_VIEW.test(raw)) return null;
  const n = raw.length;
  const code = new Uint16Array(n);
  const start = new Int32Array(n);
  const end = new Int32Array(n);
  let k = 0;
  // Pass 1: escapes.
  for (let i = 0; i < n;) {
    const c = raw.charCodeAt(i);
    if (c !== 92) {
      code[k] = c; start[k] = i; end[k] = i + 1; k++; i++;
      continue;
    }
    let j = i;
    while (j < n && raw.charCodeAt(j) === 92) j++;
    const esc = escapeAt(raw, j);
    if (esc) {
      code[k] = esc[0]; start[k] = i; end[k] = j + esc[1]; k++;
      i = j + esc[1];
      continue;
    }
    while (i < j) {
      const w = j - i >= 2 ? 2 : 1;
      code[k] = 92; start[k] = i; end[k] = i + w; k++;
      i += w;
    }
  }
  // Pass 2, in place (it only shrinks): terminal control sequences, and line editing. A
  // backspace or DEL takes back the character before it on the line (a typo corrected
  // as typed: `5x<DEL>1`, echoed `5x\b\x1b[K1`), so a secret typed with a correction
  // reads whole; a match's source range runs from its first character to its last, so
  // what was taken back inside it is redacted with it.
  let m = 0;
  for (let i = 0; i < k;) {
    const c = code[i]!;
    if (c === 8 || c === 127) {
      if (m > 0 && code[m - 1] !== 10 && code[m - 1] !== 13) m--;
      i++;
      continue;
    }
    if (c === 27 || c === 0x9b) {
      let j = c === 27 ? i + 1 : i;
      if (c === 0x9b || code[j] === 0x5b) {
        // CSI: parameters 0x30–0x3f, intermediates 0x20–0x2f, final 0x40–0x7e
        j++;
        while (j < k && code[j]! >= 0x30 && code[j]! <= 0x3f) j++;
        while (j < k && code[j]! >= 0x20 && code[j]! <= 0x2f) j++;
        const fin = code[j];
        if (j < k && fin !== undefined && fin >= 0x40 && fin <= 0x7e) {
          if (fin !== 0x6d && fin !== 0x4b) {
            code[m] = 32; start[m] = start[i]!; end[m] = end[j]!; m++;
          }
          i = j + 1;
          continue;
        }
      }
      code[m] = 32; start[m] = start[i]!; end[m] = end[i]!; m++; i++;
      continue;
    }
    code[m] = (c < 32 && c !== 9 && c !== 10 && c !== 13) || c === 127 ? 32 : c;
    start[m] = start[i]!; end[m] = end[i]!; m++; i++;
  }
  let text = '';
  for (let i = 0; i < m; i += 8192) text += String.fromCharCode(...code.subarray(i, Math.min(m, i + 8192)));
  return { text, start: start.subarray(0, m), end: end.subarray(0, m) };
}

// ---- a line editor's wrap ------------------------------------------------------------

/**
 * Whether the carriage return at `i` of `t` is a line editor's wrap: the character before
 * it and the one after say so (see joinedReading).
 */
function wrapReturn(t: string, i: number): boolean {
  if (i < 2 || i + 1 >= t.length) return false;
  const p = t.charCodeAt(i - 1);
  const n = t.charCodeAt(i + 1);
  if (p === 10 || p === 13 || n === 10 || n === 13) return false;
  if (p === n) return true;
  const pp = t.charCodeAt(i - 2);
  return p === 32 && n !== 32 && pp !== 32 && pp !== 10 && pp !== 13;
}

/**
 * A second reading of a view for a line editor that draws past the right margin. Bash's
 * readline writes one character on the next row and a carriage return back over it, then
 * the line goes on over that character: `…AbC \rdEf…` as typed, `…AbCd\rdEf…` as pasted;
 * zsh's ZLE clears the row between (`…AbC \r\e[Kd\rdEf…`, read `…AbC \rd\rdEf…` once its
 * erase reads as nothing). On screen the line runs on unbroken; in the bytes a key typed
 * there is cut in two, so no pattern and no configured value matched it and it was
 * exported as typed. Here that character and its return read as nothing: `at[k]` is the
 * index in `vt` of character k. Null when no return is such a wrap. It is matched beside
 * the plain reading, never instead of it: it may also join what was meant apart (a
 * progress line redrawn over a space), and a match there must not be lost.
 *
 * Written here, not taken from a terminal emulator: an emulator needs the width (unknown
 * for a text in a trajectory) and gives the screen, not where each character came from.
 */
function joinedReading(vt: string): { text: string; at: Int32Array } | null {
  let i = vt.indexOf('\r');
  if (i < 0) return null;
  let drop: number[] | null = null;
  for (; i >= 0; i = vt.indexOf('\r', i + 1)) if (wrapReturn(vt, i)) (drop ??= []).push(i - 1);
  if (!drop) return null;
  const at = new Int32Array(vt.length - drop.length * 2);
  let text = '';
  let k = 0;
  let from = 0;
  for (const d of drop) {
    text += vt.slice(from, d);
    for (let j = from; j < d; j++) at[k++] = j;
    from = d + 2;
  }
  text += vt.slice(from);
  for (let j = from; j < vt.length; j++) at[k++] = j;
  return { text, at };
}

/**
 * False when no reading of `s` can hold a line editor's wrap: no carriage return, raw or
 * as a JSON escape, that ends no line and has a space before it or the same character on
 * both sides, or (zsh, JSON-escaped) an escaped control after it. Looser than wrapReturn
 * (a control may stand between), as a prefilter must be; a CRLF, in every terminal's
 * output, is never a wrap, and passes here as it did before wraps were read.
 */
function mayWrap(s: string): boolean {
  for (let i = s.indexOf('\r'); i >= 0; i = s.indexOf('\r', i + 1)) {
    const n = s[i + 1];
    if (i > 0 && n !== undefined && n !== '\n' && (s[i - 1] === ' ' || s[i - 1] === n)) return true;
  }
  for (let i = s.indexOf('\\r'); i >= 0; i = s.indexOf('\\r', i + 2)) {
    const n = s.slice(i + 2, i + 4);
    if (i === 0 || n === '' || n === '\\n') continue;
    if (s[i - 1] === ' ' || s[i - 1] === n[0] || n === '\\u') return true;
  }
  return false;
}

// ---- JSON text ------------------------------------------------------------------------

/** The first and last non-blank characters say it may be a JSON object, array or string. */
function looksLikeJson(s: string): boolean {
  let a = 0;
  let b = s.length - 1;
  while (a < b && /\s/.test(s[a]!)) a++;
  while (b > a && /\s/.test(s[b]!)) b--;
  if (b <= a) return false;
  const f = s[a];
  const l = s[b];
  return (f === '{' && l === '}') || (f === '[' && l === ']') || (f === '"' && l === '"');
}

const TOO_DEEP = Symbol('too deep');
/** Nesting a recursive walk of one JSON text goes to before the text is treated as plain text. */
const MAX_NESTING = 256;
/** JSON text inside a string inside JSON text …: levels decoded. */
const MAX_JSON_LEVELS = 8;

interface JsonVisitor {
  /** A member name at [start, end); returns the name to use in pointers. */
  key(start: number, end: number, parent: string): string;
  /** A string value at [start, end). */
  string(start: number, end: number, pointer: string, key: string | null): void;
}

/** Walks text already known to be valid JSON, calling `visit` for every string token. */
function walkJson(s: string, root: string, visit: JsonVisitor): void {
  let i = 0;
  const ws = (): void => {
    for (let c = s.charCodeAt(i); c === 32 || c === 10 || c === 13 || c === 9; c = s.charCodeAt(++i));
  };
  const stringEnd = (from: number): number => {
    for (let j = from + 1; ;) {
      const q = s.indexOf('"', j);
      let b = q - 1;
      while (s.charCodeAt(b) === 92) b--;
      if ((q - 1 - b) % 2 === 0) return q + 1;
      j = q + 1;
    }
  };
  const value = (pointer: string, key: string | null, depth: number): void => {
    if (depth > MAX_NESTING) throw TOO_DEEP;
    ws();
    const c = s[i];
    if (c === '"') {
      const e = stringEnd(i);
      visit.string(i, e, pointer, key);
      i = e;
    } else if (c === '{') {
      i++;
      ws();
      if (s[i] === '}') {
        i++;
        return;
      }
      for (;;) {
        ws();
        const ke = stringEnd(i);
        const name = visit.key(i, ke, pointer);
        i = ke;
        ws();
        i++; // ':'
        value(`${pointer}/${pointerSegment(name)}`, name, depth + 1);
        ws();
        if (s[i++] === '}') return;
      }
    } else if (c === '[') {
      i++;
      ws();
      if (s[i] === ']') {
        i++;
        return;
      }
      for (let n = 0; ; n++) {
        value(`${pointer}/${n}`, null, depth + 1);
        ws();
        if (s[i++] === ']') return;
      }
    } else {
      // number, true, false, null
      while (i < s.length && !/[\s,\]}]/.test(s[i]!)) i++;
    }
  };
  value(root, null, 0);
}

function decodeJsonString(token: string): string {
  return token.includes('\\') ? (JSON.parse(token) as string) : token.slice(1, -1);
}

// ---- Redactor --------------------------------------------------------------------------

export const MIN_CONFIGURED_SECRET_LENGTH = 6;

/**
 * Texts known to hold nothing this redactor replaces (redaction-memo.ts), by key: a
 * string value whose key it knows is given back as it is, without a scan.
 */
export interface CleanTexts {
  /** The key of a text, or null for one not worth looking up. */
  keyOf(text: string): string | null;
  isClean(key: string): boolean;
  addClean(key: string): void;
}

/** Strings shorter than this are remembered as clean by the redactor that scanned them (longer ones by a CleanTexts). */
const PLAIN_TEXT_CHARS = 256;
/** At most this many (each under 256 characters: a few MB at worst). */
const PLAIN_TEXTS_KEPT = 16_384;

export class Redactor {
  private readonly configured: RegExp | null;
  /** The same alternatives, not global: a presence test. */
  private readonly configuredAny: RegExp | null;
  /** No configured secret holds a character JSON escapes as `\n` `\t` `\r` `\"` (see mayHold). */
  private readonly plainSecrets: boolean;
  /** The configured secrets in every form matched, longest first. */
  private readonly forms: readonly string[];
  private digest: Buffer | null = null;
  /** Member names found to hold nothing: the same few ("role", "content", "output") name every value. */
  private readonly plainKeys = new Set<string>();
  /** Short strings found to hold nothing under a name that never names a secret: role names, ids and tool names repeat in every record. */
  private readonly plainTexts = new Set<string>();
  /** Keys known only by their fingerprint (key-fingerprint.ts), matched like the values. */
  private readonly keys: KeyFingerprints | null;
  private readonly keyPrints: readonly KeyFingerprint[];

  /**
   * `prefilter` (default true) skips the patterns whose literal part is not in the
   * text; false runs every pattern (the reference the tests compare against).
   */
  constructor(secrets: readonly SecretSpec[] = [], private readonly prefilter = true) {
    const forms = new Set<string>();
    const prints = new Map<string, KeyFingerprint>();
    for (const s of secrets) {
      if (s && typeof s === 'object') {
        const { length, alphabet, salt, hmac } = s;
        prints.set(`${salt}:${hmac}`, { length, alphabet, salt, hmac });
        continue;
      }
      if (typeof s !== 'string' || s.length < MIN_CONFIGURED_SECRET_LENGTH) continue;
      forms.add(s);
      forms.add(JSON.stringify(s).slice(1, -1)); // as it appears inside JSON text
    }
    // Longest first so a secret that contains another is taken whole.
    const list = [...forms].sort((a, b) => b.length - a.length || (a < b ? -1 : 1));
    this.forms = list;
    this.configured = list.length ? new RegExp(list.map(escapeForRegExp).join('|'), 'g') : null;
    this.configuredAny = this.configured ? new RegExp(this.configured.source) : null;
    this.keyPrints = [...prints].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, fp]) => fp);
    this.plainSecrets = [...list, ...this.keyPrints.map((fp) => fp.alphabet)].every((f) => !/["\\\n\r\t]/.test(f));
    this.keys = this.keyPrints.length ? new KeyFingerprints(this.keyPrints) : null;
  }

  /**
   * SHA-256 of everything that decides what this redactor replaces: its rules (the
   * source of their code) and the secrets it was given. What is kept of its work
   * beside a session is valid only under the same fingerprint.
   */
  get fingerprint(): Buffer {
    this.digest ??= createHash('sha256').update(redactionRulesSource()).update('\0').update(JSON.stringify([this.prefilter, this.forms, ...(this.keyPrints.length ? [this.keyPrints] : [])])).digest();
    return this.digest;
  }

  /** Non-overlapping secret ranges in `text` (matched on its decoded view), sorted by start. */
  find(text: string): SecretMatch[] {
    return this.findWithContext(text).map(({ start, end, kind }) => ({ start, end, kind }));
  }

  /**
   * Like `find`, plus `from`: where the whole match begins, context included (the
   * `PASSWORD=` of an assignment), so a stream can avoid cutting between the two.
   */
  findWithContext(text: string): Array<SecretMatch & { from: number }> {
    if (text.length < MIN_CONFIGURED_SECRET_LENGTH) return [];
    const needsView = !READS_AS_ITSELF.test(text);
    let view: TextView | null = null;
    let vt = text;
    if (needsView) {
      // Without a backslash only terminal controls change the text, and two native
      // replaces read them exactly as textView does; its index maps (the costly part)
      // are built only once something may match.
      if (!this.prefilter || text.includes('\\')) {
        view = textView(text);
        vt = view ? view.text : text;
      } else vt = readControls(text);
    }
    // Matches first, in the coordinates of the text they were found in (`inView`), so
    // the view's index maps are built only when there is something to map.
    const raw: Array<{ a: number; b: number; from: number; kind: string; prio: number; inView: boolean }> = [];
    const joined = joinedReading(vt);
    const readings: Array<readonly [string, boolean, Int32Array | null]> = [[vt, true, null]];
    if (joined) readings.push([joined.text, true, joined.at]);
    if (this.configured || this.keys) {
      // Exact values (and keys known by their fingerprint): in the text as it is, and as it
      // reads (a key typed with colour codes around it). (Without a view, the plain reading
      // is the text itself.)
      for (const [t, inView, at] of [[text, false, null] as const, ...(needsView ? readings : readings.slice(1))]) {
        const exact = (a: number, b: number) => raw.push(inReading(at, { a, b, from: a, kind: 'configured-secret', prio: -1, inView }));
        if (this.configured) {
          this.configured.lastIndex = 0;
          for (const m of t.matchAll(this.configured)) exact(m.index, m.index + m[0].length);
        }
        for (const [a, b] of this.keys?.find(t) ?? []) exact(a, b);
      }
    }
    for (const [t, , at] of readings) {
      for (const prio of this.prefilter ? candidatePatterns(t) : ALL_PATTERNS) {
        const p = PATTERNS[prio]!;
        p.re.lastIndex = 0;
        for (const m of t.matchAll(p.re)) {
          if (p.accept && !p.accept(m)) continue;
          const g = p.group ?? 0;
          const range: readonly [number, number] | undefined = g === 0 ? [m.index, m.index + m[0].length] : m.indices?.[g];
          if (!range || range[1] <= range[0]) continue;
          const kind = p.kinds ? (p.kinds[m.findIndex((g, i) => i > 0 && g !== undefined) - 1] ?? p.kind) : p.kind;
          raw.push(inReading(at, { a: range[0], b: range[1], from: m.index, kind, prio, inView: true }));
        }
      }
    }
    if (raw.length === 0) return [];
    if (needsView && !view) view = textView(text);
    const found: Array<SecretMatch & { prio: number; from: number }> = raw.map((r) => {
      if (!r.inView || !view) return { start: r.a, end: r.b, kind: r.kind, prio: r.prio, from: r.prio === -1 ? r.a : r.from };
      // View range [a, b) as a source range; a configured secret's context starts where it does.
      const start = view.start[r.a]!;
      return { start, end: view.end[r.b - 1]!, kind: r.kind, prio: r.prio, from: r.prio === -1 ? start : view.start[r.from]! };
    });
    if (found.length === 0) return [];
    found.sort((a, b) => a.start - b.start || a.prio - b.prio || b.end - a.end);
    const out: Array<SecretMatch & { from: number }> = [];
    let last = -1;
    for (const f of found) {
      if (f.start < last) {
        // Overlap: a configured secret or an earlier, longer match already covers it; extend if needed.
        const prev = out[out.length - 1]!;
        if (f.end > prev.end && f.prio !== -1 && prev.kind !== 'configured-secret') prev.end = f.end;
        last = Math.max(last, prev.end);
        continue;
      }
      out.push({ start: f.start, end: f.end, kind: f.kind, from: f.from });
      last = f.end;
    }
    return out;
  }

  /**
   * Redact one string value; `kinds` lists one entry per replacement. JSON text is
   * redacted on its decoded strings (see the file header); anything else as text.
   */
  redact(text: string): { text: string; kinds: string[] } {
    const hits: SecretHit[] = [];
    const out = this.redactString(text, '', '', null, 0, hits);
    return { text: out, kinds: hits.map((h) => h.kind) };
  }

  /**
   * A redacted deep copy of a JSON value and where each secret was. Object keys are
   * kept (redacted if they hold a secret), a string under a key that names a secret
   * is replaced whole, a string that is JSON text is redacted on its decoded strings.
   * `clean`: string values known to hold nothing are given back unscanned, and those
   * found to hold nothing are added to it. `share`: the objects and arrays in which
   * nothing was redacted are given back as they are, not copied (for a caller that owns
   * `value` and only reads what it gets).
   */
  scan<T>(value: T, clean?: CleanTexts, share = false): ScanResult<T> {
    const hits: SecretHit[] = [];
    // A string's pointer is made only when it is scanned: most are known clean at once.
    const leaf = (s: string, parent: string, seg: string | number | null, key: string | null): string => {
      const plain = s.length < PLAIN_TEXT_CHARS && (key === null || !keyMaySense(key));
      if (plain && this.plainTexts.has(s)) return s;
      const pointer = seg === null ? parent : `${parent}/${typeof seg === 'number' ? seg : pointerSegment(seg)}`;
      const before = hits.length;
      const out = clean ? this.redactKnown(s, pointer, key, hits, clean) : this.redactString(s, pointer, pointer, key, 0, hits);
      if (plain && out === s && hits.length === before) {
        if (this.plainTexts.size >= PLAIN_TEXTS_KEPT) this.plainTexts.clear();
        this.plainTexts.add(s);
      }
      return out;
    };
    const child = (x: unknown, parent: string, seg: string | number, key: string | null): unknown => {
      if (typeof x === 'string') return leaf(x, parent, seg, key);
      if (x === null || typeof x !== 'object') return x;
      return walk(x, `${parent}/${typeof seg === 'number' ? seg : pointerSegment(seg)}`);
    };
    const walk = (v: object, pointer: string): unknown => {
      if (Array.isArray(v)) {
        let out: unknown[] | null = share ? null : v.slice();
        for (let i = 0; i < v.length; i++) {
          const x = child(v[i], pointer, i, null);
          if (x !== v[i]) (out ??= v.slice())[i] = x;
        }
        return out ?? v;
      }
      // Shared: copied only from the first member that changed, when one does.
      let o: Record<string, unknown> | null = share ? null : {};
      const entries = Object.entries(v);
      for (let i = 0; i < entries.length; i++) {
        const [k, x] = entries[i]!;
        const name = this.redactKey(k, pointer, null, hits);
        const y = child(x, pointer, name, name);
        if (!o && (name !== k || y !== x)) {
          o = {};
          for (let j = 0; j < i; j++) o[entries[j]![0]] = entries[j]![1];
        }
        if (o) o[name] = y;
      }
      return o ?? v;
    };
    const out = typeof value === 'string' ? leaf(value, '', null, null) : value !== null && typeof value === 'object' ? walk(value, '') : value;
    return { value: out as T, hits };
  }

  /**
   * `scan`, for callers that only log: `onHit` gets, per replacement, the pointer of the
   * string of `value` that held it (a pointer into `value` itself), its kind, and the hit
   * with the pointer into the decoded structure.
   */
  redactValue<T>(value: T, onHit?: (pointer: string, kind: string, hit: SecretHit) => void): T {
    const { value: out, hits } = this.scan(value);
    if (onHit) for (const h of hits) onHit(h.field, h.kind, h);
    return out;
  }

  /** A member name, redacted like text (a secret must not reach the output, nor a pointer). */
  private redactKey(k: string, parent: string, field: string | null, hits: SecretHit[]): string {
    if (this.plainKeys.has(k)) return k;
    const ms = this.find(k);
    if (ms.length === 0) {
      if (k.length <= 64 && this.plainKeys.size < 4096) this.plainKeys.add(k);
      return k;
    }
    const name = splice(k, ms);
    const pointer = `${parent}/${pointerSegment(name)}`;
    for (const m of ms) hits.push({ pointer, field: field ?? pointer, kind: m.kind });
    return name;
  }

  /**
   * False when nothing in `s`, nor in any string it holds as JSON text, can be redacted:
   * it reads as itself (no escape, no control: every part of it, decoded or not, is a
   * piece of it as it is) and holds no anchor and no configured secret. One scan per
   * case rule and the string is done, before it is parsed as JSON or viewed.
   *
   * The escapes JSON.stringify writes for text (`\n` `\t` `\r` `\"`) cannot hide
   * anything: each decodes to one character that is in no anchor, so an anchor in any
   * decoded form of the string (its JSON strings, their view) is in the string as it is.
   * So JSON text (observations, arguments) with only those is done by the same scans,
   * instead of being parsed and each of its strings scanned. Not with a configured
   * secret holding one of those characters: it may read whole only once decoded.
   */
  private mayHold(s: string): boolean {
    return !this.prefilter || (this.plainSecrets ? HIDING_ESCAPE : NEEDS_VIEW).test(s) || ANY_CASED.test(s) || ANY_UNCASED.test(s) || ANY_LATE.test(s) || ANY_LATER.test(s) || !!this.configuredAny?.test(s) || !!this.keys?.mayHold(s) || mayWrap(s);
  }

  /**
   * redactString for a string value of the scanned structure, through `clean`. Whether
   * a text holds anything depends on the text alone once its key is not one that names
   * a secret: that check is made first, always.
   */
  private redactKnown(s: string, pointer: string, key: string | null, hits: SecretHit[], clean: CleanTexts): string {
    const k = key !== null && sensitiveField(key, s) ? null : clean.keyOf(s);
    if (k !== null && clean.isClean(k)) return s;
    const before = hits.length;
    const out = this.redactString(s, pointer, pointer, key, 0, hits);
    if (k !== null && out === s && hits.length === before) clean.addClean(k);
    return out;
  }

  private redactString(s: string, pointer: string, field: string, key: string | null, level: number, hits: SecretHit[]): string {
    if (key !== null && sensitiveField(key, s)) {
      hits.push({ pointer, field, kind: 'sensitive-field' });
      return replacement('sensitive-field');
    }
    if (!this.mayHold(s)) return s;
    if (level < MAX_JSON_LEVELS && looksLikeJson(s)) {
      const out = this.redactJsonText(s, pointer, field, level, hits);
      if (out !== null) return out;
    }
    const ms = this.find(s);
    if (ms.length === 0) return s;
    for (const m of ms) hits.push({ pointer, field, kind: m.kind });
    return splice(s, ms);
  }

  /**
   * Redacts the strings of JSON text, splicing re-encoded tokens in place of those that
   * changed; the text itself when none did; null when it is not JSON (or nests too deep
   * to walk, then it is redacted as text).
   */
  private redactJsonText(text: string, pointer: string, field: string, level: number, hits: SecretHit[]): string | null {
    try {
      JSON.parse(text);
    } catch {
      return null;
    }
    const local: SecretHit[] = [];
    const edits: Array<[number, number, string]> = [];
    try {
      walkJson(text, pointer, {
        key: (a, b, parent) => {
          const k = decodeJsonString(text.slice(a, b));
          const name = this.redactKey(k, parent, field, local);
          if (name !== k) edits.push([a, b, JSON.stringify(name)]);
          return name;
        },
        string: (a, b, ptr, key) => {
          const v = decodeJsonString(text.slice(a, b));
          const out = this.redactString(v, ptr, field, key, level + 1, local);
          if (out !== v) edits.push([a, b, JSON.stringify(out)]);
        },
      });
    } catch (e) {
      if (e === TOO_DEEP) return null;
      throw e;
    }
    hits.push(...local);
    if (edits.length === 0) return text;
    let out = '';
    let pos = 0;
    for (const [a, b, r] of edits) {
      out += text.slice(pos, a) + r;
      pos = b;
    }
    return out + text.slice(pos);
  }
}

/** A match found in a joined reading (`at` maps it into the view), in the view's coordinates. */
function inReading<T extends { a: number; b: number; from: number }>(at: Int32Array | null, r: T): T {
  return at ? { ...r, a: at[r.a]!, b: at[r.b - 1]! + 1, from: at[r.from]! } : r;
}

function splice(text: string, ms: readonly SecretMatch[]): string {
  let out = '';
  let pos = 0;
  for (const m of ms) {
    out += text.slice(pos, m.start) + replacement(m.kind);
    pos = m.end;
  }
  return out + text.slice(pos);
}

export function replacement(kind: string): string {
  return `[REDACTED:${kind}]`;
}

/** One-shot convenience: redact a string with the built-in patterns plus `secrets`. */
export function redactString(text: string, secrets: readonly SecretSpec[] = []): { text: string; kinds: string[] } {
  return new Redactor(secrets).redact(text);
}

/** A character that Latin-1 cannot hold. */
const WIDE = /[^\x00-\xff]/;

/**
 * Redacts a stream of text segments (terminal output chunks) where a secret may
 * straddle segment boundaries. Segments are buffered until `window + overlap`
 * characters are pending, then everything but the last `overlap` characters is
 * scanned as one text and emitted; a match crossing the cut point is held back
 * whole. A replacement lands in the segment where its secret starts; the rest of
 * the secret is removed from the following segments (which keep their metadata, so
 * their times stay). `overlap` must exceed the longest possible match (bounded by
 * the patterns to ~17 KB) — the default 64 KB does.
 */
export class StreamRedactor<M> {
  /**
   * The text not yet emitted, after the context (the tail of the text already emitted:
   * scanned again for look-behind and key context, never re-emitted), outside V8's heap:
   * Latin-1 while every character of it is one, else UTF-16 code units (`wide`), so the
   * window's string is one byte a character when it can be, as the pushed strings were.
   * Held as strings, a window's megabyte lived through several young-generation
   * collections, each copying it, and was then promoted, to be collected again by a full
   * one: most of a conversion's GC time. `units` holds `ctx + pendingLen` characters.
   */
  private units = Buffer.allocUnsafe(0);
  private wide = false;
  private ctx = 0;
  private pending: Array<{ len: number; meta: M }> = [];
  private pendingLen = 0;

  constructor(
    private readonly redactor: Redactor,
    private readonly emit: (data: string, meta: M, kinds: string[]) => void,
    private readonly window = 1 << 20,
    private readonly overlap = 1 << 16,
    private readonly contextLength = 1024,
  ) {}

  push(data: string, meta: M): void {
    if (data.length === 0) return;
    if (!this.wide && WIDE.test(data)) this.widen();
    const at = (this.ctx + this.pendingLen) * (this.wide ? 2 : 1);
    const need = at + data.length * (this.wide ? 2 : 1);
    if (need > this.units.length) {
      // Room for a whole window at once when it is bounded, else (redactInputs: one window) doubling.
      const full = (this.window + this.overlap + this.contextLength) * 2;
      const grown = Buffer.allocUnsafe(Math.max(need + (need >> 3), full <= 1 << 23 ? full : Math.min(this.units.length * 2, full)));
      this.units.copy(grown, 0, 0, at);
      this.units = grown;
    }
    // Either copies the code units as they are (utf16le: a lone surrogate included).
    this.units.write(data, at, this.wide ? 'utf16le' : 'latin1');
    this.pending.push({ len: data.length, meta });
    this.pendingLen += data.length;
    if (this.pendingLen >= this.window + this.overlap) this.process(false);
  }

  end(): void {
    if (this.pending.length) this.process(true);
  }

  /** From Latin-1 to UTF-16 units, for a character past U+00FF. */
  private widen(): void {
    const n = this.ctx + this.pendingLen;
    const text = this.units.toString('latin1', 0, n);
    // Twice what it holds, not twice its size: a buffer kept at its size when the text went
    // back to Latin-1 doubled at every return to wide text (4.5 GB asked for on a 160 MB recording).
    this.units = Buffer.allocUnsafe(Math.max(n * 2, 2));
    this.units.write(text, 0, 'utf16le');
    this.wide = true;
  }

  /** Characters [a, b) of the units. */
  private slice(a: number, b: number): string {
    return this.wide ? this.units.toString('utf16le', a * 2, b * 2) : this.units.toString('latin1', a, b);
  }

  /**
   * The matches to replace now, and where to cut the window. Its string lives only in
   * here: what is emitted is copied from the units, so the string is garbage before the
   * lines written from it are made and dies young. (Node makes a string of a megabyte or
   * more outside V8's heap, which is what makes the window cheap to collect; one that
   * lived on through the emitting was promoted, and the memory of dead ones waited for
   * a full collection.)
   */
  private scan(final: boolean): { ms: SecretMatch[]; cut: number } {
    const ctx = this.ctx;
    const text = this.slice(0, ctx + this.pendingLen);
    let cut = final ? text.length : text.length - this.overlap;
    const ms: SecretMatch[] = [];
    for (const m of this.redactor.findWithContext(text)) {
      // Matches inside the context were handled (or ruled out) by the previous window.
      if (m.start < ctx) continue;
      if (m.from >= cut) break;
      if (m.end > cut) {
        // Hold the whole match, key context included, for the next window.
        cut = Math.max(ctx, m.from);
        break;
      }
      ms.push(m);
    }
    return { ms, cut };
  }

  private process(final: boolean): void {
    const { ms, cut } = this.scan(final);
    const total = this.ctx + this.pendingLen;
    const keep: Array<{ len: number; meta: M }> = [];
    let a = this.ctx;
    let mi = 0;
    for (const seg of this.pending) {
      const b = a + seg.len;
      if (a >= cut) {
        keep.push(seg);
      } else if (b <= cut && (mi >= ms.length || ms[mi]!.start >= b)) {
        // Nothing to replace in it (the common case): the segment as it came.
        this.emit(this.slice(a, b), seg.meta, []);
      } else {
        const end = Math.min(b, cut);
        let out = '';
        let pos = a;
        const kinds: string[] = [];
        while (mi < ms.length && ms[mi]!.start < end) {
          const m = ms[mi]!;
          if (m.start >= pos) {
            out += this.slice(pos, m.start) + replacement(m.kind);
            kinds.push(m.kind);
          }
          pos = Math.max(pos, Math.min(m.end, end));
          if (m.end <= end) mi++;
          else break;
        }
        out += this.slice(pos, end);
        if (out.length || kinds.length) this.emit(out, seg.meta, kinds);
        if (b > cut) keep.push({ len: b - cut, meta: seg.meta });
      }
      a = b;
    }
    // The next context and what was held back are one run of the units: moved to the front,
    // as Latin-1 again when they are.
    const from = Math.max(0, cut - this.contextLength);
    const rest = this.wide ? this.slice(from, total) : '';
    if (this.wide && !WIDE.test(rest)) {
      this.units.write(rest, 0, 'latin1');
      this.wide = false;
    } else {
      const w = this.wide ? 2 : 1;
      this.units.copyWithin(0, from * w, total * w);
    }
    this.ctx = cut - from;
    this.pending = keep;
    this.pendingLen = total - cut;
  }
}

/** Collects hits into report lines, merging repeats of the same (file, line, path, kind). */
export class RedactionLog {
  private readonly entries = new Map<string, RedactionReport>();
  private readonly turns = new Map<string, MaskedTurnReport>();

  add(file: string, line: number, path: string, kind: string, count = 1): void {
    const key = `${file}\u0000${line}\u0000${path}\u0000${kind}`;
    const e = this.entries.get(key);
    if (e) e.count += count;
    else this.entries.set(key, { file, line, path, kind, count });
  }

  /**
   * A trained turn at `path` of record `line` was masked (or, `action` 'dropped', its
   * example left out) because it held a secret of `kind`. One entry per turn and action;
   * further kinds join it.
   */
  addMasked(file: string, line: number, path: string, kind: string, action: MaskedTurnReport['action'] = 'masked'): void {
    const key = `${file}\u0000${line}\u0000${path}\u0000${action}`;
    const e = this.turns.get(key);
    if (!e) this.turns.set(key, { file, line, path, kinds: [kind], action });
    else if (!e.kinds.includes(kind)) e.kinds = [...e.kinds, kind].sort();
  }

  list(): RedactionReport[] {
    return [...this.entries.values()];
  }

  /** A log holding what this one holds, to add to apart from it. */
  copy(): RedactionLog {
    const c = new RedactionLog();
    for (const [k, e] of this.entries) c.entries.set(k, { ...e });
    for (const [k, t] of this.turns) c.turns.set(k, { ...t, kinds: [...t.kinds] });
    return c;
  }

  /** Turns taken out of training because of a secret, in the order they were added. */
  masked(): MaskedTurnReport[] {
    return [...this.turns.values()].map((t) => ({ ...t, kinds: [...t.kinds] }));
  }

  summary(): RedactionSummary {
    return summarizeRedactions(this.entries.values(), this.turns.values());
  }
}

export interface RedactionSummary {
  total: number;
  byKind: Record<string, number>;
  byFile: Record<string, number>;
  /** Trained turns masked or left out because they held a secret; absent when none. */
  secretTurns?: { masked: number; dropped: number };
}

/** Totals of a redaction report, overall, by kind and by file (keys sorted), and of the masked turns. */
export function summarizeRedactions(list: Iterable<RedactionReport>, turns: Iterable<MaskedTurnReport> = []): RedactionSummary {
  const byKind: Record<string, number> = {};
  const byFile: Record<string, number> = {};
  let total = 0;
  for (const e of list) {
    total += e.count;
    byKind[e.kind] = (byKind[e.kind] ?? 0) + e.count;
    byFile[e.file] = (byFile[e.file] ?? 0) + e.count;
  }
  const sorted = (o: Record<string, number>): Record<string, number> =>
    Object.fromEntries(Object.keys(o).sort().map((k) => [k, o[k]!]));
  const out: RedactionSummary = { total, byKind: sorted(byKind), byFile: sorted(byFile) };
  const secretTurns = { masked: 0, dropped: 0 };
  for (const t of turns) secretTurns[t.action]++;
  if (secretTurns.masked + secretTurns.dropped > 0) out.secretTurns = secretTurns;
  return out;
}

/**
 * Everything that decides what the redactor replaces, as text: its patterns, their
 * anchors and acceptance rules, and the code that applies them. Output kept redacted
 * beside a session (cast-cache.ts) and the texts found clean (redaction-memo.ts) are
 * keyed by it, so a build whose rules differ in any way never reuses what an older
 * build redacted or found clean; the source text of the functions is taken rather
 * than a version number someone must remember to bump.
 */
export function redactionRulesSource(): string {
  rulesSource ??= JSON.stringify([
    PATTERNS.map((p) => [p.kind, p.re.source, p.re.flags, p.group ?? 0, p.accept?.toString() ?? '', p.kinds ?? []]),
    ANCHORS.map((a) => [a.source, a.flags]),
    [NAMES_SECRET, SENSITIVE_KEY, KEY_NAME, PUBLIC_KEY_NAME, PUBLIC_KEY_PREFIX, NOT_SECRET_KEY_WORD, SECRET_KEY_HINT, ENDS_IN_KEYWORD, NUMBER, CSI, CONTROL, NEEDS_VIEW, READS_AS_ITSELF, ANY_CASED, ANY_UNCASED, ANY_LATE, ANY_LATER, WIDE, PREFIXED_BOUNDS, PASS_NAME, ACCOUNT_KEY, AZURE_KEY_VALUE].map((r) => [r.source, r.flags]),
    SIMPLE_ESCAPES, MIN_CONFIGURED_SECRET_LENGTH,
    [quotedRun, takeBack, plausibleValue, codeExpression, generatedValue, camelWords, notSecretKeyName, wordsAndNumbers, bareColonValue, closesQuote, basicAuthPair, urlPassword, cliPassword, percentDecoded, markAnchors, candidatePatterns, readControls, sensitiveField, keySense, keyMaySense, hexAt, escapeAt, textView, wrapReturn, joinedReading, mayWrap, inReading, looksLikeJson, walkJson, decodeJsonString, splice, replacement, Redactor, StreamRedactor, KeyFingerprints]
      .map((f) => f.toString()),
  ]);
  return rulesSource;
}
/** The same for the whole process: made once (a worker's every batch asks for it). */
let rulesSource: string | null = null;
