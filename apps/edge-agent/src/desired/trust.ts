import { createPrivateKey } from 'node:crypto';
import { join } from 'node:path';
import { generateSigningKey, type SigningKeyPair, signingKeyId, signingPublicKey, TrustedKey } from '@outpost/manifest';
import { z } from 'zod';
import { ENROLLMENT_FILES } from '../commands/enroll.js';
import { errorMessage } from '../errors.js';
import { createFileExclusive, readIfExists } from './files.js';

/** The device-local signing key (PKCS #8 PEM, 0600): `outpost-agent keys` makes it, local deployments are signed by it. */
export const LOCAL_SIGNING_KEY_FILE = 'local-signing-key.pem';

/** A trust problem the agent logs (and the CLI prints) with its code. */
export class TrustError extends Error {
  readonly code: 'TRUSTED_KEYS_INVALID' | 'LOCAL_KEY_INVALID';
  constructor(code: TrustError['code'], message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TrustError';
    this.code = code;
  }
}

export function trustedKeysPath(stateDir: string): string {
  return join(stateDir, ENROLLMENT_FILES.trustedKeys);
}

export function localSigningKeyPath(stateDir: string): string {
  return join(stateDir, LOCAL_SIGNING_KEY_FILE);
}

/**
 * The cloud's deployment-signing keys this device trusts, from `<stateDir>/trusted-keys.json` (written at enrolment).
 * A device never enrolled has none: every cloud deployment is then refused as UNKNOWN_KEY. A file that is not a list
 * of valid keys throws TrustError naming the file and the entry.
 */
export async function loadTrustedKeys(stateDir: string): Promise<TrustedKey[]> {
  const path = trustedKeysPath(stateDir);
  const text = await readIfExists(path);
  if (text === null) return [];
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new TrustError('TRUSTED_KEYS_INVALID', `${path}: not valid JSON: ${errorMessage(err)}`, { cause: err });
  }
  const parsed = z.array(TrustedKey).safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.map(String).join('.') ?? '';
    throw new TrustError(
      'TRUSTED_KEYS_INVALID',
      `${path}: ${where ? `[${where}]: ` : ''}${issue?.message ?? 'not a list of trusted keys'}`,
    );
  }
  return parsed.data;
}

/** The key pair read from a PEM; throws TrustError (never quoting the file: it is a secret). */
function keyPairFromPem(path: string, pem: string): SigningKeyPair {
  try {
    const publicKey = signingPublicKey(createPrivateKey(pem));
    return { keyId: signingKeyId(publicKey), publicKey, privateKey: pem };
  } catch (err) {
    throw new TrustError(
      'LOCAL_KEY_INVALID',
      `${path}: not an ed25519 private key in PKCS #8 PEM (${errorMessage(err)}); remove it to make a new one`,
      { cause: err },
    );
  }
}

/** The device-local key pair, or null when `outpost-agent keys` has not made one yet. */
export async function readLocalSigningKey(stateDir: string): Promise<SigningKeyPair | null> {
  const path = localSigningKeyPath(stateDir);
  const pem = await readIfExists(path);
  return pem === null ? null : keyPairFromPem(path, pem);
}

/** The device-local key pair, generated (ed25519, 0600, written once and atomically) on first use. */
export async function ensureLocalSigningKey(stateDir: string): Promise<{ key: SigningKeyPair; created: boolean }> {
  const existing = await readLocalSigningKey(stateDir);
  if (existing) return { key: existing, created: false };
  const generated = generateSigningKey();
  const created = await createFileExclusive(localSigningKeyPath(stateDir), generated.privateKey, 0o600);
  if (created) return { key: generated, created: true };
  // Another `keys` run made one at the same moment: use that one, so every caller prints the same key.
  const theirs = await readLocalSigningKey(stateDir);
  if (!theirs) throw new TrustError('LOCAL_KEY_INVALID', `${localSigningKeyPath(stateDir)} vanished while being read`);
  return { key: theirs, created: false };
}

/** The public half as a trusted key entry (what local deployments are verified against). */
export function asTrustedKey(key: SigningKeyPair): TrustedKey {
  return { keyId: key.keyId, publicKey: key.publicKey };
}
