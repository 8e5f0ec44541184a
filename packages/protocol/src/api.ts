import { z } from 'zod';
import { defineMessage } from './catalog.js';
import { ErrorDetail } from './errors.js';
import { DeviceId, ModuleName } from './ids.js';
import { LogLine, ModuleReport } from './messages.js';

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

/**
 * The latest state a device reported (ReportedStateV1), as the cloud stored it: what it runs, per module, and how
 * applying its desired deployment went (Azure's lastDesiredVersion / lastDesiredStatus).
 */
export const DeviceReportedState = z
  .object({
    bootId: z.string().describe('The agent process that sent it'),
    seq: z.number().int().nonnegative().describe('Per boot; a report older than the stored one is ignored'),
    reportedAt: z.iso.datetime().describe('When the agent sent it (device clock)'),
    receivedAt: z.iso.datetime().describe('When the cloud stored it'),
    desired: z.object({
      version: z.number().int().nonnegative().nullable().describe('The desired version last applied (or tried)'),
      code: z
        .number()
        .int()
        .describe('200 applied, 400 invalid, 406 offline, 412 rejected (signature), 417 no such version, 500 failed'),
      description: z.string(),
      source: z.enum(['cloud', 'local']).nullable().describe('The cloud, or `outpost-agent deploy` on the device'),
      deploymentId: z.string().nullable(),
      errors: z.array(ErrorDetail).describe('Every problem that made the agent refuse it, by manifest path'),
    }),
    modules: z.record(ModuleName, ModuleReport.meta({ id: 'ModuleReport' })),
  })
  .meta({ id: 'DeviceReportedState' });
export type DeviceReportedState = z.infer<typeof DeviceReportedState>;

export const Device = z
  .object({
    id: DeviceId,
    status: DeviceStatus,
    lastSeen: z.iso.datetime().nullable().describe('Last hello or heartbeat the cloud recorded'),
    agentVersion: z.string().nullable(),
    tags: DeviceTags,
    createdAt: z.iso.datetime(),
    /** 1.1: set on a single device (GET /api/v1/devices/{id}); lists leave it out. */
    reported: DeviceReportedState.nullable()
      .optional()
      .describe('The latest reported state (null before the first report); only on a single device'),
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
/** 1.1: `reported`, the device's latest reported state. */
export const DeviceV1 = defineMessage('api.devices.device', '1.1', Device);

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

// --- people, pipelines, roles and audit ------------------------------------------------------------------------------

/** admin > operator > viewer: each role may do everything the roles below it may. */
export const Role = z
  .enum(['admin', 'operator', 'viewer'])
  .describe('admin: everything, including people, tokens and the audit log; operator: changes the fleet; viewer: reads')
  .meta({ id: 'Role' });
export type Role = z.infer<typeof Role>;

/** Lower-cased on the way in, so `Alice` and `alice` are one account. E-mail addresses are valid usernames. */
export const Username = z
  .string()
  .trim()
  .toLowerCase()
  .min(3, 'must be at least 3 characters')
  .max(64, 'must be at most 64 characters')
  .regex(/^[a-z0-9][a-z0-9._@+-]*$/, 'letters, digits and . _ @ + - only, starting with a letter or digit')
  .meta({ id: 'Username', example: 'alice' });

/** What a new password must be: long rather than clever (NIST SP 800-63B); any characters. */
export const NewPassword = z
  .string()
  .min(12, 'must be at least 12 characters')
  .max(1024, 'must be at most 1024 characters')
  .describe('At least 12 characters; stored only as a salted scrypt hash');

export const User = z
  .object({
    id: z.string(),
    username: z.string(),
    role: Role,
    createdAt: z.iso.datetime(),
    disabledAt: z.iso.datetime().nullable().describe('Set when the account was disabled; it cannot log in then'),
  })
  .meta({ id: 'User' });
export type User = z.infer<typeof User>;

/** `POST /api/v1/users` (admin). */
export const CreateUserRequest = z
  .object({ username: Username, password: NewPassword, role: Role })
  .strict()
  .meta({ id: 'CreateUserRequest' });
export type CreateUserRequest = z.infer<typeof CreateUserRequest>;

/** `PATCH /api/v1/users/{id}` (admin): any of role, disabled, password. Disabling ends the user's sessions. */
export const UpdateUserRequest = z
  .object({
    role: Role.optional(),
    disabled: z.boolean().optional().describe('true disables the account and ends its sessions; false enables it'),
    password: NewPassword.optional(),
  })
  .strict()
  .refine((update) => Object.keys(update).length > 0, 'name at least one of role, disabled, password')
  .meta({ id: 'UpdateUserRequest' });
export type UpdateUserRequest = z.infer<typeof UpdateUserRequest>;

export const UserIdParams = z.object({ id: z.string().min(1).max(64) }).meta({ id: 'UserIdParams' });
export type UserIdParams = z.infer<typeof UserIdParams>;

export const ListUsersQuery = PageQuery.meta({ id: 'ListUsersQuery' });
export type ListUsersQuery = z.infer<typeof ListUsersQuery>;

export const UserPage = pageOf(User, 'UserPage');
export type UserPage = z.infer<typeof UserPage>;

/** `POST /api/v1/auth/login`. The username is matched case-insensitively. */
export const LoginRequest = z
  .object({
    username: z.string().trim().toLowerCase().min(1, 'is required').max(128),
    password: z.string().min(1, 'is required').max(1024),
  })
  .strict()
  .meta({ id: 'LoginRequest' });
export type LoginRequest = z.infer<typeof LoginRequest>;

/** A new session: the token is shown once and is the bearer token of every later call (HTTP or NATS). */
export const LoginResponse = z
  .object({
    token: z.string().describe('Session token (ops_…): send it as `Authorization: Bearer <token>`'),
    expiresAt: z.iso.datetime().describe('When the session ends at the latest (it also ends after a quiet spell)'),
    user: User,
  })
  .meta({ id: 'LoginResponse' });
export type LoginResponse = z.infer<typeof LoginResponse>;

/** `GET /api/v1/auth/me`: who the credential belongs to. */
export const Identity = z
  .object({
    kind: z.enum(['user', 'token']).describe('A person signed in with a session, or a pipeline with an API token'),
    id: z.string().describe('The user id or the API token id'),
    name: z.string().describe('The username or the token name'),
    role: Role,
    expiresAt: z.iso.datetime().describe('When this session or token expires'),
  })
  .meta({ id: 'Identity' });
export type Identity = z.infer<typeof Identity>;

export const ApiTokenStatus = z.enum(['active', 'expired', 'revoked']).meta({ id: 'ApiTokenStatus' });
export type ApiTokenStatus = z.infer<typeof ApiTokenStatus>;

/** An API token as listed: never the token itself, which is shown once when created and stored only hashed. */
export const ApiToken = z
  .object({
    id: z.string(),
    name: z.string(),
    role: Role,
    status: ApiTokenStatus,
    createdAt: z.iso.datetime(),
    expiresAt: z.iso.datetime(),
    lastUsedAt: z.iso.datetime().nullable().describe('Recorded at most once a minute'),
    revokedAt: z.iso.datetime().nullable(),
  })
  .meta({ id: 'ApiToken' });
export type ApiToken = z.infer<typeof ApiToken>;

export const API_TOKEN_DAYS_DEFAULT = 90;
export const API_TOKEN_DAYS_MAX = 3650;

/** `POST /api/v1/tokens` (admin). */
export const CreateApiTokenRequest = z
  .object({
    name: z.string().trim().min(1, 'is required').max(100).describe('What the token is for, e.g. "ci-deploy"'),
    role: Role,
    expiresInDays: z
      .number()
      .int()
      .min(1)
      .max(API_TOKEN_DAYS_MAX)
      .default(API_TOKEN_DAYS_DEFAULT)
      .describe(`Days until the token stops working (1-${API_TOKEN_DAYS_MAX}, default ${API_TOKEN_DAYS_DEFAULT})`),
  })
  .strict()
  .meta({ id: 'CreateApiTokenRequest' });
export type CreateApiTokenRequest = z.infer<typeof CreateApiTokenRequest>;

export const CreatedApiToken = ApiToken.extend({
  token: z.string().describe('The token (opt_…), shown only in this response: store it now'),
}).meta({ id: 'CreatedApiToken' });
export type CreatedApiToken = z.infer<typeof CreatedApiToken>;

export const TokenIdParams = z.object({ id: z.string().min(1).max(64) }).meta({ id: 'TokenIdParams' });
export type TokenIdParams = z.infer<typeof TokenIdParams>;

export const ListApiTokensQuery = PageQuery.extend({
  status: ApiTokenStatus.optional().describe('Only tokens with this status'),
}).meta({ id: 'ListApiTokensQuery' });
export type ListApiTokensQuery = z.infer<typeof ListApiTokensQuery>;

export const ApiTokenPage = pageOf(ApiToken, 'ApiTokenPage');
export type ApiTokenPage = z.infer<typeof ApiTokenPage>;

/** Who did something: a person, a pipeline's token, a device, or Outpost itself (bootstrap, sweeps). */
export const AuditActor = z
  .object({
    kind: z.enum(['user', 'token', 'device', 'system']),
    id: z.string(),
    name: z.string(),
  })
  .meta({ id: 'AuditActor' });
export type AuditActor = z.infer<typeof AuditActor>;

/** One change, recorded after it succeeded. */
export const AuditRecord = z
  .object({
    id: z.string().describe('Increasing: newer records have larger ids'),
    at: z.iso.datetime(),
    actor: AuditActor,
    action: z.string().describe('What was done, `<target>.<verb>`: `device.create`, `user.update`, `auth.login`, …'),
    target: z.object({ type: z.string(), id: z.string().nullable() }),
    details: z.record(z.string(), z.unknown()).describe('What changed; never secrets'),
  })
  .meta({ id: 'AuditRecord' });
export type AuditRecord = z.infer<typeof AuditRecord>;

/** `GET /api/v1/audit` (admin): newest first. */
export const ListAuditQuery = PageQuery.extend({
  actor: z.string().min(1).max(128).optional().describe('Only records by this actor (its id or name)'),
  action: z.string().min(1).max(128).optional().describe('Only records of this action, e.g. `device.create`'),
  targetId: z.string().min(1).max(256).optional().describe('Only records about this target id'),
}).meta({ id: 'ListAuditQuery' });
export type ListAuditQuery = z.infer<typeof ListAuditQuery>;

export const AuditPage = pageOf(AuditRecord, 'AuditPage');
export type AuditPage = z.infer<typeof AuditPage>;

/*
 * NATS forms of the calls the portal makes. Request bodies are the HTTP ones without `.strict()`: a newer minor may add
 * optional fields, which an older reader drops (docs/adr/0005).
 */
export const AuthLoginRequestV1 = defineMessage('api.auth.login', '1.0', z.object(LoginRequest.shape));
export const AuthSessionV1 = defineMessage('api.auth.session', '1.0', LoginResponse);
export const AuthLogoutRequestV1 = defineMessage('api.auth.logout', '1.0', z.object({}));
export const AuthLoggedOutV1 = defineMessage('api.auth.logged-out', '1.0', z.object({}));
export const AuthMeRequestV1 = defineMessage('api.auth.me', '1.0', z.object({}));
export const AuthIdentityV1 = defineMessage('api.auth.identity', '1.0', Identity);
export const DevicesCreateRequestV1 = defineMessage('api.devices.create', '1.0', z.object(CreateDeviceRequest.shape));

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

/*
 * Enrolment (docs/adr/0009-enrolment.md). Creating a device returns a one-time enrolment token; an enrolment group
 * returns a reusable, expiring token that creates devices on first use. Tokens are shown once and stored hashed.
 */

/** A token string for `outpost-agent enroll --token`: it also carries what the agent needs to reach NATS safely. */
export const EnrollmentToken = z
  .object({
    token: z.string().min(1).describe('Pass to `outpost-agent enroll --token`; shown once, stored hashed'),
    expiresAt: z.iso.datetime(),
  })
  .meta({ id: 'EnrollmentToken' });
export type EnrollmentToken = z.infer<typeof EnrollmentToken>;

/** `POST /api/v1/devices` answers the device and its one-time enrolment token. */
export const CreatedDevice = Device.extend({
  enrollment: EnrollmentToken.describe('One-time: refused once used or expired'),
}).meta({ id: 'CreatedDevice' });
export type CreatedDevice = z.infer<typeof CreatedDevice>;
export const CreatedDeviceV1 = defineMessage('api.devices.created', '1.0', CreatedDevice);

export const ENROLLMENT_GROUP_TTL_MAX_SECONDS = 90 * 24 * 3600;

/**
 * A tag template: values may hold `{deviceId}`, replaced with the enrolling device's id (`{ serial: '{deviceId}' }`).
 */
export const EnrollmentGroupTags = DeviceTags.meta({
  id: 'EnrollmentGroupTags',
  example: { line: 'L3', serial: '{deviceId}' },
});

/** `POST /api/v1/enrollment-groups` */
export const CreateEnrollmentGroupRequest = z
  .object({
    name: z.string().min(1).max(128),
    tags: EnrollmentGroupTags.optional().describe('Tags of every device it creates; `{deviceId}` is replaced'),
    expiresInSeconds: z
      .number()
      .int()
      .min(60)
      .max(ENROLLMENT_GROUP_TTL_MAX_SECONDS)
      .describe('The group token works until then (at most 90 days)'),
    idPrefix: z
      .string()
      .min(1)
      .max(64)
      .regex(/^[A-Za-z0-9][A-Za-z0-9_-]*$/, 'letters, digits, "-" and "_" only')
      .optional()
      .describe('Only device ids starting with this may enrol with the group token'),
  })
  .strict()
  .meta({ id: 'CreateEnrollmentGroupRequest' });
export type CreateEnrollmentGroupRequest = z.infer<typeof CreateEnrollmentGroupRequest>;

export const EnrollmentGroup = z
  .object({
    id: z.string(),
    name: z.string(),
    tags: EnrollmentGroupTags,
    idPrefix: z.string().nullable(),
    expiresAt: z.iso.datetime(),
    createdAt: z.iso.datetime(),
  })
  .meta({ id: 'EnrollmentGroup' });
export type EnrollmentGroup = z.infer<typeof EnrollmentGroup>;

export const CreatedEnrollmentGroup = EnrollmentGroup.extend({
  enrollment: EnrollmentToken.describe('Reusable until it expires; rate limited'),
}).meta({ id: 'CreatedEnrollmentGroup' });
export type CreatedEnrollmentGroup = z.infer<typeof CreatedEnrollmentGroup>;

/** `POST /api/v1/devices/{id}/revoke` */
export const DeviceRevocation = z
  .object({
    deviceId: DeviceId,
    revokedAt: z.iso.datetime(),
    revokedKeys: z.array(z.string()).describe('NATS public keys revoked (empty when the device never enrolled)'),
  })
  .meta({ id: 'DeviceRevocation' });
export type DeviceRevocation = z.infer<typeof DeviceRevocation>;

/*
 * Deployments to one device (`/api/v1/devices/{id}/deployment`), module artifacts (`/api/v1/artifacts`) and the agent
 * methods the API relays (`/api/v1/devices/{id}/modules/{module}/…`).
 */

/** A manifest as JSON; validated by @outpost/manifest's validateManifest, which names every error path. */
const ManifestJson = z.record(z.string(), z.json()).describe('An Outpost deployment manifest');

/** `PUT /api/v1/devices/{id}/deployment` with the default format. */
export const PutDeploymentRequest = z
  .object({ manifest: ManifestJson })
  .describe(
    '`{ manifest }`; with `?format=azure` the body is an Azure IoT Edge deployment (`{ modulesContent }`) instead',
  )
  .meta({ id: 'PutDeploymentRequest' });
export type PutDeploymentRequest = z.infer<typeof PutDeploymentRequest>;

export const PutDeploymentQuery = z
  .object({
    format: z
      .enum(['outpost', 'azure'])
      .default('outpost')
      .describe('`azure`: the body is an Azure IoT Edge deployment, imported with its rules'),
  })
  .meta({ id: 'PutDeploymentQuery' });
export type PutDeploymentQuery = z.infer<typeof PutDeploymentQuery>;

/** A desired deployment as the API shows it: secret env values redacted. */
export const DesiredDeployment = z
  .object({
    deviceId: DeviceId,
    version: z.number().int().min(1).describe('Grows by one with every deployment to this device'),
    id: z.string().describe('The deployment id, inside the signed bytes'),
    createdAt: z.iso.datetime(),
    manifest: ManifestJson.describe('The effective manifest (defaults filled in), secret env values redacted'),
    signatureKeyId: z.string().describe('The signing key that signed it (GET /api/v1/signing-keys)'),
  })
  .meta({ id: 'DesiredDeployment' });
export type DesiredDeployment = z.infer<typeof DesiredDeployment>;

/** `PUT …/deployment` answers the stored deployment and what the import or validation warned about. */
export const PutDeploymentResponse = DesiredDeployment.extend({
  warnings: z.array(ErrorDetail).describe('Accepted, but worth a look (e.g. Azure settings Outpost ignores)'),
}).meta({ id: 'PutDeploymentResponse' });
export type PutDeploymentResponse = z.infer<typeof PutDeploymentResponse>;

/** `GET …/deployment`: what the device should run and what it last said it runs. */
export const DeviceDeploymentState = z
  .object({
    deviceId: DeviceId,
    desired: DesiredDeployment.nullable().describe('null when nothing was ever deployed to the device'),
    reported: DeviceReportedState.nullable().describe('null before the device first reported'),
  })
  .meta({ id: 'DeviceDeploymentState' });
export type DeviceDeploymentState = z.infer<typeof DeviceDeploymentState>;

/** What an uploaded artifact may be called: the object name adds its sha256. */
export const ArtifactName = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._-]{0,119}$/,
    "1-120 letters, digits, '.', '-' or '_', starting with a letter or digit",
  )
  .meta({ id: 'ArtifactName', example: 'sensor-1.2.0.tar.gz' });

export const UploadArtifactQuery = z.object({ name: ArtifactName }).meta({ id: 'UploadArtifactQuery' });
export type UploadArtifactQuery = z.infer<typeof UploadArtifactQuery>;

/** `POST /api/v1/artifacts`: where the artifact is and what the manifest must say about it. */
export const UploadedArtifact = z
  .object({
    ref: z.string().describe('`os://<bucket>/<object>`: the module’s `artifact.ref`'),
    sha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/)
      .describe('Hex; the module’s `artifact.sha256`'),
    size: z.number().int().nonnegative().describe('Bytes'),
    bucket: z.string(),
    object: z.string().describe('The object name: the given name and the sha256, so contents never overwrite'),
  })
  .meta({ id: 'UploadedArtifact' });
export type UploadedArtifact = z.infer<typeof UploadedArtifact>;

export const DeviceModuleParams = z.object({ id: DeviceId, module: ModuleName }).meta({ id: 'DeviceModuleParams' });
export type DeviceModuleParams = z.infer<typeof DeviceModuleParams>;

export const ModuleLogsQuery = z
  .object({
    tail: z.coerce.number().int().min(1).max(10_000).optional().describe('Only the last N lines (1-10000)'),
    since: z.iso.datetime().optional().describe('Only lines captured at or after this time'),
  })
  .meta({ id: 'ModuleLogsQuery' });
export type ModuleLogsQuery = z.infer<typeof ModuleLogsQuery>;

/** `GET …/modules/{module}/logs`: the lines, oldest first, as the agent's getModuleLogs answered. */
export const ModuleLogs = z
  .object({ module: ModuleName, lines: z.array(LogLine.meta({ id: 'LogLine' })) })
  .meta({ id: 'ModuleLogs' });
export type ModuleLogs = z.infer<typeof ModuleLogs>;

/** `POST …/modules/{module}/restart` */
export const RestartedModule = z
  .object({ deviceId: DeviceId, module: ModuleName, restarted: z.literal(true) })
  .meta({ id: 'RestartedModule' });
export type RestartedModule = z.infer<typeof RestartedModule>;
