// Secret forms a review found passing through unredacted, each as it would appear in terminal
// output, a file shown to the agent or a tool argument, and the ordinary text next to them that
// must stay as it is. Every case asserts the exact redacted text and the kinds.
import { describe, expect, it } from 'vitest';
import { redactionRulesSource, Redactor, StreamRedactor } from '../../electron/core/dataset/redact';

// Test secrets are assembled at run time so no scanner mistakes this file for a leak.
const j = (...p: string[]): string => p.join('');
const HEX32 = j('9f8e7d6c5b4a3928', '1706f5e4d3c2b1a0');
const PW = j('S3cr3t', 'Passw0rd');
const YAML_PW = j('hunter2', 'hunter2');
const DB_PW = j('Xy7-sec', 'ret-pw');
const CLIENT_SECRET = j('abcdef0123', '456789abcdef');
// base64 of bob:s3cr3tpassword, as `docker login` writes it
const DOCKER_AUTH = j('Ym9iOnMzY3Iz', 'dHBhc3N3b3Jk');
const KUBE_KEY = j('LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQpNSUlFb3dJQkFB', 'S0NBUUVBMWIyYzNkNGU1ZjZnN2g4aTlqMGsxbDJtM240bzVwNnE3cjhzOXQw');
const KUBE_TOKEN = j('abcdef', '.0123456789abcdef');
const GHP = j('gh', 'p_', 'A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8');
const GLPAT = j('glpat-', 'AbCdEf0123456789xYz');
const GOOGLE = j('AI', 'za', 'SyD-1a2B3c4D5e6F7g8H9i0J1k2L3m4N5o6');
const PCT_PW = j('Db-Passw0rd', '-4242');
const HEX64 = j('3f2c1a9e8b7d6c5f4e3a2b1c0d9e8f7a', '6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e');
const UUID = j('123e4567-e89b-', '12d3-a456-426614174000');
const B62 = j('Xk9mP2qR7vL4nB8w', 'Tz3yH6cJ1dF5gK0s');
const B36 = j('k3j5h2g8f9d0', 's1a7x4');
const AWS_SECRET = j('wJalrXUtnFEMI/K7MDENG/', 'bPxRfiCYEXAMPLEKEY');

const R = (kind: string): string => `[REDACTED:${kind}]`;

describe('Redactor: forms found unredacted', () => {
  const r = new Redactor([]);

  it.each<[string, string, string, string[]]>([
    // *_KEY env assignments
    ['MISTRAL_KEY=', `MISTRAL_KEY=${HEX32}`, `MISTRAL_KEY=${R('assignment')}`, ['assignment']],
    ['export *_KEY="…"', `export DEEPL_KEY="${HEX32}"`, `export DEEPL_KEY="${R('assignment')}"`, ['assignment']],
    ['*_KEY: (YAML)', `  MISTRAL_KEY: ${HEX32}`, `  MISTRAL_KEY: ${R('assignment')}`, ['assignment']],
    ['*-key: in a header', `> deepl-key: ${HEX32}\r\n`, `> deepl-key: ${R('assignment')}\r\n`, ['assignment']],
    ['docker -e *_KEY=', `docker run -e SERVICE_KEY=${HEX32} app`, `docker run -e SERVICE_KEY=${R('assignment')} app`, ['assignment']],
    ['lower-case *_key = in Python', `signing_key = "${HEX32}"`, `signing_key = "${R('assignment')}"`, ['assignment']],
    ["echo '*_KEY=…'", `echo 'MISTRAL_KEY=${HEX32}' >> .env`, `echo 'MISTRAL_KEY=${R('assignment')}' >> .env`, ['assignment']],
    ['"*_KEY": "…" in code', `const env = { "MISTRAL_KEY": "${HEX32}", debug: true };`, `const env = { "MISTRAL_KEY": "${R('assignment')}", debug: true };`, ['assignment']],
    ['a UUID *_KEY', `LICENSE_KEY=${j('123e4567-e89b-', '12d3-a456-426614174000')}`, `LICENSE_KEY=${R('assignment')}`, ['assignment']],
    // *_KEY names whose words also say hash or cache, but name a key for a MAC or a signature
    ['SESSION_HASH_KEY= (securecookie)', `SESSION_HASH_KEY=${HEX64}`, `SESSION_HASH_KEY=${R('assignment')}`, ['assignment']],
    ['HMAC_SHA256_KEY=', `export HMAC_SHA256_KEY="${HEX32}"`, `export HMAC_SHA256_KEY="${R('assignment')}"`, ['assignment']],
    ['cache_signing_key =', `cache_signing_key = "${HEX32}"`, `cache_signing_key = "${R('assignment')}"`, ['assignment']],
    ['COOKIE_CACHE_KEY: (YAML)', `  COOKIE_CACHE_KEY: ${B62}`, `  COOKIE_CACHE_KEY: ${R('assignment')}`, ['assignment']],
    ['ENCRYPTION_KEY=', `ENCRYPTION_KEY=${B62}`, `ENCRYPTION_KEY=${R('assignment')}`, ['assignment']],
    // keyword names are secrets whatever word comes before their key
    ['API_KEY=', `API_KEY=${HEX32}`, `API_KEY=${R('assignment')}`, ['assignment']],
    ['OPENAI_API_KEY=', `OPENAI_API_KEY=${B62}`, `OPENAI_API_KEY=${R('assignment')}`, ['assignment']],
    ['AWS_SECRET_ACCESS_KEY=', `AWS_SECRET_ACCESS_KEY=${AWS_SECRET}`, `AWS_SECRET_ACCESS_KEY=${R('assignment')}`, ['assignment']],
    ['cache_api_key=', `cache_api_key=${HEX32}`, `cache_api_key=${R('assignment')}`, ['assignment']],
    ['secret_hash_key=', `secret_hash_key=${HEX32}`, `secret_hash_key=${R('assignment')}`, ['assignment']],
    // unquoted YAML / INI after a colon
    ['password: (YAML)', `password: ${YAML_PW}`, `password: ${R('assignment')}`, ['assignment']],
    ['db_password: (YAML, indented)', `database:\n  host: db.internal\n  db_password: ${DB_PW}\n  port: 5432\n`, `database:\n  host: db.internal\n  db_password: ${R('assignment')}\n  port: 5432\n`, ['assignment']],
    ['client_secret: (YAML)', `client_secret: ${CLIENT_SECRET}\r\n`, `client_secret: ${R('assignment')}\r\n`, ['assignment']],
    ['password: with a comment after', `password: ${YAML_PW}  # prod`, `password: ${R('assignment')}  # prod`, ['assignment']],
    ['password: as grep prints it', `config/db.yml:12:    password: ${YAML_PW}`, `config/db.yml:12:    password: ${R('assignment')}`, ['assignment']],
    ['spring.datasource.password:', `spring.datasource.password: ${DB_PW}`, `spring.datasource.password: ${R('assignment')}`, ['assignment']],
    // netrc
    ['netrc, one line', `machine host login bob password ${PW}`, `machine host login bob password ${R('netrc-password')}`, ['netrc-password']],
    ['netrc, one field a line', `machine api.heroku.com\n  login me@example.com\n  password ${PW}\n`, `machine api.heroku.com\n  login me@example.com\n  password ${R('netrc-password')}\n`, ['netrc-password']],
    ['netrc, a dotted host and no login', `machine github.com password ${PW}`, `machine github.com password ${R('netrc-password')}`, ['netrc-password']],
    ['netrc, quoted', `machine host login bob password "${PW}"`, `machine host login bob password "${R('netrc-password')}"`, ['netrc-password']],
    // docker config, kubeconfig, HTTP headers
    ['docker config auth', `{\n  "auths": {\n    "registry.example.com": {\n      "auth": "${DOCKER_AUTH}"\n    }\n  }\n}\n$ `, `{\n  "auths": {\n    "registry.example.com": {\n      "auth": "${R('docker-auth')}"\n    }\n  }\n}\n$ `, ['docker-auth']],
    ['kubeconfig client-key-data', `    client-certificate-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t\n    client-key-data: ${KUBE_KEY}\n`, `    client-certificate-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t\n    client-key-data: ${R('private-key')}\n`, ['private-key']],
    ['client-key-data in a quoted echo', `echo 'client-key-data: ${KUBE_KEY}' >> kubeconfig`, `echo 'client-key-data: ${R('private-key')}' >> kubeconfig`, ['private-key']],
    ['kubeconfig token', `users:\n- name: admin\n  user:\n    token: ${KUBE_TOKEN}\n`, `users:\n- name: admin\n  user:\n    token: ${R('assignment')}\n`, ['assignment']],
    ['curl -v > api-key:', `> POST /openai/deployments/gpt/chat HTTP/2\r\n> api-key: ${HEX32}\r\n> content-type: application/json\r\n`, `> POST /openai/deployments/gpt/chat HTTP/2\r\n> api-key: ${R('assignment')}\r\n> content-type: application/json\r\n`, ['assignment']],
    ['curl -v > x-api-key:', `> x-api-key: ${HEX32}\r\n`, `> x-api-key: ${R('assignment')}\r\n`, ['assignment']],
    ['curl -H "x-api-key: …"', `curl -H "x-api-key: ${HEX32}" https://api.example.com/v1`, `curl -H "x-api-key: ${R('assignment')}" https://api.example.com/v1`, ['assignment']],
    // command-line passwords
    ['mysql -p<password>', `mysql -uroot -p${PW} prod`, `mysql -uroot -p${R('cli-password')} prod`, ['cli-password']],
    ['mysqldump -p<password>', `mysqldump -h db -u app -p${PW} prod > dump.sql`, `mysqldump -h db -u app -p${R('cli-password')} prod > dump.sql`, ['cli-password']],
    ["mariadb -p'<password>'", `docker exec db mariadb -uroot -p'${PW}' -e 'show databases'`, `docker exec db mariadb -uroot -p'${R('cli-password')}' -e 'show databases'`, ['cli-password']],
    ['sshpass -p <password>', `sshpass -p ${PW} ssh deploy@10.0.0.5`, `sshpass -p ${R('cli-password')} ssh deploy@10.0.0.5`, ['cli-password']],
    ['sshpass -v -p<password>', `sshpass -v -p${PW} scp a host:`, `sshpass -v -p${R('cli-password')} scp a host:`, ['cli-password']],
    ['PGPASSWORD= (already caught)', `PGPASSWORD=${PW} psql -h db -U app`, `PGPASSWORD=${R('assignment')} psql -h db -U app`, ['assignment']],
    // URL credentials
    ['https://<ghp token>@ (already caught)', `git clone https://${GHP}@github.com/a/b`, `git clone https://${R('github-token')}@github.com/a/b`, ['github-token']],
    ['https://<token>@', `git remote -v\norigin\thttps://${HEX32}@git.example.com/a/b.git (fetch)`, `git remote -v\norigin\thttps://${R('url-token')}@git.example.com/a/b.git (fetch)`, ['url-token']],
    ['https://oauth2:<glpat>@ (already caught)', `https://oauth2:${GLPAT}@gitlab.com/a/b.git`, `https://oauth2:${R('url-password')}@gitlab.com/a/b.git`, ['url-password']],
    ['redis://:<password>@', `redis://:${PW}@cache:6379/0`, `redis://:${R('url-password')}@cache:6379/0`, ['url-password']],
    ['?api_key= (already caught)', `curl "https://api.example.com/v1?api_key=${HEX32}&q=1"`, `curl "https://api.example.com/v1?api_key=${R('assignment')}&q=1"`, ['assignment']],
    ['&access_token= (already caught)', `GET /v1/me?fields=id&access_token=${HEX32} HTTP/1.1`, `GET /v1/me?fields=id&access_token=${R('assignment')} HTTP/1.1`, ['assignment']],
    ['?token= (already caught)', `wget https://dl.example.com/x.tar?token=${HEX32}`, `wget https://dl.example.com/x.tar?token=${R('assignment')}`, ['assignment']],
    ['?key=AIza… (already caught)', `https://maps.googleapis.com/maps/api/geocode/json?key=${GOOGLE}&address=x`, `https://maps.googleapis.com/maps/api/geocode/json?key=${R('google-api-key')}&address=x`, ['google-api-key']],
    ['?key=<generated>', `curl 'https://api.example.com/v2/search?q=x&key=${HEX32}'`, `curl 'https://api.example.com/v2/search?q=x&key=${R('assignment')}'`, ['assignment']],
    ['?key=<base62>', `https://api.example.com/v1/geo?key=${B62}&q=x`, `https://api.example.com/v1/geo?key=${R('assignment')}&q=x`, ['assignment']],
    ['?key=<UUID>', `GET /v1/items?key=${UUID} HTTP/1.1`, `GET /v1/items?key=${R('assignment')} HTTP/1.1`, ['assignment']],
    ['&key=<base36>', `https://api.example.com/v1?q=x&key=${B36}`, `https://api.example.com/v1?q=x&key=${R('assignment')}`, ['assignment']],
    ['&key=<hex> with a word in it', `https://api.example.com/v1?q=x&key=page${HEX32}`, `https://api.example.com/v1?q=x&key=${R('assignment')}`, ['assignment']],
    ['&sig= (SAS)', `https://acct.blob.core.windows.net/c/f?sv=2022-11-02&sp=r&sig=${j('Xkq2%2Bv9Lz0', 'Pq7Wm3Rt5Yh8%3D')}`, `https://acct.blob.core.windows.net/c/f?sv=2022-11-02&sp=r&sig=${R('assignment')}`, ['assignment']],
    // percent-encoded, as the shell integration reports a variable (OSC 1337;ApolloEnv)
    [
      'percent-encoded URL password in ApolloEnv',
      `\x1b]1337;ApolloEnv;apollo-nonce=432631ad80e5b2334f6b7464;PATH=/usr/local/bin%3A/usr/bin;DATABASE_URL=postgres%3A//app%3A${PCT_PW}%40db.internal%3A5432/prod\x07`,
      `\x1b]1337;ApolloEnv;apollo-nonce=432631ad80e5b2334f6b7464;PATH=/usr/local/bin%3A/usr/bin;DATABASE_URL=postgres%3A//app%3A${R('url-password')}%40db.internal%3A5432/prod\x07`,
      ['url-password'],
    ],
    // mysql://root:p%40ss%21…@db/x (a password with @ and ! in a URL), its % encoded again as %25
    ['percent-encoded URL password, special characters', `DSN=mysql%3A//root%3Ap%2540ss%2521${PW}%40db/x`, `DSN=mysql%3A//root%3A${R('url-password')}%40db/x`, ['url-password']],
    ['encodeURIComponent URL password', `?next=postgres%3A%2F%2Fapp%3A${PCT_PW}%40db%2Fprod`, `?next=postgres%3A%2F%2Fapp%3A${R('url-password')}%40db%2Fprod`, ['url-password']],
    // quoted values holding spaces: up to the closing quote (they were left whole, or cut at the first blank)
    ['password = "<words>"', 'password = "correct horse battery staple"', `password = "${R('assignment')}"`, ['assignment']],
    ['passphrase: "<words>"', 'passphrase: "hunter2 hunter3 hunter4"', `passphrase: "${R('assignment')}"`, ['assignment']],
    ["client_secret: '<words>'", "client_secret: 'my very secret phrase 42'", `client_secret: '${R('assignment')}'`, ['assignment']],
    ['export API_KEY="<words>"', 'export API_KEY="abc def ghi jkl mno"', `export API_KEY="${R('assignment')}"`, ['assignment']],
    ['DB_PASSWORD="<word> &3 <word>" (was cut at the blank)', 'DB_PASSWORD="Tr0ub4dor &3 horse"', `DB_PASSWORD="${R('assignment')}"`, ['assignment']],
    ["'password': '<words>' in a Python dict", "{'user': 'bob', 'password': 'two words here', 'port': 5432}", `{'user': 'bob', 'password': '${R('assignment')}', 'port': 5432}`, ['assignment']],
    ['password="<words holding the other quote>"', `password="it's my secret pass"`, `password="${R('assignment')}"`, ['assignment']],
    ["--password '<words>'", "--password 'two words here'", `--password '${R('assignment')}'`, ['assignment']],
    ['--token "<words>" in a command', 'deploy --token "abc def ghi jkl" --env prod', `deploy --token "${R('assignment')}" --env prod`, ['assignment']],
    ['mysql -p"<words>"', 'mysql -u root -p"My S3cret Pass"', `mysql -u root -p"${R('cli-password')}"`, ['cli-password']],
    ["sshpass -p '<words>'", "sshpass -p 'two words' ssh deploy@10.0.0.5", `sshpass -p '${R('cli-password')}' ssh deploy@10.0.0.5`, ['cli-password']],
    // A name holding the keyword as a part names a secret, as its JSON key does (sensitive-field): a hint gives the password away.
    ['password_hint="<words>"', 'password_hint="what is your pet"', `password_hint="${R('assignment')}"`, ['assignment']],
    // With no closing quote on its line, a value is taken unquoted, as before.
    ['password = "<word> <word>… never closed', `password = "${PW} and the rest\nnext line"`, `password = "${R('assignment')} and the rest\nnext line"`, ['assignment']],
  ])('%s', (_what, text, redacted, kinds) => {
    expect(r.redact(text)).toEqual({ text: redacted, kinds });
    // and nothing is left to find in what it gave back
    expect(r.redact(redacted)).toEqual({ text: redacted, kinds: [] });
  });

  it.each<[string, string]>([
    // KEY and *key names that hold no secret
    ['KEY alone', 'KEY=value\nKEY: 9f8e7d6c5b4a39281706f5e4d3c2b1a0\n| KEY | VALUE |\nPRIMARY KEY (id)'],
    ['monkey=, keyboard=', `monkey=${HEX32} keyboard=us-intl`],
    ['?key=sort', 'https://example.com/search?key=sort&order=asc and ?key=value&sig=abc'],
    ['PRIMARY_KEY=id', 'PRIMARY_KEY=id\nforeign_key: user_id\nsort_key: created_at_2024\nCACHE_KEY=session-cache-v2\npartition_key = "tenant_id"'],
    // *_KEY names that say they hold no secret, with the hashes and ids they do hold
    ['digest keys', `md5_key=${HEX32}\nsha256_key: ${HEX64}\nCONTENT_HASH_KEY=${HEX32}\nsha1sum_key = "${HEX32}"\nbuild.xxhash-key: ${HEX32}`],
    ['cache keys', `cache-key: ${HEX32}\r\n  cache-key: node-modules-Linux-${HEX64}\r\nBUILD_CACHE_KEY=${HEX32}\n"cache_key": "${HEX32}"`],
    ['idempotency keys', `idempotency_key=${UUID}\r\n> Idempotency-Key: ${UUID}\r\ndedup_key: ${HEX32}`],
    ['database and pagination keys', `sort_key=${HEX32}\nprimary_key: ${UUID}\nforeign_key = '${UUID}'\npartition_key=${HEX32}\nROW_KEY=${HEX32}\nlookup_key: ${UUID}\nnext_page_key=${B62}`],
    ['?key= naming a page or a record', 'https://example.com/list?key=page2024p03item17&limit=50 and /catalog?q=x&key=Spring2024Catalog2Page3'],
    ['*_KEY holding a path or a variable', 'SSH_KEY=~/.ssh/id_ed25519 GPG_KEY=$SIGNING_KEY MISTRAL_KEY=${MISTRAL_KEY}'],
    ['a public key', `PUBLIC_KEY=${j('MIIBIjANBgkqhkiG9w0BAQEFAAOC', 'AQ8AMIIBCgKCAQEA1b2c3d4')}\nSTRIPE_PUBLISHABLE_KEY=${j('pk_live_', '51H8sJ2eZvKYlo2C')}`],
    ['*_KEY as code', 'api_key = os.environ["OPENAI_KEY"]\ncache_key = hashlib.sha256(data).hexdigest()\nself.secret_key = secret_key_value'],
    // YAML / INI / prompts that are no setting of a secret
    ['password: required', 'password: required'],
    ['password: ${DB_PASS}', 'password: ${DB_PASS}\npassword: "{{ vault_db_password }}"'],
    ['password: <your password>', 'password: <your password>'],
    ['a prompt and the next line', '[sudo] password for alice: \r\nPassword: \r\nLast login: Mon Mar  3 08:23:31 2025 from 10.0.0.2\r\n'],
    ['prose after a colon', 'Note the password: it must be at least twelve characters long.\nthe password: hunter2hunter2 is what the docs use'],
    ['counts and sizes', 'num_tokens: 1.23e+09\nmax_tokens: 4096\ntokens: 12345678k\nsecret: 12:30:45.123'],
    ['names that end past the keyword', 'secret_name: db-credentials-secret\ntoken_type: access_token\nsecrets: my-app-secrets-v2\npassword_file: /run/secrets/db'],
    ['tokenizer settings', 'tokenizer: meta-llama/Llama-3.1-8B\npad_token: <pad>\neos_token: </s>\nunk_token: [UNK]\ntokenizer_class: LlamaTokenizerFast'],
    ['YAML aliases, tags, nested maps', 'password: *db_password\npassword: !vault |\nsecret:\n  secretName: tls-cert-secret\n'],
    ['reST roles', ':param password: the password to use\n:type passphrase: :py:data:`bytes`\n'],
    // netrc-like text that is none
    ['prose with machine and password', 'the machine learning model login page asks for a password reset'],
    ['netrc templates and placeholders', "f'machine {hostname} login {self.username} password {self.password}'\nmachine HOSTNAME login USERID password \"PASSWORD\"\nmachine h login u password $NETRC_PW"],
    // docker, kubeconfig, headers
    ['auth that holds no user:password', `"auth": "required"\n"auth": "dG9rZW4="\n"author": "${DOCKER_AUTH}"`],
    ['kubeconfig as kubectl config view prints it', '    client-key-data: DATA+OMITTED\n    client-key-data: REDACTED\n    token: REDACTED\n'],
    ['headers with no secret', '> api-key: \r\n< content-type: application/json\r\n> x-api-key: $API_KEY\r\n'],
    // command lines
    ['mysql asking for the password', 'mysql -u root -p prod\nmysql -P 3306 -h db -u app -p\nmysql -p"$MYSQL_PWD" prod\nmysqlclient -pX'],
    ['other -p options', 'mkdir -p /tmp/x && ssh -p 2222 host && sshpass -f ~/.pw ssh -p 2222 host && sshpass -e ssh host'],
    // URLs with no credential
    ['URLs with a user name', 'git@github.com:a/b.git ssh://git@github.com/a/b https://alice@example.com/ https://jonathan.smithson@bitbucket.org/x https://deploy-bot-1234@host/x'],
    ['URL placeholders', 'postgres://user:password@localhost/db https://:password@host postgres%3A//user%3Apassword%40localhost/db postgres%3A//app%3A%7Bpassword%7D%40db/x'],
    ['the shell integration’s default report', '\x1b]7;file://vm/tmp/project\x07\x1b]1337;ApolloEnv;apollo-nonce=432631ad80e5b2334f6b7464;PATH=/usr/local/sbin%3A/usr/local/bin%3A/usr/sbin%3A/usr/bin%3A/sbin%3A/bin;VIRTUAL_ENV=/work/project/venv\x07'],
    // ordinary shell, Python and YAML output
    ['training log', '2025-03-03 08:23:31,919 INFO trainer.py:212 step=0 loss=2.4505 lr=2.0e-04 grad_norm=0.65 tokens/s=42127\r\n'],
    ['pip', 'Collecting tokenizers==0.19.1\r\n  Downloading tokenizers-0.19.1-cp311-cp311-manylinux_2_17_x86_64.whl (3.6 MB)\r\n'],
    ['pytest', 'tests/test_tokenize.py::test_case[12] PASSED                [ 42%]\r\nFAILED tests/test_auth.py::test_login - KeyError: \'api_key\'\r\n'],
    ['Python traceback', 'Traceback (most recent call last):\n  File "app.py", line 3, in <module>\n    key = config["sort_key"]\nKeyError: \'sort_key\'\n>>> d.keys()\ndict_keys([\'primary_key\', \'monkey\'])'],
    ['YAML config', 'model:\n  name: llama-3.1-8b\n  primary_key: id\ntraining:\n  max_tokens: 4096\n  save_steps: 500\nauth:\n  enabled: true\n  provider: oidc\n'],
    ['git log', 'commit 3f2c1a9e8b7d6c5f4e3a2b1c0d9e8f7a6b5c4d3e\nAuthor: Alice <alice@example.com>\n\n    Fix auth token refresh; machine-readable output for keys\n'],
    // quoted text after a keyword that is no quoted value of it
    ['strings joined around a variable', 'print("Password: " + pw + " is wrong")\nlog(\'token=\' + token + \' for user \' + user)\necho "secret: " "$SECRET"'],
    ['the keyword inside a string', 'msg = "wrong password, try again"\nraise ValueError("the token has expired, log in again")'],
    ['quoted templates and placeholders', 'password: "{{ .Values.db.password }}"\npassword = "<your password here>"\ntoken: \'%(api token)s\''],
    ['quoted values too short, or empty', 'password="a b c"\n{"password": "", "username": "Bob Smith Jr"}\n{\'token\': \'x\', \'name\': \'two words here\'}'],
    ['a comparison', 'if password == "open sesame now": pass'],
    ['labels under a name in the plural', "const labels = { maxTokens: 'max tokens', historyTokens: 'history tokens' };\nsecrets: \"see the vault for these\""],
    ['quoted formats and patterns', 'token_range = "%d,%d-%d,%d:" % (token.start + token.end)\ntoken_pattern = "(?u)[a-z]+ [0-9]+"\nTOKEN_RE = \'[A-Za-z_]+ [0-9]+\'\nsecret_re = "^sk- [a-z]+"'],
    ['a value never closed holding no long word', 'password = "a b c d e f g h\nmysql -u root -p"unterminated pass'],
  ])('leaves alone: %s', (_what, text) => {
    expect(r.redact(text)).toEqual({ text, kinds: [] });
    expect(r.scan({ content: text, arguments: JSON.stringify({ command: text }) }).hits).toEqual([]);
  });
});

describe('Redactor: the same forms inside JSON', () => {
  const r = new Redactor([]);

  it('a *_KEY, a docker auth and a kubeconfig key as JSON members are sensitive fields', () => {
    const env = { MISTRAL_KEY: HEX32, PRIMARY_KEY: 'id', sort_key: 'created_at_2024', PUBLIC_KEY: HEX32 };
    const docker = { auths: { 'registry.example.com': { auth: DOCKER_AUTH }, 'other.example.com': { auth: 'dG9rZW4=' } } };
    const kube = { users: [{ name: 'admin', user: { 'client-key-data': KUBE_KEY, 'client-certificate-data': 'LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t' } }] };
    const { value, hits } = r.scan({ env, docker, kube });
    expect(value).toEqual({
      env: { MISTRAL_KEY: R('sensitive-field'), PRIMARY_KEY: 'id', sort_key: 'created_at_2024', PUBLIC_KEY: HEX32 },
      docker: { auths: { 'registry.example.com': { auth: R('sensitive-field') }, 'other.example.com': { auth: 'dG9rZW4=' } } },
      kube: { users: [{ name: 'admin', user: { 'client-key-data': R('sensitive-field'), 'client-certificate-data': 'LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t' } }] },
    });
    expect(hits.map((h) => `${h.pointer} ${h.kind}`)).toEqual([
      '/env/MISTRAL_KEY sensitive-field',
      '/docker/auths/registry.example.com/auth sensitive-field',
      '/kube/users/0/user/client-key-data sensitive-field',
    ]);
  });

  it('a *_KEY member that says it holds no secret is no sensitive field, a secret one still is', () => {
    const build = { md5_key: HEX32, cache_key: HEX32, 'idempotency-key': UUID, sort_key: HEX32, primary_key: UUID, SESSION_HASH_KEY: HEX64, HMAC_SHA256_KEY: HEX32, MISTRAL_KEY: HEX32 };
    const { value, hits } = r.scan({ build });
    expect(value).toEqual({ build: { ...build, SESSION_HASH_KEY: R('sensitive-field'), HMAC_SHA256_KEY: R('sensitive-field'), MISTRAL_KEY: R('sensitive-field') } });
    expect(hits.map((h) => h.pointer)).toEqual(['/build/SESSION_HASH_KEY', '/build/HMAC_SHA256_KEY', '/build/MISTRAL_KEY']);
  });

  it('the same as JSON text in a tool call and an observation', () => {
    const args = JSON.stringify({ path: '.docker/config.json', content: JSON.stringify({ auths: { 'r.example.com': { auth: DOCKER_AUTH } } }) });
    const output = `$ cat ~/.netrc\nmachine api.heroku.com login me@example.com password ${PW}\n$ cat .env\nMISTRAL_KEY=${HEX32}\n`;
    const observation = JSON.stringify({ success: true, output, exit_code: 0 });
    const { value, hits } = r.scan({ arguments: args, observation });
    expect(hits).toEqual([
      { pointer: '/arguments/content/auths/r.example.com/auth', field: '/arguments', kind: 'sensitive-field' },
      { pointer: '/observation/output', field: '/observation', kind: 'netrc-password' },
      { pointer: '/observation/output', field: '/observation', kind: 'assignment' },
    ]);
    expect(JSON.parse((JSON.parse(value.arguments) as { content: string }).content)).toEqual({ auths: { 'r.example.com': { auth: R('sensitive-field') } } });
    expect((JSON.parse(value.observation) as { output: string }).output).toBe(`$ cat ~/.netrc\nmachine api.heroku.com login me@example.com password ${R('netrc-password')}\n$ cat .env\nMISTRAL_KEY=${R('assignment')}\n`);
  });

  it('a YAML password in a file the agent writes, the rest of the arguments byte-identical', () => {
    const args = `{"path": "config/db.yml", "content": "database:\\n  password: ${YAML_PW}\\n  user: app\\n"}`;
    expect(r.redact(args)).toEqual({ text: `{"path": "config/db.yml", "content": "database:\\n  password: ${R('assignment')}\\n  user: app\\n"}`, kinds: ['assignment'] });
  });
});

describe('Redactor: the new forms with the prefilter off', () => {
  it('finds the same in every case (each anchor is in every match of its pattern)', () => {
    const fast = new Redactor([]);
    const full = new Redactor([], false);
    const texts = [
      `MISTRAL_KEY=${HEX32}`, `password: ${YAML_PW}`, `machine host login bob password ${PW}`, `"auth": "${DOCKER_AUTH}"`,
      `client-key-data: ${KUBE_KEY}`, `> x-api-key: ${HEX32}`, `mysql -uroot -p${PW}`, `sshpass -p ${PW} ssh h`,
      `https://${HEX32}@host/x`, `redis://:${PW}@h`, `?key=${HEX32}`, `postgres%3A//app%3A${PCT_PW}%40db/x`,
      `App_Key=${HEX32}`, `md5_key=${HEX32}`, `SESSION_HASH_KEY=${HEX64}`, `?key=page2024p03item17`, `?key=${B62}`, `Mysql -p${PW}`, `MACHINE host LOGIN bob PASSWORD ${PW}`, `"AUTH": "${DOCKER_AUTH}"`, `POSTGRES%3a//app%3a${PCT_PW}%40db`,
      'PASSWORD = "correct horse battery staple"', `--Password 'two words here'`, 'mysql -u root -p"My S3cret Pass"', "sshpass -p 'two words' ssh h",
    ];
    for (const t of texts) expect(fast.findWithContext(t), t).toEqual(full.findWithContext(t));
  });
});

describe('Redactor: the new patterns stay bounded', () => {
  it('on 1 MB runs built around their literals', () => {
    const r = new Redactor([]);
    for (const text of [
      'a_key'.repeat(200_000), `${'a'.repeat(1 << 20)}_key=${HEX32}`, 'ab-cd_'.repeat(170_000),
      'x%3A//a%3A'.repeat(100_000), `x%3A//${'a%3A'.repeat(250_000)}`, `https://${'abcdefghij1234567890'.repeat(50_000)}`, 'https://'.repeat(130_000),
      'mysql -x -y -z -w '.repeat(60_000), 'mysql -p '.repeat(110_000), 'sshpass -f x -P y -v '.repeat(50_000),
      'machine h login u account a port p '.repeat(30_000), `machine ${' \n'.repeat(500_000)}`,
      '"auth": "'.repeat(110_000), `"auth": "${'QUJD'.repeat(250_000)}`, '?key='.repeat(200_000), 'password: '.repeat(100_000),
      'token: abcdefgh12345678 and more\n'.repeat(35_000),
      // quotes that never close, or close only far on
      'password = "a b '.repeat(70_000), `password="${'a '.repeat(500_000)}`, `password=" password=' `.repeat(50_000),
      `password='x${' password=\'abcd'.repeat(70_000)}`, 'mysql -p" mysql -p\' '.repeat(50_000), `--password "${'ab '.repeat(340)}`.repeat(1000),
    ]) {
      const t = performance.now();
      r.find(text);
      expect(performance.now() - t, text.slice(0, 30)).toBeLessThan(2000);
    }
  });
});

describe('StreamRedactor: the new forms across window cuts', () => {
  it('redacts as one text does, wherever the window is cut', () => {
    const r = new Redactor([]);
    const text = [
      `$ cat ~/.netrc\r\nmachine api.heroku.com\r\n  login me@example.com\r\n  password ${PW}\r\n`,
      `$ cat config.yml\r\ndatabase:\r\n  password: ${YAML_PW}\r\n`,
      `$ env | grep KEY\r\nMISTRAL_KEY=${HEX32}\r\n`,
      `$ mysql -uroot -p${PW} prod\r\n`,
      `\x1b]1337;ApolloEnv;apollo-nonce=1;DATABASE_URL=postgres%3A//app%3A${PCT_PW}%40db%3A5432/prod\x07`,
      `$ git remote -v\r\norigin\thttps://${HEX32}@git.example.com/a/b.git (fetch)\r\n`,
      '$ cat db.env\r\nDB_PASSWORD="Tr0ub4dor &3 horse"\r\n$ mysql -u root -p"My S3cret Pass"\r\n',
    ].join('x '.repeat(40));
    const whole = r.redact(text);
    expect(whole.kinds).toEqual(['netrc-password', 'assignment', 'assignment', 'cli-password', 'url-password', 'url-token', 'assignment', 'cli-password']);
    expect(whole.text).toContain(`DB_PASSWORD="${R('assignment')}"\r\n$ mysql -u root -p"${R('cli-password')}"\r\n`);
    for (const [window, overlap] of [[64, 256], [97, 300], [1 << 20, 1 << 16]] as const) {
      for (const step of [1, 7, 50]) {
        const out: string[] = [];
        const s = new StreamRedactor<number>(r, (d) => void out.push(d), window, overlap);
        for (let i = 0; i < text.length; i += step) s.push(text.slice(i, i + step), i);
        s.end();
        expect(out.join(''), `${window}/${step}`).toBe(whole.text);
      }
    }
  });
});

describe('Redactor: the rules that take a quoted value whole', () => {
  it('are in the rules source, so output kept redacted (or found clean) by an older build is not reused', () => {
    const source = redactionRulesSource();
    // The helper that writes the quoted alternatives, and the alternatives it wrote into the patterns.
    expect(source).toContain('function quotedRun(');
    const [patterns] = JSON.parse(source) as [Array<[string, string]>];
    for (const kind of ['assignment', 'cli-password']) expect(patterns.some(([k, re]) => k === kind && re.includes('(?<=")') && re.includes(`(?<=')`)), kind).toBe(true);
  });
});
