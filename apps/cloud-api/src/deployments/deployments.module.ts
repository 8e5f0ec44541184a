import { Module } from '@nestjs/common';
import { SigningModule } from '../signing/signing.module.js';
import { DeploymentsController } from './deployments.controller.js';
import { DeploymentsNatsController } from './deployments.nats-controller.js';
import { DeploymentsRepository } from './deployments.repository.js';
import { DeploymentsService } from './deployments.service.js';

/** Deployments to one device, desired.get and reported state. DevicesModule imports it to show the reported state. */
@Module({
  imports: [SigningModule],
  controllers: [DeploymentsController, DeploymentsNatsController],
  providers: [DeploymentsRepository, DeploymentsService],
  exports: [DeploymentsService],
})
export class DeploymentsModule {}
