import { CreateDeviceRequest, Device, DevicePage, GetDeviceRequest, Health, ListDevicesQuery } from '@outpost/protocol';
import { defineRoute, type RouteDef } from '../api/route.js';

/*
 * Every HTTP route of the API, once. Controllers bind to these with @Route(routes.x) and validate with
 * @ValidQuery/@ValidParams/@ValidBody(routes.x); the OpenAPI document is built from this table, so adding an
 * endpoint here documents it.
 */
export const routes = {
  health: defineRoute({
    operationId: 'getHealth',
    method: 'get',
    path: '/healthz',
    summary: 'Liveness and readiness: NATS connected and database answering',
    tag: 'health',
    auth: 'public',
    responses: [
      { status: 200, description: 'NATS and the database are both up', schema: Health },
      { status: 503, description: 'NATS or the database is down', schema: Health },
    ],
  }),
  listDevices: defineRoute({
    operationId: 'listDevices',
    method: 'get',
    path: '/api/v1/devices',
    summary: 'List devices, ordered by id, one page at a time',
    tag: 'devices',
    auth: {},
    query: ListDevicesQuery,
    responses: [{ status: 200, description: 'A page of devices', schema: DevicePage }],
  }),
  getDevice: defineRoute({
    operationId: 'getDevice',
    method: 'get',
    path: '/api/v1/devices/{id}',
    summary: 'Get one device',
    tag: 'devices',
    auth: {},
    params: GetDeviceRequest,
    responses: [{ status: 200, description: 'The device', schema: Device }],
    errors: ['NOT_FOUND'],
  }),
  createDevice: defineRoute({
    operationId: 'createDevice',
    method: 'post',
    path: '/api/v1/devices',
    summary: 'Register a device before it first connects',
    tag: 'devices',
    auth: { minRole: 'operator' },
    body: CreateDeviceRequest,
    responses: [{ status: 201, description: 'The registered device (offline until it says hello)', schema: Device }],
    errors: ['CONFLICT'],
  }),
} as const satisfies Record<string, RouteDef>;
