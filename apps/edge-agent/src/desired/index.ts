export { type AcceptOptions, type AcceptResult, acceptSigned, type RefusalCode } from './accept.js';
export {
  DESIRED_GET_TIMEOUT_MS,
  DESIRED_RETRY_BACKOFF,
  DesiredStateClient,
  type DesiredStateClientConfig,
  type DesiredStateClientOptions,
} from './client.js';
export {
  DESIRED_STATE_FILE,
  type DesiredStateRecord,
  nextLocalVersion,
  readDesiredState,
} from './desired-state-file.js';
export {
  type CurrentTrust,
  LastKnownGoodStore,
  type LastKnownGoodStoreOptions,
  LKG_FILE,
  LKG_PREVIOUS_FILE,
  readCurrentTrust,
} from './last-known-good.js';
export {
  asTrustedKey,
  ensureLocalSigningKey,
  LOCAL_SIGNING_KEY_FILE,
  loadTrustedKeys,
  localSigningKeyPath,
  readLocalSigningKey,
  TrustError,
  trustedKeysPath,
} from './trust.js';
