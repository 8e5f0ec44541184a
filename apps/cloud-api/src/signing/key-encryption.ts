import { createCipheriv, createDecipheriv, createPrivateKey, type KeyObject, randomBytes } from 'node:crypto';
import type { SigningKeyEncryption } from '../database/signing-keys.js';

/** A private key as the database holds it. */
export interface StoredPrivateKey {
  readonly privateKey: string;
  readonly privateKeyEncryption: SigningKeyEncryption;
}

/** Why a stored private key cannot be used; carries a code for the log line and never any key material. */
export class SigningKeyUnreadableError extends Error {
  constructor(
    readonly code: 'SIGNING_KEY_ENCRYPTED' | 'SIGNING_KEY_UNREADABLE',
    message: string,
  ) {
    super(message);
    this.name = 'SigningKeyUnreadableError';
  }
}

const FORMAT = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** Binds a sealed key to its row: a ciphertext copied onto another key id does not open. */
function additionalData(keyId: string): Buffer {
  return Buffer.from(`outpost.deployment-signing-key:${keyId}`, 'utf8');
}

/**
 * How a private key (PKCS #8 PEM) is stored: sealed with AES-256-GCM under `encryptionKey` as
 * `v1.<iv>.<ciphertext of the PKCS #8 DER + tag>` (base64url), or as the PEM itself when there is no key.
 */
export function sealPrivateKey(keyId: string, pem: string, encryptionKey: Buffer | null): StoredPrivateKey {
  if (!encryptionKey) return { privateKey: pem, privateKeyEncryption: 'none' };
  const der = createPrivateKey(pem).export({ type: 'pkcs8', format: 'der' });
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', encryptionKey, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(additionalData(keyId));
  const sealed = Buffer.concat([cipher.update(der), cipher.final(), cipher.getAuthTag()]);
  return {
    privateKey: `${FORMAT}.${iv.toString('base64url')}.${sealed.toString('base64url')}`,
    privateKeyEncryption: 'aes-256-gcm',
  };
}

/** The usable private key of a stored row; throws SigningKeyUnreadableError naming the key id and the reason. */
export function openPrivateKey(keyId: string, stored: StoredPrivateKey, encryptionKey: Buffer | null): KeyObject {
  if (stored.privateKeyEncryption === 'none') {
    try {
      return createPrivateKey(stored.privateKey);
    } catch {
      throw new SigningKeyUnreadableError('SIGNING_KEY_UNREADABLE', `signing key ${keyId} is not a readable PEM key`);
    }
  }
  if (!encryptionKey) {
    throw new SigningKeyUnreadableError(
      'SIGNING_KEY_ENCRYPTED',
      `signing key ${keyId} is encrypted at rest; set OUTPOST_SIGNING_KEY_ENCRYPTION_KEY to the key it was encrypted with`,
    );
  }
  const [format, ivText, sealedText] = stored.privateKey.split('.');
  const iv = Buffer.from(ivText ?? '', 'base64url');
  const sealed = Buffer.from(sealedText ?? '', 'base64url');
  if (format !== FORMAT || iv.length !== IV_BYTES || sealed.length <= TAG_BYTES) {
    throw new SigningKeyUnreadableError(
      'SIGNING_KEY_UNREADABLE',
      `signing key ${keyId} is not in a known sealed format`,
    );
  }
  try {
    const decipher = createDecipheriv('aes-256-gcm', encryptionKey, iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(additionalData(keyId));
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
    const der = Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - TAG_BYTES)), decipher.final()]);
    return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  } catch {
    throw new SigningKeyUnreadableError(
      'SIGNING_KEY_UNREADABLE',
      `signing key ${keyId} does not decrypt with OUTPOST_SIGNING_KEY_ENCRYPTION_KEY: the variable holds another key, or the row was altered`,
    );
  }
}
