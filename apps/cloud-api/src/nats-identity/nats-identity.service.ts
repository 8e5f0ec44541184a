import { readFileSync } from 'node:fs';
import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import {
  type AccountInfo,
  type CloudAuthority,
  connectSystemUser,
  createUserKey,
  DEFAULT_DEVICE_JWT_LIFETIME_SECS,
  decodeUserJwt,
  enrollingUserPermissions,
  fetchAccountInfo,
  IdentityError,
  loadCloudAuthority,
  mintDeviceJwt,
  mintUserJwt,
  revokeUsers,
} from '@outpost/nats-identity';
import { OutpostError } from '@outpost/protocol';
import type { NatsConnection } from 'nats';
import { APP_CONFIG, type AppConfig } from '../config/config.js';
import { LOGGER, type Logger } from '../logging/logger.js';
import { NatsIdentityRepository } from './nats-identity.repository.js';

export interface DeviceCredential {
  /** The user JWT (a secret only together with the device's seed, which never leaves the device). */
  readonly jwt: string;
  readonly expiresAt: Date;
}

/**
 * The cloud API's NATS authority: mints device user JWTs (account signing key) and revokes users by pushing the
 * account JWT, re-signed with the full revocation list, through the system account. Configured by
 * OUTPOST_IDENTITY_DIR; without it (plain NATS) every method throws UNAVAILABLE and `enabled` is false.
 */
@Injectable()
export class NatsIdentityService implements OnModuleDestroy {
  private readonly authority: CloudAuthority | null;
  private readonly caPem: string | null;
  private readonly log: Logger;
  private system: Promise<NatsConnection> | null = null;
  /** Account updates from this replica, one at a time (the database lock covers the other replicas). */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(LOGGER) logger: Logger,
    private readonly repository: NatsIdentityRepository,
  ) {
    this.log = logger.child({ component: 'nats-identity' });
    const { identityDir, caFile } = config.natsSecurity;
    this.authority = identityDir ? loadCloudAuthority(identityDir) : null;
    this.caPem = caFile ? readFileSync(caFile, 'utf8') : null;
    if (this.authority) {
      this.log.info(
        { account: this.authority.manifest.account.publicKey, signingKey: this.authority.manifest.account.signingKey },
        'NATS identity loaded: minting and revoking device credentials',
      );
    }
  }

  /** True when OUTPOST_IDENTITY_DIR is set: device credentials can be minted and revoked. */
  get enabled(): boolean {
    return this.authority !== null;
  }

  /** The CA certificate (PEM) devices pin, as given in NATS_CA; null in plain mode. Hand it out at enrolment. */
  caCertificate(): string | null {
    return this.caPem;
  }

  /** The Outpost account's public key (what device creds are issued under). */
  accountPublicKey(): string {
    return this.requireAuthority().manifest.account.publicKey;
  }

  /**
   * A user JWT for `deviceId` and the public NKey the device generated: only the device's own subjects and inbox,
   * expiring after `expiresInSecs` (default 30 days). Never call this for a key that was revoked.
   */
  async mintDeviceCredential(
    deviceId: string,
    publicKey: string,
    options: { expiresInSecs?: number } = {},
  ): Promise<DeviceCredential> {
    const authority = this.requireAuthority();
    try {
      const jwt = await mintDeviceJwt({
        issuer: authority.issuer,
        deviceId,
        publicKey,
        expiresInSecs: options.expiresInSecs ?? DEFAULT_DEVICE_JWT_LIFETIME_SECS,
      });
      const exp = decodeUserJwt(jwt).exp ?? 0;
      this.log.info({ deviceId, publicKey, expiresAt: new Date(exp * 1000).toISOString() }, 'device credential issued');
      return { jwt, expiresAt: new Date(exp * 1000) };
    } catch (err) {
      if (err instanceof IdentityError) {
        throw new OutpostError('VALIDATION_FAILED', err.message, [{ path: 'publicKey', message: err.message }]);
      }
      throw err;
    }
  }

  /**
   * A fresh enrolment credential (seed and JWT) for one enrolment token: it may only request `outpost.enroll` and read
   * `_INBOX_enroll.>`, and expires with the token. It travels inside the token and is never stored or logged.
   */
  async mintEnrollmentCredential(expiresInSecs: number): Promise<{ jwt: string; seed: string }> {
    const authority = this.requireAuthority();
    const key = createUserKey();
    const jwt = await mintUserJwt({
      issuer: authority.issuer,
      publicKey: key.publicKey,
      name: 'enroll',
      permissions: enrollingUserPermissions(),
      expiresInSecs,
    });
    return { jwt, seed: key.seed };
  }

  /**
   * Revokes users (device public keys): their live connections close and their JWTs are refused from now on, across
   * server restarts. Resolves once the server reports the new revocation list in force.
   */
  async revoke(
    publicKeys: readonly string[],
  ): Promise<{ revokedAt: Date; revocations: Readonly<Record<string, number>> }> {
    const authority = this.requireAuthority();
    return this.serialized(() =>
      this.repository.withAccountUpdateLock(async () => {
        const result = await revokeUsers(await this.systemConnection(), {
          accountPublicKey: authority.manifest.account.publicKey,
          operatorSigningKey: authority.operatorSigningKey,
          publicKeys,
        }).catch((err: unknown) => {
          throw this.unavailable('revocation failed', err);
        });
        const revokedAt = Math.max(...publicKeys.map((key) => result.revocations[key] ?? 0));
        this.log.info({ publicKeys, revokedAt }, 'NATS users revoked');
        return { revokedAt: new Date(revokedAt * 1000), revocations: result.revocations };
      }),
    );
  }

  /** The Outpost account as the server has it: revocations, JetStream, connections. */
  async accountInfo(): Promise<AccountInfo> {
    const authority = this.requireAuthority();
    return fetchAccountInfo(await this.systemConnection(), authority.manifest.account.publicKey).catch(
      (err: unknown) => {
        throw this.unavailable('account info failed', err);
      },
    );
  }

  async onModuleDestroy(): Promise<void> {
    const system = this.system;
    this.system = null;
    if (!system) return;
    const nc = await system.catch(() => null);
    if (nc && !nc.isClosed()) await nc.close();
  }

  private requireAuthority(): CloudAuthority {
    if (!this.authority) {
      throw new OutpostError('UNAVAILABLE', 'NATS identity is not configured: set OUTPOST_IDENTITY_DIR');
    }
    return this.authority;
  }

  private serialized<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work, work);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** One system-user connection, made on first use and again after it closed. */
  private systemConnection(): Promise<NatsConnection> {
    const authority = this.requireAuthority();
    if (!this.system) {
      const attempt = connectSystemUser({
        servers: this.config.natsUrl,
        creds: authority.systemUserCreds,
        caFile: this.config.natsSecurity.caFile ?? undefined,
        name: 'outpost-cloud-api-account-updates',
      });
      this.system = attempt;
      attempt.then(
        (nc) =>
          void nc.closed().then(() => {
            if (this.system === attempt) this.system = null;
          }),
        () => {
          if (this.system === attempt) this.system = null;
        },
      );
    }
    return this.system.catch((err: unknown) => {
      throw this.unavailable('cannot connect as the system user', err);
    });
  }

  private unavailable(what: string, err: unknown): OutpostError {
    if (err instanceof OutpostError) return err;
    const reason = err instanceof Error ? err.message : String(err);
    this.log.error({ code: 'NATS_ACCOUNT_UPDATE_FAILED', err: reason }, what);
    return new OutpostError('UNAVAILABLE', `NATS account update: ${what}: ${reason}`, [], { cause: err });
  }
}
