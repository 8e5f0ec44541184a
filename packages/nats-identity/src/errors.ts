/** Codes of the errors this package throws, so callers and logs can tell them apart. */
export type IdentityErrorCode =
  | 'IDENTITY_NOT_FOUND'
  | 'IDENTITY_INVALID'
  | 'IDENTITY_EXISTS'
  | 'PERMISSIONS_INVALID'
  | 'KEY_INVALID'
  | 'ACCOUNT_UPDATE_FAILED'
  | 'PKI_INVALID';

/** Every failure of this package: a code, and a message that names the file, field or key at fault (never a seed). */
export class IdentityError extends Error {
  constructor(
    readonly code: IdentityErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'IdentityError';
  }
}
