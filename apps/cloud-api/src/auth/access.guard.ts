import type { IncomingMessage } from 'node:http';
import { type CanActivate, type ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { NatsContext } from '@nestjs/microservices';
import { HEADER, OutpostError, readCredentials } from '@outpost/protocol';
import { isPublicRoute, minRoleOf, ROUTE_METADATA, type RouteDef, routeDefinitionProblem } from '../api/route.js';
import { LOGGER, type Logger } from '../logging/logger.js';
import { PROTOCOL_ROUTE_METADATA } from '../nats/protocol-patterns.js';
import type { ProtocolRoute } from '../nats/protocol-wire.js';
import { CredentialsService } from './credentials.service.js';
import { attachPrincipal } from './principal.js';
import { type Principal, roleAllows } from './tokens.js';

const BEARER = /^Bearer ([A-Za-z0-9\-._~+/]+=*)$/;

function unauthorized(message: string, path: string, detail: string): OutpostError {
  return new OutpostError('UNAUTHORIZED', message, [{ path, message: detail }]);
}

/**
 * The one global guard, HTTP and NATS alike. Deny by default: every call is refused unless its handler is bound to a
 * route-table entry that names its access — `public: true` (the named exceptions), or a `minRole` the caller's session
 * or API token must reach. HTTP reads the token from `Authorization`; NATS from `Outpost-Authorization`, which the
 * portal fills with the signed-in person's session token, so the portal's own NATS credential grants nothing.
 *
 * NATS subjects only devices and enrolling agents publish (their NATS credentials scope them to their own subjects)
 * carry no person and pass; a handler for a subject the portal publishes without a route entry is refused.
 */
@Injectable()
export class AccessGuard implements CanActivate {
  private readonly log: Logger;

  constructor(
    private readonly reflector: Reflector,
    private readonly credentials: CredentialsService,
    @Inject(LOGGER) logger: Logger,
  ) {
    this.log = logger.child({ component: 'auth' });
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const route = this.reflector.get<RouteDef | undefined>(ROUTE_METADATA, context.getHandler());
    if (context.getType() === 'rpc') {
      const subject = this.reflector.get<ProtocolRoute | undefined>(PROTOCOL_ROUTE_METADATA, context.getHandler());
      if (!route && subject && !subject.publish.includes('portal')) return true;
      const access = this.checkedRoute(route, subject?.pattern ?? 'a NATS handler');
      if (isPublicRoute(access)) return true;
      const natsContext = context.switchToRpc().getContext<NatsContext>();
      const credentials = readCredentials(natsContext.getHeaders());
      if (!credentials.ok) throw OutpostError.fromBody(credentials.error);
      const token = credentials.value.bearerToken;
      const path = `headers.${HEADER.authorization}`;
      if (!token) throw unauthorized(`This call needs a person: send ${HEADER.authorization}`, path, 'missing');
      attachPrincipal(natsContext, await this.authorize(access, token, path));
      return true;
    }
    if (context.getType() !== 'http') return false;
    const access = this.checkedRoute(route, 'an HTTP handler');
    if (isPublicRoute(access)) return true;
    const request = context.switchToHttp().getRequest<IncomingMessage>();
    const header = request.headers.authorization;
    if (!header) throw unauthorized('Missing Authorization header', 'authorization', 'expected "Bearer <token>"');
    const token = BEARER.exec(header)?.[1];
    if (!token) {
      throw unauthorized('Authorization header is not a bearer token', 'authorization', 'expected "Bearer <token>"');
    }
    attachPrincipal(request, await this.authorize(access, token, 'authorization'));
    return true;
  }

  /** The route, or a refusal when it declares no access rule (or a mutation no audit record). */
  private checkedRoute(route: RouteDef | undefined, where: string): RouteDef {
    const problem = routeDefinitionProblem(route);
    if (!route || problem) {
      this.log.error({ code: 'ROUTE_WITHOUT_ACCESS_RULE', where, problem }, 'call refused: its handler is not open');
      throw new OutpostError('FORBIDDEN', 'This endpoint is closed: it declares no access rule', [
        { path: '', message: problem ?? 'no route definition' },
      ]);
    }
    return route;
  }

  private async authorize(route: RouteDef, token: string, path: string): Promise<Principal> {
    const principal = await this.credentials.resolve(token);
    if (!principal) throw unauthorized('Unknown, expired or revoked token', path, 'token is not valid');
    const minRole = minRoleOf(route);
    if (minRole && !roleAllows(principal.role, minRole)) {
      const who = principal.kind === 'user' ? `${principal.name} has` : 'the token has';
      throw new OutpostError('FORBIDDEN', `This needs the ${minRole} role; ${who} ${principal.role}`, [
        { path, message: `role ${principal.role} is below ${minRole}` },
      ]);
    }
    return principal;
  }
}
