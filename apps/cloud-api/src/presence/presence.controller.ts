import { Controller } from '@nestjs/common';
import { Ctx, EventPattern, type NatsContext, Payload } from '@nestjs/microservices';
import {
  AgentGoodbyeV1,
  AgentHeartbeatV1,
  AgentHelloV1,
  decodeMessage,
  deviceIdFromSubject,
  OutpostError,
  subjects,
} from '@outpost/protocol';
import { PresenceService } from './presence.service.js';

/** The device id is the one in the subject (the device's NATS credential vouches for it), never one in a body. */
function deviceIdOf(ctx: NatsContext): string {
  const subject = ctx.getSubject();
  const deviceId = deviceIdFromSubject(subject);
  if (!deviceId) {
    throw new OutpostError('BAD_MESSAGE', 'Subject carries no valid device id', [
      { path: 'subject', message: `${subject} is not outpost.dev.<deviceId>.…` },
    ]);
  }
  return deviceId;
}

/**
 * Agent events, handled by one replica each (queue group). A malformed message throws here; the exception filter logs
 * it with its subject and code and it is dropped.
 */
@Controller()
export class PresenceController {
  constructor(private readonly presence: PresenceService) {}

  @EventPattern(subjects.fleet.hello)
  hello(@Payload() data: Uint8Array, @Ctx() ctx: NatsContext): void {
    const deviceId = deviceIdOf(ctx);
    const hello = decodeMessage(AgentHelloV1, data);
    this.presence.recordSeen({
      deviceId,
      at: new Date(),
      agentVersion: hello.agentVersion,
      bootId: hello.bootId,
      heartbeatIntervalMs: hello.heartbeatIntervalMs,
    });
  }

  @EventPattern(subjects.fleet.heartbeat)
  heartbeat(@Payload() data: Uint8Array, @Ctx() ctx: NatsContext): void {
    const deviceId = deviceIdOf(ctx);
    const heartbeat = decodeMessage(AgentHeartbeatV1, data);
    this.presence.recordSeen({
      deviceId,
      at: new Date(),
      agentVersion: heartbeat.agentVersion,
      bootId: heartbeat.bootId,
      heartbeatIntervalMs: heartbeat.heartbeatIntervalMs,
    });
  }

  @EventPattern(subjects.fleet.goodbye)
  goodbye(@Payload() data: Uint8Array, @Ctx() ctx: NatsContext): Promise<void> {
    const deviceId = deviceIdOf(ctx);
    const goodbye = decodeMessage(AgentGoodbyeV1, data);
    return this.presence.goodbye(deviceId, goodbye.bootId, new Date());
  }
}
