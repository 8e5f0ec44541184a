import { createPublicKey, verify as cryptoVerify } from 'node:crypto';
import {
  canonicalJsonBytes,
  type ManifestIssue,
  type TrustedKey,
  type VerifyFailureCode,
  validateManifest,
  verifyDeployment,
} from '@outpost/manifest';
import type { AcceptedDeployment, DeploymentOutcome, DeploymentSource } from '../runtime/contracts.js';
import { isPlainObject } from './files.js';

/** Why a deployment was not accepted: a verification code, or INVALID (validly signed, manifest invalid: 400). */
export type RefusalCode = VerifyFailureCode | 'INVALID';

export type AcceptResult =
  | { readonly ok: true; readonly deployment: AcceptedDeployment }
  | {
      readonly ok: false;
      readonly code: RefusalCode;
      /** The version when the signed content says so (it verified), else null. */
      readonly version: number | null;
      readonly outcome: DeploymentOutcome;
    };

export interface AcceptOptions {
  readonly source: DeploymentSource;
  readonly deviceId: string;
  /** Lowest version accepted (inclusive); lower is STALE. */
  readonly minVersion?: number;
}

/** The manifest-path errors as DeploymentOutcome errors (an empty path is the manifest itself). */
export function outcomeErrors(issues: readonly ManifestIssue[]): { path: string; message: string }[] {
  return issues.map((issue) => ({ path: issue.path, message: issue.message }));
}

export function invalidOutcome(issues: readonly ManifestIssue[], what: string): DeploymentOutcome {
  const shown = issues
    .slice(0, 3)
    .map((issue) => (issue.path ? `${issue.path}: ${issue.message}` : issue.message))
    .join('; ');
  const more = issues.length > 3 ? ` (and ${issues.length - 3} more)` : '';
  return {
    code: 400,
    description: `${what} is invalid: ${shown}${more}`.slice(0, 1024),
    errors: outcomeErrors(issues),
  };
}

/**
 * Verifies a signed envelope `{ deployment, signature }` against `trustedKeys` and turns it into an
 * AcceptedDeployment, or into the outcome the device reports: 412 when it cannot be trusted (unsigned, unknown key,
 * bad signature, another device's, malformed), 400 with every manifest path when it is validly signed but its
 * manifest is invalid (a cloud newer than this agent, say). STALE is returned like a refusal; callers ignore it.
 */
export function acceptSigned(
  signed: unknown,
  trustedKeys: readonly TrustedKey[],
  options: AcceptOptions,
): AcceptResult {
  const verified = verifyDeployment(signed, trustedKeys, {
    expectedDeviceId: options.deviceId,
    ...(options.minVersion === undefined ? {} : { minVersion: options.minVersion }),
  });
  if (verified.ok) {
    const { deployment } = verified;
    return {
      ok: true,
      deployment: {
        source: options.source,
        id: deployment.id,
        version: deployment.version,
        createdAt: deployment.createdAt,
        manifest: deployment.manifest,
        signed,
      },
    };
  }
  if (verified.code === 'MALFORMED') {
    // verifyDeployment folds "signed, but the manifest is invalid" into MALFORMED; that one is a 400 with its paths.
    const invalid = signedButInvalid(signed, trustedKeys);
    if (invalid) {
      return {
        ok: false,
        code: 'INVALID',
        version: invalid.version,
        outcome: invalidOutcome(invalid.issues, `deployment ${invalid.version ?? ''}`.trim()),
      };
    }
  }
  return {
    ok: false,
    code: verified.code,
    version: null,
    outcome: {
      code: 412,
      description: `refused (${verified.code}): ${verified.reason}`.slice(0, 1024),
      errors: [{ path: verified.code === 'UNSIGNED' ? 'signature' : '', message: verified.reason.slice(0, 1024) }],
    },
  };
}

/**
 * When the envelope's signature verifies against a trusted key but its manifest fails validation: the manifest's
 * issues (paths relative to the manifest) and the signed version. Otherwise null (it stays a 412).
 */
function signedButInvalid(
  signed: unknown,
  trustedKeys: readonly TrustedKey[],
): { issues: readonly ManifestIssue[]; version: number | null } | null {
  if (!isPlainObject(signed) || !isPlainObject(signed.deployment) || !isPlainObject(signed.signature)) return null;
  const { keyId, value } = signed.signature;
  if (typeof keyId !== 'string' || typeof value !== 'string') return null;
  const key = trustedKeys.find((candidate) => candidate.keyId === keyId);
  if (!key) return null;
  let valid: boolean;
  try {
    const publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: key.publicKey }, format: 'jwk' });
    valid = cryptoVerify(null, canonicalJsonBytes(signed.deployment), publicKey, Buffer.from(value, 'base64url'));
  } catch {
    return null;
  }
  if (!valid) return null;
  const manifest = validateManifest(signed.deployment.manifest, { effective: true });
  if (manifest.ok) return null;
  const { version } = signed.deployment;
  return {
    issues: manifest.errors,
    version: typeof version === 'number' && Number.isSafeInteger(version) ? version : null,
  };
}
