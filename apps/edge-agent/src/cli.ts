#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { checkCommand } from './commands/check.js';
import { type Command, EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from './commands/command.js';
import { deployCommand } from './commands/deploy.js';
import { enrollCommand } from './commands/enroll.js';
import { keysCommand } from './commands/keys.js';
import { listCommand } from './commands/list.js';
import { logsCommand } from './commands/logs.js';
import { restartCommand } from './commands/restart.js';
import { runCommand } from './commands/run.js';
import { errorMessage, StartupError } from './errors.js';
import { AGENT_VERSION } from './version.js';

const COMMANDS: readonly Command[] = [
  runCommand,
  enrollCommand,
  keysCommand,
  listCommand,
  logsCommand,
  restartCommand,
  deployCommand,
  checkCommand,
];

function usage(): string {
  const width = Math.max(...COMMANDS.map((command) => command.name.length));
  const list = COMMANDS.map((command) => `  ${command.name.padEnd(width)}  ${command.summary}`).join('\n');
  return `Usage: outpost-agent <command> [options]

The Outpost device runtime.

Commands:
${list}

Options:
  -h, --help     show this help (or \`outpost-agent <command> --help\`)
  -v, --version  print the agent version

Exit codes: 0 ok, 1 unexpected failure, 2 bad usage or configuration.`;
}

/** Parses argv (without node and the script) and runs the command; resolves to the exit code. */
async function main(argv: readonly string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined) {
    process.stderr.write(`outpost-agent: a command is required\n\n${usage()}\n`);
    return EXIT_USAGE;
  }
  if (first.startsWith('-')) {
    const { values } = parseArgs({
      args: [...argv],
      options: { help: { type: 'boolean', short: 'h' }, version: { type: 'boolean', short: 'v' } },
      strict: true,
      allowPositionals: false,
    });
    if (values.version) {
      process.stdout.write(`${AGENT_VERSION}\n`);
      return EXIT_OK;
    }
    process.stdout.write(`${usage()}\n`);
    return EXIT_OK;
  }
  const command = COMMANDS.find((candidate) => candidate.name === first);
  if (!command) {
    process.stderr.write(`outpost-agent: unknown command "${first}"\n\n${usage()}\n`);
    return EXIT_USAGE;
  }
  return command.run(rest);
}

function isParseArgsError(err: unknown): err is Error {
  return err instanceof TypeError && 'code' in err && String(err.code).startsWith('ERR_PARSE_ARGS_');
}

process.on('uncaughtException', (err) => {
  process.stderr.write(`outpost-agent: unexpected error: ${err.stack ?? err.message}\n`);
  process.exit(EXIT_FAILURE);
});
process.on('unhandledRejection', (reason) => {
  process.stderr.write(`outpost-agent: unexpected error: ${reason instanceof Error ? reason.stack : String(reason)}\n`);
  process.exit(EXIT_FAILURE);
});

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof StartupError) {
      for (const line of err.lines) process.stderr.write(`outpost-agent: ${line}\n`);
      process.exit(EXIT_USAGE);
    }
    if (isParseArgsError(err)) {
      process.stderr.write(`outpost-agent: ${err.message}\nRun \`outpost-agent --help\` for usage.\n`);
      process.exit(EXIT_USAGE);
    }
    process.stderr.write(`outpost-agent: ${errorMessage(err)}\n`);
    process.exit(EXIT_FAILURE);
  },
);
