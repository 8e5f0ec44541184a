// Shared fixtures for the desired-state tests (client, last-known-good, keys): a sink that records what the client
// hands the runtime, and a small valid manifest.
import type { ManifestInput } from '@outpost/manifest';
import type {
  AcceptedDeployment,
  DeploymentOutcome,
  DeploymentSink,
  DeploymentSource,
} from '../src/runtime/contracts.js';

/** The runtime as the desired-state client sees it: records what it was told, applies nothing. */
export class RecordingSink implements DeploymentSink {
  readonly applied: AcceptedDeployment[] = [];
  readonly refused: { version: number | null; source: DeploymentSource; outcome: DeploymentOutcome }[] = [];
  async apply(deployment: AcceptedDeployment): Promise<DeploymentOutcome> {
    this.applied.push(deployment);
    return { code: 200, description: 'applied' };
  }
  refuse(version: number | null, source: DeploymentSource, outcome: DeploymentOutcome): void {
    this.refused.push({ version, source, outcome });
  }
  appliedVersion(source: DeploymentSource): number | null {
    return this.applied.filter((d) => d.source === source).at(-1)?.version ?? null;
  }
  versions(): number[] {
    return this.applied.map((d) => d.version);
  }
}

/** A valid one-module manifest; `tag` (the module version) tells deployments apart. Its artifact is never fetched. */
export function appManifest(tag: string): ManifestInput {
  return {
    schemaVersion: '1.0',
    modules: {
      app: {
        type: 'process',
        version: tag,
        process: { artifact: { ref: 'os://artifacts/app.tar.gz', sha256: 'a'.repeat(64) }, command: 'bin/app' },
      },
    },
  };
}
