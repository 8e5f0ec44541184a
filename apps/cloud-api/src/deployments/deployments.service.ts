import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import {
  AzureImportError,
  fromAzureManifest,
  type Manifest,
  type ManifestIssue,
  redactSecrets,
  type SignedDeployment,
  validateManifest,
} from '@outpost/manifest';
import {
  DesiredChangedV1,
  type DesiredDeployment,
  type DesiredGetReplyV1,
  type DeviceDeploymentState,
  type DeviceReportedState,
  type ErrorDetail,
  encodeMessage,
  type MessageData,
  type MessageInput,
  OutpostError,
  type PutDeploymentQuery,
  type PutDeploymentResponse,
  type ReportedStateV1,
  subjects,
} from '@outpost/protocol';
import { AuditService } from '../audit/audit.service.js';
import type { DeviceDeploymentRow, DeviceReportedStateRow } from '../database/schema.js';
import { LOGGER, type Logger } from '../logging/logger.js';
import { NATS_CONNECTION, type NatsConnectionService } from '../nats/nats-connection.js';
import { SigningService } from '../signing/signing.service.js';
import { DeploymentsRepository } from './deployments.repository.js';

type DesiredGetReply = MessageInput<typeof DesiredGetReplyV1>;
/** A JSON object on the wire (the manifest, the signed envelope): what zod's z.json() takes. */
type WireJsonObject = NonNullable<Extract<DesiredGetReply, { status: 'current' }>['manifest']>;
type ReportedState = MessageData<typeof ReportedStateV1>;

const notFound = (deviceId: string) =>
  new OutpostError('NOT_FOUND', `Device ${deviceId} not found`, [{ path: 'id', message: 'no such device' }]);

/** `manifest.modules.x` for a problem at `modules.x` of the manifest inside the `{ manifest }` body. */
function underManifest(issues: readonly ManifestIssue[]): ErrorDetail[] {
  return issues.map((issue) => ({
    path: issue.path === '' ? 'manifest' : `manifest.${issue.path}`,
    message: issue.message,
  }));
}

/** The signed envelope as stored (jsonb), read back with the type signDeployment gave it. */
function signedOf(row: DeviceDeploymentRow): SignedDeployment {
  return row.signed as unknown as SignedDeployment;
}

function toDesired(row: DeviceDeploymentRow): DesiredDeployment {
  const { deployment } = signedOf(row);
  return {
    deviceId: row.deviceId,
    version: row.version,
    id: row.id,
    createdAt: row.createdAt.toISOString(),
    manifest: redactSecrets(deployment.manifest) as unknown as DesiredDeployment['manifest'],
    signatureKeyId: row.signatureKeyId,
  };
}

export function toReportedState(row: DeviceReportedStateRow): DeviceReportedState {
  const desired = row.desired as ReportedState['desired'];
  return {
    bootId: row.bootId,
    seq: row.seq,
    reportedAt: row.reportedAt.toISOString(),
    receivedAt: row.receivedAt.toISOString(),
    desired: {
      version: desired.version,
      code: desired.code,
      description: desired.description,
      source: desired.source ?? null,
      deploymentId: desired.deploymentId ?? null,
      errors: desired.errors ?? [],
    },
    modules: row.modules as ReportedState['modules'],
  };
}

/**
 * A deployment reaches one device: validated, given the device's next version, signed, stored, and announced on the
 * device's desired.changed subject; the agent pulls it with desired.get (also on start, reconnect and periodically, so
 * a lost notification only costs latency). Devices report back what they run; the latest report is kept.
 */
@Injectable()
export class DeploymentsService {
  private readonly log: Logger;

  constructor(
    private readonly repository: DeploymentsRepository,
    private readonly signing: SigningService,
    private readonly audit: AuditService,
    @Inject(NATS_CONNECTION) private readonly nats: NatsConnectionService,
    @Inject(LOGGER) logger: Logger,
  ) {
    this.log = logger.child({ component: 'deployments' });
  }

  /** `PUT /api/v1/devices/{id}/deployment`: `body` is `{ manifest }`, or an Azure deployment with format=azure. */
  async put(deviceId: string, body: unknown, query: PutDeploymentQuery): Promise<PutDeploymentResponse> {
    if (!(await this.repository.deviceExists(deviceId))) throw notFound(deviceId);
    const { manifest, warnings } = this.manifestFrom(body, query.format);
    // The key is read before the version lock: inside it, only this transaction may touch the database.
    const sign = await this.signing.signer();
    const row = await this.repository.insertNext(deviceId, async (version) => {
      const id = `dep-${randomUUID()}`;
      const createdAt = new Date();
      const signed = sign({ id, deviceId, version, createdAt: createdAt.toISOString(), manifest });
      return {
        id,
        createdAt,
        signed: signed as unknown as Record<string, unknown>,
        signatureKeyId: signed.signature.keyId,
      };
    });
    if (!row) throw notFound(deviceId);
    this.audit.note({
      targetId: deviceId,
      details: {
        version: row.version,
        deploymentId: row.id,
        format: query.format,
        modules: Object.keys(manifest.modules ?? {}),
      },
    });
    this.log.info({ deviceId, version: row.version, deploymentId: row.id }, 'deployment stored');
    this.notify(deviceId, row);
    return { ...toDesired(row), warnings };
  }

  /** `GET /api/v1/devices/{id}/deployment` */
  async get(deviceId: string): Promise<DeviceDeploymentState> {
    if (!(await this.repository.deviceExists(deviceId))) throw notFound(deviceId);
    const [desired, reported] = await Promise.all([
      this.repository.latest(deviceId),
      this.repository.reported(deviceId),
    ]);
    return {
      deviceId,
      desired: desired ? toDesired(desired) : null,
      reported: reported ? toReportedState(reported) : null,
    };
  }

  /** The device's latest report, for GET /api/v1/devices/{id}. */
  async reported(deviceId: string): Promise<DeviceReportedState | null> {
    const row = await this.repository.reported(deviceId);
    return row ? toReportedState(row) : null;
  }

  /**
   * desired.get: `unchanged` when the device already has the current version, else the signed deployment — in
   * `signed` for 1.1 readers, and as `manifest` + `signature` (standard base64) for 1.0 readers.
   */
  async desiredFor(deviceId: string, knownVersion: number | null): Promise<DesiredGetReply> {
    if (knownVersion !== null) {
      const version = await this.repository.latestVersion(deviceId);
      if (version === knownVersion) return { status: 'unchanged', version };
    }
    const row = await this.repository.latest(deviceId);
    if (!row) return { status: 'current', version: 0, manifest: null, signature: null, signed: null };
    if (knownVersion !== null && row.version === knownVersion) return { status: 'unchanged', version: row.version };
    const signed = signedOf(row);
    return {
      status: 'current',
      version: row.version,
      manifest: signed.deployment.manifest as unknown as WireJsonObject,
      signature: {
        alg: 'ed25519',
        keyId: signed.signature.keyId,
        value: Buffer.from(signed.signature.value, 'base64url').toString('base64'),
      },
      signed: row.signed as WireJsonObject,
    };
  }

  /** A reported.state from the device: kept unless the stored report is newer (see the repository). */
  async recordReported(deviceId: string, report: ReportedState, receivedAt: Date): Promise<void> {
    const stored = await this.repository.recordReported({
      deviceId,
      bootId: report.bootId,
      seq: report.seq,
      reportedAt: new Date(report.reportedAt),
      receivedAt,
      desired: report.desired,
      modules: report.modules,
    });
    if (!stored) {
      // Debug only: a stale report is normal (reordering, replays) and must not flood the log.
      this.log.debug({ deviceId, bootId: report.bootId, seq: report.seq }, 'reported state ignored');
    }
  }

  private manifestFrom(
    body: unknown,
    format: PutDeploymentQuery['format'],
  ): { manifest: Manifest; warnings: ErrorDetail[] } {
    if (format === 'azure') {
      let imported: ReturnType<typeof fromAzureManifest>;
      try {
        imported = fromAzureManifest(body);
      } catch (err) {
        if (!(err instanceof AzureImportError)) throw err;
        throw new OutpostError('VALIDATION_FAILED', 'The Azure deployment cannot be imported', [...err.errors]);
      }
      if (imported.kind === 'layer') {
        throw new OutpostError('VALIDATION_FAILED', 'A layered Azure deployment cannot be deployed to one device', [
          {
            path: 'modulesContent',
            message: 'is a layered deployment (properties.desired.modules.<name> keys); send a full deployment',
          },
        ]);
      }
      return this.effective(imported.manifest, imported.warnings, (issues) => [...issues]);
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body) || !('manifest' in body)) {
      throw new OutpostError('VALIDATION_FAILED', 'Invalid body', [
        {
          path: 'manifest',
          message: 'is required: send { "manifest": { … } } (or ?format=azure with an Azure deployment)',
        },
      ]);
    }
    const extra = Object.keys(body).filter((key) => key !== 'manifest');
    if (extra.length > 0) {
      throw new OutpostError(
        'VALIDATION_FAILED',
        'Invalid body',
        extra.map((key) => ({ path: key, message: 'is not a field of a deployment request (only manifest)' })),
      );
    }
    return this.effective(body.manifest, [], underManifest);
  }

  /** Validates as the effective deployment the device runs: every problem, by path, in one 400. */
  private effective(
    input: unknown,
    warnings: readonly ManifestIssue[],
    paths: (issues: readonly ManifestIssue[]) => ErrorDetail[],
  ): { manifest: Manifest; warnings: ErrorDetail[] } {
    const result = validateManifest(input, { effective: true });
    if (!result.ok) throw new OutpostError('VALIDATION_FAILED', 'Invalid manifest', paths(result.errors));
    return { manifest: result.manifest, warnings: paths([...warnings, ...result.warnings]) };
  }

  private notify(deviceId: string, row: DeviceDeploymentRow): void {
    const published = this.nats.publish(
      subjects.device.desiredChanged(deviceId),
      encodeMessage(DesiredChangedV1, { version: row.version, changedAt: row.createdAt.toISOString() }),
    );
    if (!published) {
      this.log.warn(
        { code: 'DESIRED_CHANGED_NOT_PUBLISHED', deviceId, version: row.version },
        'no NATS connection; the device picks the deployment up on its next pull',
      );
    }
  }
}
