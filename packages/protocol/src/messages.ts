import { z } from 'zod';
import { defineMessage } from './catalog.js';

/** What an agent says about itself on every (re)connect. The device id is the one in the subject. */
export const AgentHelloV1 = defineMessage(
  'agent.hello',
  1,
  z.object({
    agentVersion: z.string().min(1).max(64),
    /** Random per process start, so the cloud can tell a restart from a reconnect. */
    bootId: z.string().min(1).max(64),
    startedAt: z.iso.datetime(),
    heartbeatIntervalMs: z.number().int().min(100).max(3_600_000),
    hostname: z.string().max(255).optional(),
    platform: z.string().max(64).optional(),
  }),
);

/** Sent every heartbeat interval. Carries enough to register presence even if the hello was missed. */
export const AgentHeartbeatV1 = defineMessage(
  'agent.heartbeat',
  1,
  z.object({
    agentVersion: z.string().min(1).max(64),
    bootId: z.string().min(1).max(64),
    seq: z.number().int().nonnegative(),
    sentAt: z.iso.datetime(),
    heartbeatIntervalMs: z.number().int().min(100).max(3_600_000),
    uptimeSec: z.number().nonnegative(),
  }),
);

/** Sent on a clean shutdown: the cloud marks the device offline at once. */
export const AgentGoodbyeV1 = defineMessage(
  'agent.goodbye',
  1,
  z.object({
    bootId: z.string().min(1).max(64),
    reason: z.string().max(200),
  }),
);
