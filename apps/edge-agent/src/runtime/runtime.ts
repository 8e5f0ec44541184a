/**
 * The runtime: applies deployments (plan → prepare → execute), supervises every module (restart policy, backoff,
 * health probes), rolls a failed update back to the last-known-good deployment, and answers the CLI and agent
 * methods. The desired-state client feeds it through DeploymentSink; the reporter reads it through snapshots.
 */
import type { AgentSettings, Manifest, Module } from '@outpost/manifest';
import type { LogLine } from '@outpost/protocol';
import { type ContainerPolicyRules, containerPolicyErrors } from '../drivers/container/policy.js';
import { errorMessage } from '../errors.js';
import { HealthMonitor, isRunnableProbe, type ProbeResult } from '../health/index.js';
import type { Logger } from '../logger.js';
import type {
  AcceptedDeployment,
  DeploymentOutcome,
  DeploymentSink,
  DeploymentSource,
  DeploymentView,
  LogQuery,
  ModuleDriver,
  ModuleInstance,
  ModuleType,
  ModuleView,
  RuntimeControl,
} from './contracts.js';
import { DriverError } from './contracts.js';
import { type PlanStep, planDeployment, type SupervisedModule } from './planner.js';
import {
  computeModuleStatus,
  coolOffMs,
  createRestartSettings,
  DEFAULT_RESTART_SETTINGS,
  type ModuleStatus,
  type RestartSettings,
  shouldRestartNow,
} from './restart-policy.js';

/** How long a module gets between SIGTERM and SIGKILL when the runtime stops it (Docker's default is 10 s). */
export const DEFAULT_STOP_GRACE_MS = 10_000;

export type RuntimeErrorCode = 'NOT_FOUND' | 'MODULE_STOPPED' | 'RUNTIME_STOPPED';

/** A request the runtime cannot serve: NOT_FOUND names the module, so callers can answer 404. */
export class RuntimeError extends Error {
  readonly code: RuntimeErrorCode;
  constructor(code: RuntimeErrorCode, message: string) {
    super(message);
    this.name = 'RuntimeError';
    this.code = code;
  }
}

/** A driver, or how to make it when a deployment first needs it (the container driver needs an engine). */
export type DriverSource = ModuleDriver | (() => Promise<ModuleDriver>);

export interface RuntimeOptions {
  readonly drivers: Partial<Record<ModuleType, DriverSource>>;
  readonly log: Logger;
  /** The deployment persisted as last-known-good, the rollback target; null/undefined on a fresh device. */
  readonly lastKnownGood?: AcceptedDeployment | null;
  /** Persists a deployment that proved good (every module running, and healthy where probed). */
  readonly saveLastKnownGood?: (deployment: AcceptedDeployment) => Promise<void>;
  readonly stopGraceMs?: number;
  /**
   * The device's container policy (config.containers): a deployment with a container module it refuses is refused
   * as a whole (412, every offending path) before any driver is touched. Without it, only the driver checks.
   */
  readonly containerPolicy?: ContainerPolicyRules;
  /** Told when an update is rolled back, so the version is remembered as refused and not retried after a restart. */
  readonly onRolledBack?: (deployment: AcceptedDeployment) => void;
}

/** The desired-state outcome the reporter publishes (DeploymentView plus the refusal's error paths). */
export interface DeploymentStatus extends DeploymentView {
  readonly errors?: readonly { readonly path: string; readonly message: string }[];
}

interface ModuleRecord {
  readonly name: string;
  readonly type: ModuleType;
  readonly driver: ModuleDriver;
  /** The desired definition; null for an instance adopted before any deployment named it. */
  module: Module | null;
  specHash: string;
  status: ModuleStatus;
  statusDescription: string | undefined;
  restartCount: number;
  exitCode: number | null;
  lastStartedAt: string | null;
  lastExitedAt: string | null;
  lastRestartedAt: string | null;
  lastExitMs: number | undefined;
  /** Exits seen by handleExit: a start that resolves after its instance already exited must not mark it running. */
  exits: number;
  /** Since when it runs without interruption (epoch ms); null while not running. */
  runningSinceMs: number | null;
  /** Set while the runtime stops or removes the instance on purpose: that exit is not a crash. */
  stoppedByRuntime: boolean;
  /** Probe verdict: null before the first one (or without a probe). */
  healthy: boolean | null;
  monitor: HealthMonitor | null;
  restartTimer: NodeJS.Timeout | null;
  resetTimer: NodeJS.Timeout | null;
}

interface UpdateWatch {
  readonly deployment: AcceptedDeployment;
  readonly previous: AcceptedDeployment;
  readonly timer: NodeJS.Timeout;
  /** How long a module without a probe must have run, without exiting, to count as up. */
  readonly settleMs: number;
  recheck: NodeJS.Timeout | null;
}

/**
 * A process that was just spawned is "running" even if it crashes 50 ms later, so a module without a probe counts as
 * up only once it has run this long (or a third of healthyWithinSecs, when that is shorter).
 */
export const MAX_SETTLE_MS = 10_000;

export class Runtime implements DeploymentSink, RuntimeControl {
  private readonly log: Logger;
  private readonly options: RuntimeOptions;
  private readonly stopGraceMs: number;
  private readonly drivers = new Map<ModuleType, ModuleDriver>();
  private readonly pendingDrivers = new Map<ModuleType, Promise<ModuleDriver>>();
  private readonly records = new Map<string, ModuleRecord>();
  private readonly listeners = new Set<() => void>();
  private readonly appliedVersions = new Map<DeploymentSource, number>();
  private settings: RestartSettings = DEFAULT_RESTART_SETTINGS;
  private current: AcceptedDeployment | null = null;
  private good: AcceptedDeployment | null;
  private status: DeploymentStatus = {
    source: null,
    id: null,
    version: null,
    code: 417,
    description: 'no deployment yet',
  };
  private watch: UpdateWatch | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(options: RuntimeOptions) {
    this.options = options;
    this.log = options.log.child({ component: 'runtime' });
    this.stopGraceMs = options.stopGraceMs ?? DEFAULT_STOP_GRACE_MS;
    this.good = options.lastKnownGood ?? null;
    for (const [type, source] of Object.entries(options.drivers) as [ModuleType, DriverSource | undefined][]) {
      if (source !== undefined && typeof source !== 'function') this.registerDriver(type, source);
    }
  }

  /**
   * Adopts what already runs (instances a previous agent run started) before any deployment arrives: they are
   * listed and watched, never started again. Drivers made lazily are listed when a deployment first needs them.
   * `lastKnownGood` (loaded from disk) is the rollback target until a newer deployment proves good.
   */
  async start(options: { readonly lastKnownGood?: AcceptedDeployment | null } = {}): Promise<void> {
    if (options.lastKnownGood !== undefined) this.good = options.lastKnownGood;
    for (const driver of this.drivers.values()) {
      let instances: ModuleInstance[];
      try {
        instances = await driver.list();
      } catch (err) {
        this.log.warn({ code: 'DRIVER_LIST_FAILED', type: driver.type, err: errorMessage(err) }, 'cannot list modules');
        continue;
      }
      for (const instance of instances) this.adoptInstance(driver, instance);
    }
    this.log.info({ modules: [...this.records.keys()] }, 'supervising the modules found running');
    this.emit();
  }

  /**
   * Stops supervision: timers, probes and the rollback watch end, drivers stop watching. Modules keep running and
   * the next agent run adopts them, unless `stopModules` (config modulesOnAgentStop: "stop") stops them first.
   */
  async stop(options: { readonly stopModules?: boolean } = {}): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.watch) this.endWatch(this.watch);
    for (const record of this.records.values()) this.quiesce(record);
    if (options.stopModules) {
      const stops = [...this.records.values()].map((record) => {
        record.stoppedByRuntime = true;
        return record.driver.stop(record.name, this.stopGraceMs);
      });
      for (const result of await Promise.allSettled(stops)) {
        if (result.status === 'rejected') {
          this.log.warn({ code: 'MODULE_STOP_FAILED', err: describeError(result.reason) }, 'stopping a module failed');
        }
      }
    }
    await Promise.allSettled([...this.drivers.values()].map((driver) => driver.close()));
    this.listeners.clear();
  }

  /** Called after every change of module or deployment state (the reporter debounces). Returns an unsubscribe. */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The deployment that last proved good (or was loaded as such), the rollback target. */
  lastKnownGood(): AcceptedDeployment | null {
    return this.good;
  }

  /** The deployment whose modules the runtime currently runs (after a rollback: the restored one). */
  currentDeployment(): AcceptedDeployment | null {
    return this.current;
  }

  // --- DeploymentSink -----------------------------------------------------------------------------------------------

  apply(deployment: AcceptedDeployment): Promise<DeploymentOutcome> {
    return this.serialize(() => this.applyNow(deployment, null));
  }

  refuse(version: number | null, source: DeploymentSource, outcome: DeploymentOutcome): void {
    this.log.warn(
      { code: 'DEPLOYMENT_REFUSED', version, source, status: outcome.code, description: outcome.description },
      'deployment refused; modules untouched',
    );
    this.status = deploymentStatus({ source, id: null, version }, outcome);
    this.emit();
  }

  appliedVersion(source: DeploymentSource): number | null {
    return this.appliedVersions.get(source) ?? null;
  }

  // --- RuntimeControl -----------------------------------------------------------------------------------------------

  modules(): readonly ModuleView[] {
    return [...this.records.values()]
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((record) => ({
        name: record.name,
        type: record.type,
        status: record.status,
        ...(record.statusDescription !== undefined ? { statusDescription: record.statusDescription } : {}),
        version: record.module?.version ?? null,
        restartCount: record.restartCount,
        exitCode: record.exitCode,
        lastStartedAt: record.lastStartedAt,
        lastExitedAt: record.lastExitedAt,
        lastRestartedAt: record.lastRestartedAt,
      }));
  }

  deployment(): DeploymentStatus {
    return this.status;
  }

  async restartModule(name: string): Promise<void> {
    const record = this.desiredRecord(name);
    if (record.module?.status === 'stopped') {
      // Starting it would go against the deployment; a new deployment with status running is the way.
      throw new RuntimeError('MODULE_STOPPED', `module ${name} is desired stopped; deploy it as running to start it`);
    }
    await this.serialize(async () => {
      this.quiesce(record);
      record.stoppedByRuntime = true;
      await record.driver.stop(name, this.stopGraceMs);
      record.lastRestartedAt = new Date().toISOString();
      // An operator's restart is a fresh chance: a failed module gets its full restart budget back.
      record.restartCount = 0;
      this.log.info({ module: name }, 'module restarted on request');
      await this.startRecord(record);
    });
  }

  moduleLogs(name: string, query: LogQuery): Promise<LogLine[]> {
    return this.knownRecord(name).driver.logs(name, query);
  }

  followModuleLogs(name: string, signal: AbortSignal): AsyncIterable<LogLine> {
    return this.knownRecord(name).driver.followLogs(name, signal);
  }

  // --- applying -----------------------------------------------------------------------------------------------------

  private serialize<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(
      () => work(),
      () => work(),
    );
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * One deployment, start to end. `rollbackOf` is the failed update when this run restores the last-known-good.
   * Everything that can refuse or fail without touching modules (drivers, container policy, listing, artifact
   * downloads) happens before the first module changes.
   */
  private async applyNow(
    deployment: AcceptedDeployment,
    rollbackOf: { deployment: AcceptedDeployment; reason: string } | null,
  ): Promise<DeploymentOutcome> {
    if (this.closed) throw new RuntimeError('RUNTIME_STOPPED', 'the runtime is stopped');
    const log = this.log.child({ deploymentId: deployment.id, version: deployment.version, source: deployment.source });
    const manifest = deployment.manifest;
    if (!rollbackOf && this.watch) {
      // A newer deployment supersedes the update under watch; the last-known-good stays the rollback target.
      this.endWatch(this.watch);
    }

    const early = await this.preflight(manifest);
    if (early) return this.finishEarly(deployment, early, log);

    const instances: ModuleInstance[] = [];
    try {
      for (const driver of this.drivers.values()) instances.push(...(await driver.list()));
    } catch (err) {
      return this.finishEarly(
        deployment,
        { code: 500, description: `listing modules failed: ${describeError(err)}` },
        log,
      );
    }
    const supervised = new Map<string, SupervisedModule>();
    for (const record of this.records.values()) {
      if (record.module)
        supervised.set(record.name, { specHash: record.specHash, desiredStatus: record.module.status });
    }
    const plan = planDeployment({ desired: manifest, instances, supervised });
    log.info({ steps: plan.steps.map((step) => `${step.action} ${step.name}`), noop: plan.noop }, 'deployment plan');

    // Downloads and pulls first: a missing artifact must leave every running module as it is.
    for (const step of plan.steps) {
      if ((step.action === 'create' || step.action === 'recreate') && step.module.status === 'running') {
        try {
          await this.driverFor(step.module.type).prepare(step.name, step.module);
        } catch (err) {
          return this.finishEarly(
            deployment,
            { code: 500, description: `module ${step.name}: prepare failed: ${describeError(err)}` },
            log,
          );
        }
      }
    }

    this.settings = restartSettings(manifest.agent);
    const failures: string[] = [];
    for (const step of plan.steps) {
      try {
        await this.execute(step, instances);
      } catch (err) {
        const reason = describeError(err);
        failures.push(`module ${step.name}: ${step.action} failed: ${reason}`);
        log.error(
          { code: 'PLAN_STEP_FAILED', module: step.name, action: step.action, err: reason },
          'plan step failed',
        );
        const record = this.records.get(step.name);
        if (record && step.action !== 'remove') {
          record.status = 'failed';
          record.statusDescription = `${step.action} failed: ${reason}`;
        }
      }
    }
    this.current = deployment;

    if (rollbackOf) {
      this.status = deploymentStatus(rollbackOf.deployment, {
        code: 500,
        description:
          `ROLLED_BACK: version ${rollbackOf.deployment.version} (${rollbackOf.deployment.id}) did not become ` +
          `healthy: ${rollbackOf.reason}; restored version ${deployment.version} (${deployment.id})` +
          (failures.length > 0 ? `; restoring failed: ${failures.join('; ')}` : ''),
      });
      log.error({ code: 'DEPLOYMENT_ROLLED_BACK', description: this.status.description }, 'deployment rolled back');
      this.emit();
      return { code: 500, description: this.status.description };
    }

    const outcome: DeploymentOutcome =
      failures.length === 0
        ? { code: 200, description: plan.noop ? 'already applied' : 'applied' }
        : { code: 500, description: failures.join('; ') };
    this.status = deploymentStatus(deployment, outcome);
    this.appliedVersions.set(deployment.source, deployment.version);
    log.info({ status: outcome.code, description: outcome.description }, 'deployment applied');

    if (this.good === null) {
      // Nothing to roll back to: the first deployment is the last-known-good as soon as its plan ran.
      if (failures.length === 0) await this.markGood(deployment);
    } else if (!sameDeployment(this.good, deployment)) {
      this.startWatch(deployment, this.good);
    }
    this.emit();
    this.checkWatch();
    return outcome;
  }

  /** The container policy and the drivers, checked before anything changes; an outcome when it cannot run. */
  private async preflight(manifest: Manifest): Promise<DeploymentOutcome | null> {
    const policy = this.options.containerPolicy;
    const errors = policy
      ? Object.entries(manifest.modules).flatMap(([name, module]) => containerPolicyErrors(name, module, policy))
      : [];
    if (errors.length > 0) {
      return {
        code: 412,
        description: `refused by the device's container policy: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`,
        errors,
      };
    }
    const types = new Set(Object.values(manifest.modules).map((module) => module.type));
    for (const type of types) {
      try {
        await this.ensureDriver(type);
      } catch (err) {
        const names = Object.entries(manifest.modules)
          .filter(([, module]) => module.type === type)
          .map(([name]) => name);
        return { code: 500, description: `${type} modules ${names.join(', ')} cannot run: ${describeError(err)}` };
      }
    }
    return null;
  }

  /** A deployment that failed before any module changed: reported, never last-known-good, nothing else moves. */
  private finishEarly(deployment: AcceptedDeployment, outcome: DeploymentOutcome, log: Logger): DeploymentOutcome {
    log.error({ code: 'DEPLOYMENT_FAILED', status: outcome.code, description: outcome.description }, 'not applied');
    this.status = deploymentStatus(deployment, outcome);
    // A policy refusal will not change on retry; a failed download (500) may, so its version is not marked applied.
    if (outcome.code === 412) this.appliedVersions.set(deployment.source, deployment.version);
    this.emit();
    return outcome;
  }

  private async execute(step: PlanStep, instances: readonly ModuleInstance[]): Promise<void> {
    const existing = this.records.get(step.name);
    switch (step.action) {
      case 'remove': {
        const driver = this.driverFor(step.type);
        if (existing && existing.type === step.type) {
          this.quiesce(existing);
          existing.stoppedByRuntime = true;
        }
        await driver.remove(step.name, this.stopGraceMs);
        if (existing && existing.type === step.type) this.records.delete(step.name);
        this.log.info({ module: step.name, type: step.type, reason: step.reason }, 'module removed');
        this.emit();
        return;
      }
      case 'recreate':
      case 'create': {
        const driver = this.driverFor(step.module.type);
        if (existing) {
          this.quiesce(existing);
          existing.stoppedByRuntime = true;
        }
        if (step.action === 'recreate') await driver.remove(step.name, this.stopGraceMs);
        const record = this.newRecord(driver, step.name, step.module, step.specHash);
        this.records.set(step.name, record);
        if (step.module.status === 'stopped') {
          // Nothing runs for a module desired stopped; it is created when it is first desired running.
          record.statusDescription = 'desired status is stopped';
          this.emit();
          return;
        }
        const exitsBefore = record.exits;
        const instance = await driver.createAndStart(step.name, step.module, step.specHash);
        this.markRunning(record, instance, exitsBefore);
        this.log.info({ module: step.name, action: step.action, runtimeId: instance.runtimeId }, 'module created');
        return;
      }
      case 'start': {
        const record = this.trackedRecord(step, instances);
        record.restartCount = 0;
        await this.startRecord(record);
        return;
      }
      case 'stop': {
        const record = this.trackedRecord(step, instances);
        this.quiesce(record);
        record.stoppedByRuntime = true;
        await record.driver.stop(step.name, this.stopGraceMs);
        record.status = 'stopped';
        record.statusDescription = 'desired status is stopped';
        record.lastExitedAt = new Date().toISOString();
        this.log.info({ module: step.name }, 'module stopped (desired status stopped)');
        this.emit();
        return;
      }
      case 'adopt': {
        const unsupervised = !existing?.module || existing.type !== step.module.type;
        const record = this.trackedRecord(step, instances);
        const instance = instances.find((i) => i.name === step.name && i.type === step.module.type);
        if (unsupervised && instance?.state === 'running' && record.status === 'running') {
          // First deployment after an agent restart: supervise the adopted instance as if this run started it.
          this.watchRunning(record);
        } else if (step.module.status === 'stopped' && instance?.state !== 'running') {
          record.status = 'stopped';
          record.statusDescription = 'desired status is stopped';
        }
        return;
      }
    }
  }

  /** The record for a module whose instance exists with an unchanged definition (made on adoption if missing). */
  private trackedRecord(step: PlanStep & { module: Module; specHash: string }, instances: readonly ModuleInstance[]) {
    const driver = this.driverFor(step.module.type);
    let record = this.records.get(step.name);
    if (!record || record.type !== step.module.type) {
      const instance = instances.find((i) => i.name === step.name && i.type === step.module.type);
      record = instance
        ? this.adoptInstance(driver, instance)
        : this.newRecord(driver, step.name, step.module, step.specHash);
      this.records.set(step.name, record);
    }
    record.module = step.module;
    record.specHash = step.specHash;
    return record;
  }

  // --- supervision --------------------------------------------------------------------------------------------------

  private newRecord(driver: ModuleDriver, name: string, module: Module | null, specHash: string): ModuleRecord {
    return {
      name,
      type: driver.type,
      driver,
      module,
      specHash,
      status: 'stopped',
      statusDescription: undefined,
      restartCount: 0,
      exitCode: null,
      lastStartedAt: null,
      lastExitedAt: null,
      lastRestartedAt: null,
      lastExitMs: undefined,
      exits: 0,
      runningSinceMs: null,
      stoppedByRuntime: false,
      healthy: null,
      monitor: null,
      restartTimer: null,
      resetTimer: null,
    };
  }

  /** A record for an instance found running (or exited) that this agent run did not start. */
  private adoptInstance(driver: ModuleDriver, instance: ModuleInstance): ModuleRecord {
    const existing = this.records.get(instance.name);
    if (existing && existing.type === instance.type) return existing;
    const record = this.newRecord(driver, instance.name, null, instance.specHash);
    record.lastStartedAt = instance.startedAt;
    record.lastExitedAt = instance.exitedAt;
    record.exitCode = instance.exitCode;
    if (instance.state === 'running') {
      record.status = 'running';
      record.runningSinceMs = (instance.startedAt ? Date.parse(instance.startedAt) : Number.NaN) || Date.now();
    } else {
      record.status = instance.exitCode !== null && instance.exitCode !== 0 ? 'failed' : 'stopped';
      record.statusDescription =
        instance.exitCode === null ? 'found exited' : `found exited with code ${instance.exitCode}`;
    }
    this.records.set(instance.name, record);
    this.log.info({ module: instance.name, type: instance.type, state: instance.state }, 'module adopted');
    return record;
  }

  private registerDriver(type: ModuleType, driver: ModuleDriver): void {
    this.drivers.set(type, driver);
    driver.onExit((name, exitCode) => this.handleExit(driver, name, exitCode));
  }

  private async ensureDriver(type: ModuleType): Promise<ModuleDriver> {
    const ready = this.drivers.get(type);
    if (ready) return ready;
    const source = this.options.drivers[type];
    if (typeof source !== 'function') {
      throw new DriverError('DRIVER_UNAVAILABLE', `this agent has no ${type} driver`);
    }
    let pending = this.pendingDrivers.get(type);
    if (!pending) {
      pending = source();
      this.pendingDrivers.set(type, pending);
    }
    try {
      const driver = await pending;
      let instances: ModuleInstance[];
      try {
        // Listing proves the driver works (a container engine answers) before any deployment relies on it.
        instances = await driver.list();
      } catch (err) {
        await driver.close().catch(() => undefined);
        throw err;
      }
      this.registerDriver(type, driver);
      for (const instance of instances) this.adoptInstance(driver, instance);
      return driver;
    } finally {
      // A failed factory (no engine yet) is tried again by the next deployment.
      this.pendingDrivers.delete(type);
    }
  }

  private driverFor(type: ModuleType): ModuleDriver {
    const driver = this.drivers.get(type);
    if (!driver) throw new DriverError('DRIVER_UNAVAILABLE', `this agent has no ${type} driver`);
    return driver;
  }

  private desiredRecord(name: string): ModuleRecord {
    const record = this.records.get(name);
    if (!record || !this.current?.manifest.modules[name]) {
      throw new RuntimeError('NOT_FOUND', `module ${name} is not in the current deployment`);
    }
    return record;
  }

  private knownRecord(name: string): ModuleRecord {
    const record = this.records.get(name);
    if (!record) throw new RuntimeError('NOT_FOUND', `no module named ${name} on this device`);
    return record;
  }

  /** Ends timers and probes of a module (before the runtime acts on it, and on agent stop). */
  private quiesce(record: ModuleRecord): void {
    if (record.restartTimer) clearTimeout(record.restartTimer);
    if (record.resetTimer) clearTimeout(record.resetTimer);
    record.restartTimer = null;
    record.resetTimer = null;
    record.monitor?.stop();
    record.monitor = null;
    record.healthy = null;
    record.runningSinceMs = null;
  }

  private async startRecord(record: ModuleRecord): Promise<void> {
    record.stoppedByRuntime = false;
    try {
      const exitsBefore = record.exits;
      const instance = await record.driver.start(record.name);
      this.markRunning(record, instance, exitsBefore);
    } catch (err) {
      this.log.error({ code: 'MODULE_START_FAILED', module: record.name, err: describeError(err) }, 'start failed');
      record.lastExitMs = Date.now();
      record.lastExitedAt = new Date(record.lastExitMs).toISOString();
      this.applyPolicy(record, 'failed', `start failed: ${describeError(err)}`);
    }
  }

  /**
   * Marks a started instance running, unless it exited before the start call returned (a container that crashes at
   * once can be seen exiting by the driver's poll first): handleExit has then applied the restart policy already.
   */
  private markRunning(record: ModuleRecord, instance: ModuleInstance, exitsBefore: number): void {
    record.lastStartedAt = instance.startedAt ?? new Date().toISOString();
    if (record.exits !== exitsBefore) return;
    record.status = 'running';
    record.statusDescription = undefined;
    record.exitCode = null;
    record.runningSinceMs = Date.now();
    this.watchRunning(record);
    this.emit();
    this.checkWatch();
  }

  /** Probes and the healthy-reset timer of a running module. */
  private watchRunning(record: ModuleRecord): void {
    const module = record.module;
    if (!module || this.closed) return;
    if (isRunnableProbe(module.health)) {
      const monitor = new HealthMonitor({
        name: record.name,
        probe: module.health,
        driver: record.driver,
        log: this.log,
        onHealthy: (result) => this.handleHealthy(record, monitor, result),
        onUnhealthy: (result) => void this.handleUnhealthy(record, monitor, result),
      });
      record.monitor = monitor;
      monitor.start();
    }
    if (record.resetTimer) clearTimeout(record.resetTimer);
    record.resetTimer = setTimeout(() => {
      record.resetTimer = null;
      if (record.status === 'running' && record.restartCount > 0) {
        this.log.info(
          { module: record.name, restartCount: record.restartCount },
          'running long enough: restarts reset',
        );
        record.restartCount = 0;
        this.emit();
      }
    }, this.settings.healthyResetMs);
  }

  private handleExit(driver: ModuleDriver, name: string, exitCode: number | null): void {
    const record = this.records.get(name);
    if (this.closed || !record || record.type !== driver.type || record.stoppedByRuntime) return;
    this.quiesce(record);
    record.exits++;
    record.exitCode = exitCode;
    record.lastExitMs = Date.now();
    record.lastExitedAt = new Date(record.lastExitMs).toISOString();
    const how = exitCode === null ? 'exited (killed by a signal)' : `exited with code ${exitCode}`;
    this.log.warn(
      { code: 'MODULE_EXITED', module: name, exitCode, restartCount: record.restartCount },
      'module exited',
    );
    if (!record.module || record.module.status === 'stopped') {
      record.status = exitCode === 0 ? 'stopped' : 'failed';
      record.statusDescription = how;
      this.emit();
      return;
    }
    this.applyPolicy(record, exitCode === 0 ? 'stopped' : 'failed', how);
  }

  /**
   * The restart policy's verdict on a module that is not running (C1), and the restart it schedules: after
   * min(unit·2ⁿ, cap) in backoff, never once failed.
   */
  private applyPolicy(record: ModuleRecord, observed: 'stopped' | 'failed' | 'unhealthy', why: string): void {
    const policy = record.module?.restartPolicy ?? 'never';
    record.status = computeModuleStatus(observed, policy, record.restartCount, this.settings);
    if (record.status === 'backoff') {
      const waitMs = coolOffMs(record.restartCount, this.settings);
      record.statusDescription = `${why}; restart ${record.restartCount + 1} of ${this.settings.maxRestarts} in ${waitMs} ms`;
      this.scheduleRestart(record, waitMs);
    } else if (record.status === 'failed' && policy !== 'never' && record.restartCount >= this.settings.maxRestarts) {
      record.statusDescription = `failed after ${record.restartCount} restarts: ${why}`;
      this.log.error({ code: 'MODULE_FAILED', module: record.name, restartCount: record.restartCount }, 'gave up');
    } else {
      record.statusDescription = why;
    }
    this.emit();
    this.checkWatch();
  }

  private scheduleRestart(record: ModuleRecord, waitMs: number): void {
    if (this.closed) return;
    // shouldRestartNow wants the cool-off fully passed, hence the extra millisecond.
    record.restartTimer = setTimeout(() => {
      record.restartTimer = null;
      const candidate = {
        restartPolicy: record.module?.restartPolicy ?? 'never',
        status: record.status,
        restartCount: record.restartCount,
        lastExitMs: record.lastExitMs,
      };
      if (!shouldRestartNow(candidate, Date.now(), this.settings)) {
        if (record.status === 'backoff') this.scheduleRestart(record, 1);
        return;
      }
      void this.serialize(async () => {
        if (this.closed || record.status !== 'backoff' || this.records.get(record.name) !== record) return;
        record.restartCount += 1;
        record.lastRestartedAt = new Date().toISOString();
        this.log.info({ module: record.name, restartCount: record.restartCount }, 'restarting module');
        await this.startRecord(record);
      });
    }, waitMs + 1);
  }

  private handleHealthy(record: ModuleRecord, monitor: HealthMonitor, result: ProbeResult): void {
    if (record.monitor !== monitor) return;
    record.healthy = true;
    if (record.status === 'unhealthy') {
      record.status = 'running';
      record.statusDescription = undefined;
      this.log.info({ module: record.name, detail: result.detail }, 'module healthy again');
    }
    this.emit();
    this.checkWatch();
  }

  /**
   * failureThreshold probes failed. on-unhealthy and always restart the module (stop with grace, then the same
   * backoff as a crash); never and on-failure only report it, and a later passing probe makes it running again.
   */
  private async handleUnhealthy(record: ModuleRecord, monitor: HealthMonitor, result: ProbeResult): Promise<void> {
    if (record.monitor !== monitor || this.closed) return;
    record.healthy = false;
    const policy = record.module?.restartPolicy ?? 'never';
    this.log.warn({ code: 'MODULE_UNHEALTHY', module: record.name, detail: result.detail, policy }, 'module unhealthy');
    if (policy !== 'on-unhealthy' && policy !== 'always') {
      record.status = 'unhealthy';
      record.statusDescription = `unhealthy: ${result.detail}`;
      this.emit();
      this.checkWatch();
      return;
    }
    await this.serialize(async () => {
      if (record.monitor !== monitor || this.closed) return;
      this.quiesce(record);
      record.stoppedByRuntime = true;
      await record.driver.stop(record.name, this.stopGraceMs);
      record.lastExitMs = Date.now();
      record.lastExitedAt = new Date(record.lastExitMs).toISOString();
      this.applyPolicy(record, 'unhealthy', `unhealthy: ${result.detail}`);
    });
  }

  private emit(): void {
    for (const listener of this.listeners) {
      try {
        listener();
      } catch (err) {
        this.log.warn({ code: 'RUNTIME_LISTENER_FAILED', err: errorMessage(err) }, 'change listener threw');
      }
    }
  }

  // --- last-known-good and rollback ---------------------------------------------------------------------------------

  private startWatch(deployment: AcceptedDeployment, previous: AcceptedDeployment): void {
    const windowMs = Math.round(deployment.manifest.agent.healthyWithinSecs * 1000);
    const timer = setTimeout(() => this.rollBack('the healthy window passed'), windowMs);
    const settleMs = Math.min(MAX_SETTLE_MS, Math.round(windowMs / 3));
    this.watch = { deployment, previous, timer, settleMs, recheck: null };
    this.log.info({ version: deployment.version, windowMs }, 'watching the update until every module is healthy');
  }

  /** Settles the watched update: good once every module desired running runs (healthy where probed). */
  private checkWatch(): void {
    const watch = this.watch;
    if (!watch || this.closed) return;
    if (this.unhealthyModules(watch, true).problems.length > 0) {
      this.rollBack('a module failed for good');
      return;
    }
    const { problems, settlesInMs } = this.unhealthyModules(watch, false);
    if (problems.length === 0) {
      this.endWatch(watch);
      void this.markGood(watch.deployment);
    } else if (settlesInMs !== null && watch.recheck === null) {
      watch.recheck = setTimeout(() => {
        watch.recheck = null;
        this.checkWatch();
      }, settlesInMs + 1);
    }
  }

  private endWatch(watch: UpdateWatch): void {
    clearTimeout(watch.timer);
    if (watch.recheck) clearTimeout(watch.recheck);
    if (this.watch === watch) this.watch = null;
  }

  /**
   * Modules of the watched deployment desired running that are not (yet) up: running (for settleMs without a probe)
   * and healthy where probed. With `final`, only the hopeless ones (failed). `settlesInMs`: when the earliest module
   * still settling will have run long enough.
   */
  private unhealthyModules(watch: UpdateWatch, final: boolean): { problems: string[]; settlesInMs: number | null } {
    const problems: string[] = [];
    let settlesInMs: number | null = null;
    const now = Date.now();
    for (const [name, module] of Object.entries(watch.deployment.manifest.modules)) {
      if (module.status !== 'running') continue;
      const record = this.records.get(name);
      const description = record?.statusDescription ? ` (${record.statusDescription})` : '';
      if (final) {
        if (record?.status === 'failed') problems.push(`module ${name}: failed${description}`);
        continue;
      }
      if (record?.status !== 'running') {
        problems.push(`module ${name}: ${record?.status ?? 'missing'}${description}`);
      } else if (isRunnableProbe(module.health)) {
        if (record.healthy !== true) problems.push(`module ${name}: not yet healthy (${module.health.type} probe)`);
      } else {
        const ranMs = now - (record.runningSinceMs ?? now);
        if (ranMs < watch.settleMs) {
          const restarts = record.restartCount > 0 ? `, restarted ${record.restartCount} times` : '';
          problems.push(`module ${name}: running for only ${ranMs} ms${restarts}`);
          const left = watch.settleMs - ranMs;
          settlesInMs = settlesInMs === null ? left : Math.min(settlesInMs, left);
        }
      }
    }
    return { problems, settlesInMs };
  }

  private rollBack(trigger: string): void {
    const watch = this.watch;
    if (!watch || this.closed) return;
    this.endWatch(watch);
    const reason = this.unhealthyModules(watch, false).problems.join('; ') || trigger;
    this.log.error(
      { code: 'DEPLOYMENT_UNHEALTHY', version: watch.deployment.version, reason, restoring: watch.previous.version },
      'update did not become healthy; rolling back',
    );
    this.options.onRolledBack?.(watch.deployment);
    void this.serialize(() => this.applyNow(watch.previous, { deployment: watch.deployment, reason })).catch((err) =>
      this.log.error({ code: 'ROLLBACK_FAILED', err: describeError(err) }, 'rollback failed'),
    );
  }

  private async markGood(deployment: AcceptedDeployment): Promise<void> {
    this.good = deployment;
    this.log.info({ version: deployment.version, deploymentId: deployment.id }, 'deployment is last-known-good');
    try {
      await this.options.saveLastKnownGood?.(deployment);
    } catch (err) {
      this.log.error({ code: 'LAST_KNOWN_GOOD_SAVE_FAILED', err: describeError(err) }, 'last-known-good not saved');
    }
    // Only now may artifacts of the previous deployment go: a rollback no longer needs them. Queued behind any apply
    // in progress, so cleanup never races a module being created.
    void this.serialize(() => this.cleanup(deployment));
  }

  private async cleanup(good: AcceptedDeployment): Promise<void> {
    // A newer deployment applied meanwhile may use other artifacts; its own turn as last-known-good cleans up.
    if (this.closed || this.current !== good) return;
    for (const driver of this.drivers.values()) {
      const keep = new Map(Object.entries(good.manifest.modules).filter(([, module]) => module.type === driver.type));
      await driver
        .cleanup(keep)
        .catch((err) =>
          this.log.warn(
            { code: 'DRIVER_CLEANUP_FAILED', type: driver.type, err: describeError(err) },
            'cleanup failed',
          ),
        );
    }
  }
}

function restartSettings(agent: AgentSettings): RestartSettings {
  return createRestartSettings({
    unitMs: Math.round(agent.restartBackoffUnitSecs * 1000),
    capMs: Math.round(agent.restartBackoffCapSecs * 1000),
    maxRestarts: agent.maxRestarts,
    healthyResetMs: Math.round(agent.healthyResetSecs * 1000),
  });
}

/** The status the reporter shows: which deployment, and its outcome (error paths only when there are some). */
function deploymentStatus(
  deployment: Pick<DeploymentStatus, 'source' | 'id' | 'version'>,
  outcome: DeploymentOutcome,
): DeploymentStatus {
  return {
    source: deployment.source,
    id: deployment.id,
    version: deployment.version,
    code: outcome.code,
    description: outcome.description,
    ...(outcome.errors ? { errors: outcome.errors } : {}),
  };
}

function sameDeployment(a: AcceptedDeployment, b: AcceptedDeployment): boolean {
  return a.source === b.source && a.id === b.id && a.version === b.version;
}

function describeError(err: unknown): string {
  if (err instanceof DriverError || err instanceof RuntimeError) return `${err.code}: ${err.message}`;
  return errorMessage(err);
}
