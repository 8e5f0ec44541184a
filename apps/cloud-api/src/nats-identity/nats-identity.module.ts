import { Module } from '@nestjs/common';
import { NatsIdentityRepository } from './nats-identity.repository.js';
import { NatsIdentityService } from './nats-identity.service.js';

/**
 * NATS identity: import this module and inject NatsIdentityService to mint device credentials (enrolment), revoke
 * them, and hand out the CA devices pin.
 */
@Module({
  providers: [NatsIdentityRepository, NatsIdentityService],
  exports: [NatsIdentityService],
})
export class NatsIdentityModule {}
