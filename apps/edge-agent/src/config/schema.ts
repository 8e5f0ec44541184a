import { DeviceId } from '@outpost/protocol';
import { z } from 'zod';
import { LOG_LEVELS, type LogLevel } from '../logger.js';

export const HEARTBEAT_INTERVAL_DEFAULT_MS = 5_000;
export const HEARTBEAT_INTERVAL_MIN_MS = 100;
// The protocol's heartbeat schema allows at most an hour; a longer interval could never be sent.
export const HEARTBEAT_INTERVAL_MAX_MS = 3_600_000;

export const MODULE_USER_DEFAULT = 'outpost-modules';
export const DESIRED_REFRESH_DEFAULT_MS = 300_000;
export const DESIRED_REFRESH_MIN_MS = 100;

const NATS_URL_SCHEMES = ['nats:', 'tls:'];

function isNatsUrl(value: string): boolean {
  if (!URL.canParse(value)) return false;
  const url = new URL(value);
  return NATS_URL_SCHEMES.includes(url.protocol) && url.hostname !== '';
}

const NatsUrl = z.string().refine(isNatsUrl, 'must be a nats://host[:port] or tls://host[:port] URL');

/** The config file as written: JSON, unknown keys rejected so a typo is an error rather than a silent default. */
export const AgentConfigFile = z
  .strictObject({
    deviceId: DeviceId,
    natsUrl: NatsUrl.optional(),
    natsUrls: z.array(NatsUrl).min(1, 'must list at least one URL').optional(),
    stateDir: z.string().min(1, 'must not be empty'),
    heartbeatIntervalMs: z
      .number()
      .int('must be a whole number of milliseconds')
      .min(HEARTBEAT_INTERVAL_MIN_MS, `must be ≥ ${HEARTBEAT_INTERVAL_MIN_MS}`)
      .max(HEARTBEAT_INTERVAL_MAX_MS, `must be ≤ ${HEARTBEAT_INTERVAL_MAX_MS}`)
      .default(HEARTBEAT_INTERVAL_DEFAULT_MS),
    logLevel: z.enum(LOG_LEVELS).default('info'),
    /** The device's NATS creds file (user JWT + NKey seed), written at enrolment. Relative to the config file. */
    credsFile: z.string().min(1, 'must not be empty').optional(),
    /** The CA certificate pinned at enrolment; when set the agent connects with TLS only. Relative to the config file. */
    caFile: z.string().min(1, 'must not be empty').optional(),
    /** Where process modules' versioned artifact dirs and logs live. Relative to the config file; default <stateDir>/modules. */
    modulesDir: z.string().min(1, 'must not be empty').optional(),
    /** When the agent runs as root, process modules run as this user (never as root). */
    moduleUser: z.string().min(1, 'must not be empty').default(MODULE_USER_DEFAULT),
    /**
     * What stopping the agent does to modules: `keep` (a device: they run on and the next agent run adopts them, so an
     * agent upgrade does not interrupt them) or `stop` (the dev stack: Ctrl-C ends everything).
     */
    modulesOnAgentStop: z.enum(['keep', 'stop']).default('keep'),
    /** Accept `outpost-agent deploy --file` manifests that are not signed with the device-local key. */
    allowUnsignedLocal: z.boolean().default(false),
    /** How often the agent pulls its desired deployment even without a notification. */
    desiredRefreshIntervalMs: z
      .number()
      .int('must be a whole number of milliseconds')
      .min(DESIRED_REFRESH_MIN_MS, `must be ≥ ${DESIRED_REFRESH_MIN_MS}`)
      .default(DESIRED_REFRESH_DEFAULT_MS),
    /** The unix socket the device CLI talks to. Relative to the config file; default <stateDir>/agent.sock. */
    controlSocket: z.string().min(1, 'must not be empty').optional(),
    /** Container modules: the engine and what createOptions a deployment may ask for. */
    containers: z
      .strictObject({
        /** Docker Engine API endpoint (unix:///path or tcp://host:port); default DOCKER_HOST, then /var/run/docker.sock. */
        dockerHost: z.string().min(1, 'must not be empty').optional(),
        allowPrivileged: z.boolean().default(false),
        allowHostPid: z.boolean().default(false),
        allowCapAdd: z.boolean().default(false),
        /** registryCredentialsRef → credentials; the password is read from a file so it never sits in the config. */
        registryCredentials: z
          .record(
            z.string().min(1),
            z.strictObject({
              serveraddress: z.string().min(1),
              username: z.string().min(1),
              passwordFile: z.string().min(1),
            }),
          )
          .default({}),
      })
      .prefault({}),
  })
  .superRefine((config, ctx) => {
    if (config.natsUrl !== undefined && config.natsUrls !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['natsUrls'], message: 'give natsUrl or natsUrls, not both' });
    }
    if (config.natsUrl === undefined && config.natsUrls === undefined) {
      ctx.addIssue({ code: 'custom', path: ['natsUrl'], message: 'required (or natsUrls, a list of URLs)' });
    }
  });
export type AgentConfigFile = z.input<typeof AgentConfigFile>;

/** The config the agent runs with: defaults applied, servers as one list, paths absolute. */
export interface AgentConfig {
  /** Absolute path of the file it came from, for messages. */
  readonly configPath: string;
  readonly deviceId: string;
  readonly natsServers: readonly string[];
  /** Absolute; a relative stateDir in the file is resolved against the file's directory. */
  readonly stateDir: string;
  readonly heartbeatIntervalMs: number;
  readonly logLevel: LogLevel;
  /** Absolute path of the creds file, or null to connect without credentials (plain NATS). */
  readonly credsFile: string | null;
  /** Absolute path of the pinned CA certificate, or null for plaintext NATS. */
  readonly caFile: string | null;
  /** Absolute. */
  readonly modulesDir: string;
  readonly moduleUser: string;
  readonly modulesOnAgentStop: 'keep' | 'stop';
  readonly allowUnsignedLocal: boolean;
  readonly desiredRefreshIntervalMs: number;
  /** Absolute. */
  readonly controlSocket: string;
  readonly containers: ContainerPolicy;
}

export interface ContainerPolicy {
  /** null: DOCKER_HOST, then the default socket. */
  readonly dockerHost: string | null;
  readonly allowPrivileged: boolean;
  readonly allowHostPid: boolean;
  readonly allowCapAdd: boolean;
  /** Password files absolute. */
  readonly registryCredentials: Readonly<
    Record<string, { readonly serveraddress: string; readonly username: string; readonly passwordFile: string }>
  >;
}
