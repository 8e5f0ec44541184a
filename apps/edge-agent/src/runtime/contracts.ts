/**
 * The seams of the agent runtime. Drivers (process, container) run module instances; the runtime (reconciler,
 * supervisor, health, reporter) decides what should run; the desired-state client feeds it deployments; the control
 * socket and agent methods read and steer it. Each side depends on these types only, so each can be tested alone.
 */
import type { Manifest, Module } from '@outpost/manifest';
import type { LogLine, ModuleRuntimeStatus } from '@outpost/protocol';

export type ModuleType = Module['type'];

/** One instance of a module as its driver sees it (a process or a container). */
export interface ModuleInstance {
  readonly name: string;
  readonly type: ModuleType;
  /**
   * The specHash given to createAndStart, stored with the instance (pid record, container label), so that after an
   * agent restart the reconciler can tell whether what runs is what is desired (adopt) or must be recreated.
   */
  readonly specHash: string;
  readonly state: 'running' | 'exited' | 'created';
  /** Last exit code; null while running, when it never ran, or when the exit was not observed (killed agent). */
  readonly exitCode: number | null;
  /** ISO 8601 times; null when unknown. */
  readonly startedAt: string | null;
  readonly exitedAt: string | null;
  /** The pid or container id, for messages and the CLI. */
  readonly runtimeId: string;
  /**
   * What the driver knows that the fields above cannot say (an adopted process whose exit code will be unknown, a
   * limit the OS could not apply), for the module's statusDescription. Absent when there is nothing to add.
   */
  readonly statusDescription?: string;
}

/** Filters for a module's logs, as Azure's GetModuleLogs: lines since/until a time, the last `tail`, or containing text. */
export interface LogQuery {
  readonly tail?: number;
  readonly since?: string;
  readonly until?: string;
  readonly contains?: string;
}

export interface ExecResult {
  readonly exitCode: number | null;
  /** stdout and stderr, truncated to a few KiB. */
  readonly output: string;
  readonly timedOut: boolean;
}

/** A failure a driver reports: the code goes into logs and the module's statusDescription. */
export class DriverError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DriverError';
    this.code = code;
  }
}

/**
 * Runs module instances of one type. Every method is safe to call again after a crash of the agent at any point
 * (idempotent), and the names are the manifest's module names (unique per device).
 */
export interface ModuleDriver {
  readonly type: ModuleType;
  /**
   * Makes sure everything createAndStart needs is on the device: the artifact fetched, sha256-verified and unpacked
   * (process), the image present or pulled per pullPolicy (container). Idempotent and may be slow.
   */
  prepare(name: string, module: Module): Promise<void>;
  /** Creates a new instance from the definition and starts it. Any earlier instance of that name was removed first. */
  createAndStart(name: string, module: Module, specHash: string): Promise<ModuleInstance>;
  /** Starts the existing instance again with the same definition (a restart after an exit, or a status change). */
  start(name: string): Promise<ModuleInstance>;
  /** SIGTERM, then SIGKILL after graceMs; resolves once it has exited. No-op when it is not running. */
  stop(name: string, graceMs: number): Promise<void>;
  /** Stops it if running and deletes the instance (artifacts and images stay until cleanup). No-op when absent. */
  remove(name: string, graceMs: number): Promise<void>;
  /** Every instance this driver manages on the device, including ones a previous agent run started (adoption). */
  list(): Promise<ModuleInstance[]>;
  /** Called once for every exit of an instance the driver knows, adopted ones included. */
  onExit(listener: (name: string, exitCode: number | null) => void): void;
  /** Runs argv in the module's environment (an exec health probe): same user, env and working directory. */
  exec(name: string, argv: readonly string[], timeoutMs: number): Promise<ExecResult>;
  /** The host address on which the agent reaches the module's ports (http and tcp probes). */
  probeHost(name: string): Promise<string>;
  logs(name: string, query: LogQuery): Promise<LogLine[]>;
  /** New lines as they are written, until the signal aborts. */
  followLogs(name: string, signal: AbortSignal): AsyncIterable<LogLine>;
  /** Deletes artifacts or images that no module in `keep` (by name) uses any more. */
  cleanup(keep: ReadonlyMap<string, Module>): Promise<void>;
  /** Stops watching; leaves instances running (what happens to modules on an agent restart is decided per driver). */
  close(): Promise<void>;
}

// --- deployments --------------------------------------------------------------------------------------------------

/** Where a deployment came from: the cloud (signed by the cloud's key) or `outpost-agent deploy` on the device. */
export type DeploymentSource = 'cloud' | 'local';

/** A deployment the desired-state client verified and validated, ready to apply. */
export interface AcceptedDeployment {
  readonly source: DeploymentSource;
  readonly id: string;
  readonly version: number;
  readonly createdAt: string;
  readonly manifest: Manifest;
  /**
   * The signed envelope `{ deployment, signature }` exactly as verified, persisted as last-known-good and verified
   * again on an offline boot. null for an unsigned local deployment (allowed by `allowUnsignedLocal`).
   */
  readonly signed: unknown;
}

/** lastDesiredStatus codes, as Azure: 200 applied, 400 invalid, 406 offline, 412 refused, 417 no deployment, 500 failed. */
export type DesiredStatusCode = 200 | 400 | 406 | 412 | 417 | 500;

export interface DeploymentOutcome {
  readonly code: DesiredStatusCode;
  readonly description: string;
  /** Every problem found (manifest paths), for 400 and 412. */
  readonly errors?: readonly { readonly path: string; readonly message: string }[];
}

/** The runtime, as the desired-state client sees it. */
export interface DeploymentSink {
  /** Plans and applies the deployment; resolves with the outcome once the plan ran (not waiting for health). */
  apply(deployment: AcceptedDeployment): Promise<DeploymentOutcome>;
  /** Reports a refused deployment (400/412): nothing on the device changes and it never becomes last-known-good. */
  refuse(version: number | null, source: DeploymentSource, outcome: DeploymentOutcome): void;
  /** The version last applied from `source`, to ignore stale ones; null before the first. */
  appliedVersion(source: DeploymentSource): number | null;
}

// --- what the CLI and agent methods see --------------------------------------------------------------------------

export interface ModuleView {
  readonly name: string;
  readonly type: ModuleType;
  readonly status: ModuleRuntimeStatus;
  readonly statusDescription?: string;
  readonly version: string | null;
  readonly restartCount: number;
  readonly exitCode: number | null;
  readonly lastStartedAt: string | null;
  readonly lastExitedAt: string | null;
  readonly lastRestartedAt: string | null;
}

export interface DeploymentView {
  readonly source: DeploymentSource | null;
  readonly id: string | null;
  readonly version: number | null;
  readonly code: DesiredStatusCode;
  readonly description: string;
}

/** The runtime, as the control socket and agent direct methods see it. */
export interface RuntimeControl {
  modules(): readonly ModuleView[];
  deployment(): DeploymentView;
  /** Restarts a module now (NOT_FOUND error when no such module is desired). */
  restartModule(name: string): Promise<void>;
  moduleLogs(name: string, query: LogQuery): Promise<LogLine[]>;
  followModuleLogs(name: string, signal: AbortSignal): AsyncIterable<LogLine>;
}
