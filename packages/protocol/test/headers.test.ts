import { headers } from 'nats';
import { describe, expect, it } from 'vitest';
import {
  AuthMeRequestV1,
  encodeMessage,
  HEADER,
  type HeaderCarrier,
  newMessageId,
  OutpostError,
  readCredentials,
  readHeaders,
  tryDecodeMessage,
  writeHeaders,
} from '../src/index.js';

/** A carrier that is not nats.js, keeping names as given: the protocol must not rely on nats.js's spelling. */
class PlainHeaders implements HeaderCarrier {
  private readonly values = new Map<string, string>();
  get(name: string): string {
    return this.values.get(name) ?? '';
  }
  set(name: string, value: string): void {
    this.values.set(name, value);
  }
  keys(): string[] {
    return [...this.values.keys()];
  }
}

describe('protocol headers', () => {
  it('are written into nats.js headers, which a publish takes as they are', () => {
    const h = writeHeaders(headers(), { msgId: 'm-1', correlationId: 'c-1' });
    expect([...h.keys()].sort()).toEqual(['Content-Type', 'Outpost-Correlation-Id', 'Outpost-Msg-Id']);
    expect(h.get(HEADER.contentType)).toBe('application/json');
    expect(readHeaders(h)).toEqual({
      ok: true,
      value: { msgId: 'm-1', correlationId: 'c-1', contentType: 'application/json' },
    });
  });

  it('put the id in Nats-Msg-Id when JetStream should de-duplicate, and read it back as the message id', () => {
    const h = writeHeaders(headers(), { msgId: 'press-01:1041', dedup: true });
    expect(h.get('Nats-Msg-Id')).toBe('press-01:1041');
    expect(h.has('Outpost-Msg-Id')).toBe(false);
    expect(readHeaders(h)).toMatchObject({ ok: true, value: { msgId: 'press-01:1041' } });
  });

  it('read names case-insensitively and accept JSON with parameters', () => {
    const h = new PlainHeaders();
    h.set('content-type', 'Application/JSON; charset=utf-8');
    h.set('OUTPOST-MSG-ID', 'm-2');
    expect(readHeaders(h)).toEqual({
      ok: true,
      value: { msgId: 'm-2', contentType: 'Application/JSON; charset=utf-8' },
    });
  });

  it('are optional: MQTT and Foundation senders send none', () => {
    expect(readHeaders(undefined)).toEqual({ ok: true, value: {} });
    expect(readHeaders(headers())).toEqual({ ok: true, value: {} });
  });

  it('refuse a content type other than JSON, and ids that are not visible ASCII', () => {
    const notJson = new PlainHeaders();
    notJson.set('Content-Type', 'text/plain');
    expect(readHeaders(notJson)).toMatchObject({
      ok: false,
      error: { code: 'BAD_MESSAGE', details: [{ path: 'headers.Content-Type' }] },
    });
    for (const [name, path] of [
      ['Outpost-Msg-Id', 'headers.Outpost-Msg-Id'],
      ['Outpost-Correlation-Id', 'headers.Outpost-Correlation-Id'],
    ] as const) {
      const bad = new PlainHeaders();
      bad.set(name, 'has space');
      expect(readHeaders(bad)).toMatchObject({ ok: false, error: { code: 'BAD_MESSAGE', details: [{ path }] } });
    }
  });

  it('refuse to write an id that cannot travel in a header', () => {
    for (const id of ['', 'a b', 'line\nbreak', 'é', 'x'.repeat(257)]) {
      expect(() => writeHeaders(new PlainHeaders(), { msgId: id })).toThrow(OutpostError);
      expect(() => writeHeaders(new PlainHeaders(), { correlationId: id })).toThrow(OutpostError);
    }
  });

  it('make unique message ids', () => {
    const ids = new Set(Array.from({ length: 1000 }, () => newMessageId()));
    expect(ids.size).toBe(1000);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{32}$/);
  });
});

describe('request credentials', () => {
  it('carry a person’s token as Outpost-Authorization: Bearer, read back apart from the protocol headers', () => {
    const h = headers();
    const bytes = encodeMessage(
      AuthMeRequestV1,
      {},
      { headers: h, bearerToken: 'ops_abc-DEF_123', clientAddress: '10.0.0.7' },
    );
    expect(h.get('Outpost-Authorization')).toBe('Bearer ops_abc-DEF_123');
    expect(h.get('Outpost-Client-Address')).toBe('10.0.0.7');
    expect(readCredentials(h)).toEqual({
      ok: true,
      value: { bearerToken: 'ops_abc-DEF_123', clientAddress: '10.0.0.7' },
    });
    // The decoded message's headers never include the token, so handlers cannot log it by accident.
    const decoded = tryDecodeMessage(AuthMeRequestV1, bytes, h);
    expect(decoded.ok && JSON.stringify(decoded.headers)).not.toContain('ops_abc');
  });

  it('are absent when no header is sent, and read case-insensitively', () => {
    expect(readCredentials(undefined)).toEqual({ ok: true, value: {} });
    expect(readCredentials(headers())).toEqual({ ok: true, value: {} });
    const lower = new PlainHeaders();
    lower.set('outpost-authorization', 'Bearer opt_x');
    expect(readCredentials(lower)).toEqual({ ok: true, value: { bearerToken: 'opt_x' } });
  });

  it('refuse an authorization that is not a bearer token with UNAUTHORIZED, naming the header', () => {
    for (const value of ['opt_x', 'Basic dXNlcjpwYXNz', 'Bearer ', 'Bearer a b', `Bearer ${'x'.repeat(1025)}`]) {
      const bad = new PlainHeaders();
      bad.set(HEADER.authorization, value);
      expect(readCredentials(bad)).toMatchObject({
        ok: false,
        error: { code: 'UNAUTHORIZED', details: [{ path: 'headers.Outpost-Authorization' }] },
      });
    }
    const address = new PlainHeaders();
    address.set(HEADER.clientAddress, 'has space');
    expect(readCredentials(address)).toMatchObject({ ok: false, error: { code: 'BAD_MESSAGE' } });
  });

  it('refuse to write a token that cannot travel in a header', () => {
    for (const token of ['', 'a b', 'line\nbreak', 'é']) {
      expect(() => writeHeaders(new PlainHeaders(), { bearerToken: token })).toThrow(OutpostError);
    }
  });
});
