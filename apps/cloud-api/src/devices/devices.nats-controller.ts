import { Controller } from '@nestjs/common';
import { Payload } from '@nestjs/microservices';
import { encodeReply, rpc, subjectMap } from '@outpost/protocol';
import { OnProtocolRequest } from '../nats/protocol-patterns.js';
import type { Inbound } from '../nats/protocol-wire.js';
import { routes } from '../openapi/routes.js';
import { DevicesService } from './devices.service.js';

/**
 * The portal's request/reply calls: same service as HTTP, protocol codec on the wire, and the same route-table rules
 * for the person in `Outpost-Authorization` (role, audit).
 */
@Controller()
export class DevicesNatsController {
  constructor(private readonly devices: DevicesService) {}

  @OnProtocolRequest(subjectMap.apiDevicesList, routes.listDevices)
  async list(@Payload() request: Inbound<typeof subjectMap.apiDevicesList>): Promise<Uint8Array> {
    return encodeReply(rpc.devicesList.response, await this.devices.list(request.data));
  }

  @OnProtocolRequest(subjectMap.apiDevicesGet, routes.getDevice)
  async get(@Payload() request: Inbound<typeof subjectMap.apiDevicesGet>): Promise<Uint8Array> {
    return encodeReply(rpc.devicesGet.response, await this.devices.get(request.data.id));
  }

  @OnProtocolRequest(subjectMap.apiDevicesCreate, routes.createDevice)
  async create(@Payload() request: Inbound<typeof subjectMap.apiDevicesCreate>): Promise<Uint8Array> {
    return encodeReply(rpc.devicesCreate.response, await this.devices.create(request.data));
  }
}
