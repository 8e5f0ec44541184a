import { type NatsContext, ServerNats } from '@nestjs/microservices';
import { CLOUD_API_QUEUE } from '@outpost/protocol';
import type { Msg, NatsConnection, Subscription } from 'nats';
import type { NatsConnectionService } from './nats-connection.js';
import { isEmptyReply, ProtocolReplySerializer, ProtocolRequestDeserializer } from './protocol-wire.js';

/**
 * Nest's NATS server strategy, changed in three ways:
 *  - it uses the API's shared connection instead of opening its own, and does not block start-up on it: handlers
 *    subscribe whenever a connection is (re)established, so the API starts while NATS is still down;
 *  - every handler joins the CLOUD_API_QUEUE group, so each message is handled by one replica;
 *  - replies use the protocol wire format (serializer/deserializer in protocol-wire.ts), and a packet with nothing to
 *    answer is not published.
 */
export class OutpostNatsTransport extends ServerNats {
  private active: Subscription[] = [];

  constructor(private readonly nats: NatsConnectionService) {
    super({
      queue: CLOUD_API_QUEUE,
      serializer: new ProtocolReplySerializer(),
      deserializer: new ProtocolRequestDeserializer(),
    });
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
