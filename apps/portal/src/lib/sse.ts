/**
 * Server-Sent Events framing (https://html.spec.whatwg.org/multipage/server-sent-events.html).
 * An event is `event:` + one `data:` line per line of payload, ended by a blank line; `:` lines are comments that
 * keep proxies and the browser from timing the stream out.
 */

export interface SseEvent {
  /** The event name the browser listens for with `addEventListener(name, …)`. */
  event: string;
  /** The payload; serialized as JSON. */
  data: unknown;
}

export function encodeSseEvent({ event, data }: SseEvent): string {
  if (/[\r\n]/.test(event)) throw new Error('SSE event names cannot contain line breaks');
  // Compact JSON escapes every line break inside strings, so the payload fits on one `data:` line.
  return `event: ${event}\ndata: ${JSON.stringify(data) ?? 'null'}\n\n`;
}

/** Tells the browser how long to wait before reconnecting after the stream drops. */
export function encodeSseRetry(ms: number): string {
  return `retry: ${Math.max(0, Math.floor(ms))}\n\n`;
}

export function encodeSseComment(text: string): string {
  return `${text
    .split(/\r\n|\r|\n/)
    .map((line) => `: ${line}`)
    .join('\n')}\n\n`;
}

/** Event names the devices stream sends; the browser side listens for the same names. */
export const deviceStreamEvents = {
  /** A full `DevicePage` (the current page for the stream's filter). */
  devices: 'devices',
  /** An `ErrorBody`: the cloud API could not be reached or refused the query. Named so as not to clash with
   *  EventSource's own `error` event, which means the connection dropped. */
  apiError: 'api-error',
} as const;
