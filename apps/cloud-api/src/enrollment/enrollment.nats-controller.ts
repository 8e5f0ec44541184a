import { Controller } from '@nestjs/common';
import { Payload } from '@nestjs/microservices';
import { CredentialRenewedV1, EnrollReplyV1, encodeReply, subjectMap } from '@outpost/protocol';
import { OnProtocolRequest } from '../nats/protocol-patterns.js';
import type { Inbound } from '../nats/protocol-wire.js';
import { EnrollmentService } from './enrollment.service.js';

/**
 * Enrolment and renewal requests. No person token: `outpost.enroll` is a named public exception (the enrolment NATS
 * credential scopes it, the token authorizes it, and it is rate limited per token and per device id); renewal arrives
 * in the device's own space, so only the device's credential can ask.
 */
@Controller()
export class EnrollmentNatsController {
  constructor(private readonly enrollment: EnrollmentService) {}

  @OnProtocolRequest(subjectMap.enroll)
  async enroll(@Payload() request: Inbound<typeof subjectMap.enroll>): Promise<Uint8Array> {
    return encodeReply(EnrollReplyV1, await this.enrollment.enroll(request.data));
  }

  @OnProtocolRequest(subjectMap.credentialRenew)
  async renew(@Payload() request: Inbound<typeof subjectMap.credentialRenew>): Promise<Uint8Array> {
    return encodeReply(
      CredentialRenewedV1,
      await this.enrollment.renew(request.params.deviceId, request.data.publicKey),
    );
  }
}
