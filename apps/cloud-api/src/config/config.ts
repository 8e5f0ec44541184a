import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { IdentityError, loadCloudAuthority, parseCredsFile } from '@outpost/nats-identity';
import { z } from 'zod';

/** Where the API keeps its state, decided once from DATABASE_URL. */
export type DatabaseTarget =
  | { kind: 'postgres'; url: string }
  | { kind: 'pglite'; dir: string }
  | { kind: 'pglite-memory' };

export interface AppConfig {
  host: string;
  port: number;
  natsUrl: string;
  /** How the API authenticates to NATS and what it may issue; all null = plain NATS (development, tests). */
  natsSecurity: {
    /** NATS_CREDS: the cloud API's own user creds file. */
    credsFile: string | null;
    /** NATS_CA: the CA to trust; when set, the API connects with TLS only. */
    caFile: string | null;
    /** OUTPOST_IDENTITY_DIR: account signing key, operator signing key and system user creds (mint and revoke). */
    identityDir: string | null;
  };
  database: DatabaseTarget;
  logLevel: LogLevel;
  /** Where to write the first admin token, or null to never create one. */
  bootstrapTokenFile: string | null;
  signing: {
    /**
     * The 32-byte AES-256-GCM key that seals deployment signing private keys at rest, or null to store them
     * unencrypted (development only; a warning is logged at every start). Never logged.
     */
    keyEncryptionKey: Buffer | null;
  };
  presence: {
    /** How often buffered heartbeats are written to the database (one multi-row upsert). */
    flushIntervalMs: number;
    /** How often this replica tries to sweep (only the one holding the advisory lock does). */
    sweepIntervalMs: number;
  };
  /** People and pipelines: bootstrap admin, sessions, login limits, password hashing. */
  auth: {
    /** Where to write the first admin user's password, or null to never create one. */
    bootstrapAdminPasswordFile: string | null;
    bootstrapAdminUsername: string;
    /** A session ends this long after login at the latest. */
    sessionTtlSeconds: number;
    /** …or after this long without a call. */
    sessionIdleSeconds: number;
    /** Failed logins per username before it is locked for `loginLockoutSeconds` (counted from the first failure). */
    loginMaxFailures: number;
    loginLockoutSeconds: number;
    /** Login attempts per client address per `loginAddressWindowSeconds`. */
    loginAddressLimit: number;
    loginAddressWindowSeconds: number;
    /** log2 of scrypt's N for new password hashes (r = 8, p = 1). */
    passwordScryptCost: number;
  };
  /** Enrolment and device credentials (docs/adr/0009-enrolment.md). */
  enrollment: {
    /** A device's one-time enrolment token works this long after the device is created. */
    tokenTtlSeconds: number;
    /** Lifetime of a device's NATS user JWT; the agent renews it before it ends. */
    deviceCredentialTtlSeconds: number;
    /** Enrolment attempts per group token, and per device id, per `rateWindowSeconds`. */
    groupRateLimit: number;
    deviceRateLimit: number;
    rateWindowSeconds: number;
  };
  /** Module artifacts (`POST /api/v1/artifacts`). */
  artifacts: {
    /** Uploads larger than this are refused with 413. */
    maxBytes: number;
  };
  /** Agent methods the API relays (module logs, restarts). */
  deviceMethods: {
    /** How long the API waits for the agent's answer before 504 DEVICE_TIMEOUT. */
    timeoutMs: number;
  };
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The embedded database when DATABASE_URL is unset, relative to the working directory. */
export const DEFAULT_PGLITE_DIR = '.outpost/db';

const milliseconds = (fallback: number, min: number, max: number) =>
  z.coerce
    .number({ error: 'must be a number of milliseconds' })
    .int('must be a whole number of milliseconds')
    .min(min, `must be at least ${min}`)
    .max(max, `must be at most ${max}`)
    .default(fallback);

const wholeNumber = (fallback: number, min: number, max: number) =>
  z.coerce
    .number({ error: 'must be a number' })
    .int('must be a whole number')
    .min(min, `must be at least ${min}`)
    .max(max, `must be at most ${max}`)
    .default(fallback);

const EnvSchema = z.object({
  OUTPOST_ENROLLMENT_TOKEN_TTL_SECONDS: wholeNumber(24 * 3600, 1, 30 * 24 * 3600),
  OUTPOST_DEVICE_CREDENTIAL_TTL_SECONDS: wholeNumber(30 * 24 * 3600, 5, 366 * 24 * 3600),
  OUTPOST_ENROLLMENT_GROUP_RATE_LIMIT: wholeNumber(120, 1, 1_000_000),
  OUTPOST_ENROLLMENT_DEVICE_RATE_LIMIT: wholeNumber(10, 1, 1_000_000),
  OUTPOST_ENROLLMENT_RATE_WINDOW_SECONDS: wholeNumber(60, 1, 24 * 3600),
  HOST: z.string().min(1, 'must not be empty').default('127.0.0.1'),
  PORT: z.coerce
    .number({ error: 'must be a port number' })
    .int('must be a whole number')
    .min(0, 'must be 0-65535')
    .max(65535, 'must be 0-65535')
    .default(4000),
  NATS_URL: z
    .string()
    .default('nats://127.0.0.1:4222')
    .refine(
      (value) => value.split(',').every(isNatsServerUrl),
      'must be nats://host:port (comma-separated for several)',
    ),
  DATABASE_URL: z
    .string()
    .optional()
    .transform((value, ctx): DatabaseTarget => {
      const target = parseDatabaseUrl(value);
      if (typeof target === 'string') {
        ctx.addIssue({ code: 'custom', message: target });
        return z.NEVER;
      }
      return target;
    }),
  LOG_LEVEL: z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(', ')}` }).default('info'),
  OUTPOST_BOOTSTRAP_ADMIN_PASSWORD_FILE: z.string().min(1, 'must be a file path when set').optional(),
  OUTPOST_BOOTSTRAP_ADMIN_USERNAME: z
    .string()
    .trim()
    .toLowerCase()
    .regex(/^[a-z0-9][a-z0-9._@+-]{2,63}$/, 'must be 3-64 letters, digits, . _ @ + - (starting with a letter or digit)')
    .default('admin'),
  AUTH_SESSION_TTL_SECONDS: wholeNumber(43_200, 1, 31 * 86_400),
  AUTH_SESSION_IDLE_SECONDS: wholeNumber(7_200, 1, 31 * 86_400),
  AUTH_LOGIN_MAX_FAILURES: wholeNumber(5, 1, 1_000),
  AUTH_LOGIN_LOCKOUT_SECONDS: wholeNumber(900, 1, 86_400),
  AUTH_LOGIN_ADDRESS_LIMIT: wholeNumber(30, 1, 100_000),
  AUTH_LOGIN_ADDRESS_WINDOW_SECONDS: wholeNumber(60, 1, 86_400),
  AUTH_PASSWORD_SCRYPT_COST: wholeNumber(17, 14, 20),
  OUTPOST_BOOTSTRAP_TOKEN_FILE: z.string().min(1, 'must be a file path when set').optional(),
  OUTPOST_SIGNING_KEY_ENCRYPTION_KEY: z
    .string()
    .optional()
    .transform((value, ctx): Buffer | null => {
      if (value === undefined) return null;
      const key = parseEncryptionKey(value);
      if (!key) {
        // Never quote the value: it is a secret.
        ctx.addIssue({ code: 'custom', message: 'must be 32 random bytes as base64 or 64 hex digits' });
        return z.NEVER;
      }
      return key;
    }),
  NATS_CREDS: z
    .string()
    .optional()
    .transform((value, ctx) => checkedPath(value, ctx, (path) => parseCredsFile(readFileSync(path, 'utf8'), path))),
  NATS_CA: z
    .string()
    .optional()
    .transform((value, ctx) =>
      checkedPath(value, ctx, (path) => {
        if (!readFileSync(path, 'utf8').includes('-----BEGIN CERTIFICATE-----')) {
          throw new Error(`${path} holds no PEM certificate`);
        }
      }),
    ),
  OUTPOST_IDENTITY_DIR: z
    .string()
    .optional()
    .transform((value, ctx) => checkedPath(value, ctx, (path) => loadCloudAuthority(path))),
  OUTPOST_ARTIFACT_MAX_BYTES: wholeNumber(256 * 1024 * 1024, 1, 16 * 1024 * 1024 * 1024),
  OUTPOST_DEVICE_METHOD_TIMEOUT_MS: milliseconds(15_000, 100, 300_000),
  PRESENCE_FLUSH_INTERVAL_MS: milliseconds(1000, 10, 60_000),
  PRESENCE_SWEEP_INTERVAL_MS: milliseconds(5000, 10, 600_000),
});

/**
 * An absolute path when `check` accepts what is there, else a config issue saying why (file and reason only: the
 * files hold secrets, and no message quotes their content).
 */
function checkedPath(value: string | undefined, ctx: z.RefinementCtx, check: (path: string) => unknown): string | null {
  if (value === undefined) return null;
  const path = resolve(value);
  try {
    check(path);
    return path;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const message =
      err instanceof IdentityError
        ? err.message
        : code === 'ENOENT'
          ? `${path} does not exist`
          : code
            ? `${path} cannot be read (${code})`
            : err instanceof Error
              ? err.message
              : String(err);
    ctx.addIssue({ code: 'custom', message: `is not usable: ${message}` });
    return z.NEVER;
  }
}

function isNatsServerUrl(value: string): boolean {
  try {
    const url = new URL(value.trim());
    return ['nats:', 'tls:', 'ws:', 'wss:'].includes(url.protocol) && url.hostname !== '';
  } catch {
    return false;
  }
}

/** 32 bytes written as 64 hex digits or base64 / base64url (`openssl rand -base64 32`), else undefined. */
function parseEncryptionKey(value: string): Buffer | undefined {
  const text = value.trim();
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Buffer.from(text, 'hex');
  if (/^[A-Za-z0-9+/_-]{43}=?$/.test(text)) {
    const key = Buffer.from(text.replace(/=$/, ''), 'base64url');
    if (key.length === 32) return key;
  }
  return undefined;
}

/** Parses DATABASE_URL into a target, or returns why it is not one. */
function parseDatabaseUrl(value: string | undefined): DatabaseTarget | string {
  if (value === undefined || value === '') return { kind: 'pglite', dir: resolve(DEFAULT_PGLITE_DIR) };
  if (value === 'pglite:memory') return { kind: 'pglite-memory' };
  if (value.startsWith('pglite:')) {
    const dir = value.slice('pglite:'.length);
    if (dir === '') return 'pglite: needs a directory (pglite:<dir>) or pglite:memory';
    return { kind: 'pglite', dir: isAbsolute(dir) ? dir : resolve(dir) };
  }
  if (value.startsWith('postgres://') || value.startsWith('postgresql://')) {
    try {
      new URL(value);
    } catch {
      return 'is not a valid postgres:// URL';
    }
    return { kind: 'postgres', url: value };
  }
  return 'must be postgres://…, postgresql://…, pglite:<dir> or pglite:memory';
}

export interface ConfigProblem {
  variable: string;
  message: string;
}

/** Thrown when the environment cannot be turned into a configuration; names each bad variable. */
export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
  constructor(readonly problems: ConfigProblem[]) {
    super(`Invalid configuration: ${problems.map((p) => `${p.variable} ${p.message}`).join('; ')}`);
    this.name = 'ConfigError';
  }
}

/** Reads and validates the configuration from environment variables (throws ConfigError). */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  // An empty variable (`PORT=`) means "unset", as shells and compose files often leave them.
  const present = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== ''));
  const parsed = EnvSchema.safeParse(present);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => ({
        variable: String(issue.path[0] ?? 'environment'),
        message: issue.message,
      })),
    );
  }
  const e = parsed.data;
  return {
    host: e.HOST,
    port: e.PORT,
    natsUrl: e.NATS_URL,
    natsSecurity: { credsFile: e.NATS_CREDS, caFile: e.NATS_CA, identityDir: e.OUTPOST_IDENTITY_DIR },
    database: e.DATABASE_URL,
    logLevel: e.LOG_LEVEL,
    bootstrapTokenFile: e.OUTPOST_BOOTSTRAP_TOKEN_FILE ? resolve(e.OUTPOST_BOOTSTRAP_TOKEN_FILE) : null,
    signing: { keyEncryptionKey: e.OUTPOST_SIGNING_KEY_ENCRYPTION_KEY },
    presence: {
      flushIntervalMs: e.PRESENCE_FLUSH_INTERVAL_MS,
      sweepIntervalMs: e.PRESENCE_SWEEP_INTERVAL_MS,
    },
    auth: {
      bootstrapAdminPasswordFile: e.OUTPOST_BOOTSTRAP_ADMIN_PASSWORD_FILE
        ? resolve(e.OUTPOST_BOOTSTRAP_ADMIN_PASSWORD_FILE)
        : null,
      bootstrapAdminUsername: e.OUTPOST_BOOTSTRAP_ADMIN_USERNAME,
      sessionTtlSeconds: e.AUTH_SESSION_TTL_SECONDS,
      sessionIdleSeconds: e.AUTH_SESSION_IDLE_SECONDS,
      loginMaxFailures: e.AUTH_LOGIN_MAX_FAILURES,
      loginLockoutSeconds: e.AUTH_LOGIN_LOCKOUT_SECONDS,
      loginAddressLimit: e.AUTH_LOGIN_ADDRESS_LIMIT,
      loginAddressWindowSeconds: e.AUTH_LOGIN_ADDRESS_WINDOW_SECONDS,
      passwordScryptCost: e.AUTH_PASSWORD_SCRYPT_COST,
    },
    enrollment: {
      tokenTtlSeconds: e.OUTPOST_ENROLLMENT_TOKEN_TTL_SECONDS,
      deviceCredentialTtlSeconds: e.OUTPOST_DEVICE_CREDENTIAL_TTL_SECONDS,
      groupRateLimit: e.OUTPOST_ENROLLMENT_GROUP_RATE_LIMIT,
      deviceRateLimit: e.OUTPOST_ENROLLMENT_DEVICE_RATE_LIMIT,
      rateWindowSeconds: e.OUTPOST_ENROLLMENT_RATE_WINDOW_SECONDS,
    },
    artifacts: { maxBytes: e.OUTPOST_ARTIFACT_MAX_BYTES },
    deviceMethods: { timeoutMs: e.OUTPOST_DEVICE_METHOD_TIMEOUT_MS },
  };
}

/** Nest injection token for the AppConfig. */
export const APP_CONFIG = Symbol('APP_CONFIG');
