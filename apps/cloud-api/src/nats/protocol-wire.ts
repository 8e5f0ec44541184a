import type {
  ConsumerDeserializer,
  ConsumerSerializer,
  IncomingEvent,
  IncomingRequest,
  OutgoingResponse,
} from '@nestjs/microservices';
import { ErrorBody, encodeErrorReply, toErrorBody } from '@outpost/protocol';

/*
 * Nest's NATS transport speaks its own envelopes: it expects `{ pattern, data, id }` in and wraps replies in
 * `{ response, err, isDisposed, id }`. Devices and the portal speak only @outpost/protocol's wire format, so these
 * two adapters translate at the edge (see docs/adr/0003-nest-nats-wire-format.md).
 */

export interface NatsDeserializeOptions {
  /** The subscription's subject (may be a wildcard): the key Nest finds the handler by. */
  channel: string;
  replyTo?: string;
}

/**
 * Incoming message → Nest packet, without decoding: the handler knows which message kind it expects and decodes the
 * raw bytes with the protocol codec, so a malformed message becomes that handler's error (logged, or replied).
 * A message with a reply subject is a request; its reply subject, unique per request, serves as Nest's packet id.
 */
export class ProtocolRequestDeserializer implements ConsumerDeserializer {
  deserialize(value: Uint8Array, options?: NatsDeserializeOptions): IncomingRequest | IncomingEvent {
    const pattern = options?.channel ?? '';
    if (options?.replyTo) return { pattern, data: value, id: options.replyTo };
    return { pattern, data: value };
  }
}

/** What the NATS transport hands to `msg.respond()`. */
export interface SerializedReply {
  data: Uint8Array;
}

/**
 * Nest reply packet → protocol reply. Request handlers return bytes made by `encodeReply` (so the response is validated
 * against its schema where it is made); errors, which the exception filter has turned into ErrorBody, become
 * `encodeErrorReply`. Anything else is a handler bug and answers INTERNAL rather than leaking Nest's envelope.
 */
export class ProtocolReplySerializer implements ConsumerSerializer {
  serialize(packet: OutgoingResponse): SerializedReply {
    if (packet.err !== undefined && packet.err !== null) {
      const body = ErrorBody.safeParse(packet.err);
      return { data: encodeErrorReply(body.success ? body.data : toErrorBody(packet.err)) };
    }
    if (packet.response instanceof Uint8Array) return { data: packet.response };
    return {
      data: encodeErrorReply({ code: 'INTERNAL', message: 'Handler returned no protocol reply', details: [] }),
    };
  }
}

/** True when a Nest reply packet carries nothing to answer: the end-of-stream marker, or an event handler's result. */
export function isEmptyReply(packet: OutgoingResponse): boolean {
  return (packet.err === undefined || packet.err === null) && packet.response === undefined;
}
