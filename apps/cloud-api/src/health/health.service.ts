import { Inject, Injectable } from '@nestjs/common';
import type { Health } from '@outpost/protocol';
import { LOGGER, type Logger } from '../logging/logger.js';
import { NATS_CONNECTION, type NatsConnectionService } from '../nats/nats-connection.js';
import { HealthRepository } from './health.repository.js';

/** Each check gets this long; a load balancer's probe must get an answer even when a dependency hangs. */
const CHECK_TIMEOUT_MS = 2_000;

type Check = Health['checks']['nats'];

@Injectable()
export class HealthService {
  private readonly log: Logger;
  /** Last result per check, so a probe polling every few seconds logs changes, not every failure. */
  private readonly lastOk = new Map<string, boolean>();

  constructor(
    private readonly repository: HealthRepository,
    @Inject(NATS_CONNECTION) private readonly nats: NatsConnectionService,
    @Inject(LOGGER) logger: Logger,
  ) {
    this.log = logger.child({ component: 'health' });
  }

  async check(): Promise<Health> {
    const [nats, database] = await Promise.all([
      this.run('nats', () => this.nats.ping(CHECK_TIMEOUT_MS)),
      this.run('database', () => this.repository.ping(CHECK_TIMEOUT_MS)),
    ]);
    return { status: nats.ok && database.ok ? 'ok' : 'degraded', checks: { nats, database } };
  }

  private async run(name: string, probe: () => Promise<void>): Promise<Check> {
    const wasOk = this.lastOk.get(name) ?? true;
    try {
      await probe();
      this.lastOk.set(name, true);
      if (!wasOk) this.log.info({ check: name }, `${name} check ok again`);
      return { ok: true };
    } catch (err) {
      const error = err instanceof Error ? err.message : String(err);
      this.lastOk.set(name, false);
      if (wasOk) this.log.warn({ code: 'HEALTH_CHECK_FAILED', check: name, err: error }, `${name} check failed`);
      return { ok: false, error };
    }
  }
}
