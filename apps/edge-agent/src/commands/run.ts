import { parseArgs } from 'node:util';
import { Agent } from '../agent.js';
import { loadConfig } from '../config/index.js';
import { StartupError } from '../errors.js';
import { createLogger } from '../logger.js';
import { type Command, EXIT_OK } from './command.js';

const SHUTDOWN_SIGNALS = ['SIGTERM', 'SIGINT'] as const;
type ShutdownSignal = (typeof SHUTDOWN_SIGNALS)[number];

export const runCommand: Command = {
  name: 'run',
  summary: 'run the agent until SIGTERM/SIGINT',
  usage: `Usage: outpost-agent run --config <file>

Runs the agent: connects to NATS (retrying forever), announces the device and sends heartbeats.
Stops cleanly on SIGTERM or SIGINT (goodbye, flush, exit 0).

Options:
  -c, --config <file>  agent config file (JSON; see README)
  -h, --help           show this help`,

  async run(args) {
    const { values } = parseArgs({
      args: [...args],
      options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: false,
    });
    if (values.help) {
      process.stdout.write(`${this.usage}\n`);
      return EXIT_OK;
    }
    if (!values.config) throw new StartupError('USAGE', ['run: --config <file> is required']);

    // Listen before anything slow so a signal during startup still means a clean stop, not Node's default kill.
    const shutdown = listenForShutdownSignals();
    const config = await loadConfig(values.config);
    const log = createLogger({ level: config.logLevel, deviceId: config.deviceId });
    // A repeated signal changes nothing: the shutdown deadline already bounds how long stopping takes.
    shutdown.onRepeat((signal) => log.info({ signal }, 'already shutting down'));
    const agent = new Agent(config, log);
    await agent.start();

    await agent.stop(await shutdown.first);
    return EXIT_OK;
  },
};

/** The first SIGTERM/SIGINT resolves `first`; later ones go to the onRepeat callback instead of killing the process. */
function listenForShutdownSignals(): {
  first: Promise<ShutdownSignal>;
  onRepeat(callback: (signal: ShutdownSignal) => void): void;
} {
  let received = false;
  let repeated: (signal: ShutdownSignal) => void = () => {};
  const first = new Promise<ShutdownSignal>((resolve) => {
    for (const name of SHUTDOWN_SIGNALS) {
      process.on(name, () => {
        if (received) {
          repeated(name);
          return;
        }
        received = true;
        resolve(name);
      });
    }
  });
  return {
    first,
    onRepeat(callback) {
      repeated = callback;
    },
  };
}
