import { join } from 'node:path';
import { type TrustedKey, validateManifest } from '@outpost/manifest';
import { z } from 'zod';
import { errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import type { AcceptedDeployment } from '../runtime/contracts.js';
import { acceptSigned } from './accept.js';
import { readIfExists, writeFileAtomic } from './files.js';
import { asTrustedKey, loadTrustedKeys, readLocalSigningKey } from './trust.js';

export const LKG_FILE = 'last-known-good.json';
export const LKG_PREVIOUS_FILE = 'last-known-good.previous.json';
const LKG_FORMAT = 'outpost.last-known-good.v1';

/** What the device trusts right now: the cloud's keys, and the device-local key (null until `keys` made one). */
export interface CurrentTrust {
  readonly cloud: readonly TrustedKey[];
  readonly local: TrustedKey | null;
  /**
   * Why a trust file could not be read; its keys then count as absent, so only deployments of that source are
   * refused (a broken local key never blocks the cloud's deployments, and the reverse).
   */
  readonly problems?: { readonly cloud?: string; readonly local?: string };
}

/** Reads the trust from the state dir each time, so a re-enrolment or a new local key takes effect at once. */
export async function readCurrentTrust(stateDir: string): Promise<CurrentTrust> {
  const [cloud, local] = await Promise.allSettled([loadTrustedKeys(stateDir), readLocalSigningKey(stateDir)]);
  const problems = {
    ...(cloud.status === 'rejected' ? { cloud: errorMessage(cloud.reason) } : {}),
    ...(local.status === 'rejected' ? { local: errorMessage(local.reason) } : {}),
  };
  return {
    cloud: cloud.status === 'fulfilled' ? cloud.value : [],
    local: local.status === 'fulfilled' && local.value ? asTrustedKey(local.value) : null,
    ...(problems.cloud || problems.local ? { problems } : {}),
  };
}

export interface LastKnownGoodStoreOptions {
  readonly stateDir: string;
  readonly deviceId: string;
  /** An unsigned local deployment is loaded only while this is true (as it could only be applied while true). */
  readonly allowUnsignedLocal: boolean;
  readonly log: Logger;
  /** Defaults to readCurrentTrust(stateDir). */
  readonly trust?: () => Promise<CurrentTrust>;
}

/** The file as written: the signed envelope exactly as verified; the fields beside it only for an unsigned local one. */
const StoredLkg = z.object({
  format: z.literal(LKG_FORMAT),
  source: z.enum(['cloud', 'local']),
  savedAt: z.string(),
  signed: z.unknown(),
  unsigned: z
    .object({
      id: z.string().min(1),
      version: z.number().int().nonnegative(),
      createdAt: z.string(),
      manifest: z.unknown(),
    })
    .nullable(),
});
type StoredLkg = z.infer<typeof StoredLkg>;

type Which = 'current' | 'previous';

/**
 * The last-known-good deployment on disk (and the one before it, for the runtime's rollback). The runtime decides
 * when a deployment is good and calls save; an offline boot loads it. Everything read back is verified again against
 * today's trust and validated again, so a file edited on the device, or signed by a key since removed, is never run:
 * such a file is logged with a code and ignored, never thrown.
 */
export class LastKnownGoodStore {
  private readonly options: LastKnownGoodStoreOptions;
  private readonly log: Logger;
  private readonly paths: Record<Which, string>;
  /** Saves run one at a time: the rotation reads the current file before replacing it. */
  private saving: Promise<void> = Promise.resolve();

  constructor(options: LastKnownGoodStoreOptions) {
    this.options = options;
    this.log = options.log.child({ component: 'last-known-good' });
    this.paths = {
      current: join(options.stateDir, LKG_FILE),
      previous: join(options.stateDir, LKG_PREVIOUS_FILE),
    };
  }

  /**
   * Makes `deployment` the last-known-good, durably (temp file, fsync, rename, directory fsync). The one it replaces
   * becomes `previous()`; saving the same deployment again changes nothing.
   */
  save(deployment: AcceptedDeployment): Promise<void> {
    const run = this.saving.then(() => this.write(deployment));
    this.saving = run.catch(() => undefined);
    return run;
  }

  /** The last-known-good deployment, verified and validated again; null when none (or it cannot be trusted). */
  load(): Promise<AcceptedDeployment | null> {
    return this.read('current');
  }

  /** The last-known-good before the current one (what a rollback restores), verified the same way. */
  previous(): Promise<AcceptedDeployment | null> {
    return this.read('previous');
  }

  private async write(deployment: AcceptedDeployment): Promise<void> {
    const stored: StoredLkg = {
      format: LKG_FORMAT,
      source: deployment.source,
      savedAt: new Date().toISOString(),
      signed: deployment.signed,
      unsigned:
        deployment.signed === null
          ? {
              id: deployment.id,
              version: deployment.version,
              createdAt: deployment.createdAt,
              manifest: deployment.manifest,
            }
          : null,
    };
    const existing = await readIfExists(this.paths.current);
    if (existing !== null && !sameDeployment(existing, deployment)) {
      // Crash between these two writes: previous is already the old current, current still is too. Both still load.
      await writeFileAtomic(this.paths.previous, existing, 0o600);
    }
    if (existing !== null && sameDeployment(existing, deployment)) return;
    await writeFileAtomic(this.paths.current, `${JSON.stringify(stored)}\n`, 0o600);
    this.log.info(
      { source: deployment.source, deploymentId: deployment.id, version: deployment.version },
      'last-known-good saved',
    );
  }

  private async read(which: Which): Promise<AcceptedDeployment | null> {
    const path = this.paths[which];
    let text: string | null;
    try {
      text = await readIfExists(path);
    } catch (err) {
      this.log.warn(
        { code: 'LKG_UNREADABLE', path, err: errorMessage(err) },
        'last-known-good cannot be read; ignored',
      );
      return null;
    }
    if (text === null) return null;
    let stored: StoredLkg;
    try {
      const parsed = StoredLkg.safeParse(JSON.parse(text));
      if (!parsed.success) throw new Error(parsed.error.issues[0]?.message ?? 'not a last-known-good record');
      stored = parsed.data;
    } catch (err) {
      this.log.warn({ code: 'LKG_CORRUPT', path, err: errorMessage(err) }, 'last-known-good is corrupt; ignored');
      return null;
    }
    let trust: CurrentTrust;
    try {
      trust = await (this.options.trust ?? (() => readCurrentTrust(this.options.stateDir)))();
    } catch (err) {
      this.log.warn(
        { code: 'LKG_UNVERIFIED', path, err: errorMessage(err) },
        'the keys to verify the last-known-good cannot be read; ignored',
      );
      return null;
    }
    return stored.unsigned ? this.unsignedLocal(path, stored) : this.verified(path, stored, trust);
  }

  private verified(path: string, stored: StoredLkg, trust: CurrentTrust): AcceptedDeployment | null {
    // Cloud deployments verify against the cloud's keys only, local ones against the device-local key only.
    const keys = stored.source === 'cloud' ? trust.cloud : trust.local ? [trust.local] : [];
    const result = acceptSigned(stored.signed, keys, { source: stored.source, deviceId: this.options.deviceId });
    if (result.ok) return result.deployment;
    const trustProblem = trust.problems?.[stored.source];
    this.log.warn(
      {
        code: 'LKG_UNVERIFIED',
        path,
        source: stored.source,
        refusal: result.code,
        err: trustProblem ? `${result.outcome.description} (${trustProblem})` : result.outcome.description,
      },
      'last-known-good does not verify against the keys this device trusts; ignored',
    );
    return null;
  }

  private unsignedLocal(path: string, stored: StoredLkg): AcceptedDeployment | null {
    const unsigned = stored.unsigned;
    if (!unsigned || stored.source !== 'local' || stored.signed !== null) {
      this.log.warn(
        { code: 'LKG_CORRUPT', path },
        'last-known-good is corrupt (an unsigned cloud deployment); ignored',
      );
      return null;
    }
    if (!this.options.allowUnsignedLocal) {
      this.log.warn(
        { code: 'LKG_UNSIGNED_NOT_ALLOWED', path },
        'last-known-good is an unsigned local deployment and allowUnsignedLocal is false; ignored',
      );
      return null;
    }
    const manifest = validateManifest(unsigned.manifest, { effective: true });
    if (!manifest.ok) {
      this.log.warn(
        { code: 'LKG_INVALID', path, errors: manifest.errors.slice(0, 10) },
        'last-known-good manifest is invalid; ignored',
      );
      return null;
    }
    return {
      source: 'local',
      id: unsigned.id,
      version: unsigned.version,
      createdAt: unsigned.createdAt,
      manifest: manifest.manifest,
      signed: null,
    };
  }
}

/** Whether the stored text is this deployment already (same source, id and version). */
function sameDeployment(text: string, deployment: AcceptedDeployment): boolean {
  try {
    const stored = StoredLkg.safeParse(JSON.parse(text));
    if (!stored.success || stored.data.source !== deployment.source) return false;
    if (stored.data.unsigned) {
      return stored.data.unsigned.id === deployment.id && stored.data.unsigned.version === deployment.version;
    }
    const signed = stored.data.signed as { deployment?: { id?: unknown; version?: unknown } } | null;
    return signed?.deployment?.id === deployment.id && signed?.deployment?.version === deployment.version;
  } catch {
    return false;
  }
}
