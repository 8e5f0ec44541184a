import { type Logger, pino } from 'pino';

export type { Logger };

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * JSON lines on stdout, one object per event; warnings and errors carry a `code`. pino writes to stdout synchronously by default, so the last lines
 * before `process.exit` (goodbye, shutdown) are not lost. `deviceId` is on every line so logs from many agents can be
 * merged (the dev orchestrator runs several).
 */
export function createLogger(options: { level: LogLevel; deviceId: string }): Logger {
  return pino({
    level: options.level,
    base: { service: 'outpost-agent', pid: process.pid, deviceId: options.deviceId },
    timestamp: pino.stdTimeFunctions.isoTime,
  });
}
