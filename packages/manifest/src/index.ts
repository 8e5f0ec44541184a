export { type AzureDeploymentInfo, AzureImportError, type AzureImportResult, fromAzureManifest } from './azure.js';
export { canonicalJson, canonicalJsonBytes } from './canonical-json.js';
export { diffManifests, type ManifestDiff, type ModuleAction, type ModuleChange } from './diff.js';
export {
  formatJsonPath,
  type JsonPathSegment,
  type JsonTextLocation,
  locateJsonPath,
  parseJsonPath,
  valueAtJsonPath,
} from './json-path.js';
export {
  JSON_SCHEMA_FILES,
  type JsonSchemaDocument,
  layerJsonSchema,
  manifestJsonSchema,
  renderJsonSchema,
} from './json-schema.js';
export { type LayerDeployment, mergeLayers, mergePatch } from './layers.js';
export { REDACTED, redactSecrets } from './redact.js';
export * from './schema.js';
export {
  DEPLOYMENT_TYPE,
  DeploymentSignature,
  DeploymentSigningError,
  type DeviceDeployment,
  type DeviceDeploymentInput,
  deploymentSigningBytes,
  generateSigningKey,
  SIGNATURE_ALGORITHM,
  type SignedDeployment,
  type SigningKeyPair,
  signDeployment,
  signingKeyId,
  signingPublicKey,
  TrustedKey,
  type VerifyDeploymentOptions,
  type VerifyDeploymentResult,
  type VerifyFailureCode,
  verifyDeployment,
} from './signing.js';
export {
  MAX_NESTING_DEPTH,
  type ManifestIssue,
  type ValidateOptions,
  type ValidationResult,
  validateManifest,
} from './validate.js';
