import { describe, expect, it } from 'vitest';
import { encodeSseComment, encodeSseEvent, encodeSseRetry } from '@/lib/sse';
import { SseReader } from './support/sse-reader';

function streamOf(text: string): ReadableStream<Uint8Array> {
  return new Response(text).body as ReadableStream<Uint8Array>;
}

describe('SSE encoding', () => {
  it('frames an event as name, one JSON data line and a blank line', () => {
    expect(encodeSseEvent({ event: 'devices', data: { items: [], nextCursor: null } })).toBe(
      'event: devices\ndata: {"items":[],"nextCursor":null}\n\n',
    );
  });

  it('keeps payloads containing line breaks on one data line', () => {
    const text = encodeSseEvent({ event: 'api-error', data: { message: 'line one\nline two\r\nthree' } });
    expect(text.split('\n').filter((line) => line.startsWith('data: '))).toHaveLength(1);
  });

  it('refuses event names that would break the framing', () => {
    expect(() => encodeSseEvent({ event: 'bad\nname', data: 1 })).toThrow(/line breaks/);
  });

  it('prefixes every comment line so none is read as a field', () => {
    expect(encodeSseComment('keep-alive')).toBe(': keep-alive\n\n');
    expect(encodeSseComment('a\nb')).toBe(': a\n: b\n\n');
  });

  it('tells the browser its reconnect delay in whole milliseconds', () => {
    expect(encodeSseRetry(2000.7)).toBe('retry: 2000\n\n');
  });

  it('round-trips through an SSE parser', async () => {
    const payload = { deviceId: 'dev-1', note: 'multi\nline' };
    const reader = new SseReader(
      streamOf(
        encodeSseRetry(2000) +
          encodeSseComment('hello') +
          encodeSseEvent({ event: 'devices', data: payload }) +
          encodeSseEvent({ event: 'api-error', data: { code: 'TIMEOUT' } }),
      ),
    );
    await reader.finished();
    expect(reader.payloads('devices')).toEqual([payload]);
    expect(reader.payloads('api-error')).toEqual([{ code: 'TIMEOUT' }]);
    expect(reader.comments).toEqual(['hello']);
  });
});
