import { applyDecorators, SetMetadata } from '@nestjs/common';
import { EventPattern, MessagePattern } from '@nestjs/microservices';
import { ROUTE_METADATA, type RouteDef } from '../api/route.js';
import type { ProtocolRoute } from './protocol-wire.js';

/** The handler-extras key under which a handler declares the subject-map row it serves. */
export const PROTOCOL_ROUTE_EXTRA = 'protocolRoute';

/** Handler metadata: the subject-map row (the access guard reads who may publish it). */
export const PROTOCOL_ROUTE_METADATA = Symbol('outpost:protocol-route');

/**
 * Every NATS request handler declared so far: subject pattern → the route entry it is the NATS form of (null for
 * device and enrolment subjects). Filled as controller classes load; tests walk it against the `rpc` table.
 */
export const protocolRequestRoutes = new Map<string, RouteDef | null>();

/**
 * Handles a protocol message with no answer, on every subject the route matches (`outpost.dev.*.agent.hello`).
 * The handler receives `Inbound<typeof route>`: the transport has already checked the subject and decoded the payload.
 */
export function OnProtocolEvent(route: ProtocolRoute): MethodDecorator {
  return applyDecorators(
    EventPattern(route.wildcard(), { [PROTOCOL_ROUTE_EXTRA]: route }),
    SetMetadata(PROTOCOL_ROUTE_METADATA, route),
  );
}

/**
 * Handles a protocol request; the handler returns bytes from `encodeReply(route.reply, …)`.
 *
 * `access` is the route-table entry this call is the NATS form of: the person in `Outpost-Authorization` is
 * authorized by its rule and the call audited as it is over HTTP. Every subject the portal publishes needs one (the
 * access guard refuses the call otherwise); device and enrolment subjects, which NATS credentials scope, have none.
 */
export function OnProtocolRequest(route: ProtocolRoute, access?: RouteDef): MethodDecorator {
  protocolRequestRoutes.set(route.pattern, access ?? null);
  return applyDecorators(
    MessagePattern(route.wildcard(), { [PROTOCOL_ROUTE_EXTRA]: route }),
    SetMetadata(PROTOCOL_ROUTE_METADATA, route),
    ...(access ? [SetMetadata(ROUTE_METADATA, access)] : []),
  );
}
