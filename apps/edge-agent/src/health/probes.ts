/**
 * Health probes (exec, http, tcp) and the monitor that runs one on an interval and turns consecutive failures into
 * `unhealthy`. The supervisor decides what an unhealthy module means (restart or report only).
 */
import { request } from 'node:http';
import { connect } from 'node:net';
import type { HealthProbe } from '@outpost/manifest';
import { errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import type { ModuleDriver } from '../runtime/contracts.js';

export interface ProbeResult {
  readonly healthy: boolean;
  /** Why it failed (or what answered), for the module's statusDescription. */
  readonly detail: string;
}

/** The probes the agent runs itself; `heartbeat` comes from the module SDK and is not run here. */
export type RunnableProbe = Exclude<HealthProbe, { type: 'heartbeat' }>;

export function isRunnableProbe(probe: HealthProbe | undefined): probe is RunnableProbe {
  return probe !== undefined && probe.type !== 'heartbeat';
}

/** Runs one probe against module `name`, never longer than its timeout; never throws. */
export async function runProbe(probe: RunnableProbe, name: string, driver: ModuleDriver): Promise<ProbeResult> {
  const timeoutMs = Math.max(1, Math.round(probe.timeoutSecs * 1000));
  try {
    switch (probe.type) {
      case 'exec': {
        const result = await driver.exec(name, probe.command, timeoutMs);
        if (result.timedOut) return { healthy: false, detail: `exec probe timed out after ${timeoutMs} ms` };
        return result.exitCode === 0
          ? { healthy: true, detail: 'exec probe exited 0' }
          : { healthy: false, detail: `exec probe exited with code ${result.exitCode}` };
      }
      case 'http':
        return await httpProbe(await driver.probeHost(name), probe.port, probe.path, timeoutMs);
      case 'tcp':
        return await tcpProbe(await driver.probeHost(name), probe.port, timeoutMs);
    }
  } catch (err) {
    return { healthy: false, detail: `${probe.type} probe failed: ${errorMessage(err)}` };
  }
}

function httpProbe(host: string, port: number, path: string, timeoutMs: number): Promise<ProbeResult> {
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}${path}`;
  return new Promise((resolve) => {
    const req = request(url, { method: 'GET', timeout: timeoutMs }, (res) => {
      res.resume();
      const status = res.statusCode ?? 0;
      resolve(
        status >= 200 && status < 400
          ? { healthy: true, detail: `http probe ${url} answered ${status}` }
          : { healthy: false, detail: `http probe ${url} answered ${status}` },
      );
    });
    req.on('timeout', () => {
      req.destroy();
      resolve({ healthy: false, detail: `http probe ${url} timed out after ${timeoutMs} ms` });
    });
    req.on('error', (err) => resolve({ healthy: false, detail: `http probe ${url} failed: ${err.message}` }));
    req.end();
  });
}

function tcpProbe(host: string, port: number, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: timeoutMs });
    socket.once('connect', () => {
      socket.destroy();
      resolve({ healthy: true, detail: `tcp probe ${host}:${port} connected` });
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve({ healthy: false, detail: `tcp probe ${host}:${port} timed out after ${timeoutMs} ms` });
    });
    socket.once('error', (err) => {
      socket.destroy();
      resolve({ healthy: false, detail: `tcp probe ${host}:${port} failed: ${err.message}` });
    });
  });
}

export interface HealthMonitorOptions {
  readonly name: string;
  readonly probe: RunnableProbe;
  readonly driver: ModuleDriver;
  readonly log: Logger;
  /** Called on the first success and on every recovery. */
  readonly onHealthy: (result: ProbeResult) => void;
  /** Called once when failureThreshold consecutive probes failed (again after a recovery). */
  readonly onUnhealthy: (result: ProbeResult) => void;
}

/**
 * Probes one module every intervalSecs (the first after one interval, so a module gets time to listen) until stopped.
 * Probes never overlap: the next is scheduled when the previous one ended.
 */
export class HealthMonitor {
  private readonly options: HealthMonitorOptions;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private failures = 0;
  private healthy: boolean | null = null;

  constructor(options: HealthMonitorOptions) {
    this.options = options;
  }

  /** null before the first verdict, then whether the module is healthy. */
  get isHealthy(): boolean | null {
    return this.healthy;
  }

  start(): void {
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule(): void {
    if (this.stopped) return;
    const intervalMs = Math.max(1, Math.round(this.options.probe.intervalSecs * 1000));
    this.timer = setTimeout(() => void this.tick(), intervalMs);
  }

  private async tick(): Promise<void> {
    const { probe, name, driver } = this.options;
    const result = await runProbe(probe, name, driver);
    if (this.stopped) return;
    if (result.healthy) {
      this.failures = 0;
      if (this.healthy !== true) {
        this.healthy = true;
        this.options.onHealthy(result);
      }
    } else {
      this.failures += 1;
      this.options.log.debug({ module: name, failures: this.failures, detail: result.detail }, 'health probe failed');
      if (this.failures >= probe.failureThreshold && this.healthy !== false) {
        this.healthy = false;
        this.options.onUnhealthy(result);
      }
    }
    this.schedule();
  }
}
