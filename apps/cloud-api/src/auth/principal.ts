import type { IncomingMessage } from 'node:http';
import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { NatsContext } from '@nestjs/microservices';
import { OutpostError, readCredentials } from '@outpost/protocol';
import type { Principal } from './tokens.js';

/*
 * The principal the access guard resolved for a call, kept beside the call's carrier (the HTTP request, or the NATS
 * context) rather than on it, so neither Express's nor Nest's objects need widening.
 */
const principals = new WeakMap<object, Principal>();

/** The object a call's principal is kept under: the HTTP request or the NATS context. */
export function callCarrier(context: ExecutionContext): object {
  return context.getType() === 'rpc' ? context.switchToRpc().getContext<object>() : context.switchToHttp().getRequest();
}

export function attachPrincipal(carrier: object, principal: Principal): void {
  principals.set(carrier, principal);
}

export function principalOf(carrier: object): Principal | undefined {
  return principals.get(carrier);
}

/**
 * The signed-in person or pipeline of a call, HTTP or NATS. Only for routes that are not public (the guard has
 * resolved it); on a public route it is a bug, answered INTERNAL.
 */
export const CurrentPrincipal = createParamDecorator((_: unknown, context: ExecutionContext): Principal => {
  const principal = principalOf(callCarrier(context));
  if (!principal) throw new OutpostError('INTERNAL', 'No principal on this call');
  return principal;
});

/** Where a call came from: the client's address (HTTP socket, or what the portal saw and forwarded over NATS). */
export interface CallOrigin {
  readonly address: string | null;
  readonly transport: 'http' | 'nats';
}

export function originOf(context: ExecutionContext): CallOrigin {
  if (context.getType() === 'rpc') {
    const credentials = readCredentials(context.switchToRpc().getContext<NatsContext>().getHeaders());
    return { address: credentials.ok ? (credentials.value.clientAddress ?? null) : null, transport: 'nats' };
  }
  const request = context.switchToHttp().getRequest<IncomingMessage>();
  return { address: request.socket.remoteAddress ?? null, transport: 'http' };
}

export const CallOriginParam = createParamDecorator(
  (_: unknown, context: ExecutionContext): CallOrigin => originOf(context),
);
