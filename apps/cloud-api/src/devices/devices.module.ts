import { Module } from '@nestjs/common';
import { DeploymentsModule } from '../deployments/deployments.module.js';
import { EnrollmentController } from '../enrollment/enrollment.controller.js';
import { EnrollmentModule } from '../enrollment/enrollment.module.js';
import { EnrollmentNatsController } from '../enrollment/enrollment.nats-controller.js';
import { DevicesController } from './devices.controller.js';
import { DevicesNatsController } from './devices.nats-controller.js';
import { DevicesRepository } from './devices.repository.js';
import { DevicesService } from './devices.service.js';

@Module({
  imports: [EnrollmentModule, DeploymentsModule],
  controllers: [DevicesController, DevicesNatsController, EnrollmentController, EnrollmentNatsController],
  providers: [DevicesRepository, DevicesService],
})
export class DevicesModule {}
