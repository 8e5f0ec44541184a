import { Module } from '@nestjs/common';
import { DevicesController } from './devices.controller.js';
import { DevicesNatsController } from './devices.nats-controller.js';
import { DevicesRepository } from './devices.repository.js';
import { DevicesService } from './devices.service.js';

@Module({
  controllers: [DevicesController, DevicesNatsController],
  providers: [DevicesRepository, DevicesService],
})
export class DevicesModule {}
