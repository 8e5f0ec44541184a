export { type ArtifactSpec, ArtifactStore, type ArtifactStoreOptions } from './artifact-store.js';
