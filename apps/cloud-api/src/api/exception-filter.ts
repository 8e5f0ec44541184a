import type { IncomingMessage, ServerResponse } from 'node:http';
import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException } from '@nestjs/common';
import type { NatsContext } from '@nestjs/microservices';
import {
  type ErrorBody,
  type ErrorCode,
  httpStatusFor,
  OutpostError,
  retryAfterSeconds,
  toErrorBody,
} from '@outpost/protocol';
import { type Observable, throwError } from 'rxjs';
import type { Logger } from '../logging/logger.js';

/** Nest/HTTP statuses → our codes, for exceptions Nest itself throws (unknown route, payload too large, ...). */
const CODE_FOR_STATUS: Record<number, ErrorCode> = {
  400: 'BAD_REQUEST',
  401: 'UNAUTHORIZED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  409: 'CONFLICT',
  429: 'RATE_LIMITED',
  503: 'UNAVAILABLE',
  504: 'TIMEOUT',
};

/** Any thrown value → the one error body. Internals of unknown errors are logged, never sent. */
export function errorBodyFor(exception: unknown): { status: number; body: ErrorBody } {
  if (exception instanceof OutpostError) {
    return { status: httpStatusFor(exception.code), body: exception.toBody() };
  }
  if (exception instanceof HttpException) {
    const status = exception.getStatus();
    const code = CODE_FOR_STATUS[status] ?? (status >= 500 ? 'INTERNAL' : 'BAD_REQUEST');
    const message = status >= 500 ? 'Internal error' : exception.message;
    return { status, body: { code, message, details: [] } };
  }
  return { status: 500, body: toErrorBody(exception) };
}

/**
 * The one exception filter, for HTTP and NATS alike: HTTP answers `{ code, message, details }` with the code's status;
 * NATS requests get it as a protocol error reply (ProtocolReplySerializer), and dropped events are logged with their
 * subject and code.
 */
@Catch()
export class OutpostExceptionFilter implements ExceptionFilter {
  private readonly log: Logger;

  constructor(logger: Logger) {
    this.log = logger.child({ component: 'errors' });
  }

  catch(exception: unknown, host: ArgumentsHost): Observable<never> | undefined {
    const { status, body } = errorBodyFor(exception);
    if (host.getType() === 'rpc') {
      const subject = host.switchToRpc().getContext<NatsContext>().getSubject();
      this.report(exception, status, body, { transport: 'nats', subject });
      return throwError(() => body);
    }
    const http = host.switchToHttp();
    const request = http.getRequest<IncomingMessage>();
    const response = http.getResponse<ServerResponse>();
    this.report(exception, status, body, { transport: 'http', method: request.method, url: request.url });
    if (response.headersSent) return undefined;
    response.statusCode = status;
    response.setHeader('content-type', 'application/json; charset=utf-8');
    const retryAfter = retryAfterSeconds(body);
    if (retryAfter !== undefined) response.setHeader('retry-after', String(retryAfter));
    response.end(JSON.stringify(body));
    return undefined;
  }

  private report(exception: unknown, status: number, body: ErrorBody, where: Record<string, unknown>): void {
    if (status >= 500) {
      const err = exception instanceof Error ? { message: exception.message, stack: exception.stack } : exception;
      this.log.error({ code: body.code, ...where, err }, 'request failed');
      return;
    }
    // Client mistakes are worth a line (a device sending garbage should be visible) but are not our errors.
    const level = where.transport === 'nats' ? 'warn' : 'debug';
    this.log[level]({ code: body.code, ...where, details: body.details }, body.message);
  }
}
