import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ApolloError } from '../../shared/errors';
import { APP_VERSION } from '../core/version';
import { describeParseError, USAGE_EXIT, UsageError } from './usage';

export interface CliCommand {
  usage: string;
  options: NonNullable<ParseArgsConfig['options']>;
  run(values: Record<string, unknown>, positionals: string[]): Promise<number>;
}

const common: NonNullable<ParseArgsConfig['options']> = {
  home: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
};

interface CommandEntry {
  summary: string;
  load(): Promise<CliCommand>;
}

/**
 * Every command, with its module loaded only when it runs: a process parses the part of
 * the core (and of zod, lowdb, ws…) its command needs, and `--help` or a mistyped
 * command none of it.
 */
const cliCommands: Record<string, CommandEntry> = {
  serve: { summary: 'serve the workstation to a browser on 127.0.0.1 (token-protected)', load: async () => (await import('./serve')).serveCommand },
  sessions: { summary: 'list the sessions of the workspace', load: async () => (await import('./sessions')).sessionsCommand },
  rollout: { summary: 'run an agent rollout headless in real terminals (stdin lines become guidance)', load: async () => (await import('./rollout')).rolloutCommand },
  branch: { summary: 'branch a recorded session from a step: hand-written action, guidance, or continue with the agent', load: async () => (await import('./branch')).branchCommand },
  rewind: { summary: "restore a session's files, shell directory and environment to a step and continue from there as a new branch", load: async () => (await import('./rewind')).rewindCommand },
  label: { summary: 'label the actions of a session: the built-in rules (preview, then apply), or keep/mask by hand', load: async () => (await import('./label')).labelCommand },
  judge: { summary: "label a session's actions keep/mask with an LLM judge (OpenAI-compatible endpoint)", load: async () => (await import('./judge')).judgeCommand },
  export: { summary: 'write a dataset bundle (OpenAI / Axolotl, LLaMA-Factory, mistral-finetune, trajectories, asciicast recordings) from sessions', load: async () => (await import('./export')).exportCommand },
  merge: { summary: 'merge dataset bundles of several annotators into one, action by action (verified, labels settled by policy, provenance and agreement)', load: async () => (await import('./merge')).mergeCommand },
  sign: { summary: 'sign dataset bundles with your key (manifest.sig beside manifest.json)', load: async () => (await import('./keys')).signCommand },
  keys: { summary: 'show or export the public key that signs your bundles (an ed25519 key pair, created on first use)', load: async () => (await import('./keys')).keysCommand },
  import: { summary: 'import runs of other agents and tools (trajectories, logs, SFT datasets, terminal recordings) as sessions', load: async () => (await import('./import')).importCommand },
  bench: { summary: "write a long generated session (the benchmark's) into a workspace", load: async () => (await import('./bench')).benchCommand },
  search: { summary: 'search a session: actions, observations, guidance, comments, summaries and terminal output', load: async () => (await import('./search')).searchCommand },
  env: { summary: 'SSH hosts, containers and pods as named environments for rollouts (add, list, test, remove)', load: async () => (await import('./env')).envCommand },
};

function usage(): string {
  const lines = [
    `apollo ${APP_VERSION} — workstation for asynchronous human-agent rollouts`,
    '',
    'Usage: apollo <command> [options]',
    '',
    'Commands:',
    ...Object.entries(cliCommands).map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`),
    '',
    'Common options:',
    '  --home DIR   workspace folder (default: $APOLLO_HOME, else the OS app-data folder)',
    '  -h, --help   show help for a command',
    '',
    'Run `apollo <command> --help` for the options of a command.',
  ];
  return lines.join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return 0;
  }
  if (name === '--version' || name === '-v') {
    console.log(APP_VERSION);
    return 0;
  }
  const entry = Object.hasOwn(cliCommands, name) ? cliCommands[name] : undefined;
  if (!entry) {
    console.error(`apollo: unknown command "${name}"\n\n${usage()}`);
    return USAGE_EXIT;
  }
  const cmd = await entry.load();
  const options = { ...common, ...cmd.options };
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options, allowPositionals: true, strict: true });
  } catch (err) {
    console.error(`apollo ${name}: ${describeParseError(err, options)}\n\nUsage: ${cmd.usage}`);
    return USAGE_EXIT;
  }
  if (parsed.values.help) {
    console.log(`Usage: ${cmd.usage}\n\n${entry.summary}`);
    return 0;
  }
  try {
    return await cmd.run(parsed.values, parsed.positionals);
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`apollo ${name}: ${err.message}\n\nUsage: ${cmd.usage}`);
      return USAGE_EXIT;
    }
    const msg = err instanceof ApolloError ? `${err.message} [${err.code}]` : (err as Error).message;
    console.error(`apollo ${name}: ${msg}`);
    return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    console.error(err);
    process.exitCode = 1;
  },
);
