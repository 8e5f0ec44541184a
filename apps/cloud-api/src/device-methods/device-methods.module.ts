import { Module } from '@nestjs/common';
import { DeviceMethodsController } from './device-methods.controller.js';
import { DeviceMethodsRepository } from './device-methods.repository.js';
import { DeviceMethodsService } from './device-methods.service.js';

/** Agent methods the API relays to a device: module logs and restarts. */
@Module({
  controllers: [DeviceMethodsController],
  providers: [DeviceMethodsRepository, DeviceMethodsService],
})
export class DeviceMethodsModule {}
