import { Controller } from '@nestjs/common';
import type {
  CreateDeviceRequest,
  CreatedDevice,
  Device,
  DevicePage,
  GetDeviceRequest,
  ListDevicesQuery,
} from '@outpost/protocol';
import { Route } from '../api/route.js';
import { ValidBody, ValidParams, ValidQuery } from '../api/validation.js';
import { routes } from '../openapi/routes.js';
import { DevicesService } from './devices.service.js';

@Controller()
export class DevicesController {
  constructor(private readonly devices: DevicesService) {}

  @Route(routes.listDevices)
  list(@ValidQuery(routes.listDevices) query: ListDevicesQuery): Promise<DevicePage> {
    return this.devices.list(query);
  }

  @Route(routes.getDevice)
  get(@ValidParams(routes.getDevice) params: GetDeviceRequest): Promise<Device> {
    return this.devices.get(params.id);
  }

  @Route(routes.createDevice)
  create(@ValidBody(routes.createDevice) body: CreateDeviceRequest): Promise<CreatedDevice> {
    return this.devices.create(body);
  }
}
