import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import {
  type CreatedEnrollmentGroup,
  type CreateEnrollmentGroupRequest,
  type CredentialRenewedV1,
  type DeviceRevocation,
  DeviceTags,
  type EnrollmentToken,
  type EnrollReplyV1,
  type EnrollRequestV1,
  encodeEnrollmentToken,
  type MessageData,
  OutpostError,
} from '@outpost/protocol';
import { AuditService } from '../audit/audit.service.js';
import { APP_CONFIG, type AppConfig } from '../config/config.js';
import type { EnrollmentGroupRow } from '../database/schema.js';
import { LOGGER, type Logger } from '../logging/logger.js';
import { NatsIdentityService } from '../nats-identity/nats-identity.service.js';
import { RateLimitService } from '../rate-limit/rate-limit.service.js';
import { SigningService } from '../signing/signing.service.js';
import { EnrollmentRepository, type EnrollOutcome } from './enrollment.repository.js';

const hashToken = (secret: string): string => createHash('sha256').update(secret).digest('hex');

/** `{deviceId}` in a tag template value becomes the enrolling device's id. */
export function applyTagTemplate(template: Record<string, string>, deviceId: string): Record<string, string> {
  return Object.fromEntries(
    Object.entries(template).map(([key, value]) => [key, value.replaceAll('{deviceId}', deviceId)]),
  );
}

function unauthorized(message: string, detail: string): OutpostError {
  return new OutpostError('UNAUTHORIZED', message, [{ path: 'token', message: detail }]);
}

/**
 * Enrolment (docs/adr/0009-enrolment.md): one-time device tokens and reusable group tokens (stored hashed), their
 * exchange for a device JWT over `outpost.enroll`, renewal over the device's own credential, and revocation. Token
 * strings, seeds and JWTs are never logged.
 */
@Injectable()
export class EnrollmentService {
  private readonly log: Logger;

  constructor(
    private readonly repository: EnrollmentRepository,
    private readonly identity: NatsIdentityService,
    private readonly signing: SigningService,
    private readonly rateLimits: RateLimitService,
    private readonly audit: AuditService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(LOGGER) logger: Logger,
  ) {
    this.log = logger.child({ component: 'enrollment' });
  }

  /** A new one-time token for a device just created. */
  async issueDeviceToken(deviceId: string): Promise<EnrollmentToken> {
    const ttl = this.config.enrollment.tokenTtlSeconds;
    const secret = randomBytes(32).toString('base64url');
    const expiresAt = new Date(Date.now() + ttl * 1000);
    await this.repository.insertDeviceToken({ tokenHash: hashToken(secret), deviceId, expiresAt });
    return { token: await this.tokenString(secret, { deviceId }, ttl), expiresAt: expiresAt.toISOString() };
  }

  async createGroup(request: CreateEnrollmentGroupRequest): Promise<CreatedEnrollmentGroup> {
    const tags = request.tags ?? {};
    // The template must give valid tags for any id a device may have (ids are at most 128 characters).
    const probe = DeviceTags.safeParse(applyTagTemplate(tags, 'x'.repeat(128)));
    if (!probe.success) {
      throw new OutpostError('VALIDATION_FAILED', 'tags: a tag value would be too long once {deviceId} is filled in', [
        { path: 'tags', message: 'values must stay within 256 characters with a 128-character device id' },
      ]);
    }
    const secret = randomBytes(32).toString('base64url');
    const expiresAt = new Date(Date.now() + request.expiresInSeconds * 1000);
    const row = await this.repository.insertGroup({
      id: randomUUID(),
      name: request.name,
      tokenHash: hashToken(secret),
      tags,
      idPrefix: request.idPrefix ?? null,
      expiresAt,
    });
    this.audit.note({ targetId: row.id, details: { name: row.name, tags, idPrefix: row.idPrefix } });
    return {
      ...this.toGroup(row),
      enrollment: {
        token: await this.tokenString(secret, { group: true }, request.expiresInSeconds),
        expiresAt: expiresAt.toISOString(),
      },
    };
  }

  /** `outpost.enroll`: token + public key → device JWT, CA, trusted keys. Throws OutpostError with a clear reason. */
  async enroll(request: MessageData<typeof EnrollRequestV1>): Promise<MessageData<typeof EnrollReplyV1>> {
    const { deviceId, publicKey } = request;
    const window = this.config.enrollment.rateWindowSeconds;
    const perDevice = await this.rateLimits.consume(
      `enroll:device:${deviceId}`,
      this.config.enrollment.deviceRateLimit,
      window,
    );
    if (!perDevice.allowed) {
      this.log.warn({ code: 'ENROLL_RATE_LIMITED', deviceId, scope: 'device' }, 'enrolment refused: too many attempts');
      throw this.rateLimits.refusal(perDevice, `Too many enrolment attempts for device ${deviceId}`);
    }
    const tokenHash = hashToken(request.token);
    const token = await this.repository.findToken(tokenHash);
    const group = token ? null : await this.repository.findGroup(tokenHash);
    if (!token && !group)
      return this.refuse(
        deviceId,
        'ENROLL_TOKEN_UNKNOWN',
        unauthorized('Enrolment token not recognised', 'unknown token'),
      );
    const perToken = await this.rateLimits.consume(
      `enroll:token:${tokenHash.slice(0, 32)}`,
      group ? this.config.enrollment.groupRateLimit : this.config.enrollment.deviceRateLimit,
      window,
    );
    if (!perToken.allowed) {
      this.log.warn(
        { code: 'ENROLL_RATE_LIMITED', deviceId, groupId: group?.id, scope: 'token' },
        'enrolment refused: too many attempts',
      );
      throw this.rateLimits.refusal(
        perToken,
        group ? `Too many enrolments with group token ${group.name}` : 'Too many attempts with this enrolment token',
      );
    }

    const now = Date.now();
    if (token) {
      if (token.deviceId !== deviceId) {
        return this.refuse(
          deviceId,
          'ENROLL_TOKEN_WRONG_DEVICE',
          unauthorized(`Enrolment token is for device ${token.deviceId}, not ${deviceId}`, 'issued for another device'),
        );
      }
      if (token.usedAt) {
        return this.refuse(
          deviceId,
          'ENROLL_TOKEN_USED',
          unauthorized(
            `Enrolment token already used (at ${token.usedAt.toISOString()}): each device token enrols once`,
            'already used',
          ),
        );
      }
      if (token.expiresAt.getTime() <= now) {
        return this.refuse(
          deviceId,
          'ENROLL_TOKEN_EXPIRED',
          unauthorized(`Enrolment token expired at ${token.expiresAt.toISOString()}`, 'expired'),
        );
      }
      const credential = await this.repository.findCredential(deviceId);
      if (credential?.revokedAt) return this.refuse(deviceId, 'ENROLL_DEVICE_REVOKED', this.revokedError(deviceId));
    } else if (group) {
      if (group.expiresAt.getTime() <= now) {
        return this.refuse(
          deviceId,
          'ENROLL_TOKEN_EXPIRED',
          unauthorized(`Group enrolment token ${group.name} expired at ${group.expiresAt.toISOString()}`, 'expired'),
        );
      }
      if (group.idPrefix && !deviceId.startsWith(group.idPrefix)) {
        return this.refuse(
          deviceId,
          'ENROLL_ID_NOT_ALLOWED',
          new OutpostError(
            'FORBIDDEN',
            `Group ${group.name} enrols only device ids starting with "${group.idPrefix}"`,
            [{ path: 'deviceId', message: `must start with ${group.idPrefix}` }],
          ),
        );
      }
    }

    const credential = await this.mint(deviceId, publicKey);
    const expiresAt = credential?.expiresAt ?? new Date(now + this.config.enrollment.deviceCredentialTtlSeconds * 1000);
    const outcome = token
      ? await this.repository.enrollWithToken(tokenHash, deviceId, publicKey, expiresAt)
      : await this.repository.enrollWithGroup(
          group as EnrollmentGroupRow,
          { id: deviceId, tags: applyTagTemplate((group as EnrollmentGroupRow).tags, deviceId) },
          publicKey,
          expiresAt,
        );
    if (outcome !== 'enrolled')
      return this.refuse(
        deviceId,
        `ENROLL_${outcome.toUpperCase().replace('-', '_')}`,
        this.outcomeError(outcome, deviceId),
      );

    await this.audit.record({
      actor: { kind: 'device', id: deviceId, name: deviceId },
      action: 'device.enroll',
      target: { type: 'device', id: deviceId },
      details: { publicKey, ...(group ? { groupId: group.id, group: group.name } : {}) },
    });
    this.log.info({ deviceId, publicKey, groupId: group?.id, expiresAt: expiresAt.toISOString() }, 'device enrolled');
    const caPem = this.identity.caCertificate();
    return {
      deviceId,
      ...(credential ? { jwt: credential.jwt, expiresAt: credential.expiresAt.toISOString() } : {}),
      ...(caPem ? { caPem } : {}),
      trustedKeys: await this.signing.trustedKeys(),
      natsUrls: this.config.natsUrl.split(','),
    };
  }

  /** `credential.renew`: a new JWT for the device's enrolled key; never for another key or a revoked device. */
  async renew(deviceId: string, publicKey: string): Promise<MessageData<typeof CredentialRenewedV1>> {
    const current = await this.repository.findCredential(deviceId);
    if (current?.revokedAt) return this.refuse(deviceId, 'RENEW_DEVICE_REVOKED', this.revokedError(deviceId));
    if (!current || current.publicKey !== publicKey) {
      return this.refuse(
        deviceId,
        'RENEW_KEY_UNKNOWN',
        new OutpostError('FORBIDDEN', `Key ${publicKey} is not the enrolled key of device ${deviceId}`, [
          { path: 'publicKey', message: 'not the enrolled key' },
        ]),
      );
    }
    const credential = await this.mint(deviceId, publicKey);
    if (!credential) throw new OutpostError('UNAVAILABLE', 'NATS identity is not configured: set OUTPOST_IDENTITY_DIR');
    // Checked again in the same statement that records it, so a revocation racing this renewal wins.
    if (!(await this.repository.renew(deviceId, publicKey, credential.expiresAt))) {
      return this.refuse(deviceId, 'RENEW_DEVICE_REVOKED', this.revokedError(deviceId));
    }
    this.log.info({ deviceId, publicKey, expiresAt: credential.expiresAt.toISOString() }, 'device credential renewed');
    return { jwt: credential.jwt, expiresAt: credential.expiresAt.toISOString() };
  }

  /** Revokes the device: registry first (no renewal or re-enrolment from now on), then its key in NATS. */
  async revoke(deviceId: string): Promise<DeviceRevocation> {
    const { publicKey, revokedAt } = await this.repository.revoke(deviceId);
    const revokedKeys = publicKey ? [publicKey] : [];
    if (revokedKeys.length > 0 && this.identity.enabled) await this.identity.revoke(revokedKeys);
    this.audit.note({ targetId: deviceId, details: { revokedKeys } });
    this.log.info({ deviceId, revokedKeys }, 'device revoked');
    return { deviceId, revokedAt: revokedAt.toISOString(), revokedKeys };
  }

  private async mint(deviceId: string, publicKey: string) {
    if (!this.identity.enabled) return null;
    return this.identity.mintDeviceCredential(deviceId, publicKey, {
      expiresInSecs: this.config.enrollment.deviceCredentialTtlSeconds,
    });
  }

  private async tokenString(
    secret: string,
    target: { deviceId: string } | { group: true },
    ttlSeconds: number,
  ): Promise<string> {
    const caPem = this.identity.caCertificate();
    const creds = this.identity.enabled ? await this.identity.mintEnrollmentCredential(ttlSeconds) : undefined;
    return encodeEnrollmentToken({ v: 1, secret, ...target, ...(caPem ? { caPem } : {}), ...(creds ? { creds } : {}) });
  }

  private refuse(deviceId: string, code: string, error: OutpostError): never {
    this.log.warn({ code, deviceId, reason: error.message }, 'enrolment refused');
    throw error;
  }

  private revokedError(deviceId: string): OutpostError {
    return new OutpostError('FORBIDDEN', `Device ${deviceId} is revoked`, [{ path: 'deviceId', message: 'revoked' }]);
  }

  private outcomeError(outcome: Exclude<EnrollOutcome, 'enrolled'>, deviceId: string): OutpostError {
    switch (outcome) {
      case 'token-used':
        return unauthorized('Enrolment token already used: each device token enrols once', 'already used');
      case 'revoked':
        return this.revokedError(deviceId);
      case 'key-taken':
        return new OutpostError('CONFLICT', 'This public key is already enrolled: generate a new key', [
          { path: 'publicKey', message: 'already enrolled' },
        ]);
      case 'device-exists':
        return new OutpostError(
          'CONFLICT',
          `Device ${deviceId} already exists: a group token only creates new devices`,
          [{ path: 'deviceId', message: 'already registered' }],
        );
    }
  }

  private toGroup(row: EnrollmentGroupRow) {
    return {
      id: row.id,
      name: row.name,
      tags: row.tags,
      idPrefix: row.idPrefix,
      expiresAt: row.expiresAt.toISOString(),
      createdAt: row.createdAt.toISOString(),
    };
  }
}
