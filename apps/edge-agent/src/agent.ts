import { statSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { subjects } from '@outpost/protocol';
import type { AgentConfig } from './config/index.js';
import { AgentConnection, redactUrl } from './connection/index.js';
import { ControlError, ControlServer } from './control/index.js';
import { CredentialRenewer } from './credentials/renewal.js';
import { DesiredStateClient, LastKnownGoodStore } from './desired/index.js';
import { ProcessDriver } from './drivers/process/index.js';
import { errorMessage, StartupError } from './errors.js';
import type { Logger } from './logger.js';
import { AgentMethods } from './methods/index.js';
import { Presence } from './presence/index.js';
import { StateReporter } from './reporting/index.js';
import { Runtime } from './runtime/index.js';
import { prepareStateDir } from './state/index.js';
import { AGENT_VERSION } from './version.js';

/**
 * How long a clean shutdown (goodbye, flush, drain) may take. A dead link must not hold the device hostage:
 * systemd and container runtimes escalate to SIGKILL after ~10 s, and a killed agent skips its own cleanup.
 */
export const SHUTDOWN_DEADLINE_MS = 5_000;

export interface StopResult {
  /** Published while connected; reached the server unless timedOut. */
  readonly goodbyePublished: boolean;
  /** True when the deadline cut the shutdown short (the server was unreachable or too slow). */
  readonly timedOut: boolean;
}

/**
 * The agent: one NATS connection and the components that use it, started and stopped together.
 * Later parts (desired state, module supervisor, router, store-and-forward) are composed here the same way.
 */
export class Agent {
  private readonly config: AgentConfig;
  private readonly log: Logger;
  private readonly connection: AgentConnection;
  private readonly presence: Presence;
  private renewer: CredentialRenewer | null = null;
  /** Applies deployments and supervises modules; the control socket and agent methods steer it (RuntimeControl). */
  readonly runtime: Runtime;
  /** Feeds the runtime: last-known-good at boot, then the cloud's (and local) deployments. */
  readonly desired: DesiredStateClient;
  private readonly lastKnownGood: LastKnownGoodStore;
  private readonly reporter: StateReporter;
  /** The device CLI's way in (list, logs, restart, deploy); also keeps a second agent off the same state dir. */
  private readonly control: ControlServer;
  /** ping, restartModule, getModuleLogs and logs streams for the cloud. */
  private readonly methods: AgentMethods;
  private readonly startedAt = new Date();
  private stopping: Promise<StopResult> | null = null;

  constructor(config: AgentConfig, log: Logger) {
    this.config = config;
    this.log = log;
    this.connection = new AgentConnection({
      servers: config.natsServers,
      name: `outpost-agent ${config.deviceId}`,
      inboxPrefix: subjects.device.inboxPrefix(config.deviceId),
      credsFile: config.credsFile,
      caFile: config.caFile,
      log,
    });
    this.presence = new Presence({
      deviceId: config.deviceId,
      agentVersion: AGENT_VERSION,
      heartbeatIntervalMs: config.heartbeatIntervalMs,
      connection: this.connection,
      log,
    });
    this.lastKnownGood = new LastKnownGoodStore({
      stateDir: config.stateDir,
      deviceId: config.deviceId,
      allowUnsignedLocal: config.allowUnsignedLocal,
      log,
    });
    this.runtime = new Runtime({
      drivers: {
        process: new ProcessDriver({
          modulesDir: config.modulesDir,
          deviceId: config.deviceId,
          moduleUser: config.moduleUser,
          logger: log,
          connection: () => this.connection.current(),
        }),
        // Made (and its Docker client loaded: ≈5 MB) only when a deployment first has a container module, so a device
        // without an engine, or without container modules, runs lean.
        container: async () => {
          const { ContainerDriver } = await import('./drivers/container/index.js');
          return new ContainerDriver({
            dockerHost: config.containers.dockerHost,
            policy: config.containers,
            deviceId: config.deviceId,
            log,
            stateDir: config.stateDir,
          });
        },
      },
      containerPolicy: config.containers,
      log,
      saveLastKnownGood: (deployment) => this.lastKnownGood.save(deployment),
      onRolledBack: (deployment) => this.desired.markRolledBack(deployment),
    });
    this.reporter = new StateReporter({
      deviceId: config.deviceId,
      bootId: this.presence.bootId,
      connection: this.connection,
      source: this.runtime,
      heartbeatIntervalMs: config.heartbeatIntervalMs,
      log,
    });
    this.desired = new DesiredStateClient({
      config,
      connection: this.connection,
      sink: this.runtime,
      log,
      lastKnownGood: this.lastKnownGood,
    });
    this.control = new ControlServer({
      socketPath: config.controlSocket,
      runtime: this.runtime,
      applyLocal: (input) => this.desired.applyLocal(input),
      status: () => ({
        deviceId: config.deviceId,
        agentVersion: AGENT_VERSION,
        pid: process.pid,
        startedAt: this.startedAt.toISOString(),
        uptimeSecs: Math.floor((Date.now() - this.startedAt.getTime()) / 1000),
        connected: this.connection.current() !== null,
      }),
      log,
    });
    this.methods = new AgentMethods({
      deviceId: config.deviceId,
      agentVersion: AGENT_VERSION,
      bootId: this.presence.bootId,
      connection: this.connection,
      runtime: this.runtime,
      log,
    });
  }

  /**
   * Checks local prerequisites (throws StartupError when one is missing), then starts connecting in the background.
   * Resolves before NATS is reached: the device keeps running offline.
   */
  async start(): Promise<void> {
    const stateDir = await prepareStateDir(this.config.stateDir);
    // The control socket first: holding it is what keeps a second agent on this state dir from adopting (and then
    // fighting over) the first one's modules, so that agent stops here, before it touches anything.
    try {
      await this.control.start();
    } catch (err) {
      if (err instanceof ControlError) throw new StartupError('STATE_DIR_UNUSABLE', [err.message], { cause: err });
      throw err;
    }
    if (stateDir.accessibleToOthers) {
      this.log.warn(
        { code: 'STATE_DIR_PERMISSIONS', stateDir: stateDir.path },
        'state dir is readable or writable by group/others; chmod 711 it (others may only traverse it)',
      );
    }
    if (this.config.credsFile && (statSync(this.config.credsFile).mode & 0o077) !== 0) {
      this.log.warn(
        { code: 'CREDS_FILE_PERMISSIONS', credsFile: this.config.credsFile },
        'creds file is accessible to group/others; chmod 600 it',
      );
    }
    this.log.info(
      {
        version: AGENT_VERSION,
        bootId: this.presence.bootId,
        config: this.config.configPath,
        stateDir: stateDir.path,
        servers: this.config.natsServers.map(redactUrl),
        heartbeatIntervalMs: this.config.heartbeatIntervalMs,
        credsFile: this.config.credsFile,
        caFile: this.config.caFile,
      },
      'agent started',
    );
    if (this.config.credsFile) {
      // Reads the creds file now: one that cannot be parsed stops the start naming the file.
      try {
        this.renewer = new CredentialRenewer({
          deviceId: this.config.deviceId,
          credsFile: this.config.credsFile,
          connection: this.connection,
          log: this.log,
        });
      } catch (err) {
        throw new StartupError('CONFIG_INVALID', [`config ${this.config.configPath}: credsFile: ${errorMessage(err)}`]);
      }
    }
    this.presence.start();
    this.renewer?.start();
    this.methods.start();
    // Modules a previous run started are adopted before any deployment arrives; the last-known-good (applied by the
    // desired-state client at once, offline too) is the rollback target until an update proves good.
    const lastKnownGood = await this.lastKnownGood.load();
    await this.runtime.start({ lastKnownGood });
    this.reporter.start();
    await this.desired.start({ lastKnownGood });
    this.connection.start();
  }

  /** Says goodbye if connected, drains and closes, within SHUTDOWN_DEADLINE_MS whatever the link does. */
  stop(reason: string): Promise<StopResult> {
    this.stopping ??= this.shutdown(reason);
    return this.stopping;
  }

  private async shutdown(reason: string): Promise<StopResult> {
    this.log.info({ reason }, 'shutting down');
    // The CLI sees "not running" from here on rather than a runtime that refuses everything.
    this.methods.stop();
    await this.control.close();
    this.presence.stop();
    this.renewer?.stop();
    this.desired.stop();
    this.reporter.stop();
    // Supervision and probes end; modules keep running and the next agent run adopts them (README: agent restarts),
    // unless the config says to stop them (the dev stack).
    await this.runtime
      .stop({ stopModules: this.config.modulesOnAgentStop === 'stop' })
      .catch((err: unknown) =>
        this.log.warn({ code: 'RUNTIME_STOP_FAILED', err: errorMessage(err) }, 'stopping the runtime failed'),
      );
    const goodbyePublished = this.presence.sendGoodbye(reason);
    const deadline = new AbortController();
    const closed = this.connection.close().then(
      () => 'closed' as const,
      (err: unknown) => {
        this.log.warn({ code: 'NATS_CLOSE_FAILED', err: errorMessage(err) }, 'closing the connection failed');
        return 'closed' as const;
      },
    );
    const expired = sleep(SHUTDOWN_DEADLINE_MS, 'expired' as const, { signal: deadline.signal }).catch(
      () => 'closed' as const,
    );
    const outcome = await Promise.race([closed, expired]);
    deadline.abort();
    const timedOut = outcome === 'expired';
    if (timedOut) {
      this.log.warn(
        { code: 'SHUTDOWN_DEADLINE', deadlineMs: SHUTDOWN_DEADLINE_MS },
        'shutdown deadline passed; exiting anyway',
      );
    }
    this.log.info({ goodbyePublished, timedOut }, 'stopped');
    return { goodbyePublished, timedOut };
  }
}
