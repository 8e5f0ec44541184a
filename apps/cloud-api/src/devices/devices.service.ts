import { Injectable } from '@nestjs/common';
import {
  type CreateDeviceRequest,
  type CreatedDevice,
  type Device,
  type DevicePage,
  type ListDevicesQuery,
  OutpostError,
} from '@outpost/protocol';
import { pageFromRows } from '../api/page.js';
import { AuditService } from '../audit/audit.service.js';
import type { DeviceRow } from '../database/schema.js';
import { DeploymentsService } from '../deployments/deployments.service.js';
import { EnrollmentService } from '../enrollment/enrollment.service.js';
import { decodeCursor, encodeCursor } from './cursor.js';
import { DevicesRepository } from './devices.repository.js';

export function toDevice(row: DeviceRow): Device {
  return {
    id: row.id,
    status: row.status,
    lastSeen: row.lastSeen ? row.lastSeen.toISOString() : null,
    agentVersion: row.agentVersion,
    tags: row.tags,
    createdAt: row.createdAt.toISOString(),
  };
}

/** The device registry, shared by the HTTP controller and the NATS handlers. */
@Injectable()
export class DevicesService {
  constructor(
    private readonly repository: DevicesRepository,
    private readonly audit: AuditService,
    private readonly enrollment: EnrollmentService,
    private readonly deployments: DeploymentsService,
  ) {}

  async list(query: ListDevicesQuery): Promise<DevicePage> {
    const afterId = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
    // One row more than asked tells whether another page exists.
    const rows = await this.repository.list({
      afterId,
      status: query.status,
      idPrefix: query.idPrefix,
      limit: query.limit + 1,
    });
    return pageFromRows(rows, query.limit, toDevice, (row) => encodeCursor(row.id));
  }

  async get(id: string): Promise<Device> {
    const row = await this.repository.findById(id);
    if (!row)
      throw new OutpostError('NOT_FOUND', `Device ${id} not found`, [{ path: 'id', message: 'no such device' }]);
    return { ...toDevice(row), reported: await this.deployments.reported(id) };
  }

  /** Registers the device and issues its one-time enrolment token (shown once, stored hashed). */
  async create(request: CreateDeviceRequest): Promise<CreatedDevice> {
    const row = await this.repository.insert({ id: request.id, tags: request.tags ?? {} });
    if (!row) {
      throw new OutpostError('CONFLICT', `Device ${request.id} already exists`, [
        { path: 'id', message: 'already registered' },
      ]);
    }
    this.audit.note({ targetId: row.id, details: { tags: row.tags } });
    return { ...toDevice(row), enrollment: await this.enrollment.issueDeviceToken(row.id) };
  }
}
