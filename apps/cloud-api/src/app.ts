import 'reflect-metadata';
import type { AddressInfo } from 'node:net';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { OutpostExceptionFilter } from './api/exception-filter.js';
import { jsonBodyErrorHandler } from './api/json-body.js';
import { appModule } from './app.module.js';
import type { AppConfig } from './config/config.js';
import { openDatabase } from './database/database.js';
import { createLogger, type Logger, PinoNestLogger } from './logging/logger.js';
import { NatsConnectionService } from './nats/nats-connection.js';
import { OutpostNatsTransport } from './nats/outpost-nats-transport.js';
import { setupOpenApi } from './openapi/openapi.js';
import { PresenceService } from './presence/presence.service.js';

export interface RunningApp {
  readonly app: NestExpressApplication;
  /** `http://host:port` actually bound (PORT=0 picks a free port). */
  readonly url: string;
  readonly logger: Logger;
  /** Graceful shutdown: stop taking NATS messages, flush presence, close HTTP, drain NATS, close the database. */
  close(): Promise<void>;
}

export const JSON_BODY_LIMIT = '1mb';

/**
 * Starts the API: database (migrated), NATS (in the background), Nest over HTTP and NATS. Resolves once HTTP listens,
 * whether or not NATS is reachable yet. Tests call this in-process; src/main.ts wraps it for `node dist/main.js`.
 */
export async function createApp(config: AppConfig, options: { logger?: Logger } = {}): Promise<RunningApp> {
  const logger = options.logger ?? createLogger(config.logLevel);
  const database = await openDatabase(config.database, logger);
  const nats = new NatsConnectionService(config.natsUrl, logger, config.natsSecurity);
  let app: NestExpressApplication | undefined;
  try {
    await database.migrate();
    logger.info({ database: database.kind }, 'database migrated');
    nats.start();

    app = await NestFactory.create<NestExpressApplication>(appModule({ config, logger, database, nats }), {
      logger: new PinoNestLogger(logger),
      // Registered below, followed by the handler that turns a malformed body into the error body.
      bodyParser: false,
      abortOnError: false,
    });
    app.disable('x-powered-by');
    app.useBodyParser('json', { limit: JSON_BODY_LIMIT });
    app.use(jsonBodyErrorHandler);
    app.useGlobalFilters(new OutpostExceptionFilter(logger));
    setupOpenApi(app);

    const transport = new OutpostNatsTransport(nats, logger);
    app.connectMicroservice({ strategy: transport }, { inheritAppConfig: true });
    await app.startAllMicroservices();
    await app.listen(config.port, config.host);

    const address = app.getHttpServer().address() as AddressInfo;
    const url = `http://${config.host}:${address.port}`;
    logger.info({ host: config.host, port: address.port }, `cloud-api listening on ${url}`);

    const running = app;
    let closing: Promise<void> | undefined;
    return {
      app: running,
      url,
      logger,
      close() {
        closing ??= (async () => {
          transport.stopReceiving();
          // Let handlers already called for the last messages reach the presence buffer (they do no I/O first).
          await new Promise((resolve) => setImmediate(resolve));
          await running.get(PresenceService).stop();
          await running.close();
          await nats.drain();
          await database.close();
          logger.info('cloud-api stopped');
        })();
        return closing;
      },
    };
  } catch (err) {
    await app?.close().catch(() => {});
    await nats.drain();
    await database.close().catch(() => {});
    throw err;
  }
}
