import { randomUUID } from 'node:crypto';
import { AgentHeartbeatV1, AgentHelloV1, encodeMessage, subjects } from '@outpost/protocol';
import type { NatsConnection } from 'nats';

export interface SimulatedDevice {
  readonly id: string;
  /** Stops heartbeating without a goodbye, as a device that lost power would. */
  stopHeartbeats(): void;
}

/**
 * Speaks the agent's presence protocol on NATS exactly as an edge agent does: a hello, then a heartbeat every
 * interval on its own device subjects, encoded with the protocol codec.
 */
export function startSimulatedDevice(
  nc: NatsConnection,
  id: string,
  options: { heartbeatIntervalMs: number; agentVersion?: string },
): SimulatedDevice {
  const bootId = randomUUID();
  const startedAt = new Date();
  const agentVersion = options.agentVersion ?? '0.1.0';
  let seq = 0;

  nc.publish(
    subjects.device.hello(id),
    encodeMessage(AgentHelloV1, {
      agentVersion,
      bootId,
      startedAt: startedAt.toISOString(),
      heartbeatIntervalMs: options.heartbeatIntervalMs,
      hostname: `${id}.local`,
      platform: 'linux-x64',
    }),
  );
  const timer = setInterval(() => {
    seq += 1;
    nc.publish(
      subjects.device.heartbeat(id),
      encodeMessage(AgentHeartbeatV1, {
        agentVersion,
        bootId,
        seq,
        sentAt: new Date().toISOString(),
        heartbeatIntervalMs: options.heartbeatIntervalMs,
        uptimeSec: (Date.now() - startedAt.getTime()) / 1000,
      }),
    );
  }, options.heartbeatIntervalMs);

  return {
    id,
    stopHeartbeats: () => clearInterval(timer),
  };
}
