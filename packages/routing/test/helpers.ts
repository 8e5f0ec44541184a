import type { RoutingMessage } from '../src/index.js';

const encoder = new TextEncoder();

export interface MessageOptions {
  source?: string;
  app?: Record<string, string | null>;
  system?: Record<string, string | null>;
  /** Serialised as UTF-8 JSON with contentType application/json unless `system` overrides it. */
  json?: unknown;
  body?: Uint8Array | null;
}

export function message(options: MessageOptions = {}): RoutingMessage {
  const jsonSystem: Record<string, string> =
    options.json === undefined ? {} : { contentType: 'application/json', contentEncoding: 'utf-8' };
  return {
    source: options.source ?? '/messages',
    body: options.body ?? (options.json === undefined ? null : encoder.encode(JSON.stringify(options.json))),
    appProperties: options.app ?? {},
    systemProperties: { ...jsonSystem, ...options.system },
  };
}
