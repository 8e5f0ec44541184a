/**
 * Publishes the device's reported state (ReportedStateV1): on every runtime change (debounced, so a burst of
 * restarts is one report), on every (re)connect, and every heartbeat interval. Offline reports are skipped, not
 * buffered: the next one carries the truth, and (bootId, seq) lets the cloud drop one that arrives late.
 */
import { encodeMessage, type MessageInput, ReportedStateV1, subjects } from '@outpost/protocol';
import type { AgentConnection } from '../connection/index.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import type { ModuleView } from '../runtime/contracts.js';
import type { DeploymentStatus } from '../runtime/runtime.js';

export const REPORT_DEBOUNCE_MS = 200;
const MAX_DESCRIPTION = 1024;
const MAX_ERRORS = 100;

/** What the reporter reads; the Runtime provides all of it. */
export interface ReportSource {
  modules(): readonly ModuleView[];
  deployment(): DeploymentStatus;
  onChange(listener: () => void): () => void;
}

export interface StateReporterOptions {
  readonly deviceId: string;
  /** The Presence's bootId, so reports and heartbeats of one agent run share it. */
  readonly bootId: string;
  readonly connection: Pick<AgentConnection, 'current' | 'onConnected'>;
  readonly source: ReportSource;
  readonly heartbeatIntervalMs: number;
  readonly debounceMs?: number;
  readonly log: Logger;
}

export type ReportedState = MessageInput<typeof ReportedStateV1>;

/** Builds one report from the runtime's state; seq and time are the caller's. */
export function buildReportedState(source: ReportSource, bootId: string, seq: number): ReportedState {
  const desired = source.deployment();
  const modules: ReportedState['modules'] = {};
  for (const view of source.modules()) {
    modules[view.name] = {
      status: view.status,
      ...(view.statusDescription !== undefined ? { statusDescription: clip(view.statusDescription) } : {}),
      exitCode: view.exitCode,
      restartCount: view.restartCount,
      lastStartedAt: view.lastStartedAt,
      lastExitedAt: view.lastExitedAt,
      lastRestartedAt: view.lastRestartedAt,
      type: view.type,
      version: view.version === null ? null : view.version.slice(0, 128),
    };
  }
  return {
    bootId,
    seq,
    reportedAt: new Date().toISOString(),
    desired: {
      version: desired.version,
      code: desired.code,
      description: clip(desired.description),
      ...(desired.source !== null ? { source: desired.source } : {}),
      deploymentId: desired.id === null ? null : desired.id.slice(0, 256),
      ...(desired.errors
        ? {
            errors: desired.errors
              .slice(0, MAX_ERRORS)
              .map((e) => ({ path: e.path.slice(0, 512), message: clip(e.message) })),
          }
        : {}),
    },
    modules,
  };
}

function clip(text: string): string {
  return text.length <= MAX_DESCRIPTION ? text : `${text.slice(0, MAX_DESCRIPTION - 1)}…`;
}

export class StateReporter {
  private readonly options: StateReporterOptions;
  private readonly log: Logger;
  private seq = 0;
  private debounceTimer: NodeJS.Timeout | null = null;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private unsubscribe: (() => void) | null = null;
  private stopped = false;

  constructor(options: StateReporterOptions) {
    this.options = options;
    this.log = options.log.child({ component: 'reporter' });
  }

  start(): void {
    this.unsubscribe = this.options.source.onChange(() => this.changed());
    this.options.connection.onConnected(() => this.publish());
    this.heartbeatTimer = setInterval(() => this.publish(), this.options.heartbeatIntervalMs);
  }

  stop(): void {
    this.stopped = true;
    this.unsubscribe?.();
    if (this.debounceTimer) clearTimeout(this.debounceTimer);
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.debounceTimer = null;
    this.heartbeatTimer = null;
  }

  /** Something changed: report once the burst is over. */
  changed(): void {
    if (this.stopped || this.debounceTimer) return;
    this.debounceTimer = setTimeout(() => {
      this.debounceTimer = null;
      this.publish();
    }, this.options.debounceMs ?? REPORT_DEBOUNCE_MS);
  }

  /** Publishes now if connected; false when offline (skipped). */
  publish(): boolean {
    if (this.stopped) return false;
    const nc = this.options.connection.current();
    if (!nc) return false;
    try {
      const report = buildReportedState(this.options.source, this.options.bootId, ++this.seq);
      nc.publish(subjects.device.reported(this.options.deviceId), encodeMessage(ReportedStateV1, report));
      this.log.debug({ seq: this.seq }, 'reported state sent');
      return true;
    } catch (err) {
      this.log.warn({ code: 'REPORT_FAILED', err: errorMessage(err) }, 'reported state not sent');
      return false;
    }
  }
}
