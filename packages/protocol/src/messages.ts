import { z } from 'zod';
import { defineMessage } from './catalog.js';
import { OutpostError, PeerErrorBody } from './errors.js';
import { checkToken, DeviceId, EndpointName, ModuleName, SubjectToken } from './ids.js';

/*
 * The messages devices and the cloud exchange, one versioned schema each. Export names carry the major (`…V1`); a
 * minor bump changes the schema in place and may only add optional fields, so every reader of the major still reads
 * it. Objects are never `.strict()`: a reader drops the fields a newer minor added (docs/adr/0005).
 *
 * The device id of a device message is the one in its subject (the device's NATS credential vouches for it), never one
 * from a body; the telemetry envelope repeats it because the envelope is stored and forwarded as it is.
 */

const BootId = z.string().min(1).max(64);
const Timestamp = z.iso.datetime();
const HeartbeatIntervalMs = z.number().int().min(100).max(3_600_000);
/** A JSON object (a manifest, a method payload's top level). */
const JsonObject = z.record(z.string(), z.json());

// --- presence -------------------------------------------------------------------------------------------------------

/** What an agent says about itself on every (re)connect. */
export const AgentHelloV1 = defineMessage(
  'agent.hello',
  '1.0',
  z.object({
    agentVersion: z.string().min(1).max(64),
    /** Random per process start, so the cloud can tell a restart from a reconnect. */
    bootId: BootId,
    startedAt: Timestamp,
    heartbeatIntervalMs: HeartbeatIntervalMs,
    hostname: z.string().max(255).optional(),
    platform: z.string().max(64).optional(),
  }),
);

/** Sent every heartbeat interval. Carries enough to register presence even if the hello was missed. */
export const AgentHeartbeatV1 = defineMessage(
  'agent.heartbeat',
  '1.0',
  z.object({
    agentVersion: z.string().min(1).max(64),
    bootId: BootId,
    seq: z.number().int().nonnegative(),
    sentAt: Timestamp,
    heartbeatIntervalMs: HeartbeatIntervalMs,
    uptimeSec: z.number().nonnegative(),
  }),
);

/** Sent on a clean shutdown: the cloud marks the device offline at once. */
export const AgentGoodbyeV1 = defineMessage(
  'agent.goodbye',
  '1.0',
  z.object({
    bootId: BootId,
    reason: z.string().max(200),
  }),
);

// --- desired state --------------------------------------------------------------------------------------------------

/** Desired-state versions grow by one with every change to what a device should run. */
const DesiredVersion = z.number().int().nonnegative();

/**
 * Cloud → device: "your desired state changed". Only a nudge — the device then pulls with desired.get — so a lost or
 * reordered notification costs nothing but latency (the agent also pulls on start, reconnect and periodically).
 */
export const DesiredChangedV1 = defineMessage(
  'desired.changed',
  '1.0',
  z.object({
    version: DesiredVersion,
    changedAt: Timestamp,
  }),
);

/** Device → cloud request: the current desired state. `knownVersion` lets the cloud answer "unchanged" cheaply. */
export const DesiredGetRequestV1 = defineMessage(
  'desired.get',
  '1.0',
  z.object({
    knownVersion: DesiredVersion.nullable(),
  }),
);

/** An ed25519 signature by the cloud over the canonical JSON of the manifest. */
export const ManifestSignature = z.object({
  alg: z.literal('ed25519'),
  keyId: z.string().min(1).max(128),
  /** Base64 of the 64-byte signature. */
  value: z.string().regex(/^[A-Za-z0-9+/]{86}==$/, 'must be the base64 of a 64-byte signature'),
});

/**
 * The reply to desired.get. `manifest` is the deployment manifest (validated by the agent with @outpost/manifest),
 * null when nothing is deployed to the device; the agent refuses a manifest whose signature does not verify.
 */
export const DesiredGetReplyV1 = defineMessage(
  'desired.state',
  '1.1',
  z.discriminatedUnion('status', [
    z.object({ status: z.literal('unchanged'), version: DesiredVersion }),
    z.object({
      status: z.literal('current'),
      version: DesiredVersion,
      manifest: JsonObject.nullable(),
      signature: ManifestSignature.nullable(),
      /**
       * 1.1: the signed deployment `{ deployment, signature }` exactly as @outpost/manifest's signDeployment made it
       * (deviceId, version and createdAt are inside the signed bytes). Agents verify and apply this one; `manifest` and
       * `signature` repeat it for 1.0 readers. null when nothing is deployed.
       */
      signed: JsonObject.nullable().optional(),
    }),
  ]),
);

// --- reported state -------------------------------------------------------------------------------------------------

/** A module's runtime status, as Azure IoT Edge reports it. */
export const ModuleRuntimeStatus = z.enum(['unknown', 'backoff', 'running', 'unhealthy', 'stopped', 'failed']);
export type ModuleRuntimeStatus = z.infer<typeof ModuleRuntimeStatus>;

export const ModuleReport = z.object({
  status: ModuleRuntimeStatus,
  statusDescription: z.string().max(1024).optional(),
  exitCode: z.number().int().nullable(),
  restartCount: z.number().int().nonnegative(),
  lastStartedAt: Timestamp.nullable(),
  lastExitedAt: Timestamp.nullable(),
  /** 1.1: how it runs. */
  type: z.enum(['process', 'container']).optional(),
  /** 1.1: the manifest's module version, null when it has none. */
  version: z.string().max(128).nullable().optional(),
  /** 1.1: when the agent last restarted it (restart policy or restartModule). */
  lastRestartedAt: Timestamp.nullable().optional(),
});
export type ModuleReport = z.infer<typeof ModuleReport>;

/**
 * Device → cloud: what the device runs and how applying the desired state went. Sent on change and with the
 * heartbeat. (bootId, seq) orders reports, so the cloud ignores one that arrives after a newer one.
 */
export const ReportedStateV1 = defineMessage(
  'reported.state',
  '1.1',
  z.object({
    bootId: BootId,
    seq: z.number().int().nonnegative(),
    reportedAt: Timestamp,
    desired: z.object({
      /** The last desired version the agent applied (or tried to); null before the first. */
      version: DesiredVersion.nullable(),
      /** HTTP-like outcome, as Azure's lastDesiredStatus: 200 applied, 400 invalid, 406 offline, 412 rejected, 500 failed. */
      code: z.number().int().min(100).max(599),
      description: z.string().max(1024),
      /** 1.1: where the deployment came from: the cloud, or `outpost-agent deploy` on the device. */
      source: z.enum(['cloud', 'local']).optional(),
      /** 1.1: the deployment's id. */
      deploymentId: z.string().max(256).nullable().optional(),
      /** 1.1: every problem that made the agent refuse it (400, 412), by manifest path. */
      errors: z
        .array(z.object({ path: z.string().max(512), message: z.string().max(1024) }))
        .max(100)
        .optional(),
    }),
    modules: z.record(ModuleName, ModuleReport),
  }),
);

// --- messages and telemetry -----------------------------------------------------------------------------------------

/** Application properties: string → string, as in Azure IoT messages. */
export const AppProperties = z
  .record(z.string().min(1).max(128), z.string().max(4096))
  .refine((properties) => Object.keys(properties).length <= 64, 'at most 64 application properties');

/** The Azure system properties a message may carry. */
export const SystemProperties = z.object({
  contentType: z.string().max(128).optional(),
  contentEncoding: z.string().max(64).optional(),
  messageId: z.string().max(256).optional(),
  correlationId: z.string().max(256).optional(),
  userId: z.string().max(256).optional(),
});

/**
 * The body travels as text: UTF-8 text (JSON included) as it is, anything else base64. One rule, lossless for any
 * bytes, and readable in logs and stores for the common case (see telemetryBody / telemetryBodyBytes).
 */
export const BodyEncoding = z.enum(['utf8', 'base64']);
export type BodyEncoding = z.infer<typeof BodyEncoding>;

const MessageBody = z.string().max(1_048_576);
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** A base64 body must be base64, so decodeBody never fails on a message that passed its schema. */
function bodyIsReadable(message: { body: string; bodyEncoding: BodyEncoding }): boolean {
  return message.bodyEncoding !== 'base64' || BASE64.test(message.body);
}
const UNREADABLE_BODY = { path: ['body'], message: 'bodyEncoding is base64 but body is not base64' };

/** Where a telemetry message came from on the device. */
export const TelemetrySource = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('module'), module: ModuleName, output: EndpointName }),
  z.object({ kind: z.literal('child'), childId: DeviceId }),
  z.object({ kind: z.literal('agent') }),
]);
export type TelemetrySource = z.infer<typeof TelemetrySource>;

/**
 * Device → cloud upstream message, written by the durable forwarder. Cloud ingest is idempotent on (deviceId, seq):
 * seq is the device's monotonic upstream sequence, so a retry after any outage is recognised (JetStream's
 * duplicate window alone covers only two minutes).
 */
export const TelemetryV1 = defineMessage(
  'telemetry',
  '1.0',
  z
    .object({
      /** Unique per message; published as Nats-Msg-Id (see telemetryMessageId). */
      id: z.string().regex(/^[\x21-\x7e]{1,256}$/, 'must be 1-256 visible ASCII characters'),
      deviceId: DeviceId,
      seq: z.number().int().nonnegative(),
      source: TelemetrySource,
      appProperties: AppProperties,
      systemProperties: SystemProperties,
      body: MessageBody,
      bodyEncoding: BodyEncoding,
      /** When the agent accepted the message into the device's upstream store. */
      enqueuedAt: Timestamp,
    })
    .refine(bodyIsReadable, UNREADABLE_BODY),
);

/** The id a telemetry message is published and de-duplicated under: the (deviceId, seq) ingest key. */
export function telemetryMessageId(deviceId: string, seq: number): string {
  checkToken(DeviceId, deviceId, 'deviceId');
  if (!Number.isSafeInteger(seq) || seq < 0) {
    throw new OutpostError('VALIDATION_FAILED', 'Invalid telemetry seq', [
      { path: 'seq', message: 'must be a non-negative integer' },
    ]);
  }
  return `${deviceId}:${seq}`;
}

/** Module ↔ agent on the device hub: a module output, or what the router delivers to a module input. */
export const ModuleMessageV1 = defineMessage(
  'module.message',
  '1.0',
  z
    .object({
      appProperties: AppProperties,
      systemProperties: SystemProperties,
      body: MessageBody,
      bodyEncoding: BodyEncoding,
    })
    .refine(bodyIsReadable, UNREADABLE_BODY),
);

const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

/** Bytes → `{ body, bodyEncoding }`: text when the bytes are valid UTF-8, base64 otherwise. */
export function encodeBody(bytes: Uint8Array): { body: string; bodyEncoding: BodyEncoding } {
  try {
    return { body: utf8Decoder.decode(bytes), bodyEncoding: 'utf8' };
  } catch {
    let binary = '';
    for (const byte of bytes) binary += String.fromCharCode(byte);
    return { body: btoa(binary), bodyEncoding: 'base64' };
  }
}

/** `{ body, bodyEncoding }` (from a message that passed its schema) → the original bytes. */
export function decodeBody(message: { body: string; bodyEncoding: BodyEncoding }): Uint8Array {
  if (message.bodyEncoding === 'utf8') return new TextEncoder().encode(message.body);
  const binary = atob(message.body);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

// --- direct methods -------------------------------------------------------------------------------------------------

/** Method timeouts, as Azure allows: 5 s to 300 s. */
export const METHOD_TIMEOUT_MIN_MS = 5_000;
export const METHOD_TIMEOUT_MAX_MS = 300_000;

/**
 * Cloud → device request on `…modules.<module>.methods.<name>`; the module and method are in the subject. The agent
 * gives the module `timeoutMs` to answer, and answers TIMEOUT itself when it does not.
 */
export const MethodRequestV1 = defineMessage(
  'method.request',
  '1.0',
  z.object({
    payload: z.json().default(null),
    timeoutMs: z.number().int().min(METHOD_TIMEOUT_MIN_MS).max(METHOD_TIMEOUT_MAX_MS),
  }),
);

/**
 * The module's answer: its own status code and payload (as Azure direct methods). Failures of the call itself (no such
 * module or method, module not running, timeout) are error replies instead: NOT_FOUND, UNAVAILABLE, TIMEOUT.
 */
export const MethodReplyV1 = defineMessage(
  'method.reply',
  '1.0',
  z.object({
    status: z.number().int().min(100).max(599),
    payload: z.json().default(null),
  }),
);

// --- agent methods --------------------------------------------------------------------------------------------------

/**
 * Methods the agent itself answers on `…agent.methods.<name>` (Azure's $edgeAgent methods), with the MethodRequest /
 * MethodReply envelopes; each payload below is the `payload` of those envelopes.
 */
export const AGENT_METHODS = ['ping', 'restartModule', 'getModuleLogs'] as const;
export const AgentMethodName = z.enum(AGENT_METHODS);
export type AgentMethodName = z.infer<typeof AgentMethodName>;

export const PingResult = z.object({
  agentVersion: z.string(),
  bootId: BootId,
  uptimeSecs: z.number().nonnegative(),
});
export type PingResult = z.infer<typeof PingResult>;

export const RestartModulePayload = z.object({ module: ModuleName });
export type RestartModulePayload = z.infer<typeof RestartModulePayload>;

export const GetModuleLogsPayload = z.object({
  module: ModuleName,
  tail: z.number().int().min(1).max(10_000).optional(),
  since: Timestamp.optional(),
});
export type GetModuleLogsPayload = z.infer<typeof GetModuleLogsPayload>;

// --- logs -----------------------------------------------------------------------------------------------------------

/**
 * Cloud → device: send a module's logs as chunks on `…logs.chunk.<streamId>` (the cloud subscribes there before
 * asking). Filters as Azure's GetModuleLogs: since/until, the last `tail` lines, lines containing `contains`.
 */
export const LogsRequestV1 = defineMessage(
  'logs.request',
  '1.0',
  z.object({
    streamId: SubjectToken,
    module: ModuleName,
    since: Timestamp.optional(),
    until: Timestamp.optional(),
    tail: z.number().int().min(1).max(10_000).optional(),
    contains: z.string().min(1).max(256).optional(),
  }),
);

export const LogLine = z.object({
  /** When the runtime captured the line; null when it did not record a time. */
  at: Timestamp.nullable(),
  stream: z.enum(['stdout', 'stderr']),
  text: z.string().max(16_384),
});
export type LogLine = z.infer<typeof LogLine>;

/** The reply payload of the getModuleLogs agent method: the lines, oldest first. */
export const GetModuleLogsResult = z.object({ module: ModuleName, lines: z.array(LogLine).max(10_000) });
export type GetModuleLogsResult = z.infer<typeof GetModuleLogsResult>;

/**
 * Device → cloud: one chunk of a logs stream. The first is sent at once (possibly empty), so the cloud knows the device
 * is serving the request; `seq` counts from 0 so a lost chunk is noticed; the last has `final: true`, with `error` when
 * the request failed (NOT_FOUND for an unknown module).
 */
export const LogsChunkV1 = defineMessage(
  'logs.chunk',
  '1.0',
  z.object({
    streamId: SubjectToken,
    seq: z.number().int().nonnegative(),
    lines: z.array(LogLine).max(1_000),
    final: z.boolean(),
    error: PeerErrorBody.optional(),
  }),
);

// --- enrolment ------------------------------------------------------------------------------------------------------

/**
 * Agent → cloud on `outpost.enroll`: the one-time token an operator got when creating the device, and the public half
 * of an NKey the agent generated. The seed never leaves the device, so the reply is useless to anyone else.
 */
export const EnrollRequestV1 = defineMessage(
  'enroll.request',
  '1.0',
  z.object({
    deviceId: DeviceId,
    token: z.string().min(16).max(512),
    /** An NKey user public key: "U" and 55 base32 characters. */
    publicKey: z.string().regex(/^U[A-Z2-7]{55}$/, 'must be an NKey user public key'),
  }),
);

/**
 * A deployment-signing public key the device trusts, as the cloud's SigningService.trustedKeys() gives it and
 * `@outpost/manifest`'s verifyDeployment takes it: the raw 32-byte ed25519 key in unpadded base64url (43 characters)
 * and its key id (docs/adr/0008-signed-deployments.md).
 */
export const TrustedSigningKey = z.object({
  keyId: z.string().min(1).max(128),
  publicKey: z.string().min(1).max(4_096),
});

/**
 * The user JWT for the agent's key, allowed only the device's own subjects and its inbox prefix, with what the agent
 * pins and trusts from now on. `jwt`, `expiresAt` and `caPem` are absent when the cloud NATS runs without identity
 * (plain development NATS): the device then connects without credentials.
 */
export const EnrollReplyV1 = defineMessage(
  'enroll.reply',
  '1.0',
  z.object({
    deviceId: DeviceId,
    jwt: z.string().min(1).max(16_384).optional(),
    /** When the JWT expires; the agent renews it before (`credential.renew`). */
    expiresAt: z.iso.datetime().optional(),
    /** The CA certificate the agent pins for every later connection. */
    caPem: z.string().min(1).max(65_536).optional(),
    /** Deployment-signing public keys: the agent applies only deployments that verify against one of them. */
    trustedKeys: z.array(TrustedSigningKey).max(64).optional(),
    /** The cloud NATS URLs, as the cloud knows them (the agent keeps the URL it enrolled through first). */
    natsUrls: z.array(z.string().min(1).max(512)).max(16).optional(),
  }),
);

/**
 * Agent → cloud on `outpost.dev.<deviceId>.credential.renew`, over its own (still valid) credential: a new JWT for the
 * same public key. The cloud refuses a key other than the one enrolled, and every key of a revoked device.
 */
export const CredentialRenewRequestV1 = defineMessage(
  'credential.renew',
  '1.0',
  z.object({
    publicKey: z.string().regex(/^U[A-Z2-7]{55}$/, 'must be an NKey user public key'),
  }),
);

export const CredentialRenewedV1 = defineMessage(
  'credential.renewed',
  '1.0',
  z.object({
    jwt: z.string().min(1).max(16_384),
    expiresAt: z.iso.datetime(),
  }),
);
