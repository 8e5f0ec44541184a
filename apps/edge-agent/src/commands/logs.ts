import { parseArgs } from 'node:util';
import type { LogLine } from '@outpost/protocol';
import {
  CONTROL_CLI_OPTIONS,
  CONTROL_CLI_OPTIONS_HELP,
  controlClientFor,
  printFailure,
} from '../control/cli-support.js';
import { StartupError } from '../errors.js';
import { type Command, EXIT_OK } from './command.js';

const DURATION = /^(\d+)(s|m|h|d)$/;
const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

export const logsCommand: Command = {
  name: 'logs',
  summary: "print a module's logs (--tail N, --since, --follow)",
  usage: `Usage: outpost-agent logs <module> --config <file> [--tail N] [--since <time>] [--follow] [--json]

Prints the module's captured stdout and stderr (stderr lines go to stderr), oldest first. With --follow, keeps
printing new lines until Ctrl-C. Exit codes: 0 ok, 1 no such module or the agent is not running, 2 bad usage.

Options:
  -n, --tail <N>       only the last N lines
      --since <time>   only lines since an ISO 8601 time, or a duration ago (30s, 10m, 2h, 1d)
  -f, --follow         keep printing new lines (with --json: one JSON line per log line)
${CONTROL_CLI_OPTIONS_HELP}`,

  async run(args) {
    const { values, positionals } = parseArgs({
      args: [...args],
      options: {
        ...CONTROL_CLI_OPTIONS,
        tail: { type: 'string', short: 'n' },
        since: { type: 'string' },
        follow: { type: 'boolean', short: 'f' },
      },
      strict: true,
      allowPositionals: true,
    });
    if (values.help) {
      process.stdout.write(`${this.usage}\n`);
      return EXIT_OK;
    }
    const [module, ...extra] = positionals;
    if (!module || extra.length > 0) throw new StartupError('USAGE', ['logs: give exactly one module name']);
    const tail = values.tail === undefined ? undefined : parseTail(values.tail);
    const since = values.since === undefined ? undefined : parseSince(values.since);
    const json = values.json === true;
    const client = await controlClientFor('logs', values);
    const query = { ...(tail !== undefined ? { tail } : {}), ...(since !== undefined ? { since } : {}) };

    if (!values.follow) {
      try {
        const result = await client.request({ op: 'logs', module, ...query });
        if (json) process.stdout.write(`${JSON.stringify(result)}\n`);
        else for (const line of result.lines) printLine(line);
        return EXIT_OK;
      } catch (err) {
        return printFailure(err, json);
      }
    }

    // Ctrl-C (or SIGTERM from a supervisor) ends a follow normally: exit 0 once the stream is closed.
    const abort = new AbortController();
    const stop = () => abort.abort();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    // `logs -f | head` closes the pipe: stop following quietly instead of crashing on EPIPE.
    const onPipeError = (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') stop();
    };
    process.stdout.on('error', onPipeError);
    process.stderr.on('error', onPipeError);
    try {
      for await (const line of client.followLogs(module, query, abort.signal)) {
        if (abort.signal.aborted) break;
        if (json) process.stdout.write(`${JSON.stringify(line)}\n`);
        else printLine(line);
      }
      return EXIT_OK;
    } catch (err) {
      return printFailure(err, json);
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      process.stdout.off('error', onPipeError);
      process.stderr.off('error', onPipeError);
    }
  },
};

function printLine(line: LogLine): void {
  (line.stream === 'stderr' ? process.stderr : process.stdout).write(`${line.text}\n`);
}

function parseTail(value: string): number {
  const tail = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(tail) || tail < 1) {
    throw new StartupError('USAGE', [`logs: --tail must be a whole number >= 1 (got "${value}")`]);
  }
  return tail;
}

/** An ISO time as given (normalised to UTC), or now minus a duration. */
export function parseSince(value: string, now = Date.now()): string {
  const duration = DURATION.exec(value);
  if (duration) {
    const [, amount, unit] = duration;
    return new Date(now - Number(amount) * UNIT_MS[unit as keyof typeof UNIT_MS]).toISOString();
  }
  const at = Date.parse(value);
  if (Number.isNaN(at) || !/^\d{4}-\d{2}-\d{2}/.test(value)) {
    throw new StartupError('USAGE', [
      `logs: --since must be an ISO 8601 time (2026-01-31T12:00:00Z) or a duration (30s, 10m, 2h, 1d); got "${value}"`,
    ]);
  }
  return new Date(at).toISOString();
}
