import { EventPattern, MessagePattern } from '@nestjs/microservices';
import type { ProtocolRoute } from './protocol-wire.js';

/** The handler-extras key under which a handler declares the subject-map row it serves. */
export const PROTOCOL_ROUTE_EXTRA = 'protocolRoute';

/**
 * Handles a protocol message with no answer, on every subject the route matches (`outpost.dev.*.agent.hello`).
 * The handler receives `Inbound<typeof route>`: the transport has already checked the subject and decoded the payload.
 */
export function OnProtocolEvent(route: ProtocolRoute): MethodDecorator {
  return EventPattern(route.wildcard(), { [PROTOCOL_ROUTE_EXTRA]: route });
}

/** Handles a protocol request; the handler returns bytes from `encodeReply(route.reply, …)`. */
export function OnProtocolRequest(route: ProtocolRoute): MethodDecorator {
  return MessagePattern(route.wildcard(), { [PROTOCOL_ROUTE_EXTRA]: route });
}
