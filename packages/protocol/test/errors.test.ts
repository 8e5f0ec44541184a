import { describe, expect, it } from 'vitest';
import {
  ERROR_CODES,
  ErrorBody,
  ErrorCode,
  httpStatusFor,
  isErrorCode,
  OutpostError,
  PeerErrorBody,
  parseOrThrow,
  rateLimitedError,
  retryAfterSeconds,
} from '../src/index.js';

describe('error codes', () => {
  it('one table describes every code with its HTTP status', () => {
    expect(Object.keys(ERROR_CODES).sort()).toEqual([...ErrorCode.options].sort());
    for (const code of ErrorCode.options) {
      expect(ERROR_CODES[code].description.length).toBeGreaterThan(0);
      expect(httpStatusFor(code)).toBe(ERROR_CODES[code].httpStatus);
    }
    expect(httpStatusFor('NOT_FOUND')).toBe(404);
    expect(httpStatusFor('UNSUPPORTED_VERSION')).toBe(400);
    expect(httpStatusFor('UNAVAILABLE')).toBe(503);
  });

  it('tells known codes from anything else', () => {
    expect(isErrorCode('TIMEOUT')).toBe(true);
    expect(isErrorCode('toString')).toBe(false);
    expect(isErrorCode('QUOTA_EXCEEDED')).toBe(false);
    expect(isErrorCode(404)).toBe(false);
  });

  it('read a peer’s unknown code as INTERNAL naming it, and default missing details', () => {
    expect(PeerErrorBody.parse({ code: 'NEW_CODE', message: 'm' })).toEqual({
      code: 'INTERNAL',
      message: 'm',
      details: [{ path: 'code', message: 'unknown error code NEW_CODE' }],
    });
    expect(PeerErrorBody.parse({ code: 'CONFLICT', message: 'm' })).toEqual({
      code: 'CONFLICT',
      message: 'm',
      details: [],
    });
  });
});

describe('OutpostError', () => {
  it('round-trips through the error body', () => {
    const err = new OutpostError('CONFLICT', 'Device x already exists', [{ path: 'id', message: 'taken' }]);
    const body = err.toBody();
    expect(ErrorBody.parse(body)).toEqual(body);
    const back = OutpostError.fromBody(body);
    expect(back).toBeInstanceOf(Error);
    expect(back.toBody()).toEqual(body);
  });

  it('parseOrThrow names every bad field under its prefix', () => {
    try {
      parseOrThrow(ErrorBody, { code: 'NOPE', message: 1 }, 'error body', 'body');
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(OutpostError);
      expect((err as OutpostError).code).toBe('VALIDATION_FAILED');
      expect((err as OutpostError).details.map((d) => d.path).sort()).toEqual([
        'body.code',
        'body.details',
        'body.message',
      ]);
    }
  });
});

describe('rate limited errors', () => {
  it('say when to retry in whole seconds, in a detail NATS callers can read', () => {
    const error = rateLimitedError('Too many failed logins', 41.2, [{ path: 'username', message: 'locked' }]);
    expect(error.code).toBe('RATE_LIMITED');
    expect(httpStatusFor(error.code)).toBe(429);
    expect(error.toBody().details).toEqual([
      { path: 'username', message: 'locked' },
      { path: 'retryAfterSeconds', message: '42' },
    ]);
    expect(retryAfterSeconds(error.toBody())).toBe(42);
    expect(retryAfterSeconds(rateLimitedError('soon', 0).toBody())).toBe(1);
  });

  it('have no retry time when they are another error or carry no valid one', () => {
    expect(retryAfterSeconds({ code: 'CONFLICT', message: 'm', details: [] })).toBeUndefined();
    expect(
      retryAfterSeconds({ code: 'RATE_LIMITED', message: 'm', details: [{ path: 'retryAfterSeconds', message: 'x' }] }),
    ).toBeUndefined();
  });
});
