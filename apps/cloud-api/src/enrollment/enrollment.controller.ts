import { Controller } from '@nestjs/common';
import type {
  CreatedEnrollmentGroup,
  CreateEnrollmentGroupRequest,
  DeviceRevocation,
  GetDeviceRequest,
} from '@outpost/protocol';
import { Route } from '../api/route.js';
import { ValidBody, ValidParams } from '../api/validation.js';
import { DevicesService } from '../devices/devices.service.js';
import { routes } from '../openapi/routes.js';
import { EnrollmentService } from './enrollment.service.js';

@Controller()
export class EnrollmentController {
  constructor(
    private readonly enrollment: EnrollmentService,
    private readonly devices: DevicesService,
  ) {}

  @Route(routes.createEnrollmentGroup)
  createGroup(
    @ValidBody(routes.createEnrollmentGroup) body: CreateEnrollmentGroupRequest,
  ): Promise<CreatedEnrollmentGroup> {
    return this.enrollment.createGroup(body);
  }

  @Route(routes.revokeDevice)
  async revoke(@ValidParams(routes.revokeDevice) params: GetDeviceRequest): Promise<DeviceRevocation> {
    await this.devices.get(params.id); // NOT_FOUND for an unknown device
    return this.enrollment.revoke(params.id);
  }
}
