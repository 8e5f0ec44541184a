import { z } from 'zod';

/** Every error Outpost returns, on HTTP and NATS alike, carries one of these codes. */
export const ErrorCode = z.enum([
  'BAD_REQUEST',
  'VALIDATION_FAILED',
  'BAD_MESSAGE',
  'UNAUTHORIZED',
  'FORBIDDEN',
  'NOT_FOUND',
  'CONFLICT',
  'TIMEOUT',
  'UNAVAILABLE',
  'INTERNAL',
]);
export type ErrorCode = z.infer<typeof ErrorCode>;

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

const HTTP_STATUS: Record<ErrorCode, number> = {
  BAD_REQUEST: 400,
  VALIDATION_FAILED: 400,
  BAD_MESSAGE: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  TIMEOUT: 504,
  UNAVAILABLE: 503,
  INTERNAL: 500,
};

export function httpStatusFor(code: ErrorCode): number {
  return HTTP_STATUS[code];
}

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
