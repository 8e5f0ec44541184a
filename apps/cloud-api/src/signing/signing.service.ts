import type { KeyObject } from 'node:crypto';
import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import {
  DeploymentSigningError,
  type DeviceDeploymentInput,
  generateSigningKey,
  type SignedDeployment,
  signDeployment,
  type TrustedKey,
} from '@outpost/manifest';
import { OutpostError, type RotatedSigningKeys, type SigningKey } from '@outpost/protocol';
import { APP_CONFIG, type AppConfig } from '../config/config.js';
import type { Transaction } from '../database/database.js';
import { LOGGER, type Logger } from '../logging/logger.js';
import { openPrivateKey, sealPrivateKey } from './key-encryption.js';
import { type PublicSigningKeyRow, SigningKeysRepository } from './signing-keys.repository.js';

export function toSigningKey(row: PublicSigningKeyRow): SigningKey {
  return {
    keyId: row.keyId,
    alg: 'ed25519',
    publicKey: row.publicKey,
    status: row.status,
    createdAt: row.createdAt.toISOString(),
    retiredAt: row.retiredAt ? row.retiredAt.toISOString() : null,
  };
}

/**
 * The cloud's deployment signing keys (docs/adr/0008-signed-deployments.md). On start it makes the first key when
 * none exists (once, whatever replicas start together) and seals unencrypted keys when an encryption key is set.
 * `sign` uses the active key; `rotate` makes a new active key and retires the old one, which stays in
 * `trustedKeys()` until removed, so deployments it signed keep verifying. Private keys never leave this service.
 */
@Injectable()
export class SigningService implements OnModuleInit {
  private readonly log: Logger;
  private readonly encryptionKey: Buffer | null;
  /** Decrypted private keys by key id, so signing a rollout does not decrypt once per device. */
  private readonly privateKeys = new Map<string, KeyObject>();

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    private readonly keys: SigningKeysRepository,
    @Inject(LOGGER) logger: Logger,
  ) {
    this.log = logger.child({ component: 'signing' });
    this.encryptionKey = config.signing.keyEncryptionKey;
  }

  async onModuleInit(): Promise<void> {
    if (!this.encryptionKey) {
      this.log.warn(
        { code: 'SIGNING_KEYS_UNENCRYPTED' },
        'OUTPOST_SIGNING_KEY_ENCRYPTION_KEY is unset: deployment signing keys are stored unencrypted (development only)',
      );
    }
    const { created, sealed } = await this.keys.withLock(async (tx) => {
      const sealedIds = await this.sealUnencrypted(tx);
      if (await this.keys.findActive(tx)) return { created: null, sealed: sealedIds };
      return { created: await this.insertNewKey(tx), sealed: sealedIds };
    });
    if (sealed.length > 0) this.log.info({ keyIds: sealed }, 'signing keys encrypted at rest');
    if (created) this.log.info({ keyId: created.keyId }, 'deployment signing key created');
    // Fail the start, not the first deployment, when the active key cannot be used (wrong or missing encryption key).
    const active = await this.activeKey();
    this.log.info({ keyId: active.keyId }, 'deployment signing key ready');
  }

  /** Signs a deployment for one device with the active key. Invalid deployments are VALIDATION_FAILED. */
  async sign(deployment: DeviceDeploymentInput): Promise<SignedDeployment> {
    return (await this.signer())(deployment);
  }

  /**
   * A synchronous signer with the active key, looked up now. Callers that sign inside a database transaction take it
   * first: a lookup inside the transaction would wait for the transaction itself on PGlite's single connection.
   */
  async signer(): Promise<(deployment: DeviceDeploymentInput) => SignedDeployment> {
    const { keyId, privateKey } = await this.activeKey();
    return (deployment) => {
      try {
        return signDeployment(deployment, { keyId, privateKey });
      } catch (err) {
        if (!(err instanceof DeploymentSigningError)) throw err;
        throw new OutpostError('VALIDATION_FAILED', 'The deployment cannot be signed', [...err.issues]);
      }
    };
  }

  /** A new active key; the previous one is retired but stays trusted until removed. */
  async rotate(): Promise<RotatedSigningKeys> {
    const { active, retired } = await this.keys.withLock(async (tx) => {
      const retiredRow = await this.keys.retireActive(tx);
      return { active: await this.insertNewKey(tx), retired: retiredRow };
    });
    this.log.info({ keyId: active.keyId, retiredKeyId: retired?.keyId ?? null }, 'deployment signing key rotated');
    return { active: toSigningKey(active), retired: retired ? toSigningKey(retired) : null };
  }

  /** The public keys devices should trust: the active key and every retired one not yet removed. */
  async trustedKeys(): Promise<TrustedKey[]> {
    const rows = await this.keys.listPublic();
    return rows.map((row) => ({ keyId: row.keyId, publicKey: row.publicKey }));
  }

  /** Every key, public parts only, the active one first. */
  async list(): Promise<SigningKey[]> {
    return (await this.keys.listPublic()).map(toSigningKey);
  }

  /** Removes a retired key: deployments it signed stop verifying on devices once they drop it too. */
  async remove(keyId: string): Promise<SigningKey> {
    const removed = await this.keys.deleteRetired(keyId);
    if (removed) {
      this.privateKeys.delete(keyId);
      this.log.info({ keyId }, 'deployment signing key removed');
      return toSigningKey(removed);
    }
    const existing = await this.keys.findPublic(keyId);
    if (existing) {
      throw new OutpostError('CONFLICT', `Signing key ${keyId} is active; rotate before removing it`, [
        { path: 'keyId', message: 'is the active key' },
      ]);
    }
    throw new OutpostError('NOT_FOUND', `Signing key ${keyId} not found`, [{ path: 'keyId', message: 'no such key' }]);
  }

  private async activeKey(): Promise<{ keyId: string; privateKey: KeyObject }> {
    const row = await this.keys.findActive();
    if (!row) throw new OutpostError('UNAVAILABLE', 'No active deployment signing key');
    let privateKey = this.privateKeys.get(row.keyId);
    if (!privateKey) {
      privateKey = openPrivateKey(row.keyId, row, this.encryptionKey);
      this.privateKeys.set(row.keyId, privateKey);
    }
    return { keyId: row.keyId, privateKey };
  }

  private async insertNewKey(tx: Transaction): Promise<PublicSigningKeyRow> {
    const key = generateSigningKey();
    return this.keys.insertActive(
      { keyId: key.keyId, publicKey: key.publicKey, ...sealPrivateKey(key.keyId, key.privateKey, this.encryptionKey) },
      tx,
    );
  }

  /** With an encryption key configured, seals keys stored before it was; returns their ids. */
  private async sealUnencrypted(tx: Transaction): Promise<string[]> {
    if (!this.encryptionKey) return [];
    const rows = await this.keys.findUnencrypted(tx);
    for (const row of rows) {
      await this.keys.replacePrivateKey(row.keyId, sealPrivateKey(row.keyId, row.privateKey, this.encryptionKey), tx);
    }
    return rows.map((row) => row.keyId);
  }
}
