import { validateManifest } from '@outpost/manifest';
import {
  DesiredChangedV1,
  DesiredGetReplyV1,
  DesiredGetRequestV1,
  decodeReply,
  encodeMessage,
  type MessageData,
  OutpostError,
  subjects,
  tryDecodeMessage,
} from '@outpost/protocol';
import type { NatsConnection, Subscription } from 'nats';
import type { AgentConfig } from '../config/index.js';
import { type AgentConnection, type BackoffPolicy, backoffDelayMs, type ConnectedEvent } from '../connection/index.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import type { AcceptedDeployment, DeploymentOutcome, DeploymentSink, DeploymentSource } from '../runtime/contracts.js';
import { type AcceptResult, acceptSigned, invalidOutcome } from './accept.js';
import {
  type DesiredStateRecord,
  nextLocalVersion,
  readDesiredState,
  recordSeen,
  writeDesiredState,
} from './desired-state-file.js';
import { isPlainObject } from './files.js';
import { type CurrentTrust, LastKnownGoodStore, readCurrentTrust } from './last-known-good.js';

/** How long a desired.get may take before it counts as failed and is retried. */
export const DESIRED_GET_TIMEOUT_MS = 10_000;
/** A failed pull (no responder, timeout) is retried after 0.5–1 s, doubling, at most a minute apart. */
export const DESIRED_RETRY_BACKOFF: BackoffPolicy = { initialMs: 1_000, maxMs: 60_000 };

export type DesiredStateClientConfig = Pick<
  AgentConfig,
  'deviceId' | 'stateDir' | 'allowUnsignedLocal' | 'desiredRefreshIntervalMs'
>;

export interface DesiredStateClientOptions {
  readonly config: DesiredStateClientConfig;
  readonly connection: AgentConnection;
  readonly sink: DeploymentSink;
  readonly log: Logger;
  /** Defaults to a store in the state dir. */
  readonly lastKnownGood?: LastKnownGoodStore;
  /** Defaults to readCurrentTrust(stateDir), read again for every deployment. */
  readonly trust?: () => Promise<CurrentTrust>;
  readonly requestTimeoutMs?: number;
}

type PullReason = 'connect' | 'reconnect' | 'notified' | 'refresh' | 'retry' | 'requested';
type CurrentReply = Extract<MessageData<typeof DesiredGetReplyV1>, { status: 'current' }>;

/**
 * Feeds the runtime its deployments. On start it applies the last-known-good at once (an offline boot needs no cloud),
 * then pulls the desired deployment with desired.get: once connected, on every reconnect, when the cloud says it
 * changed, and every desiredRefreshIntervalMs. Pulls run one at a time; triggers that arrive meanwhile are coalesced
 * into one more pull. Each deployment is verified (cloud keys for cloud deployments, the device-local key for local
 * ones) and validated before the runtime sees it; anything else is refused (400/412) and never runs. What was seen is
 * kept in desired-state.json, so a restart never applies a refused or older version again. Precedence between local
 * and cloud deployments: the most recent wins (docs/adr/0010-local-deployments-and-last-known-good.md).
 */
export class DesiredStateClient {
  readonly lastKnownGood: LastKnownGoodStore;
  private readonly options: DesiredStateClientOptions;
  private readonly config: DesiredStateClientConfig;
  private readonly log: Logger;
  private readonly trust: () => Promise<CurrentTrust>;
  private record: DesiredStateRecord = { cloud: null, local: null, lastApplied: null };
  /** The last-known-good this process booted with, if any. */
  private booted: AcceptedDeployment | null = null;
  /** Whether a cloud `current` reply was handled in this process yet (an interrupted apply is retried once). */
  private cloudReplySeen = false;
  private noDeploymentReported = false;
  private appliedThisProcess = false;
  private started = false;
  private stopped = false;
  private refreshTimer: NodeJS.Timeout | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private failures = 0;
  private subscribedTo: NatsConnection | null = null;
  private subscription: Subscription | null = null;
  private pullPending: PullReason | null = null;
  private pulling: Promise<void> | null = null;
  /** Applies and refusals (cloud, local, last-known-good) run one at a time, in the order they were decided. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(options: DesiredStateClientOptions) {
    this.options = options;
    this.config = options.config;
    this.log = options.log.child({ component: 'desired' });
    this.trust = options.trust ?? (() => readCurrentTrust(this.config.stateDir));
    this.lastKnownGood =
      options.lastKnownGood ??
      new LastKnownGoodStore({
        stateDir: this.config.stateDir,
        deviceId: this.config.deviceId,
        allowUnsignedLocal: this.config.allowUnsignedLocal,
        log: options.log,
        trust: this.trust,
      });
  }

  /**
   * Loads what was seen and the last-known-good, hands the last-known-good to the runtime at once (without waiting for
   * NATS or for the apply to finish), then pulls in the background whenever connected. `lastKnownGood`: the one the
   * caller already loaded from this client's store (to give the runtime its rollback target first); loaded here when
   * not given.
   */
  async start(options: { readonly lastKnownGood?: AcceptedDeployment | null } = {}): Promise<void> {
    if (this.started) return;
    this.started = true;
    const { record, problem } = await readDesiredState(this.config.stateDir);
    if (problem) {
      this.log.warn(
        { code: 'DESIRED_STATE_CORRUPT', err: problem },
        'desired-state record unreadable; starting afresh',
      );
    }
    this.record = record;
    const lkg = options.lastKnownGood !== undefined ? options.lastKnownGood : await this.lastKnownGood.load();
    if (lkg) {
      this.booted = lkg;
      // Never go below what is on disk, even if desired-state.json was lost.
      const seen = this.record[lkg.source];
      if (!seen || seen.version < lkg.version)
        this.record = recordSeen(this.record, lkg.source, lkg.version, 'applied');
      this.log.info(
        { source: lkg.source, deploymentId: lkg.id, version: lkg.version },
        'applying the last-known-good deployment',
      );
      void this.exclusive(() => this.apply(lkg, 'last-known-good'));
    } else {
      this.log.info({}, 'no last-known-good deployment; waiting for one');
    }
    this.options.connection.onConnected((event) => this.onConnected(event));
    this.refreshTimer = setInterval(() => this.requestPull('refresh'), this.config.desiredRefreshIntervalMs);
    if (this.options.connection.current()) this.requestPull('connect');
  }

  stop(): void {
    this.stopped = true;
    if (this.refreshTimer) clearInterval(this.refreshTimer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.refreshTimer = null;
    this.retryTimer = null;
    try {
      this.subscription?.unsubscribe();
    } catch {
      // The connection is already closed.
    }
    this.subscription = null;
  }

  /**
   * The runtime rolled this deployment back: it is remembered as refused, so neither a later pull nor the next agent
   * start applies it again (only a newer version from the same source does).
   */
  markRolledBack(deployment: AcceptedDeployment): void {
    void this.exclusive(async () => {
      this.record = recordSeen(this.record, deployment.source, deployment.version, 'refused');
      await this.saveRecord();
    });
  }

  /** Pulls now (coalesced with one in flight) and resolves once no pull is running or pending. */
  async refresh(): Promise<void> {
    this.requestPull('requested');
    while (this.pulling) await this.pulling;
    await this.queue;
  }

  /**
   * Applies a deployment made on the device (`outpost-agent deploy --file`): a signed envelope made with
   * `outpost-agent keys sign` (verified against the device-local key only), or, when the config says
   * `allowUnsignedLocal: true`, a bare manifest. Resolves with the outcome the runtime reports as a local deployment:
   * the runtime's apply outcome, 400 with every manifest path, or 412 when it cannot be trusted.
   */
  applyLocal(input: unknown): Promise<DeploymentOutcome> {
    return this.exclusive(() => this.acceptLocal(input));
  }

  // --- local ------------------------------------------------------------------------------------------------------

  private async acceptLocal(input: unknown): Promise<DeploymentOutcome> {
    if (!isPlainObject(input)) {
      return this.refuse(null, 'local', {
        code: 400,
        description: 'expected a manifest object or a signed deployment { deployment, signature }',
        errors: [{ path: '', message: 'expected a manifest object or a signed deployment { deployment, signature }' }],
      });
    }
    if ('signature' in input || 'deployment' in input) return this.acceptLocalSigned(input);
    if (!this.config.allowUnsignedLocal) {
      const description =
        'refused (UNSIGNED): the manifest is not signed with the device-local key; sign it with `outpost-agent keys sign` or set allowUnsignedLocal: true in the agent config';
      return this.refuse(null, 'local', {
        code: 412,
        description,
        errors: [{ path: 'signature', message: 'missing (allowUnsignedLocal is false)' }],
      });
    }
    const manifest = validateManifest(input, { effective: true });
    if (!manifest.ok) return this.refuse(null, 'local', invalidOutcome(manifest.errors, 'the manifest'));
    const version = nextLocalVersion(this.record);
    const createdAt = new Date().toISOString();
    const deployment: AcceptedDeployment = {
      source: 'local',
      id: `local-${createdAt.replace(/[:.]/g, '-')}`,
      version,
      createdAt,
      manifest: manifest.manifest,
      signed: null,
    };
    return this.accept(deployment);
  }

  private async acceptLocalSigned(input: Record<string, unknown>): Promise<DeploymentOutcome> {
    let trust: CurrentTrust;
    try {
      trust = await this.trust();
    } catch (err) {
      return this.refuse(null, 'local', trustUnreadable(err));
    }
    if (trust.problems?.local) return this.refuse(null, 'local', trustUnreadable(trust.problems.local));
    if (!trust.local) {
      return this.refuse(null, 'local', {
        code: 412,
        description:
          'refused (UNKNOWN_KEY): this device has no local signing key yet; run `outpost-agent keys` and sign with `outpost-agent keys sign`',
        errors: [{ path: 'signature.keyId', message: 'no device-local key' }],
      });
    }
    const lastLocal = this.record.local?.version;
    const result = acceptSigned(input, [trust.local], {
      source: 'local',
      deviceId: this.config.deviceId,
      ...(lastLocal === undefined ? {} : { minVersion: lastLocal + 1 }),
    });
    if (!result.ok) {
      if (result.code === 'STALE') {
        // Said out loud here (unlike a cloud one): someone is at the console waiting for the outcome.
        return this.refuse(null, 'local', {
          code: 412,
          description: `refused (STALE): ${result.outcome.description.replace(/^refused \(STALE\): /, '')}; sign it again with \`outpost-agent keys sign\``,
          errors: result.outcome.errors ?? [],
        });
      }
      return this.refused(result, 'local');
    }
    return this.accept(result.deployment);
  }

  // --- cloud ------------------------------------------------------------------------------------------------------

  private onConnected(event: ConnectedEvent): void {
    if (this.stopped) return;
    if (this.subscribedTo !== event.nc) {
      // One subscription per client: the nats client re-subscribes by itself after a reconnect.
      this.subscribedTo = event.nc;
      this.subscription = event.nc.subscribe(subjects.device.desiredChanged(this.config.deviceId), {
        callback: (err, msg) => {
          if (err) return;
          const changed = tryDecodeMessage(DesiredChangedV1, msg.data, msg.headers);
          if (!changed.ok) {
            this.log.warn(
              { code: 'DESIRED_CHANGED_INVALID', err: changed.error.message },
              'unreadable desired.changed notification; pulling anyway',
            );
          } else {
            this.log.debug({ version: changed.value.version }, 'desired state changed');
          }
          this.requestPull('notified');
        },
      });
    }
    this.requestPull(event.reconnect ? 'reconnect' : 'connect');
  }

  private requestPull(reason: PullReason): void {
    if (this.stopped || !this.started) return;
    this.pullPending = reason;
    if (this.pulling) return;
    this.pulling = (async () => {
      while (this.pullPending && !this.stopped) {
        const next = this.pullPending;
        this.pullPending = null;
        await this.pullOnce(next);
      }
    })().finally(() => {
      this.pulling = null;
    });
  }

  private async pullOnce(reason: PullReason): Promise<void> {
    const nc = this.options.connection.current();
    if (!nc) {
      // Offline: the next connect pulls.
      this.log.debug({ reason }, 'desired-state pull skipped: not connected');
      return;
    }
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    // The first pull of a process asks for the full state: an apply interrupted by a restart may have to run again.
    const knownVersion = this.cloudReplySeen ? (this.record.cloud?.version ?? null) : null;
    let reply: MessageData<typeof DesiredGetReplyV1>;
    try {
      const answer = await nc.request(
        subjects.device.desiredGet(this.config.deviceId),
        encodeMessage(DesiredGetRequestV1, { knownVersion }),
        { timeout: this.options.requestTimeoutMs ?? DESIRED_GET_TIMEOUT_MS },
      );
      reply = decodeReply(DesiredGetReplyV1, answer.data, answer.headers);
    } catch (err) {
      this.failures++;
      const retryInMs = backoffDelayMs(this.failures, DESIRED_RETRY_BACKOFF);
      this.log.warn(
        {
          code: err instanceof OutpostError ? 'DESIRED_GET_REFUSED' : 'DESIRED_GET_FAILED',
          ...(err instanceof OutpostError ? { cloudCode: err.code } : {}),
          reason,
          attempt: this.failures,
          retryInMs,
          err: errorMessage(err),
        },
        'desired-state pull failed; retrying',
      );
      if (!this.stopped) this.retryTimer = setTimeout(() => this.requestPull('retry'), retryInMs);
      return;
    }
    this.failures = 0;
    this.log.debug({ reason, status: reply.status, version: reply.version }, 'desired state pulled');
    if (reply.status === 'unchanged') return;
    await this.exclusive(() => this.handleCurrent(reply as CurrentReply));
  }

  private async handleCurrent(reply: CurrentReply): Promise<void> {
    if (this.stopped) return;
    const firstReply = !this.cloudReplySeen;
    this.cloudReplySeen = true;
    const { version } = reply;
    const signed = reply.signed ?? null;
    if (signed === null && reply.manifest === null) {
      this.reportNoDeployment(version);
      return;
    }
    const seen = this.record.cloud;
    let minVersion = seen ? seen.version + 1 : undefined;
    if (seen && version <= seen.version) {
      if (!(version === seen.version && this.interruptedApply(version, firstReply))) {
        this.log.debug({ version, seen: seen.version, outcome: seen.outcome }, 'stale cloud deployment ignored');
        return;
      }
      minVersion = version;
      this.log.info({ version }, 'applying the cloud deployment again: its apply was interrupted by a restart');
    }
    if (signed === null) {
      // A desired.state 1.0 cloud: manifest and signature without the signed envelope this agent verifies.
      await this.refused(
        {
          ok: false,
          code: 'UNSIGNED',
          version: null,
          outcome: {
            code: 412,
            description:
              'refused (UNSIGNED): the cloud sent no signed deployment envelope (desired.state 1.0); update the cloud',
            errors: [{ path: 'signed', message: 'missing' }],
          },
        },
        'cloud',
        version,
      );
      return;
    }
    let trust: CurrentTrust;
    try {
      trust = await this.trust();
    } catch (err) {
      await this.refuse(version, 'cloud', trustUnreadable(err));
      return;
    }
    if (trust.problems?.cloud) {
      // Not remembered as refused: once trusted-keys.json is fixed, the same version is verified again.
      await this.refuse(version, 'cloud', trustUnreadable(trust.problems.cloud));
      return;
    }
    const result = acceptSigned(signed, trust.cloud, {
      source: 'cloud',
      deviceId: this.config.deviceId,
      ...(minVersion === undefined ? {} : { minVersion }),
    });
    if (!result.ok) {
      if (result.code === 'STALE') {
        this.log.debug({ version, reason: result.outcome.description }, 'stale cloud deployment ignored');
        return;
      }
      await this.refused(result, 'cloud', version);
      return;
    }
    await this.accept(result.deployment);
  }

  /**
   * The version last seen was handed to the runtime, but the process restarted before it became last-known-good (it
   * booted with an older one, or none): apply it once more, on the first reply after start only, so a deployment that
   * was rolled back is not retried in a loop.
   */
  private interruptedApply(version: number, firstReply: boolean): boolean {
    const seen = this.record.cloud;
    if (!firstReply || !seen || seen.outcome !== 'applied' || this.record.lastApplied !== 'cloud') return false;
    if (this.booted?.source === 'cloud' && this.booted.version === version) return false;
    return this.options.sink.appliedVersion('cloud') !== version;
  }

  private reportNoDeployment(version: number): void {
    // Nothing to run. Said once, and only while nothing else runs (a local or last-known-good deployment keeps running).
    if (this.noDeploymentReported || this.booted || this.appliedThisProcess) {
      this.log.debug({ version }, 'no cloud deployment');
      return;
    }
    this.noDeploymentReported = true;
    this.log.info({ version }, 'no deployment for this device yet');
    this.options.sink.refuse(version, 'cloud', { code: 417, description: 'no deployment for this device' });
  }

  // --- both -------------------------------------------------------------------------------------------------------

  private async accept(deployment: AcceptedDeployment): Promise<DeploymentOutcome> {
    this.record = recordSeen(this.record, deployment.source, deployment.version, 'applied');
    await this.saveRecord();
    this.appliedThisProcess = true;
    this.log.info(
      { source: deployment.source, deploymentId: deployment.id, version: deployment.version },
      'deployment accepted; applying',
    );
    return this.apply(deployment, deployment.source);
  }

  private async apply(deployment: AcceptedDeployment, what: string): Promise<DeploymentOutcome> {
    try {
      const outcome = await this.options.sink.apply(deployment);
      this.log.info(
        {
          source: deployment.source,
          version: deployment.version,
          code: outcome.code,
          description: outcome.description,
        },
        `${what} deployment applied`,
      );
      return outcome;
    } catch (err) {
      this.log.error(
        {
          code: 'DEPLOYMENT_APPLY_FAILED',
          source: deployment.source,
          version: deployment.version,
          err: errorMessage(err),
        },
        'applying the deployment failed',
      );
      return { code: 500, description: `applying the deployment failed: ${errorMessage(err)}`.slice(0, 1024) };
    }
  }

  private async refused(
    result: Extract<AcceptResult, { ok: false }>,
    source: DeploymentSource,
    replyVersion: number | null = null,
  ): Promise<DeploymentOutcome> {
    return this.refuse(result.version ?? replyVersion, source, result.outcome, result.version ?? replyVersion);
  }

  /** Reports a refusal; a version is remembered so the same deployment is not refused (and reported) again. */
  private async refuse(
    version: number | null,
    source: DeploymentSource,
    outcome: DeploymentOutcome,
    remember: number | null = null,
  ): Promise<DeploymentOutcome> {
    if (remember !== null) {
      this.record = recordSeen(this.record, source, remember, 'refused');
      await this.saveRecord();
    }
    this.log.warn(
      {
        code: outcome.code === 400 ? 'DEPLOYMENT_INVALID' : 'DEPLOYMENT_REFUSED',
        source,
        version,
        status: outcome.code,
        errors: outcome.errors?.slice(0, 20),
      },
      outcome.description,
    );
    this.options.sink.refuse(version, source, outcome);
    return outcome;
  }

  private async saveRecord(): Promise<void> {
    try {
      await writeDesiredState(this.config.stateDir, this.record);
    } catch (err) {
      this.log.error(
        { code: 'DESIRED_STATE_WRITE_FAILED', stateDir: this.config.stateDir, err: errorMessage(err) },
        'cannot record the desired-state version; a restart may apply it again',
      );
    }
  }

  private exclusive<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task);
    this.queue = run.catch(() => undefined);
    return run;
  }
}

function trustUnreadable(err: unknown): DeploymentOutcome {
  const reason = errorMessage(err);
  return {
    code: 412,
    description: `refused: the trusted keys cannot be read: ${reason}`.slice(0, 1024),
    errors: [{ path: '', message: reason.slice(0, 1024) }],
  };
}
