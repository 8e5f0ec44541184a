import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  createTestDatabase,
  getFreePort,
  type NatsServerHandle,
  type SpawnedProcess,
  spawnProcess,
  type TestDatabase,
} from '@outpost/testing';
import { connect, type NatsConnection } from 'nats';
import { startMonitoredNatsServer } from './nats-monitor';

export const PORTAL_DIR = fileURLToPath(new URL('../..', import.meta.url));
export const CLOUD_API_MAIN = fileURLToPath(new URL('../../../cloud-api/dist/main.js', import.meta.url));
const NEXT_BIN = join(PORTAL_DIR, 'node_modules/next/dist/bin/next');

/**
 * Why the full-stack tests cannot run here, or null when they can. The cloud API is another app of this repo: turbo
 * builds it before the portal's tests (apps/portal/turbo.json), so in CI a missing build is a failure, not a skip.
 */
export function stackUnavailableReason(): string | null {
  if (existsSync(CLOUD_API_MAIN) || process.env.CI) return null;
  return `cloud API not built (${CLOUD_API_MAIN} missing): run \`pnpm --filter @outpost/cloud-api build\``;
}

export interface PortalStack {
  nats: NatsServerHandle;
  /** nats-server's HTTP monitoring endpoint. */
  monitorUrl: string;
  database: TestDatabase;
  api: SpawnedProcess;
  apiUrl: string;
  /** An admin bearer token for the API's REST side (the bootstrap token it wrote on first start). */
  adminToken: string;
  /** The bootstrap admin user's password (user `admin`), as the API wrote it on first start. */
  adminPassword: string;
  portal: SpawnedProcess;
  portalUrl: string;
  /** A NATS connection tests publish device messages on. */
  devices: NatsConnection;
  stop(): Promise<void>;
}

/**
 * A private nats-server, a fresh database, the real cloud API process and `next start` of the built portal. Presence
 * runs with short flush and sweep periods so a silent device goes offline within a couple of seconds.
 */
export async function startPortalStack(): Promise<PortalStack> {
  if (!existsSync(join(PORTAL_DIR, '.next/BUILD_ID'))) {
    throw new Error('apps/portal has no production build: run `pnpm build` (turbo does it before `pnpm test`)');
  }
  if (!existsSync(CLOUD_API_MAIN)) {
    throw new Error(`cloud API not built: ${CLOUD_API_MAIN} missing (run \`pnpm --filter @outpost/cloud-api build\`)`);
  }
  const cleanups: Array<() => Promise<void>> = [];
  const stop = async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
  };
  try {
    const { server: nats, monitorUrl } = await startMonitoredNatsServer();
    cleanups.push(() => nats.stop());

    const database = await createTestDatabase();
    cleanups.push(() => database.drop());

    const secrets = mkdtempSync(join(tmpdir(), 'outpost-portal-test-'));
    cleanups.push(async () => rmSync(secrets, { recursive: true, force: true }));
    const tokenFile = join(secrets, 'admin-token');
    const passwordFile = join(secrets, 'admin-password');
    const apiPort = await getFreePort();
    const api = await spawnProcess(process.execPath, [CLOUD_API_MAIN], {
      cwd: secrets,
      env: {
        ...process.env,
        HOST: '127.0.0.1',
        PORT: String(apiPort),
        NATS_URL: nats.url,
        DATABASE_URL: database.url,
        OUTPOST_BOOTSTRAP_TOKEN_FILE: tokenFile,
        OUTPOST_BOOTSTRAP_ADMIN_PASSWORD_FILE: passwordFile,
        // The cheapest scrypt cost the API accepts: the tests sign in often.
        AUTH_PASSWORD_SCRYPT_COST: '14',
        PRESENCE_FLUSH_INTERVAL_MS: '250',
        PRESENCE_SWEEP_INTERVAL_MS: '250',
      },
      readyWhen: /cloud-api listening on http:\/\//,
      readyTimeoutMs: 90_000,
    });
    cleanups.push(async () => {
      await api.stop('SIGTERM', 20_000);
    });

    const portalPort = await getFreePort();
    const portal = await spawnProcess(
      process.execPath,
      [NEXT_BIN, 'start', '-p', String(portalPort), '-H', '127.0.0.1'],
      {
        cwd: PORTAL_DIR,
        env: { ...process.env, NATS_URL: nats.url, NEXT_TELEMETRY_DISABLED: '1', NODE_ENV: 'production' },
        readyWhen: /Ready in/,
        readyTimeoutMs: 90_000,
      },
    );
    cleanups.push(async () => {
      await portal.stop('SIGTERM', 10_000);
    });

    const devices = await connect({ servers: nats.url, name: 'test-devices' });
    cleanups.push(() => devices.close());

    return {
      nats,
      monitorUrl,
      database,
      api,
      apiUrl: `http://127.0.0.1:${apiPort}`,
      adminToken: readFileSync(tokenFile, 'utf8').trim(),
      adminPassword: readFileSync(passwordFile, 'utf8').trim(),
      portal,
      portalUrl: `http://127.0.0.1:${portalPort}`,
      devices,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * Signs in through the portal's login form (as a browser posts it) and returns the `Cookie` header value that carries
 * the session on later requests.
 */
export async function signIn(portalUrl: string, username: string, password: string): Promise<string> {
  const response = await fetch(`${portalUrl}/api/auth/login`, {
    method: 'POST',
    body: new URLSearchParams({ username, password, next: '/devices' }),
    redirect: 'manual',
  });
  const cookie = response.headers.getSetCookie().find((c) => c.startsWith('outpost_session='));
  if (response.status !== 303 || !cookie) {
    throw new Error(`signing in as ${username} answered ${response.status} ${response.headers.get('location')}`);
  }
  return cookie.split(';')[0] ?? '';
}

/**
 * Registers a device through the REST API (as an operator would before it first connects): presence is only
 * recorded for devices the registry knows.
 */
export async function registerDevice(
  stack: Pick<PortalStack, 'apiUrl' | 'adminToken'>,
  id: string,
  tags: Record<string, string> = {},
): Promise<void> {
  const created = await fetch(`${stack.apiUrl}/api/v1/devices`, {
    method: 'POST',
    headers: { authorization: `Bearer ${stack.adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ id, tags }),
  });
  if (created.status !== 201) throw new Error(`registering ${id} answered ${created.status}`);
}
