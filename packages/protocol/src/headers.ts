import { type ErrorBody, OutpostError } from './errors.js';

/*
 * NATS headers the protocol reads and writes. The package has no runtime dependency on `nats`: it works on anything
 * shaped like nats.js's `MsgHdrs` (which satisfies HeaderCarrier as it is), so the browser bundle and the tests of
 * packages that never touch NATS stay free of it.
 */

export const HEADER = {
  /** A message's unique id, for logs and idempotent consumers. */
  msgId: 'Outpost-Msg-Id',
  /** The same id where JetStream should de-duplicate (within the stream's duplicate window). */
  natsMsgId: 'Nats-Msg-Id',
  /** `application/json` for every protocol message. */
  contentType: 'Content-Type',
  /** Ties a message to the request or operation that caused it (a method call, a logs request, a deployment). */
  correlationId: 'Outpost-Correlation-Id',
  /**
   * `Bearer <token>`: the person (session token) or pipeline (API token) a request to the cloud API is made for. The
   * portal sets it on every call, so the API authorizes the person and not the portal's service credential.
   */
  authorization: 'Outpost-Authorization',
  /** The address the person's browser connected from, as the portal saw it (per-address login limits). */
  clientAddress: 'Outpost-Client-Address',
} as const;

export const PROTOCOL_CONTENT_TYPE = 'application/json';

/** The part of nats.js `MsgHdrs` the protocol uses. `get` returns "" for a header that is not there. */
export interface HeaderCarrier {
  get(name: string): string;
  set(name: string, value: string): void;
  keys(): string[];
}

/** The protocol headers of a received message; absent ones are undefined. */
export interface ProtocolHeaders {
  readonly msgId?: string;
  readonly correlationId?: string;
  readonly contentType?: string;
}

export interface HeaderOptions {
  /** Written as `Outpost-Msg-Id`, or as `Nats-Msg-Id` when `dedup` is set. */
  readonly msgId?: string;
  readonly correlationId?: string;
  /** Publish the id as `Nats-Msg-Id`, so a JetStream stream drops a retried copy (the durable forwarder does). */
  readonly dedup?: boolean;
  /** A session or API token, written as `Outpost-Authorization: Bearer <token>`. */
  readonly bearerToken?: string;
  /** Written as `Outpost-Client-Address`. */
  readonly clientAddress?: string;
}

/** Visible ASCII only: ids travel in header values, logs and JetStream de-duplication, never with spaces or CR/LF. */
const ID_VALUE = /^[\x21-\x7e]{1,256}$/;

/** RFC 6750 `b64token`, bounded. */
const TOKEN_VALUE = /^[A-Za-z0-9\-._~+/]{1,1024}=*$/;
const BEARER_VALUE = /^Bearer ([A-Za-z0-9\-._~+/]{1,1024}=*)$/;

/** A new random message id (32 hex digits). Web Crypto, so it works in browsers too. */
export function newMessageId(): string {
  return globalThis.crypto.randomUUID().replaceAll('-', '');
}

/**
 * Writes Content-Type and the given ids into `carrier` and returns it, so a publish can take it as it is:
 * `nc.publish(subject, bytes, { headers: writeHeaders(headers(), { msgId }) })`. Throws VALIDATION_FAILED for an id
 * that cannot travel in a header (a caller's bug, caught where it is made).
 */
export function writeHeaders<H extends HeaderCarrier>(carrier: H, options: HeaderOptions = {}): H {
  carrier.set(HEADER.contentType, PROTOCOL_CONTENT_TYPE);
  if (options.msgId !== undefined) {
    checkIdForWriting(options.msgId, 'msgId');
    carrier.set(options.dedup ? HEADER.natsMsgId : HEADER.msgId, options.msgId);
  }
  if (options.correlationId !== undefined) {
    checkIdForWriting(options.correlationId, 'correlationId');
    carrier.set(HEADER.correlationId, options.correlationId);
  }
  if (options.bearerToken !== undefined) {
    if (!TOKEN_VALUE.test(options.bearerToken)) {
      throw new OutpostError('VALIDATION_FAILED', 'Invalid bearer token header value', [
        { path: 'bearerToken', message: 'must be 1-1024 token characters (letters, digits, -._~+/ and trailing =)' },
      ]);
    }
    carrier.set(HEADER.authorization, `Bearer ${options.bearerToken}`);
  }
  if (options.clientAddress !== undefined) {
    checkIdForWriting(options.clientAddress, 'clientAddress');
    carrier.set(HEADER.clientAddress, options.clientAddress);
  }
  return carrier;
}

function checkIdForWriting(value: string, field: string): void {
  if (!ID_VALUE.test(value)) {
    throw new OutpostError('VALIDATION_FAILED', `Invalid ${field} header value`, [
      { path: field, message: 'must be 1-256 visible ASCII characters (no spaces)' },
    ]);
  }
}

export type HeadersResult = { ok: true; value: ProtocolHeaders } | { ok: false; error: ErrorBody };

/**
 * Reads the protocol headers of a received message. Names match case-insensitively (other clients and proxies do not
 * all keep nats.js's spelling). Missing headers are fine — MQTT and Foundation senders send none — but a present one
 * must be well-formed, and a Content-Type other than JSON is refused, since the body would not be what it claims.
 */
export function readHeaders(carrier: HeaderCarrier | undefined): HeadersResult {
  if (carrier === undefined) return { ok: true, value: {} };
  const read = headerReader(carrier);

  const contentType = read(HEADER.contentType);
  if (contentType !== undefined) {
    const mediaType = (contentType.split(';')[0] ?? '').trim().toLowerCase();
    if (mediaType !== PROTOCOL_CONTENT_TYPE) {
      return headerError(HEADER.contentType, `Unsupported content type "${contentType}"`, 'must be application/json');
    }
  }
  const msgId = read(HEADER.natsMsgId) ?? read(HEADER.msgId);
  if (msgId !== undefined && !ID_VALUE.test(msgId)) {
    return headerError(HEADER.msgId, 'Invalid message id header', 'must be 1-256 visible ASCII characters');
  }
  const correlationId = read(HEADER.correlationId);
  if (correlationId !== undefined && !ID_VALUE.test(correlationId)) {
    return headerError(HEADER.correlationId, 'Invalid correlation id header', 'must be 1-256 visible ASCII characters');
  }
  return {
    ok: true,
    value: {
      ...(msgId !== undefined ? { msgId } : {}),
      ...(correlationId !== undefined ? { correlationId } : {}),
      ...(contentType !== undefined ? { contentType } : {}),
    },
  };
}

function headerError(header: string, message: string, detail: string): { ok: false; error: ErrorBody } {
  return {
    ok: false,
    error: { code: 'BAD_MESSAGE', message, details: [{ path: `headers.${header}`, message: detail }] },
  };
}

/** Looks headers up by name case-insensitively (the first spelling wins). */
function headerReader(carrier: HeaderCarrier): (name: string) => string | undefined {
  const byLowerName = new Map<string, string>();
  for (const key of carrier.keys()) {
    const lower = key.toLowerCase();
    if (!byLowerName.has(lower)) byLowerName.set(lower, key);
  }
  return (name) => {
    const key = byLowerName.get(name.toLowerCase());
    return key === undefined ? undefined : carrier.get(key);
  };
}

/**
 * Who a request is made for, from `Outpost-Authorization` and `Outpost-Client-Address`. Kept apart from
 * ProtocolHeaders so the token never travels with the decoded message into handlers (or their log lines).
 */
export interface RequestCredentials {
  readonly bearerToken?: string;
  readonly clientAddress?: string;
}

export type CredentialsResult = { ok: true; value: RequestCredentials } | { ok: false; error: ErrorBody };

/**
 * Reads the credentials of a request. Absent headers are fine here (whether a call needs a person is the receiver's
 * rule); an `Outpost-Authorization` that is not `Bearer <token>` is UNAUTHORIZED, a bad address BAD_MESSAGE.
 */
export function readCredentials(carrier: HeaderCarrier | undefined): CredentialsResult {
  if (carrier === undefined) return { ok: true, value: {} };
  const read = headerReader(carrier);
  const authorization = read(HEADER.authorization);
  let bearerToken: string | undefined;
  if (authorization !== undefined) {
    bearerToken = BEARER_VALUE.exec(authorization)?.[1];
    if (bearerToken === undefined) {
      return {
        ok: false,
        error: {
          code: 'UNAUTHORIZED',
          message: `${HEADER.authorization} is not a bearer token`,
          details: [{ path: `headers.${HEADER.authorization}`, message: 'expected "Bearer <token>"' }],
        },
      };
    }
  }
  const clientAddress = read(HEADER.clientAddress);
  if (clientAddress !== undefined && !ID_VALUE.test(clientAddress)) {
    return headerError(HEADER.clientAddress, 'Invalid client address header', 'must be 1-256 visible ASCII characters');
  }
  return {
    ok: true,
    value: {
      ...(bearerToken !== undefined ? { bearerToken } : {}),
      ...(clientAddress !== undefined ? { clientAddress } : {}),
    },
  };
}
