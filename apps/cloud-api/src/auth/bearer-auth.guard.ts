import type { IncomingMessage } from 'node:http';
import { type CanActivate, type ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { OutpostError } from '@outpost/protocol';
import { ROUTE_METADATA, type RouteDef } from '../api/route.js';
import { LOGGER, type Logger } from '../logging/logger.js';
import { ApiTokensRepository } from './api-tokens.repository.js';
import { hashToken, type Principal, roleAllows } from './tokens.js';

export type AuthenticatedRequest = IncomingMessage & { principal?: Principal };

const BEARER = /^Bearer ([A-Za-z0-9_\-.~+/]+=*)$/;

/**
 * Global guard for HTTP routes: every route declares its auth in its RouteDef; bearer routes need an active (not
 * revoked) token from api_tokens, and at least the route's `minRole` when it names one. A handler without a RouteDef
 * is refused, so a new endpoint cannot be public by accident.
 *
 * NATS handlers are not checked here: NATS credentials decide who may publish to the API's subjects, and the portal's
 * forwarding of a person's token on NATS calls comes with its own issue.
 */
@Injectable()
export class BearerAuthGuard implements CanActivate {
  private readonly log: Logger;

  constructor(
    private readonly reflector: Reflector,
    private readonly tokens: ApiTokensRepository,
    @Inject(LOGGER) logger: Logger,
  ) {
    this.log = logger.child({ component: 'auth' });
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http') return true;
    const route = this.reflector.get<RouteDef | undefined>(ROUTE_METADATA, context.getHandler());
    if (!route) throw new OutpostError('FORBIDDEN', 'This endpoint declares no access rule');
    if (route.auth === 'public') return true;

    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    const header = request.headers.authorization;
    if (!header) throw unauthorized('Missing Authorization header', 'expected "Bearer <token>"');
    const match = BEARER.exec(header);
    if (!match?.[1]) throw unauthorized('Authorization header is not a bearer token', 'expected "Bearer <token>"');
    const token = await this.tokens.findActiveByHash(hashToken(match[1]));
    if (!token) throw unauthorized('Unknown or revoked token', 'token is not valid');

    if (route.auth.minRole && !roleAllows(token.role, route.auth.minRole)) {
      throw new OutpostError('FORBIDDEN', `This needs the ${route.auth.minRole} role; the token has ${token.role}`, [
        { path: 'authorization', message: `role ${token.role} is below ${route.auth.minRole}` },
      ]);
    }
    request.principal = { tokenId: token.id, name: token.name, role: token.role };
    this.tokens.touchLastUsed(token.id).catch((err: unknown) => {
      this.log.warn(
        { code: 'TOKEN_TOUCH_FAILED', tokenId: token.id, err: err instanceof Error ? err.message : String(err) },
        'could not record token use',
      );
    });
    return true;
  }
}

function unauthorized(message: string, detail: string): OutpostError {
  return new OutpostError('UNAUTHORIZED', message, [{ path: 'authorization', message: detail }]);
}
