import type { ConsumerSerializer, OutgoingResponse } from '@nestjs/microservices';
import {
  type ErrorBody,
  ErrorBody as ErrorBodySchema,
  encodeErrorReply,
  type HeaderCarrier,
  type MessageData,
  type MessageDef,
  type ProtocolHeaders,
  type SubjectDef,
  type SubjectParams,
  toErrorBody,
  tryDecodeMessage,
  type WireVersion,
} from '@outpost/protocol';

/*
 * Nest's NATS transport speaks its own envelopes: it expects `{ pattern, data, id }` in and wraps replies in
 * `{ response, err, isDisposed, id }`. Devices and the portal speak only @outpost/protocol's wire format, so these
 * adapters translate at the edge (docs/adr/0003-nest-nats-wire-format.md, docs/adr/0005-wire-protocol-versioning.md).
 */

/** A handler's protocol contract: the subject-map row it serves (its pattern, message and parameters). */
export type ProtocolRoute = SubjectDef<string, MessageDef, MessageDef | undefined>;

/** What a handler receives: the decoded message and the subject's parameters (the device id, …). */
export interface Inbound<R extends ProtocolRoute> {
  readonly data: MessageData<R['message']>;
  readonly params: SubjectParams<R['pattern']>;
  readonly subject: string;
  /** The version the sender wrote (any minor of the major this build reads). */
  readonly version: WireVersion;
  readonly headers: ProtocolHeaders;
}

export interface ProtocolDeserializeOptions {
  /** The subscription's subject (may be a wildcard): the key Nest finds the handler by. */
  channel: string;
  /** The subject the message arrived on. */
  subject: string;
  replyTo?: string;
  headers?: HeaderCarrier;
}

/** A packet Nest can route: requests (with a reply subject) carry it as their id. */
export interface AcceptedPacket {
  readonly accepted: true;
  readonly pattern: string;
  readonly data: Inbound<ProtocolRoute>;
  readonly id?: string;
}

/** A message refused before any handler runs, with the error to log (and to answer, for a request). */
export interface RejectedPacket {
  readonly accepted: false;
  readonly pattern: string;
  readonly error: ErrorBody;
  readonly id?: string;
}

export function isProtocolRoute(value: unknown): value is ProtocolRoute {
  return (
    typeof value === 'object' &&
    value !== null &&
    'pattern' in value &&
    typeof value.pattern === 'string' &&
    'parse' in value &&
    typeof value.parse === 'function' &&
    'message' in value &&
    typeof value.message === 'object' &&
    value.message !== null
  );
}

/**
 * Incoming message → Nest packet, decoded with the protocol's safe decoder against the handler's route: the subject
 * must match the route (a valid device id, …) and the payload its message. Never throws: a malformed message becomes
 * a RejectedPacket the transport logs and drops (answering it when it is a request), so no handler ever sees it.
 */
export class ProtocolRequestDeserializer {
  constructor(private readonly routeFor: (channel: string) => ProtocolRoute | undefined) {}

  deserialize(value: Uint8Array, options: ProtocolDeserializeOptions): AcceptedPacket | RejectedPacket {
    const { channel: pattern, subject, replyTo } = options;
    const id = replyTo ? { id: replyTo } : {};
    const route = this.routeFor(pattern);
    if (!route) {
      const error: ErrorBody = { code: 'INTERNAL', message: `No protocol route for ${pattern}`, details: [] };
      return { accepted: false, pattern, error, ...id };
    }
    const params = route.parse(subject);
    if (!params) {
      const error: ErrorBody = {
        code: 'BAD_MESSAGE',
        message: `Subject ${subject} does not match ${route.pattern}`,
        details: [{ path: 'subject', message: `expected ${route.pattern} with valid tokens` }],
      };
      return { accepted: false, pattern, error, ...id };
    }
    const decoded = tryDecodeMessage(route.message, value, options.headers);
    if (!decoded.ok) return { accepted: false, pattern, error: decoded.error, ...id };
    const data: Inbound<ProtocolRoute> = {
      data: decoded.value,
      params,
      subject,
      version: decoded.version,
      headers: decoded.headers,
    };
    return { accepted: true, pattern, data, ...id };
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
      const body = ErrorBodySchema.safeParse(packet.err);
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
