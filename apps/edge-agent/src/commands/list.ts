import { parseArgs } from 'node:util';
import {
  CONTROL_CLI_OPTIONS,
  CONTROL_CLI_OPTIONS_HELP,
  controlClientFor,
  formatDuration,
  formatTable,
  printFailure,
} from '../control/cli-support.js';
import type { ListResult } from '../control/index.js';
import { type Command, EXIT_OK } from './command.js';

export const listCommand: Command = {
  name: 'list',
  summary: 'list the modules the running agent manages (status, version, restarts, uptime)',
  usage: `Usage: outpost-agent list --config <file> [--json]

Asks the running agent (over its control socket) for its modules and deployment, and prints:
  MODULE  TYPE  STATUS  VERSION  RESTARTS  UPTIME
Exit codes: 0 ok, 1 the agent is not running or failed to answer, 2 bad usage.

Options:
${CONTROL_CLI_OPTIONS_HELP}`,

  async run(args) {
    const { values } = parseArgs({ args: [...args], options: CONTROL_CLI_OPTIONS, strict: true });
    if (values.help) {
      process.stdout.write(`${this.usage}\n`);
      return EXIT_OK;
    }
    const client = await controlClientFor('list', values);
    let result: ListResult;
    try {
      result = await client.request({ op: 'list' });
    } catch (err) {
      return printFailure(err, values.json === true);
    }
    if (values.json) {
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      return EXIT_OK;
    }
    process.stdout.write(`${formatList(result)}\n`);
    return EXIT_OK;
  },
};

export function formatList(result: ListResult): string {
  const { deployment } = result;
  const deploymentLine =
    deployment.version === null
      ? `deployment: none (${deployment.code} ${deployment.description})`
      : `deployment: ${deployment.source ?? 'unknown'} v${deployment.version} (${deployment.code} ${deployment.description})`;
  if (result.modules.length === 0) return `${deploymentLine}\nno modules`;
  const rows = result.modules.map((module) => [
    module.name,
    module.type,
    module.status,
    module.version ?? '-',
    String(module.restartCount),
    module.uptimeSecs === null ? '-' : formatDuration(module.uptimeSecs),
  ]);
  return `${deploymentLine}\n${formatTable(['MODULE', 'TYPE', 'STATUS', 'VERSION', 'RESTARTS', 'UPTIME'], rows)}`;
}
