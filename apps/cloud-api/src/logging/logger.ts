import type { LoggerService } from '@nestjs/common';
import { type DestinationStream, type Logger, pino } from 'pino';
import type { LogLevel } from '../config/config.js';

export type { Logger } from 'pino';

/** Nest injection token for the root pino logger. */
export const LOGGER = Symbol('LOGGER');

/**
 * JSON logs on stdout (or `destination`). Bearer tokens, passwords and private keys are redacted wherever they might
 * appear.
 */
export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  const options = {
    level,
    base: { service: 'cloud-api' },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: {
      paths: [
        'password',
        '*.password',
        'token',
        '*.token',
        'authorization',
        '*.authorization',
        'headers.authorization',
        '*.headers.authorization',
        // Defence in depth: nothing logs signing keys, and a mistake must not put one in a log line.
        'privateKey',
        '*.privateKey',
      ],
      censor: '[redacted]',
    },
  };
  return destination ? pino(options, destination) : pino(options);
}

// Nest's start-up chatter (one line per module and route) is useful only when debugging.
const CHATTY_NEST_CONTEXTS = new Set(['InstanceLoader', 'RoutesResolver', 'RouterExplorer', 'NestFactory']);

/** Nest's LoggerService over pino, so framework logs are JSON too and error lines carry a code. */
export class PinoNestLogger implements LoggerService {
  constructor(private readonly logger: Logger) {}

  log(message: unknown, context?: string): void {
    const level = context && CHATTY_NEST_CONTEXTS.has(context) ? 'debug' : 'info';
    this.logger[level]({ context }, String(message));
  }

  error(message: unknown, stackOrContext?: string, context?: string): void {
    // Nest calls error(message, stack, context) or error(message, context).
    const hasStack = context !== undefined;
    const err = message instanceof Error ? message : undefined;
    this.logger.error(
      {
        code: 'NEST_ERROR',
        context: hasStack ? context : stackOrContext,
        stack: hasStack ? stackOrContext : err?.stack,
      },
      err ? err.message : String(message),
    );
  }

  warn(message: unknown, context?: string): void {
    this.logger.warn({ context }, String(message));
  }

  debug(message: unknown, context?: string): void {
    this.logger.debug({ context }, String(message));
  }

  verbose(message: unknown, context?: string): void {
    this.logger.trace({ context }, String(message));
  }

  fatal(message: unknown, context?: string): void {
    this.logger.fatal({ code: 'NEST_FATAL', context }, String(message));
  }
}
