import { resolve } from 'node:path';
import { loadConfig } from '../config/index.js';
import { StartupError } from '../errors.js';
import { ControlClient } from './client.js';
import { ControlError } from './protocol.js';

/** Options every command that talks to the running agent takes. */
export const CONTROL_CLI_OPTIONS = {
  config: { type: 'string', short: 'c' },
  socket: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const CONTROL_CLI_OPTIONS_HELP = `  -c, --config <file>  the agent's config file (its controlSocket, default <stateDir>/agent.sock)
      --socket <path>  the agent's control socket, instead of --config
      --json           machine-readable output (JSON on stdout; errors as {"ok":false,"error":{...}})
  -h, --help           show this help`;

/** The client for the socket named by --socket, or by the config's controlSocket; a usage error when neither is given. */
export async function controlClientFor(
  command: string,
  values: { config?: string | undefined; socket?: string | undefined },
): Promise<ControlClient> {
  if (values.socket) return new ControlClient(resolve(values.socket));
  if (!values.config) {
    throw new StartupError('USAGE', [`${command}: --config <file> (or --socket <path>) is required`]);
  }
  const config = await loadConfig(values.config);
  return new ControlClient(config.controlSocket);
}

/** Prints a failed request (stderr, or JSON on stdout with --json); returns the exit code 1. */
export function printFailure(err: unknown, json: boolean): number {
  const error =
    err instanceof ControlError
      ? { code: err.code, message: err.message, details: err.details }
      : { code: 'INTERNAL', message: err instanceof Error ? err.message : String(err), details: [] };
  if (json) {
    process.stdout.write(`${JSON.stringify({ ok: false, error })}\n`);
  } else {
    process.stderr.write(`outpost-agent: ${error.message}${error.code === 'INTERNAL' ? '' : ` (${error.code})`}\n`);
    for (const detail of error.details) process.stderr.write(`  ${detail.path}: ${detail.message}\n`);
  }
  return 1;
}

/** "1d2h", "3h4m", "5m6s", "7s": the two largest units, as `docker ps` does. */
export function formatDuration(totalSecs: number): string {
  const secs = Math.max(0, Math.floor(totalSecs));
  const units: Array<[string, number]> = [
    ['d', Math.floor(secs / 86_400)],
    ['h', Math.floor((secs % 86_400) / 3_600)],
    ['m', Math.floor((secs % 3_600) / 60)],
    ['s', secs % 60],
  ];
  const first = units.findIndex(([, value]) => value > 0);
  if (first < 0) return '0s';
  return units
    .slice(first, first + 2)
    .filter(([, value], index) => index === 0 || value > 0)
    .map(([unit, value]) => `${value}${unit}`)
    .join('');
}

/** Left-aligned columns separated by two spaces. */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}
