// Secret formats an agent's terminal prints that the redactor once let through, checked
// against public rule sets (gitleaks config/gitleaks.toml, trufflehog detectors,
// detect-secrets' keyword plugin), and ordinary training text it once destroyed. All
// secrets here are synthetic, made of the right shape at run time.
import { describe, expect, it } from 'vitest';
import { Redactor, StreamRedactor } from '../../electron/core/dataset/redact';

const r = new Redactor([]);
let seed = 11;
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
/** A deterministic random run of `n` characters of `al`. */
function rnd(n: number, al = ALNUM): string {
  let s = '';
  for (let i = 0; i < n; i++) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    s += al[(seed >>> 8) % al.length];
  }
  return s;
}
const hex = (n: number) => rnd(n, '0123456789abcdef');
const b64 = (n: number) => rnd(n, `${ALNUM}+/`);

/** `text` redacted: the secret gone, the kinds reported. */
function redacts(text: string, secret: string, kind: string): void {
  const out = r.redact(text);
  expect(out.text, text).not.toContain(secret);
  expect(out.kinds, text).toContain(kind);
}

describe('provider tokens with a fixed prefix (gitleaks, trufflehog)', () => {
  const tokens: Array<[string, string]> = [
    ['gitlab-token', `glpat-${rnd(20, `${ALNUM}_-`)}`],
    ['gitlab-token', `glrt-${rnd(20)}`],
    ['npm-token', `npm_${rnd(36)}`],
    ['pypi-token', `pypi-AgEIcHlwaS5vcmc${rnd(70, `${ALNUM}_-`)}`],
    ['sendgrid-key', `SG.${rnd(22)}.${rnd(43)}`],
    ['vault-token', `hvs.${rnd(95)}`],
    ['databricks-token', `dapi${hex(32)}`],
    ['perplexity-key', `pplx-${rnd(48)}`],
    ['hf-token', `api_org_${rnd(34, 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ')}`],
    ['age-secret-key', `AGE-SECRET-KEY-1${rnd(58, 'QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L')}`],
    ['aws-bedrock-key', `ABSK${b64(130)}`],
    ['digitalocean-token', `dop_v1_${hex(64)}`],
    ['shopify-token', `shpat_${hex(32)}`],
    ['groq-key', `gsk_${rnd(52)}`],
    ['replicate-token', `r8_${rnd(37)}`],
    ['xai-key', `xai-${rnd(80)}`],
    ['docker-token', `dckr_pat_${rnd(27, `${ALNUM}_-`)}`],
    ['langsmith-key', `lsv2_pt_${hex(32)}_${hex(10)}`],
    ['google-oauth-token', `ya29.a0AfB_by${rnd(120, `${ALNUM}_-`)}`],
    ['linear-key', `lin_api_${rnd(40)}`],
    ['notion-token', `ntn_${rnd(11, '0123456789')}${rnd(35)}`],
    ['sentry-token', `sntrys_eyJpYXQiO${b64(40)}LCJyZWdpb25fdXJs${b64(60)}_${b64(43)}`],
    ['sentry-token', `sntryu_${hex(64)}`],
    ['doppler-token', `dp.pt.${rnd(43)}`],
    ['doppler-token', `dp.st.dev.${rnd(40)}`],
    ['pulumi-token', `pul-${hex(40)}`],
    ['stripe-webhook-secret', `whsec_${rnd(32)}`],
    ['stripe-key', `sk_prod_${rnd(40)}`],
  ];

  it('each is redacted as its kind, alone, in a table, in code and in a JSON result', () => {
    for (const [kind, t] of tokens) {
      redacts(t, t, kind);
      redacts(`│ token │ ${t} │`, t, kind);
      redacts(`client = Client("${t}")`, t, kind);
      const json = r.scan({ output: `$ echo $TOKEN\n${t}\n`, exit_code: 0 });
      expect(JSON.stringify(json.value)).not.toContain(t);
      expect(json.hits.map((h) => h.kind)).toContain(kind);
    }
  });

  it('is not taken inside a longer run of its characters', () => {
    const glued = `x${`npm_${rnd(36)}`}y`;
    expect(r.redact(glued).text).toBe(glued);
    expect(r.redact('the api_org_chart, MSG.send(), sendSG.x').text).toBe('the api_org_chart, MSG.send(), sendSG.x');
  });

  it('is found when a stream cuts it in two', () => {
    const t = `gsk_${rnd(52)}`;
    const text = `${'noise '.repeat(50)}export GROQ=${t} done\n`;
    for (const cut of [text.indexOf(t) + 3, text.indexOf(t) + 30]) {
      let out = '';
      const s = new StreamRedactor<number>(r, (d) => void (out += d), 200, 120);
      s.push(text.slice(0, cut), 0);
      s.push(text.slice(cut), 1);
      s.end();
      expect(out).not.toContain(t.slice(4));
      expect(out).toContain('[REDACTED:groq-key]');
    }
  });
});

describe('secrets under camelCase and PascalCase keys (AWS, JavaScript, Go)', () => {
  it('aws sts get-session-token output: every credential, not only the access key id', () => {
    const secret = b64(40);
    const session = `IQoJb3JpZ2luX2Vj${b64(200)}`;
    const out = { Credentials: { AccessKeyId: 'ASIAZ3EXAMPLE7QW2RTY', SecretAccessKey: secret, SessionToken: session, Expiration: '2025-01-01T00:00:00Z' } };
    const text = JSON.stringify(out, null, 2);
    for (const v of [r.redact(text).text, JSON.stringify(r.scan(out).value), JSON.stringify(r.scan({ output: text }).value)]) {
      expect(v).not.toContain(secret);
      expect(v).not.toContain(session.slice(0, 40));
      expect(v).toContain('2025-01-01T00:00:00Z');
    }
  });

  it('accessToken, refreshToken, dbPassword, githubToken, openaiApiKey, accountKey', () => {
    for (const key of ['accessToken', 'refreshToken', 'dbPassword', 'adminPassword', 'githubToken', 'openaiApiKey', 'accountKey']) {
      const v = `Tr0${rnd(30)}`;
      const s = r.scan({ [key]: v });
      expect(JSON.stringify(s.value), key).not.toContain(v);
      expect(s.hits.map((h) => h.kind), key).toEqual(['sensitive-field']);
    }
  });

  it('keeps a camelCase key that names no secret', () => {
    const v = { tokenizer: 'Qwen/Qwen2.5-7B', maxTokens: 4096, tokenCount: '1234', keyboardLayout: 'us-intl-altgr' };
    expect(r.scan(v).value).toEqual(v);
  });
});

describe('credentials in command lines and CLI output', () => {
  it('kubeadm and Vault tokens, dotted as a member access is', () => {
    // kubeadm's shape, [a-z0-9]{6}.[a-z0-9]{16}, with a letter after the dot (most real ones).
    const kubeToken = `abcdef.l348yyowl4rf42pp`;
    redacts(`kubeadm join 10.0.0.1:6443 --token ${kubeToken} --discovery-token-ca-cert-hash sha256:${hex(64)}`, kubeToken, 'assignment');
    redacts(`token: e02e68.df346031bfd94f1f`, 'e02e68.df346031bfd94f1f', 'assignment');
    const vault = `s.${rnd(24)}`;
    redacts(`export VAULT_TOKEN=${vault}`, vault, 'assignment');
    // Code is still code.
    for (const code of ['password=self.password', 'token = config.api_token', 'secret = settings.SECRET_VALUE']) expect(r.redact(code).text).toBe(code);
  });

  it('a Telegram bot token (alone, in a bot API URL, in an .env) and a Discord webhook URL', () => {
    const bot = `AA${rnd(33, `${ALNUM}_-`)}`;
    redacts(`curl -s https://api.telegram.org/bot7012345678:${bot}/sendMessage -d chat_id=42`, bot, 'telegram-bot-token');
    // Under a name that says token, the assignment rule takes the whole value first.
    expect(r.redact(`TELEGRAM_BOT_TOKEN=123456789:${bot}`).text).not.toContain(bot);
    redacts(`bot: {id: 123456789:${bot}}`, bot, 'telegram-bot-token');
    // The bot id is public and stays; what is not a token stays too.
    expect(r.redact(`bot 7012345678:${bot}`).text).toBe('bot 7012345678:[REDACTED:telegram-bot-token]');
    for (const plain of ['mac 0A:AA:BB:CC:DD:EE', `ratio 12345:AA${rnd(20)}`, `id x12345:${bot}`]) expect(r.redact(plain).text).toBe(plain);
    const hook = rnd(68, `${ALNUM}_-`);
    redacts(`curl -X POST -H 'Content-Type: application/json' https://discord.com/api/webhooks/112233445566778899/${hook} -d '{"content":"done"}'`, hook, 'discord-webhook');
    redacts(`WEBHOOK=https://discordapp.com/api/v10/webhooks/112233445566778899/${hook}`, hook, 'discord-webhook');
    expect(r.redact('see https://discord.com/api/webhooks docs').text).toBe('see https://discord.com/api/webhooks docs');
  });

  it('a Twilio API key, a PuTTY key file, and what `az storage account keys list` prints', () => {
    const sid = `SK${hex(32)}`;
    redacts(`export TWILIO_KEY_SID=${sid}`, sid, 'twilio-key');
    redacts(`client = Client("${sid}", secret)`, sid, 'twilio-key');
    const glued = `TASK${hex(32)}`;
    expect(r.redact(`id ${glued}`).text).toBe(`id ${glued}`);
    const priv = [b64(64), b64(64), `${b64(20)}==`];
    const ppk = ['PuTTY-User-Key-File-3: ssh-ed25519', 'Encryption: none', 'Comment: eddsa-key-20250101', 'Public-Lines: 2', b64(64), b64(20), 'Private-Lines: 3', ...priv, `Private-MAC: ${hex(64)}`].join('\r\n');
    const out = r.redact(`$ cat ~/.ssh/id.ppk\r\n${ppk}\r\n`);
    for (const line of priv) expect(out.text).not.toContain(line);
    expect(out.kinds).toContain('private-key');
    expect(out.text).toContain('Public-Lines: 2');
    expect(out.text).toContain('Private-MAC:');
    const k1 = `${b64(86)}==`;
    const k2 = `${b64(86)}==`;
    const az = JSON.stringify([1, 2].map((n, i) => ({ creationTime: '2025-01-01T00:00:00+00:00', keyName: `key${n}`, permissions: 'FULL', value: i ? k2 : k1 })), null, 2);
    // As JSON (walked: each "value") and as a terminal shows it (text: beside its "keyName").
    const transcript = `$ az storage account keys list -g ml -n mlstore01\r\n${az.replace(/\n/g, '\r\n')}\r\n$ `;
    for (const v of [r.redact(az).text, JSON.stringify(r.scan({ output: az, exit_code: 0 }).value), r.redact(transcript).text, JSON.stringify(r.scan({ output: transcript }).value)]) {
      expect(v).not.toContain(k1.slice(0, 30));
      expect(v).not.toContain(k2.slice(0, 30));
      expect(v).toContain('FULL');
    }
    expect(r.redact(transcript).kinds).toEqual(['azure-storage-key', 'azure-storage-key']);
  });

  it('an Azure storage connection string, and what `aws configure` echoes', () => {
    const key = `${b64(86)}==`;
    redacts(`DefaultEndpointsProtocol=https;AccountName=mlstore01;AccountKey=${key};EndpointSuffix=core.windows.net`, key.slice(0, 40), 'azure-storage-key');
    const aws = b64(40);
    redacts(`AWS Access Key ID [None]: AKIAZ3EXAMPLE7QW2RTY\nAWS Secret Access Key [****************abcd]: ${aws}\nDefault region name [None]: us-east-1`, aws, 'aws-secret-key');
  });

  it('curl -u, docker login -p, redis-cli -a, wandb login', () => {
    redacts('curl -sS -u admin:S3cr3tP4ss https://api.example.com/v1', 'S3cr3tP4ss', 'cli-password');
    redacts('curl --user=admin:S3cr3tP4ss https://api.example.com/v1', 'S3cr3tP4ss', 'cli-password');
    redacts('docker login -u me -p S3cr3tP4ssW0rd registry.example.com', 'S3cr3tP4ssW0rd', 'cli-password');
    redacts('$ redis-cli -h cache -a S3cr3tP4ssW0rd ping', 'S3cr3tP4ssW0rd', 'cli-password');
    const wandb = hex(40);
    redacts(`$ wandb login --relogin ${wandb}\nwandb: Appending key for api.wandb.ai to your netrc file`, wandb, 'wandb-key');
    redacts(`import wandb\nwandb.login(host="https://api.wandb.ai", key="${wandb}")`, wandb, 'wandb-key');
    // No password on the line: nothing to take.
    for (const clean of ['echo $PW | docker login -u me --password-stdin registry.example.com', 'curl -u "$USER:$PASS" https://x', 'curl -u me: https://x']) expect(r.redact(clean).text).toBe(clean);
  });

  it('names ending in _PASS, _PWD, _PW and _CREDENTIALS', () => {
    for (const name of ['REDIS_PASS', 'SMTP_PASS', 'MONGO_PWD', 'DB_PW', 'APP_CREDENTIALS']) redacts(`${name}=Xk29fLq0wPz7`, 'Xk29fLq0wPz7', 'assignment');
    for (const clean of ['SKIP_PW=true', 'USE_PASS=1', 'GOOGLE_APPLICATION_CREDENTIALS=/run/secrets/sa.json', 'first_pass = second_pass']) expect(r.redact(clean).text).toBe(clean);
  });
});

describe('ordinary text the redactor no longer destroys', () => {
  it('a tokenizer config printed as JSON keeps its special tokens', () => {
    const cfg = { bos_token: '<s>', eos_token: '<|im_end|>', pad_token: '<|endoftext|>', unk_token: '<unk>', sep_token: '[SEP]', mask_token: '[MASK]', cls_token: '</s>' };
    expect(r.scan(cfg).value).toEqual(cfg);
    expect(r.scan({ output: JSON.stringify(cfg) }).value).toEqual({ output: JSON.stringify(cfg) });
  });

  it('a trainer\'s log of token counts and rates', () => {
    for (const line of [
      "{'loss': 1.2345, 'grad_norm': 0.5, 'num_tokens': 1234567.0, 'mean_token_accuracy': 0.81234567, 'epoch': 0.5}",
      "{'train_runtime': 100.5, 'train_tokens_per_second': 2345.678, 'total_tokens': 1234567.0}",
      '{"tokens_per_second": "45.2134", "total_tokens": "1,234,567"}',
      'total_tokens=1234567.0 secret_rotation_days=30',
    ]) {
      expect(r.redact(line).text).toBe(line);
      expect(JSON.stringify(r.scan({ output: line }).value)).toBe(JSON.stringify({ output: line }));
    }
  });

  it('an sk- word that is no key', () => {
    for (const w of ['sk-runner-2024-06-01-nightly-build', 'sk-learn-2024-version-1-patched']) expect(r.redact(w).text).toBe(w);
    const key = `sk-${hex(48)}`;
    redacts(key, key, 'openai-key');
  });
});
