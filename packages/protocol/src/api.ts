import { z } from 'zod';
import { defineMessage } from './catalog.js';
import { DeviceId } from './ids.js';

/*
 * The cloud API's request and response bodies. One schema per route, used by the Nest controllers (validation and
 * the OpenAPI document), by the NATS handlers, and by the portal. Change them here and every side follows.
 */

export const PAGE_LIMIT_DEFAULT = 50;
export const PAGE_LIMIT_MAX = 200;

/** `?limit&cursor` on every list. Query strings arrive as text, so limit is coerced. */
export const PageQuery = z.object({
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(PAGE_LIMIT_MAX)
    .default(PAGE_LIMIT_DEFAULT)
    .describe(`Items per page (1-${PAGE_LIMIT_MAX})`),
  cursor: z.string().min(1).max(512).optional().describe('Opaque cursor from the previous page’s nextCursor'),
});

/** `{ items, nextCursor }`; nextCursor is null on the last page. */
export function pageOf<T extends z.ZodType>(item: T, id: string) {
  return z
    .object({
      items: z.array(item),
      nextCursor: z.string().nullable(),
    })
    .meta({ id });
}

export const DeviceStatus = z.enum(['online', 'offline']).meta({ id: 'DeviceStatus' });
export type DeviceStatus = z.infer<typeof DeviceStatus>;

/** Free-form labels deployments will target (`tags.env = 'prod'`): short keys, string values. */
export const DeviceTags = z
  .record(z.string().min(1).max(64), z.string().max(256))
  .refine((tags) => Object.keys(tags).length <= 64, 'at most 64 tags')
  .meta({ id: 'DeviceTags', example: { site: 'plant-7', env: 'prod' } });
export type DeviceTags = z.infer<typeof DeviceTags>;

export const Device = z
  .object({
    id: DeviceId,
    status: DeviceStatus,
    lastSeen: z.iso.datetime().nullable().describe('Last hello or heartbeat the cloud recorded'),
    agentVersion: z.string().nullable(),
    tags: DeviceTags,
    createdAt: z.iso.datetime(),
  })
  .meta({ id: 'Device' });
export type Device = z.infer<typeof Device>;

/** `POST /api/v1/devices`: registers a device before it first connects (enrolment builds on this). */
export const CreateDeviceRequest = z
  .object({
    id: DeviceId,
    tags: DeviceTags.optional().describe('Labels for targeting; empty when omitted'),
  })
  .strict()
  .meta({ id: 'CreateDeviceRequest' });
export type CreateDeviceRequest = z.infer<typeof CreateDeviceRequest>;

export const ListDevicesQuery = PageQuery.extend({
  status: DeviceStatus.optional().describe('Only devices with this status'),
  idPrefix: z.string().min(1).max(128).optional().describe('Only devices whose id starts with this'),
}).meta({ id: 'ListDevicesQuery' });
export type ListDevicesQuery = z.infer<typeof ListDevicesQuery>;

export const DevicePage = pageOf(Device, 'DevicePage');
export type DevicePage = z.infer<typeof DevicePage>;

export const GetDeviceRequest = z.object({ id: DeviceId }).meta({ id: 'GetDeviceRequest' });
export type GetDeviceRequest = z.infer<typeof GetDeviceRequest>;

/** NATS request/reply messages of the cloud API (the calls themselves, with their subjects, are `rpc`). */
export const DevicesListRequestV1 = defineMessage('api.devices.list', '1.0', ListDevicesQuery);
export const DevicesPageV1 = defineMessage('api.devices.page', '1.0', DevicePage);
export const DevicesGetRequestV1 = defineMessage('api.devices.get', '1.0', GetDeviceRequest);
export const DeviceV1 = defineMessage('api.devices.device', '1.0', Device);

/** Published by the cloud API whenever a device goes online or offline. */
export const DevicePresenceChangedV1 = defineMessage(
  'event.device.presence',
  '1.0',
  z.object({
    deviceId: DeviceId,
    status: DeviceStatus,
    lastSeen: z.iso.datetime().nullable(),
    at: z.iso.datetime(),
  }),
);

/** `GET /healthz` */
export const Health = z
  .object({
    status: z.enum(['ok', 'degraded']),
    checks: z.object({
      nats: z.object({ ok: z.boolean(), error: z.string().optional() }),
      database: z.object({ ok: z.boolean(), error: z.string().optional() }),
    }),
  })
  .meta({ id: 'Health' });
export type Health = z.infer<typeof Health>;

/*
 * Deployment signing keys (`/api/v1/signing-keys`). The cloud signs every deployment with its active key; devices
 * trust the public keys listed here (active and retired). Only public parts ever leave the cloud API.
 */
export const SigningKeyStatus = z.enum(['active', 'retired']).meta({ id: 'SigningKeyStatus' });
export type SigningKeyStatus = z.infer<typeof SigningKeyStatus>;

/** A key id: the first 16 bytes of the sha256 of the raw public key, unpadded base64url. */
export const SigningKeyId = z
  .string()
  .regex(/^[A-Za-z0-9_-]{22}$/, 'must be a 22-character base64url key id')
  .meta({ id: 'SigningKeyId', example: 'Q2l4mZ0hB7yq1WcX3f2K9A' });

export const SigningKey = z
  .strictObject({
    keyId: SigningKeyId,
    alg: z.literal('ed25519'),
    publicKey: z
      .string()
      .regex(/^[A-Za-z0-9_-]{43}$/, 'must be a raw 32-byte ed25519 public key in unpadded base64url')
      .describe('The raw 32-byte ed25519 public key, unpadded base64url'),
    status: SigningKeyStatus.describe('active signs new deployments; retired only still verifies older ones'),
    createdAt: z.iso.datetime(),
    retiredAt: z.iso.datetime().nullable(),
  })
  .meta({ id: 'SigningKey' });
export type SigningKey = z.infer<typeof SigningKey>;

/** `GET /api/v1/signing-keys`: every key devices should trust, the active one first, then newest first. */
export const SigningKeyList = z.object({ items: z.array(SigningKey) }).meta({ id: 'SigningKeyList' });
export type SigningKeyList = z.infer<typeof SigningKeyList>;

/** `POST /api/v1/signing-keys/rotate`: the new active key and the one it replaced (null when there was none). */
export const RotatedSigningKeys = z
  .object({ active: SigningKey, retired: SigningKey.nullable() })
  .meta({ id: 'RotatedSigningKeys' });
export type RotatedSigningKeys = z.infer<typeof RotatedSigningKeys>;

export const SigningKeyIdParams = z.object({ keyId: SigningKeyId }).meta({ id: 'SigningKeyIdParams' });
export type SigningKeyIdParams = z.infer<typeof SigningKeyIdParams>;
