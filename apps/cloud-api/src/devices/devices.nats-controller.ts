import { Controller } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { decodeMessage, encodeReply, rpc } from '@outpost/protocol';
import { DevicesService } from './devices.service.js';

/** The portal's request/reply calls: same service as HTTP, protocol codec on the wire. */
@Controller()
export class DevicesNatsController {
  constructor(private readonly devices: DevicesService) {}

  @MessagePattern(rpc.devicesList.subject)
  async list(@Payload() request: Uint8Array): Promise<Uint8Array> {
    const query = decodeMessage(rpc.devicesList.request, request);
    return encodeReply(rpc.devicesList.response, await this.devices.list(query));
  }

  @MessagePattern(rpc.devicesGet.subject)
  async get(@Payload() request: Uint8Array): Promise<Uint8Array> {
    const { id } = decodeMessage(rpc.devicesGet.request, request);
    return encodeReply(rpc.devicesGet.response, await this.devices.get(id));
  }
}
