import { z } from 'zod';

/** What an error code means and how HTTP carries it. */
export interface ErrorCodeInfo {
  readonly httpStatus: number;
  readonly description: string;
}

const ERROR_CODE_NAMES = [
  'BAD_REQUEST',
  'VALIDATION_FAILED',
  'BAD_MESSAGE',
  'UNSUPPORTED_VERSION',
  'UNAUTHORIZED',
  'FORBIDDEN',
  'NOT_FOUND',
  'CONFLICT',
  'RATE_LIMITED',
  'TIMEOUT',
  'UNAVAILABLE',
  'DEVICE_OFFLINE',
  'DEVICE_TIMEOUT',
  'INTERNAL',
] as const;

/** Every error Outpost returns, on HTTP and NATS alike, from the API, the agent or the portal, carries one of these. */
export const ErrorCode = z.enum(ERROR_CODE_NAMES);
export type ErrorCode = z.infer<typeof ErrorCode>;

/** The one table of error codes: the README, the OpenAPI document and HTTP statuses all come from it. */
export const ERROR_CODES: Readonly<Record<ErrorCode, ErrorCodeInfo>> = {
  BAD_REQUEST: { httpStatus: 400, description: 'Malformed request' },
  VALIDATION_FAILED: { httpStatus: 400, description: 'A field is invalid; details name each one' },
  BAD_MESSAGE: {
    httpStatus: 400,
    description: 'Malformed message: not UTF-8 or JSON, not an Outpost envelope, wrong type, bad header or subject',
  },
  UNSUPPORTED_VERSION: {
    httpStatus: 400,
    description: 'The message’s major version is one this build does not speak; the message names it',
  },
  UNAUTHORIZED: {
    httpStatus: 401,
    description: 'Missing, unknown, expired or revoked credentials (API token, session, or person token on NATS)',
  },
  FORBIDDEN: { httpStatus: 403, description: 'The caller’s role does not allow this' },
  NOT_FOUND: { httpStatus: 404, description: 'No such resource' },
  CONFLICT: { httpStatus: 409, description: 'Conflicts with the current state' },
  RATE_LIMITED: {
    httpStatus: 429,
    description: 'Too many attempts; retry after the `retryAfterSeconds` detail (HTTP: also the `Retry-After` header)',
  },
  TIMEOUT: { httpStatus: 504, description: 'A dependency did not answer in time' },
  UNAVAILABLE: { httpStatus: 503, description: 'A dependency is down' },
  DEVICE_OFFLINE: {
    httpStatus: 503,
    description: 'The device is offline (presence), so a call relayed to it cannot run',
  },
  DEVICE_TIMEOUT: {
    httpStatus: 504,
    description: 'The device did not answer a call relayed to it in time (its agent is busy, stuck or unreachable)',
  },
  INTERNAL: { httpStatus: 500, description: 'Unexpected error (details are logged, not returned)' },
};

export function httpStatusFor(code: ErrorCode): number {
  return ERROR_CODES[code].httpStatus;
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_CODES, value);
}

export const ErrorDetail = z
  .object({
    path: z.string().describe('Where the problem is, as a dotted path ("" for the whole input)'),
    message: z.string(),
  })
  .meta({ id: 'ErrorDetail' });
export type ErrorDetail = z.infer<typeof ErrorDetail>;

/** The one error body: `{ code, message, details: [{ path, message }] }`. */
export const ErrorBody = z
  .object({
    code: ErrorCode,
    message: z.string(),
    details: z.array(ErrorDetail),
  })
  .meta({ id: 'ErrorBody' });
export type ErrorBody = z.infer<typeof ErrorBody>;

/**
 * An error body as it arrives from a peer. Error codes are open-ended: a newer peer may send a code this build does not
 * know (adding one is a minor change), which reads as INTERNAL with the original code named in the details, instead of
 * making the whole message unreadable.
 */
export const PeerErrorBody = z
  .object({
    code: z.string().min(1).max(64),
    message: z.string().max(4096),
    details: z.array(ErrorDetail).max(1000).default([]),
  })
  .transform(
    (body): ErrorBody =>
      isErrorCode(body.code)
        ? { code: body.code, message: body.message, details: body.details }
        : {
            code: 'INTERNAL',
            message: body.message,
            details: [{ path: 'code', message: `unknown error code ${body.code}` }, ...body.details],
          },
  );

/** An error that knows its wire form. Throw it anywhere; transports turn it into an ErrorBody. */
export class OutpostError extends Error {
  readonly code: ErrorCode;
  readonly details: ErrorDetail[];

  constructor(code: ErrorCode, message: string, details: ErrorDetail[] = [], options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'OutpostError';
    this.code = code;
    this.details = details;
  }

  toBody(): ErrorBody {
    return { code: this.code, message: this.message, details: this.details };
  }

  static fromBody(body: ErrorBody): OutpostError {
    return new OutpostError(body.code, body.message, body.details);
  }
}

/** Turns zod issues into error details with dotted paths, prefixed by where the value sat. */
export function detailsFromZod(error: z.ZodError, prefix = ''): ErrorDetail[] {
  return error.issues.map((issue) => {
    const path = [prefix, ...issue.path.map(String)].filter((p) => p !== '').join('.');
    return { path, message: issue.message };
  });
}

/** Parses with a schema or throws VALIDATION_FAILED naming each bad field. */
export function parseOrThrow<S extends z.ZodType>(schema: S, value: unknown, what: string, prefix = ''): z.output<S> {
  const result = schema.safeParse(value);
  if (!result.success) {
    throw new OutpostError('VALIDATION_FAILED', `Invalid ${what}`, detailsFromZod(result.error, prefix));
  }
  return result.data;
}

/** The detail path under which a RATE_LIMITED error says how long to wait, in whole seconds (as text). */
export const RETRY_AFTER_DETAIL = 'retryAfterSeconds';

/**
 * A RATE_LIMITED error saying when to retry: in the message, in a `retryAfterSeconds` detail (what NATS callers read)
 * and, over HTTP, in `Retry-After` (the API's exception filter writes it from the detail).
 */
export function rateLimitedError(
  message: string,
  retryAfterSeconds: number,
  details: ErrorDetail[] = [],
): OutpostError {
  const seconds = Math.max(1, Math.ceil(retryAfterSeconds));
  return new OutpostError('RATE_LIMITED', message, [
    ...details,
    { path: RETRY_AFTER_DETAIL, message: String(seconds) },
  ]);
}

/** The seconds a RATE_LIMITED error body asks the caller to wait, or undefined for any other error. */
export function retryAfterSeconds(body: ErrorBody): number | undefined {
  if (body.code !== 'RATE_LIMITED') return undefined;
  const detail = body.details.find((d) => d.path === RETRY_AFTER_DETAIL);
  const seconds = detail ? Number(detail.message) : Number.NaN;
  return Number.isSafeInteger(seconds) && seconds > 0 ? seconds : undefined;
}
