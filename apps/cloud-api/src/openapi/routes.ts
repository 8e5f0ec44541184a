import {
  CreateDeviceRequest,
  Device,
  DevicePage,
  GetDeviceRequest,
  Health,
  ListDevicesQuery,
  RotatedSigningKeys,
  SigningKey,
  SigningKeyIdParams,
  SigningKeyList,
} from '@outpost/protocol';
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
  listSigningKeys: defineRoute({
    operationId: 'listSigningKeys',
    method: 'get',
    path: '/api/v1/signing-keys',
    summary: 'The public keys devices trust for deployment signatures: the active key first, then retired ones',
    tag: 'signing-keys',
    auth: {},
    responses: [{ status: 200, description: 'Every signing key, public parts only', schema: SigningKeyList }],
  }),
  rotateSigningKey: defineRoute({
    operationId: 'rotateSigningKey',
    method: 'post',
    path: '/api/v1/signing-keys/rotate',
    summary: 'Make a new active signing key; the old one is retired but stays trusted until removed',
    tag: 'signing-keys',
    auth: { minRole: 'admin' },
    responses: [{ status: 201, description: 'The new active key and the key it retired', schema: RotatedSigningKeys }],
  }),
  removeSigningKey: defineRoute({
    operationId: 'removeSigningKey',
    method: 'delete',
    path: '/api/v1/signing-keys/{keyId}',
    summary: 'Remove a retired signing key: deployments it signed stop verifying once devices drop it',
    tag: 'signing-keys',
    auth: { minRole: 'admin' },
    params: SigningKeyIdParams,
    responses: [{ status: 200, description: 'The removed key', schema: SigningKey }],
    errors: ['NOT_FOUND', 'CONFLICT'],
  }),
} as const satisfies Record<string, RouteDef>;
