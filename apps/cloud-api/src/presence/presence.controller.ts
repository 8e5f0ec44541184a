import { Controller } from '@nestjs/common';
import { Payload } from '@nestjs/microservices';
import { subjectMap } from '@outpost/protocol';
import { OnProtocolEvent } from '../nats/protocol-patterns.js';
import type { Inbound } from '../nats/protocol-wire.js';
import { PresenceService } from './presence.service.js';

/**
 * Agent events, handled by one replica each (queue group). The transport has checked the subject (so the device id,
 * which the device's NATS credential vouches for, is valid) and decoded the payload; a malformed message never gets
 * here — it is logged with its subject and code and dropped.
 */
@Controller()
export class PresenceController {
  constructor(private readonly presence: PresenceService) {}

  @OnProtocolEvent(subjectMap.agentHello)
  hello(@Payload() hello: Inbound<typeof subjectMap.agentHello>): void {
    this.presence.recordSeen({
      deviceId: hello.params.deviceId,
      at: new Date(),
      agentVersion: hello.data.agentVersion,
      bootId: hello.data.bootId,
      heartbeatIntervalMs: hello.data.heartbeatIntervalMs,
    });
  }

  @OnProtocolEvent(subjectMap.agentHeartbeat)
  heartbeat(@Payload() heartbeat: Inbound<typeof subjectMap.agentHeartbeat>): void {
    this.presence.recordSeen({
      deviceId: heartbeat.params.deviceId,
      at: new Date(),
      agentVersion: heartbeat.data.agentVersion,
      bootId: heartbeat.data.bootId,
      heartbeatIntervalMs: heartbeat.data.heartbeatIntervalMs,
    });
  }

  @OnProtocolEvent(subjectMap.agentGoodbye)
  goodbye(@Payload() goodbye: Inbound<typeof subjectMap.agentGoodbye>): Promise<void> {
    return this.presence.goodbye(goodbye.params.deviceId, goodbye.data.bootId, new Date());
  }
}
