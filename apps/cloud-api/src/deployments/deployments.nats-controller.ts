import { Controller } from '@nestjs/common';
import { Payload } from '@nestjs/microservices';
import { DesiredGetReplyV1, encodeReply, subjectMap } from '@outpost/protocol';
import { OnProtocolEvent, OnProtocolRequest } from '../nats/protocol-patterns.js';
import type { Inbound } from '../nats/protocol-wire.js';
import { DeploymentsService } from './deployments.service.js';

/**
 * The agent's side of deployments, in the device's own space (its NATS credential vouches for the device id in the
 * subject): desired.get requests and reported-state events, each handled by one replica (queue group).
 */
@Controller()
export class DeploymentsNatsController {
  constructor(private readonly deployments: DeploymentsService) {}

  @OnProtocolRequest(subjectMap.desiredGet)
  async desiredGet(@Payload() request: Inbound<typeof subjectMap.desiredGet>): Promise<Uint8Array> {
    return encodeReply(
      DesiredGetReplyV1,
      await this.deployments.desiredFor(request.params.deviceId, request.data.knownVersion),
    );
  }

  @OnProtocolEvent(subjectMap.reported)
  reported(@Payload() report: Inbound<typeof subjectMap.reported>): Promise<void> {
    return this.deployments.recordReported(report.params.deviceId, report.data, new Date());
  }
}
