import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  CONTROL_CLI_OPTIONS,
  CONTROL_CLI_OPTIONS_HELP,
  controlClientFor,
  printFailure,
} from '../control/cli-support.js';
import { errorMessage, StartupError } from '../errors.js';
import type { DeploymentOutcome } from '../runtime/contracts.js';
import { type Command, EXIT_FAILURE, EXIT_OK } from './command.js';

export const deployCommand: Command = {
  name: 'deploy',
  summary: 'apply a deployment from a local file, without the cloud',
  usage: `Usage: outpost-agent deploy --file <manifest.json> --config <file> [--json]

Hands a deployment to the running agent, for air-gapped devices or tests: either a manifest signed with the device's
local key (the envelope \`outpost-agent keys sign\` writes), or a bare manifest when the agent's config says
"allowUnsignedLocal": true. The agent validates and verifies it, plans and applies it, and reports it as a local
deployment. Prints the outcome (code 200 applied; 400 invalid, 412 refused, 500 failed, with every problem).
Exit codes: 0 applied, 1 refused or failed (or the agent is not running), 2 bad usage or an unreadable file.

Options:
  -f, --file <file>    the manifest or signed envelope (JSON)
${CONTROL_CLI_OPTIONS_HELP}`,

  async run(args) {
    const { values } = parseArgs({
      args: [...args],
      options: { ...CONTROL_CLI_OPTIONS, file: { type: 'string', short: 'f' } },
      strict: true,
    });
    if (values.help) {
      process.stdout.write(`${this.usage}\n`);
      return EXIT_OK;
    }
    if (!values.file) throw new StartupError('USAGE', ['deploy: --file <manifest.json> is required']);
    const input = await readDeploymentFile(values.file);
    const client = await controlClientFor('deploy', values);
    let outcome: DeploymentOutcome;
    try {
      outcome = await client.request({ op: 'deploy', input });
    } catch (err) {
      return printFailure(err, values.json === true);
    }
    const applied = outcome.code === 200;
    if (values.json) {
      process.stdout.write(`${JSON.stringify({ ok: applied, ...outcome }, null, 2)}\n`);
    } else {
      process.stdout.write(`${formatOutcome(outcome)}\n`);
    }
    return applied ? EXIT_OK : EXIT_FAILURE;
  },
};

export function formatOutcome(outcome: DeploymentOutcome): string {
  const head =
    outcome.code === 200
      ? `deployment applied (${outcome.code}): ${outcome.description}`
      : `deployment ${outcome.code === 500 ? 'failed' : 'refused'} (${outcome.code}): ${outcome.description}`;
  const errors = (outcome.errors ?? []).map((error) => `  ${error.path || '(manifest)'}: ${error.message}`);
  return [head, ...errors].join('\n');
}

async function readDeploymentFile(path: string): Promise<unknown> {
  const file = resolve(path);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new StartupError('USAGE', [
      `deploy: ${file}: ${code === 'ENOENT' ? 'file not found' : `cannot read: ${errorMessage(err)}`}`,
    ]);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new StartupError('USAGE', [`deploy: ${file}: not valid JSON: ${errorMessage(err)}`]);
  }
}
