export {
  type AccountInfo,
  connectSystemUser,
  fetchAccountInfo,
  pushAccountJwt,
  type RevokeUsersOptions,
  type RevokeUsersResult,
  revokeUsers,
  type SystemConnectionOptions,
} from './account-updates.js';
export {
  type AccountJetStreamLimits,
  type CloudAuthority,
  type CreateIdentityOptions,
  createIdentityBundle,
  DEFAULT_ACCOUNT_JETSTREAM,
  ensureIdentityBundle,
  IDENTITY_FILES,
  type IdentityBundle,
  type IdentityFileName,
  type IdentityManifest,
  type IdentityPaths,
  loadCloudAuthority,
  loadIdentityBundle,
  OUTPOST_ACCOUNT_NAME,
  outpostAccountClaims,
  SERVICE_JWT_LIFETIME_SECS,
  SYSTEM_ACCOUNT_NAME,
  SYSTEM_USER_INBOX_PREFIX,
  systemUserPermissions,
} from './bundle.js';
export { formatCredsArmour, parseCredsArmour, readJwtClaims, type UnverifiedJwtClaims } from './creds.js';
export { DEFAULT_DEVICE_JWT_LIFETIME_SECS, type MintDeviceJwtOptions, mintDeviceJwt } from './devices.js';
export { IdentityError, type IdentityErrorCode } from './errors.js';
export { accessibleToOthers, ensurePrivateDir, SECRET_DIR_MODE, SECRET_FILE_MODE, writePrivateFile } from './files.js';
export { type HubConfigOptions, type HubTlsFiles, renderHubConfig } from './hub-config.js';
export {
  type AccountIssuer,
  createUserKey,
  decodeJwt,
  decodeUserJwt,
  formatCredsFile,
  isUserPublicKey,
  keyPairFromSeed,
  MAX_USER_JWT_LIFETIME_SECS,
  type MintUserOptions,
  mintUserJwt,
  nowSecs,
  parseCredsFile,
} from './jwt.js';
export {
  CLOUD_API_RESPONSE_TTL_SECS,
  checkPermissions,
  cloudApiUserPermissions,
  deviceUserPermissions,
  enrollingUserPermissions,
  patternCoversInbox,
  portalUserPermissions,
  SERVICE_INBOX_PREFIXES,
  toJwtPermissions,
  type UserPermissions,
} from './permissions.js';
