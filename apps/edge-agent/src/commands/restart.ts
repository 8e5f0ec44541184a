import { parseArgs } from 'node:util';
import {
  CONTROL_CLI_OPTIONS,
  CONTROL_CLI_OPTIONS_HELP,
  controlClientFor,
  printFailure,
} from '../control/cli-support.js';
import { StartupError } from '../errors.js';
import { type Command, EXIT_OK } from './command.js';

export const restartCommand: Command = {
  name: 'restart',
  summary: 'restart one module now',
  usage: `Usage: outpost-agent restart <module> --config <file> [--json]

Asks the running agent to restart the module (stop with its grace period, then start). A manual restart gives
the module its restart budget back (its restart count starts again from 0); a module desired stopped is refused.
Exit codes: 0 restarted, 1 no such module or the agent is not running, 2 bad usage.

Options:
${CONTROL_CLI_OPTIONS_HELP}`,

  async run(args) {
    const { values, positionals } = parseArgs({
      args: [...args],
      options: CONTROL_CLI_OPTIONS,
      strict: true,
      allowPositionals: true,
    });
    if (values.help) {
      process.stdout.write(`${this.usage}\n`);
      return EXIT_OK;
    }
    const [module, ...extra] = positionals;
    if (!module || extra.length > 0) throw new StartupError('USAGE', ['restart: give exactly one module name']);
    const client = await controlClientFor('restart', values);
    try {
      await client.request({ op: 'restart', module });
    } catch (err) {
      return printFailure(err, values.json === true);
    }
    process.stdout.write(values.json ? `${JSON.stringify({ ok: true, module })}\n` : `restarted ${module}\n`);
    return EXIT_OK;
  },
};
