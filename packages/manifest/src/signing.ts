/**
 * Signed deployments: the cloud signs what one device is to run, and the device runs it only when the signature
 * verifies against a key it trusts.
 *
 * What is signed is the RFC 8785 canonical JSON (UTF-8) of the whole `deployment` object — its type, deployment id,
 * target device, version, creation time and effective manifest — with ed25519. Because the target and the version
 * are inside the signed bytes, a signature cannot be replayed onto another device (WRONG_TARGET) or used to roll a
 * device back to an older deployment (STALE, given the version the device last applied). Because the bytes are
 * canonical, the signature survives any re-serialisation (Postgres jsonb, NATS, a browser) that keeps the values.
 *
 * Keys: public keys travel as the raw 32-byte ed25519 key in base64url (43 characters); private keys as PKCS #8
 * PEM. A key id is the first 16 bytes of the sha256 of the raw public key, base64url (22 characters), so an id can
 * always be recomputed from its key and the two can never disagree.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  sign as cryptoSign,
  verify as cryptoVerify,
  generateKeyPairSync,
  KeyObject,
} from 'node:crypto';
import { z } from 'zod';
import { canonicalJson, canonicalJsonBytes } from './canonical-json.js';
import { formatJsonPath, type JsonPathSegment } from './json-path.js';
import type { Manifest, ManifestInput } from './schema.js';
import { describeValue, isPlainObject, type ManifestIssue, validateManifest } from './validate.js';

/**
 * The `type` of every signed deployment this version writes and reads. It separates these signatures from anything
 * else a key might ever sign, and a future incompatible format gets a new type that older agents refuse by name.
 */
export const DEPLOYMENT_TYPE = 'outpost.deployment.v1';

/** The only signature algorithm. */
export const SIGNATURE_ALGORITHM = 'ed25519';

const BASE64URL = /^[A-Za-z0-9_-]*$/;
/** 32-byte ed25519 public key, 16-byte key id, 64-byte signature: their unpadded base64url lengths. */
const PUBLIC_KEY_CHARS = 43;
const KEY_ID_CHARS = 22;
const SIGNATURE_CHARS = 86;
const SIGNATURE_BYTES = 64;

/** Bytes for `text` when it is the canonical unpadded base64url of exactly `length` bytes, else undefined. */
function decodeBase64Url(text: string, length: number): Buffer | undefined {
  if (!BASE64URL.test(text)) return undefined;
  const bytes = Buffer.from(text, 'base64url');
  // Re-encoding rejects the spare low bits of the last character, so each byte string has exactly one spelling.
  if (bytes.length !== length || bytes.toString('base64url') !== text) return undefined;
  return bytes;
}

/** Device ids are one NATS subject token (the rule of `@outpost/protocol`'s DeviceId). */
const DeviceIdText = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/,
    'must be 1-128 letters, digits, "-" or "_", starting with a letter or digit',
  );

const DeploymentFields = {
  /** The cloud's deployment this rendering came from. */
  id: z.string().min(1, 'must not be empty').max(256, 'must be at most 256 characters'),
  /** The one device this deployment is for. */
  deviceId: DeviceIdText,
  /** Increases with every deployment the cloud issues to this device; a device never goes back to a lower one. */
  version: z
    .number({ error: 'must be a number' })
    .int('must be a whole number')
    .min(1, 'must be at least 1')
    .max(Number.MAX_SAFE_INTEGER, 'must be a safe integer'),
  createdAt: z.iso.datetime({ error: 'must be an ISO 8601 UTC time such as 2026-01-31T12:00:00.000Z' }),
};

/** The signed part's shape; the manifest inside is checked by validateManifest (as an effective deployment). */
const DeploymentShape = z.strictObject({
  type: z.literal(DEPLOYMENT_TYPE, {
    error: `must be "${DEPLOYMENT_TYPE}" (a different type needs a newer version of Outpost)`,
  }),
  ...DeploymentFields,
  manifest: z.unknown(),
});

/** What one device is told to run: the signed part of a signed deployment. */
export interface DeviceDeployment {
  readonly type: typeof DEPLOYMENT_TYPE;
  readonly id: string;
  readonly deviceId: string;
  readonly version: number;
  readonly createdAt: string;
  readonly manifest: Manifest;
}

/** What signDeployment takes: the manifest may leave defaults out, and createdAt defaults to now. */
export interface DeviceDeploymentInput {
  readonly id: string;
  readonly deviceId: string;
  readonly version: number;
  readonly createdAt?: string;
  readonly manifest: ManifestInput | Manifest;
}

export const DeploymentSignature = z
  .strictObject({
    alg: z.literal(SIGNATURE_ALGORITHM, { error: `must be "${SIGNATURE_ALGORITHM}"` }),
    keyId: z.string().min(1, 'must not be empty').max(128, 'must be at most 128 characters'),
    value: z
      .string()
      .refine(
        (value) => value.length === SIGNATURE_CHARS && decodeBase64Url(value, SIGNATURE_BYTES) !== undefined,
        `must be a ${SIGNATURE_BYTES}-byte ed25519 signature in unpadded base64url (${SIGNATURE_CHARS} characters)`,
      ),
  })
  .meta({ id: 'DeploymentSignature' });
export type DeploymentSignature = z.infer<typeof DeploymentSignature>;

/** The envelope a device receives: `{ deployment, signature }`. */
export interface SignedDeployment {
  readonly deployment: DeviceDeployment;
  readonly signature: DeploymentSignature;
}

/** The key id of a raw base64url ed25519 public key: the first 16 bytes of its sha256, base64url. */
export function signingKeyId(publicKey: string): string {
  const raw = decodeBase64Url(publicKey, 32);
  if (!raw) throw new TypeError('public key must be a raw 32-byte ed25519 key in unpadded base64url');
  return createHash('sha256').update(raw).digest().subarray(0, 16).toString('base64url');
}

/** A public key a device trusts to sign its deployments. */
export const TrustedKey = z
  .strictObject({
    keyId: z
      .string()
      .regex(new RegExp(`^[A-Za-z0-9_-]{${KEY_ID_CHARS}}$`), `must be a ${KEY_ID_CHARS}-character base64url key id`),
    publicKey: z
      .string()
      .refine(
        (key) => key.length === PUBLIC_KEY_CHARS && decodeBase64Url(key, 32) !== undefined,
        'must be a raw 32-byte ed25519 public key in unpadded base64url (43 characters)',
      ),
  })
  .refine((key) => decodeBase64Url(key.publicKey, 32) === undefined || signingKeyId(key.publicKey) === key.keyId, {
    message: 'keyId is not the id of this public key',
    path: ['keyId'],
  })
  .meta({ id: 'TrustedSigningKey' });
export type TrustedKey = z.infer<typeof TrustedKey>;

/** A new signing key: its id, public key (raw, base64url) and private key (PKCS #8 PEM — keep it secret). */
export interface SigningKeyPair {
  readonly keyId: string;
  readonly publicKey: string;
  readonly privateKey: string;
}

export function generateSigningKey(): SigningKeyPair {
  const pair = generateKeyPairSync('ed25519');
  const publicKey = rawPublicKey(pair.publicKey);
  return {
    keyId: signingKeyId(publicKey),
    publicKey,
    privateKey: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}

/** The raw base64url public key of an ed25519 key (public, or private from which the public part is derived). */
export function signingPublicKey(key: KeyObject | string): string {
  const object = typeof key === 'string' ? createPrivateKey(key) : key;
  if (object.asymmetricKeyType !== 'ed25519') {
    throw new TypeError(`expected an ed25519 key, got ${object.asymmetricKeyType ?? 'a secret key'}`);
  }
  return rawPublicKey(object.type === 'private' ? createPublicKey(object) : object);
}

function rawPublicKey(key: KeyObject): string {
  const { x } = key.export({ format: 'jwk' });
  if (typeof x !== 'string') throw new TypeError('ed25519 public key has no x coordinate');
  return x;
}

/** The exact bytes a deployment's signature covers: the UTF-8 of its RFC 8785 canonical JSON. */
export function deploymentSigningBytes(deployment: DeviceDeployment): Uint8Array {
  return canonicalJsonBytes(deployment);
}

/** signDeployment's refusal: the deployment or the key is not signable. `issues` name each problem. */
export class DeploymentSigningError extends Error {
  readonly code = 'DEPLOYMENT_NOT_SIGNABLE';
  constructor(readonly issues: readonly ManifestIssue[]) {
    super(`cannot sign deployment: ${issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('; ')}`);
    this.name = 'DeploymentSigningError';
  }
}

/**
 * Signs a deployment for one device. The manifest is validated as the effective deployment the device runs, and is
 * signed with its defaults filled in, so the device runs exactly what was signed whatever its own defaults are. Throws
 * DeploymentSigningError when the deployment is invalid, the key is not ed25519 or keyId is not that key's id; no
 * message ever contains the private key.
 */
export function signDeployment(
  input: DeviceDeploymentInput,
  key: { readonly keyId: string; readonly privateKey: KeyObject | string },
): SignedDeployment {
  const deployment = normaliseDeployment(input);
  let privateKey: KeyObject;
  try {
    privateKey = typeof key.privateKey === 'string' ? createPrivateKey(key.privateKey) : key.privateKey;
  } catch {
    throw new DeploymentSigningError([{ path: 'privateKey', message: 'is not a PKCS #8 PEM private key' }]);
  }
  if (!(privateKey instanceof KeyObject) || privateKey.type !== 'private') {
    throw new DeploymentSigningError([{ path: 'privateKey', message: 'is not a private key' }]);
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') {
    throw new DeploymentSigningError([
      { path: 'privateKey', message: `must be an ed25519 key, not ${privateKey.asymmetricKeyType ?? 'unknown'}` },
    ]);
  }
  const actualKeyId = signingKeyId(signingPublicKey(privateKey));
  if (key.keyId !== actualKeyId) {
    throw new DeploymentSigningError([
      { path: 'keyId', message: `is not the id of this private key (its id is ${actualKeyId})` },
    ]);
  }
  const value = cryptoSign(null, deploymentSigningBytes(deployment), privateKey).toString('base64url');
  return { deployment, signature: { alg: SIGNATURE_ALGORITHM, keyId: actualKeyId, value } };
}

function normaliseDeployment(input: DeviceDeploymentInput): DeviceDeployment {
  const issues: ManifestIssue[] = [];
  const fields = z.object(DeploymentFields).safeParse({
    id: input.id,
    deviceId: input.deviceId,
    version: input.version,
    createdAt: input.createdAt ?? new Date().toISOString(),
  });
  if (!fields.success) issues.push(...zodIssues(fields.error, []));
  const manifest = validateManifest(input.manifest, { effective: true });
  if (!manifest.ok) issues.push(...prefixed(manifest.errors, 'manifest'));
  if (!fields.success || !manifest.ok) throw new DeploymentSigningError(issues);
  const deployment: DeviceDeployment = { type: DEPLOYMENT_TYPE, ...fields.data, manifest: manifest.manifest };
  try {
    canonicalJson(deployment);
  } catch (error) {
    throw new DeploymentSigningError([{ path: '', message: error instanceof Error ? error.message : String(error) }]);
  }
  return deployment;
}

// --- verification --------------------------------------------------------------------------------------------------

export type VerifyFailureCode = 'UNSIGNED' | 'UNKNOWN_KEY' | 'BAD_SIGNATURE' | 'MALFORMED' | 'WRONG_TARGET' | 'STALE';

export type VerifyDeploymentResult =
  | {
      readonly ok: true;
      readonly deployment: DeviceDeployment;
      /** The trusted key that signed it. */
      readonly keyId: string;
    }
  | { readonly ok: false; readonly code: VerifyFailureCode; readonly reason: string };

export interface VerifyDeploymentOptions {
  /** The device doing the verifying: a deployment signed for any other device is WRONG_TARGET. */
  readonly expectedDeviceId?: string;
  /** The lowest version accepted (inclusive), usually the version last applied: anything older is STALE. */
  readonly minVersion?: number;
}

/**
 * Checks a signed deployment as it arrived (parsed JSON) against the keys this device trusts, and returns the
 * deployment only when the signature verifies, the signed content is a valid deployment, and it is for this device
 * and not older than `minVersion`. Never throws, whatever it is given; a refusal says why with a code:
 *
 * - UNSIGNED — no signature (a bare manifest, `signature` missing or null, `alg: "none"`, an empty value);
 * - MALFORMED — not an envelope, a signature that is not ed25519 or not 64 bytes, or signed content that is not a
 *   valid deployment;
 * - UNKNOWN_KEY — signed with a key id this device does not trust;
 * - BAD_SIGNATURE — the signature does not match the content: changed after signing, or signed by another key;
 * - WRONG_TARGET — validly signed, for another device;
 * - STALE — validly signed, older than `minVersion`.
 *
 * The deployment returned is parsed from the very bytes that were verified, never read again from the input.
 */
export function verifyDeployment(
  signed: unknown,
  trustedKeys: readonly TrustedKey[],
  options: VerifyDeploymentOptions = {},
): VerifyDeploymentResult {
  try {
    return verify(signed, trustedKeys, options);
  } catch (error) {
    // Only exotic inputs get here (a Proxy or getter that throws, nesting deep enough to exhaust the stack).
    return refuse('MALFORMED', `the signed deployment could not be read: ${errorMessage(error)}`);
  }
}

function verify(
  signed: unknown,
  trustedKeys: readonly TrustedKey[],
  options: VerifyDeploymentOptions,
): VerifyDeploymentResult {
  const { expectedDeviceId, minVersion }: VerifyDeploymentOptions = isPlainObject(options) ? options : {};
  if (!isPlainObject(signed)) {
    return refuse('MALFORMED', `expected a signed deployment { deployment, signature }, got ${describeValue(signed)}`);
  }
  const signature = Object.hasOwn(signed, 'signature') ? signed.signature : undefined;
  if (signature === undefined || signature === null) {
    return refuse('UNSIGNED', 'the deployment is not signed: it has no signature');
  }
  if (isPlainObject(signature) && (signature.alg === 'none' || signature.value === '')) {
    return refuse('UNSIGNED', 'the deployment is not signed: its signature is empty');
  }
  const unknownKeys = Object.keys(signed).filter((key) => key !== 'deployment' && key !== 'signature');
  if (unknownKeys.length > 0) {
    return refuse(
      'MALFORMED',
      `unexpected ${unknownKeys.map((key) => JSON.stringify(key)).join(', ')} beside the deployment and its signature`,
    );
  }
  if (!Object.hasOwn(signed, 'deployment')) return refuse('MALFORMED', 'the envelope has no deployment');

  const parsedSignature = DeploymentSignature.safeParse(signature);
  if (!parsedSignature.success)
    return refuse('MALFORMED', describeIssues(zodIssues(parsedSignature.error, ['signature'])));
  const { keyId, value } = parsedSignature.data;

  const key = trustedKey(trustedKeys, keyId);
  if (typeof key === 'string') return refuse('UNKNOWN_KEY', key);

  let bytes: Uint8Array;
  try {
    bytes = canonicalJsonBytes(signed.deployment);
  } catch (error) {
    return refuse('MALFORMED', `deployment is not JSON: ${errorMessage(error)}`);
  }
  const signatureBytes = decodeBase64Url(value, SIGNATURE_BYTES);
  if (!signatureBytes || !cryptoVerify(null, bytes, key, signatureBytes)) {
    return refuse(
      'BAD_SIGNATURE',
      `the signature of key ${keyId} does not match the deployment: it was changed after signing, or signed with another key`,
    );
  }

  // From here on the content is what the cloud signed; it is read back from the verified bytes alone.
  const content: unknown = JSON.parse(new TextDecoder().decode(bytes));
  const shape = DeploymentShape.safeParse(content);
  if (!shape.success) {
    return refuse(
      'MALFORMED',
      `the signed deployment is invalid: ${describeIssues(zodIssues(shape.error, ['deployment']))}`,
    );
  }
  const manifest = validateManifest(shape.data.manifest, { effective: true });
  if (!manifest.ok) {
    return refuse(
      'MALFORMED',
      `the signed manifest is invalid: ${describeIssues(prefixed(manifest.errors, 'deployment.manifest'))}`,
    );
  }
  const deployment: DeviceDeployment = { ...shape.data, manifest: manifest.manifest };

  if (expectedDeviceId !== undefined && deployment.deviceId !== expectedDeviceId) {
    return refuse(
      'WRONG_TARGET',
      `the deployment is signed for device ${deployment.deviceId}, not ${String(expectedDeviceId)}`,
    );
  }
  // Written so that a minVersion that is not a number (NaN) refuses rather than accepts.
  if (minVersion !== undefined && !(deployment.version >= minVersion)) {
    return refuse(
      'STALE',
      `the deployment is version ${deployment.version}, older than version ${String(minVersion)}, the oldest this device accepts`,
    );
  }
  return { ok: true, deployment, keyId };
}

/** The trusted public key with this id, or why there is none. */
function trustedKey(trustedKeys: readonly TrustedKey[], keyId: string): KeyObject | string {
  const candidates = Array.isArray(trustedKeys)
    ? trustedKeys.filter((key) => isPlainObject(key) && key.keyId === keyId)
    : [];
  if (candidates.length === 0) {
    const count = Array.isArray(trustedKeys) ? trustedKeys.length : 0;
    return `key ${keyId} is not trusted by this device (it trusts ${count === 1 ? '1 key' : `${count} keys`})`;
  }
  for (const candidate of candidates) {
    const publicKey: unknown = candidate.publicKey;
    if (typeof publicKey !== 'string' || decodeBase64Url(publicKey, 32) === undefined) continue;
    if (signingKeyId(publicKey) !== keyId) continue;
    try {
      return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: publicKey }, format: 'jwk' });
    } catch {
      // not a usable ed25519 key: try the next entry with this id
    }
  }
  return `the trusted entry for key ${keyId} is not a valid ed25519 public key with that id`;
}

function refuse(code: VerifyFailureCode, reason: string): VerifyDeploymentResult {
  return { ok: false, code, reason };
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function zodIssues(error: z.ZodError, base: readonly JsonPathSegment[]): ManifestIssue[] {
  return error.issues.map((issue) => ({
    path: formatJsonPath([...base, ...issue.path.filter((s): s is JsonPathSegment => typeof s !== 'symbol')]),
    message: issue.message,
  }));
}

function prefixed(issues: readonly ManifestIssue[], prefix: string): ManifestIssue[] {
  return issues.map((issue) => ({
    path:
      issue.path === '' ? prefix : issue.path.startsWith('[') ? `${prefix}${issue.path}` : `${prefix}.${issue.path}`,
    message: issue.message,
  }));
}

/** The first few issues as one line (a refusal reason is read by people, in logs and reported status). */
function describeIssues(issues: readonly ManifestIssue[]): string {
  const shown = issues.slice(0, 5).map((issue) => (issue.path ? `${issue.path}: ${issue.message}` : issue.message));
  const more = issues.length > shown.length ? ` (and ${issues.length - shown.length} more)` : '';
  return `${shown.join('; ')}${more}`;
}
