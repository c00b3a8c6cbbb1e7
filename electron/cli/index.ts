import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ApolloError } from '../../shared/errors';
import { APP_VERSION } from '../core/version';
import { serveCommand } from './serve';
import { sessionsCommand } from './sessions';
import { rolloutCommand } from './rollout';
import { branchCommand } from './branch';
import { rewindCommand } from './rewind';
import { labelCommand } from './label';
import { judgeCommand } from './judge';
import { exportCommand } from './export';
import { mergeCommand } from './merge';
import { keysCommand, signCommand } from './keys';
import { importCommand } from './import';
import { benchCommand } from './bench';
import { searchCommand } from './search';
import { envCommand } from './env';
import { describeParseError, USAGE_EXIT, UsageError } from './usage';

export interface CliCommand {
  summary: string;
  usage: string;
  options: NonNullable<ParseArgsConfig['options']>;
  run(values: Record<string, unknown>, positionals: string[]): Promise<number>;
}

const common: NonNullable<ParseArgsConfig['options']> = {
  home: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
};

export const cliCommands: Record<string, CliCommand> = {
  serve: serveCommand,
  sessions: sessionsCommand,
  rollout: rolloutCommand,
  branch: branchCommand,
  rewind: rewindCommand,
  label: labelCommand,
  judge: judgeCommand,
  export: exportCommand,
  merge: mergeCommand,
  sign: signCommand,
  keys: keysCommand,
  import: importCommand,
  bench: benchCommand,
  search: searchCommand,
  env: envCommand,
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
  const cmd = cliCommands[name];
  if (!cmd) {
    console.error(`apollo: unknown command "${name}"\n\n${usage()}`);
    return USAGE_EXIT;
  }
  const options = { ...common, ...cmd.options };
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options, allowPositionals: true, strict: true });
  } catch (err) {
    console.error(`apollo ${name}: ${describeParseError(err, options)}\n\nUsage: ${cmd.usage}`);
    return USAGE_EXIT;
  }
  if (parsed.values.help) {
    console.log(`Usage: ${cmd.usage}\n\n${cmd.summary}`);
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
