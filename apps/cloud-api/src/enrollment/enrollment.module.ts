import { Module } from '@nestjs/common';
import { NatsIdentityModule } from '../nats-identity/nats-identity.module.js';
import { SigningModule } from '../signing/signing.module.js';
import { EnrollmentRepository } from './enrollment.repository.js';
import { EnrollmentService } from './enrollment.service.js';

/** Enrolment tokens, device credentials and revocation; DevicesModule uses it to issue a device's token. */
@Module({
  imports: [NatsIdentityModule, SigningModule],
  providers: [EnrollmentRepository, EnrollmentService],
  exports: [EnrollmentService],
})
export class EnrollmentModule {}
