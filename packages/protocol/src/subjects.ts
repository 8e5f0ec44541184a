import { DeviceId } from './ids.js';

/**
 * Every NATS subject Outpost uses. Apps import these; they never spell a subject themselves.
 *
 * Layout:
 *  - `outpost.dev.<deviceId>.>`  — everything a device publishes or receives (a device credential allows only its own).
 *  - `outpost.api.v1.>`          — request/reply calls to the cloud API (portal, tools).
 *  - `outpost.events.v1.>`       — events the cloud API publishes (presence changes, ...).
 */
const DEVICE_PREFIX = 'outpost.dev';

function devicePrefix(deviceId: string): string {
  // Guard here too: a bad id would silently widen or break a subject.
  DeviceId.parse(deviceId);
  return `${DEVICE_PREFIX}.${deviceId}`;
}

export const subjects = {
  device: {
    /** Everything under one device's space: what its credential is allowed. */
    all: (deviceId: string) => `${devicePrefix(deviceId)}.>`,
    hello: (deviceId: string) => `${devicePrefix(deviceId)}.agent.hello`,
    heartbeat: (deviceId: string) => `${devicePrefix(deviceId)}.agent.heartbeat`,
    goodbye: (deviceId: string) => `${devicePrefix(deviceId)}.agent.goodbye`,
  },
  /** Wildcards the cloud subscribes to (in a queue group), one per device message kind. */
  fleet: {
    hello: `${DEVICE_PREFIX}.*.agent.hello`,
    heartbeat: `${DEVICE_PREFIX}.*.agent.heartbeat`,
    goodbye: `${DEVICE_PREFIX}.*.agent.goodbye`,
  },
  api: {
    devicesList: 'outpost.api.v1.devices.list',
    devicesGet: 'outpost.api.v1.devices.get',
  },
  events: {
    devicePresence: 'outpost.events.v1.devices.presence',
  },
} as const;

/** The queue group every cloud API replica joins, so each message is handled once. */
export const CLOUD_API_QUEUE = 'outpost-cloud-api';

/**
 * The device id a device subject belongs to, or null when the subject is not a well-formed device subject.
 * The id in the subject is the one the NATS permissions vouch for, so the cloud trusts it over any id in a body.
 */
export function deviceIdFromSubject(subject: string): string | null {
  const parts = subject.split('.');
  if (parts.length < 4 || parts[0] !== 'outpost' || parts[1] !== 'dev') return null;
  const id = parts[2] ?? '';
  return DeviceId.safeParse(id).success ? id : null;
}
