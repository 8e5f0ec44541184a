import { DeviceId } from '@outpost/protocol';
import { IdentityError } from './errors.js';
import { type AccountIssuer, mintUserJwt } from './jwt.js';
import { deviceUserPermissions } from './permissions.js';

/** Default lifetime of a device's user JWT: renewed long before, through the device's own credential. */
export const DEFAULT_DEVICE_JWT_LIFETIME_SECS = 30 * 24 * 3600;

export interface MintDeviceJwtOptions {
  readonly issuer: AccountIssuer;
  readonly deviceId: string;
  /** The public NKey the device generated (`U…`). */
  readonly publicKey: string;
  readonly expiresInSecs?: number;
}

/**
 * A device's user JWT: its own subjects and reply inbox only (`deviceUserPermissions`), as a client or as the device
 * hub's leaf-node connection, with an expiry.
 */
export async function mintDeviceJwt(options: MintDeviceJwtOptions): Promise<string> {
  const parsed = DeviceId.safeParse(options.deviceId);
  if (!parsed.success) {
    throw new IdentityError(
      'PERMISSIONS_INVALID',
      `deviceId: ${parsed.error.issues[0]?.message ?? 'invalid'} (got "${options.deviceId}")`,
    );
  }
  return mintUserJwt({
    issuer: options.issuer,
    publicKey: options.publicKey,
    name: options.deviceId,
    permissions: deviceUserPermissions(options.deviceId),
    expiresInSecs: options.expiresInSecs ?? DEFAULT_DEVICE_JWT_LIFETIME_SECS,
    allowedConnectionTypes: ['STANDARD', 'LEAFNODE'],
    tags: [`outpost:device:${options.deviceId.toLowerCase()}`],
  });
}
