import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ErrorBody } from '@outpost/protocol';

interface BodyParserError {
  status?: number;
  type?: string;
  message?: string;
}

function isBodyParserError(err: unknown): err is BodyParserError {
  return typeof err === 'object' && err !== null && 'type' in err && typeof err.type === 'string';
}

/**
 * Express error middleware placed right after the JSON body parser. The parser fails before Nest routes the request,
 * so Nest's exception filter never sees it; this answers with the same error body instead of Express's HTML page.
 */
export function jsonBodyErrorHandler(
  err: unknown,
  _request: IncomingMessage,
  response: ServerResponse,
  next: (err?: unknown) => void,
): void {
  if (!isBodyParserError(err)) {
    next(err);
    return;
  }
  const tooLarge = err.type === 'entity.too.large';
  const body: ErrorBody = tooLarge
    ? { code: 'BAD_REQUEST', message: 'Request body is too large', details: [{ path: '', message: 'at most 1 MB' }] }
    : {
        code: 'BAD_REQUEST',
        message: 'Request body is not valid JSON',
        details: [{ path: '', message: err.message ?? 'malformed JSON' }],
      };
  response.statusCode = tooLarge ? 413 : (err.status ?? 400);
  response.setHeader('content-type', 'application/json; charset=utf-8');
  response.end(JSON.stringify(body));
}
