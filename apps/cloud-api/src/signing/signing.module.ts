import { Module } from '@nestjs/common';
import { SigningKeysController } from './signing.controller.js';
import { SigningService } from './signing.service.js';
import { SigningKeysRepository } from './signing-keys.repository.js';

/**
 * Deployment signing. Import this module and inject SigningService to sign deployments (`sign`) or to hand devices
 * the public keys they should trust (`trustedKeys`, e.g. at enrolment).
 */
@Module({
  controllers: [SigningKeysController],
  providers: [SigningKeysRepository, SigningService],
  exports: [SigningService],
})
export class SigningModule {}
