import type { IncomingMessage } from 'node:http';
import { type CallHandler, type ExecutionContext, Inject, Injectable, type NestInterceptor } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { AuditActor } from '@outpost/protocol';
import { concatMap, type Observable } from 'rxjs';
import { ROUTE_METADATA, type RouteDef } from '../api/route.js';
import { callCarrier, principalOf } from '../auth/principal.js';
import { actorOf } from '../auth/tokens.js';
import { LOGGER, type Logger } from '../logging/logger.js';
import { AuditService } from './audit.service.js';
import { AuditScope, auditScopes } from './audit-scope.js';

/** A mutation nobody signed in for and whose handler named no actor (none today: public mutations note theirs). */
const ANONYMOUS: AuditActor = { kind: 'system', id: 'anonymous', name: 'anonymous caller' };

interface CallInput {
  params: unknown;
  body: unknown;
}

function inputOf(context: ExecutionContext): CallInput {
  if (context.getType() === 'rpc') {
    // The transport hands handlers an Inbound: the decoded message and the subject's parameters.
    const inbound: unknown = context.switchToRpc().getData();
    const record = typeof inbound === 'object' && inbound !== null ? (inbound as Record<string, unknown>) : {};
    return { params: record.params, body: record.data };
  }
  const request = context.switchToHttp().getRequest<IncomingMessage & { params?: unknown; body?: unknown }>();
  return { params: request.params, body: request.body };
}

function idIn(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || value instanceof Uint8Array) return undefined;
  const id = (value as Record<string, unknown>).id;
  return typeof id === 'string' && id !== '' ? id : undefined;
}

/** The `id` path parameter, or the only path parameter there is (`/signing-keys/{keyId}`). */
function pathTargetIn(params: unknown): string | undefined {
  const id = idIn(params);
  if (id !== undefined || typeof params !== 'object' || params === null) return id;
  const values = Object.values(params as Record<string, unknown>);
  return values.length === 1 && typeof values[0] === 'string' && values[0] !== '' ? values[0] : undefined;
}

/**
 * Writes the audit record of every mutation in the route table (HTTP and NATS alike) once its handler succeeded, before
 * the answer goes out: a caller that saw success can find the record. A failed write fails the call (500), since the
 * change would otherwise go unrecorded without anyone knowing.
 */
@Injectable()
export class AuditInterceptor implements NestInterceptor {
  private readonly log: Logger;

  constructor(
    private readonly reflector: Reflector,
    private readonly audit: AuditService,
    @Inject(LOGGER) logger: Logger,
  ) {
    this.log = logger.child({ component: 'audit' });
  }

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const route = this.reflector.get<RouteDef | undefined>(ROUTE_METADATA, context.getHandler());
    if (!route || route.method === 'get') return next.handle();
    const spec = route.audit;
    const scope = new AuditScope();
    // handle() binds the handler to the async context it is called in, so the handler (and the services it calls)
    // see this scope and can note into it.
    const handled = auditScopes.run(scope, () => next.handle());
    return handled.pipe(
      concatMap(async (result: unknown) => {
        const principal = principalOf(callCarrier(context));
        const { params, body } = inputOf(context);
        const actor = scope.actor ?? (principal ? actorOf(principal) : ANONYMOUS);
        const target = {
          type: spec.targetType,
          id: scope.targetId ?? pathTargetIn(params) ?? idIn(body) ?? idIn(result) ?? null,
        };
        try {
          await this.audit.record({ actor, action: spec.action, target, details: scope.details });
        } catch (err) {
          // The change is made; say exactly which one went unrecorded (no details: they are the handler's).
          this.log.error(
            { code: 'AUDIT_WRITE_FAILED', action: spec.action, actor, target, err: errorMessage(err) },
            'a change was made but its audit record could not be written',
          );
          throw err;
        }
        return result;
      }),
    );
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
