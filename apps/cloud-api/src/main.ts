import { createApp, type RunningApp } from './app.js';
import { ConfigError, loadConfig } from './config/config.js';
import { createLogger } from './logging/logger.js';

/** A shutdown that takes longer than this is forced (exit 1) so an orchestrator is never left waiting. */
const SHUTDOWN_TIMEOUT_MS = 15_000;

async function main(): Promise<void> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    const logger = createLogger('info');
    for (const problem of err.problems) {
      logger.fatal(
        { code: err.code, variable: problem.variable },
        `invalid configuration: ${problem.variable} ${problem.message}`,
      );
    }
    process.exit(1);
  }

  const logger = createLogger(config.logLevel);
  let running: RunningApp;
  try {
    running = await createApp(config, { logger });
  } catch (err) {
    logger.fatal(
      { code: 'STARTUP_FAILED', err: err instanceof Error ? { message: err.message, stack: err.stack } : err },
      'cloud-api failed to start',
    );
    process.exit(1);
  }

  const shutdown = (signal: NodeJS.Signals) => {
    logger.info({ signal }, 'shutting down');
    const force = setTimeout(() => {
      logger.error({ code: 'SHUTDOWN_TIMEOUT', timeoutMs: SHUTDOWN_TIMEOUT_MS }, 'shutdown took too long; exiting');
      process.exit(1);
    }, SHUTDOWN_TIMEOUT_MS);
    force.unref();
    running.close().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error(
          { code: 'SHUTDOWN_FAILED', err: err instanceof Error ? err.message : String(err) },
          'shutdown failed',
        );
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
  // A bug that escapes every handler: say what it was, with a code, and let the orchestrator restart us.
  const crash = (kind: string) => (err: unknown) => {
    logger.fatal(
      { code: 'UNCAUGHT_ERROR', kind, err: err instanceof Error ? { message: err.message, stack: err.stack } : err },
      'cloud-api crashed',
    );
    process.exit(1);
  };
  process.on('uncaughtException', crash('uncaughtException'));
  process.on('unhandledRejection', crash('unhandledRejection'));
}

await main();
