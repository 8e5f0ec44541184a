import { NatsContext, ServerNats, type WritePacket } from '@nestjs/microservices';
import { CLOUD_API_QUEUE, encodeErrorReply } from '@outpost/protocol';
import type { Msg, NatsConnection, Subscription } from 'nats';
import type { Logger } from '../logging/logger.js';
import type { NatsConnectionService } from './nats-connection.js';
import { PROTOCOL_ROUTE_EXTRA } from './protocol-patterns.js';
import {
  isEmptyReply,
  isProtocolRoute,
  ProtocolReplySerializer,
  ProtocolRequestDeserializer,
  type ProtocolRoute,
  type RejectedPacket,
} from './protocol-wire.js';

/**
 * Nest's NATS server strategy, changed in four ways:
 *  - it uses the API's shared connection instead of opening its own, and does not block start-up on it: handlers
 *    subscribe whenever a connection is (re)established, so the API starts while NATS is still down;
 *  - every handler joins the CLOUD_API_QUEUE group, so each message is handled by one replica;
 *  - every message is decoded with the protocol's safe decoder against the handler's subject-map row before any
 *    handler runs; one that does not decode is logged with its subject and code and dropped (a request gets the error
 *    as its reply), without exceptions;
 *  - replies use the protocol wire format, and a packet with nothing to answer is not published.
 */
export class OutpostNatsTransport extends ServerNats {
  private active: Subscription[] = [];
  private readonly protocolDeserializer: ProtocolRequestDeserializer;
  private readonly log: Logger;

  constructor(
    private readonly nats: NatsConnectionService,
    logger: Logger,
  ) {
    super({ queue: CLOUD_API_QUEUE, serializer: new ProtocolReplySerializer() });
    this.protocolDeserializer = new ProtocolRequestDeserializer((channel) => this.routeFor(channel));
    this.log = logger.child({ component: 'nats-transport' });
  }

  override async listen(callback: (err?: unknown, ...optionalParams: unknown[]) => void): Promise<void> {
    this.nats.onConnect((connection) => this.subscribeHandlers(connection));
    callback();
  }

  /** Subscribes every registered pattern (a wildcard for device messages; the real subject is ctx.getSubject()). */
  private subscribeHandlers(connection: NatsConnection): void {
    this.active = [...this.getHandlers()].map(([pattern, handler]) =>
      connection.subscribe(pattern, {
        queue: (handler.extras?.queue as string | undefined) ?? CLOUD_API_QUEUE,
        callback: this.getMessageHandler(pattern).bind(this),
      }),
    );
  }

  private routeFor(channel: string): ProtocolRoute | undefined {
    const route: unknown = this.getHandlerByPattern(channel)?.extras?.[PROTOCOL_ROUTE_EXTRA];
    return isProtocolRoute(route) ? route : undefined;
  }

  /**
   * Nest's ServerNats.handleMessage with the protocol decoder in front: an accepted packet goes to its handler exactly
   * as Nest would route it; a rejected one never reaches a handler.
   */
  override async handleMessage(channel: string, natsMsg: Msg): Promise<void> {
    const ctx = new NatsContext([natsMsg.subject, natsMsg.headers]);
    const packet = this.protocolDeserializer.deserialize(natsMsg.data, {
      channel,
      subject: natsMsg.subject,
      replyTo: natsMsg.reply,
      headers: natsMsg.headers,
    });
    if (!packet.accepted) {
      this.reject(natsMsg, packet);
      return;
    }
    if (packet.id === undefined) {
      await this.handleEvent(channel, { pattern: packet.pattern, data: packet.data }, ctx);
      return;
    }
    const id = packet.id;
    const publish = this.getPublisher(natsMsg, id, ctx);
    const handler = this.getHandlerByPattern(channel);
    if (!handler) return;
    return this.onProcessingStartHook(this.transportId, ctx, async () => {
      const response$ = this.transformToObservable(await handler(packet.data, ctx));
      if (response$) this.send(response$, (written: WritePacket) => void publish({ ...written, id }));
    });
  }

  /** Logs a message no handler will see; a request is answered with the error, so its sender is not left waiting. */
  private reject(natsMsg: Msg, packet: RejectedPacket): void {
    const { error } = packet;
    const level = error.code === 'INTERNAL' ? 'error' : 'warn';
    this.log[level](
      { code: error.code, subject: natsMsg.subject, details: error.details, request: packet.id !== undefined },
      `message dropped: ${error.message}`,
    );
    if (natsMsg.reply) {
      try {
        natsMsg.respond(encodeErrorReply(error));
      } catch (err) {
        // The connection is closing: the requester times out instead.
        this.log.warn(
          { code: 'NATS_PUBLISH_FAILED', subject: natsMsg.reply, err: String(err) },
          'error reply not sent',
        );
      }
    }
  }

  override getPublisher(message: Msg, id: string, ctx: NatsContext): (response: OutgoingResponseLike) => unknown {
    const publish = super.getPublisher(message, id, ctx);
    return (packet) => (isEmptyReply(packet) ? undefined : publish(packet));
  }

  /** Stops taking messages; the shared connection stays open for what shutdown still publishes. */
  stopReceiving(): void {
    for (const subscription of this.active) subscription.unsubscribe();
    this.active = [];
  }

  override async close(): Promise<void> {
    this.stopReceiving();
  }
}

type OutgoingResponseLike = Parameters<ProtocolReplySerializer['serialize']>[0];
