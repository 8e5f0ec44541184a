import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getFreePort, type SpawnedProcess, spawnProcess } from '@outpost/testing';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Starts the built cloud API (`apps/cloud-api/dist/main.js`) the way an operator would. */
export async function startCloudApi(options: { natsUrl: string; databaseUrl: string; env?: NodeJS.ProcessEnv }) {
  const port = await getFreePort();
  const dir = mkdtempSync(join(tmpdir(), 'outpost-e2e-api-'));
  const tokenFile = join(dir, 'admin-token');
  const passwordFile = join(dir, 'admin-password');
  const proc = await spawnProcess(process.execPath, [join(repoRoot, 'apps/cloud-api/dist/main.js')], {
    cwd: dir,
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      NATS_URL: options.natsUrl,
      DATABASE_URL: options.databaseUrl,
      OUTPOST_BOOTSTRAP_TOKEN_FILE: tokenFile,
      OUTPOST_BOOTSTRAP_ADMIN_PASSWORD_FILE: passwordFile,
      ...options.env,
    },
    readyWhen: /cloud-api listening on/,
    readyTimeoutMs: 120_000,
  });
  const token = readFileSync(tokenFile, 'utf8').trim();
  const url = `http://127.0.0.1:${port}`;
  return {
    proc,
    url,
    token,
    /** The bootstrap admin user's (`admin`) password. */
    adminPassword: readFileSync(passwordFile, 'utf8').trim(),
    async get(path: string): Promise<{ status: number; body: unknown }> {
      const res = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${token}` } });
      return { status: res.status, body: await res.json() };
    },
  };
}

/**
 * Signs in to the portal through its login form, as a browser does, and returns the `Cookie` header value that
 * carries the session.
 */
export async function signInToPortal(portalUrl: string, username: string, password: string): Promise<string> {
  const response = await fetch(`${portalUrl}/api/auth/login`, {
    method: 'POST',
    body: new URLSearchParams({ username, password }),
    redirect: 'manual',
  });
  const cookie = response.headers.getSetCookie().find((c) => c.startsWith('outpost_session='));
  if (response.status !== 303 || !cookie) {
    throw new Error(`signing in to the portal as ${username} answered ${response.status}`);
  }
  return cookie.split(';')[0] ?? '';
}

/** Starts the built portal with `next start` on a free port. */
export async function startPortal(options: { natsUrl: string; env?: NodeJS.ProcessEnv }) {
  const port = await getFreePort();
  const portalDir = join(repoRoot, 'apps/portal');
  const proc = await spawnProcess(
    process.execPath,
    [join(portalDir, 'node_modules/next/dist/bin/next'), 'start', '-H', '127.0.0.1', '-p', String(port)],
    {
      cwd: portalDir,
      env: { ...process.env, NATS_URL: options.natsUrl, NEXT_TELEMETRY_DISABLED: '1', ...options.env },
      readyWhen: /Ready in|started server/i,
      readyTimeoutMs: 120_000,
    },
  );
  return { proc, url: `http://127.0.0.1:${port}` };
}

/** Starts the built edge agent with a config file of its own. */
export async function startAgent(options: {
  deviceId: string;
  natsUrl: string;
  heartbeatIntervalMs: number;
  dir?: string;
  /** The device's creds file and the CA it pins (as enrolment writes them). */
  credsFile?: string;
  caFile?: string;
}): Promise<{ proc: SpawnedProcess; dir: string }> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'outpost-e2e-agent-'));
  const config = join(dir, 'agent.json');
  writeFileSync(
    config,
    JSON.stringify({
      deviceId: options.deviceId,
      natsUrl: options.natsUrl,
      stateDir: join(dir, 'state'),
      heartbeatIntervalMs: options.heartbeatIntervalMs,
      ...(options.credsFile ? { credsFile: options.credsFile } : {}),
      ...(options.caFile ? { caFile: options.caFile } : {}),
    }),
  );
  const proc = await spawnProcess(
    process.execPath,
    [join(repoRoot, 'apps/edge-agent/dist/cli.js'), 'run', '--config', config],
    {
      readyWhen: /"msg":"connected"/,
      readyTimeoutMs: 60_000,
    },
  );
  return { proc, dir };
}

interface DeviceLike {
  id: string;
  status: string;
}

function isDeviceLike(value: unknown): value is DeviceLike {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as DeviceLike).id === 'string' &&
    typeof (value as DeviceLike).status === 'string'
  );
}

/** Every device object found anywhere inside an SSE event payload. */
function devicesIn(value: unknown, found: DeviceLike[] = []): DeviceLike[] {
  if (isDeviceLike(value)) found.push(value);
  else if (Array.isArray(value)) for (const item of value) devicesIn(item, found);
  else if (typeof value === 'object' && value !== null) for (const item of Object.values(value)) devicesIn(item, found);
  return found;
}

/**
 * Follows a Server-Sent Events stream and records the status of each device every time an event mentions it, so a
 * test can wait for "device X is online according to the live stream".
 */
export function followDeviceStream(url: string, cookie: string) {
  const controller = new AbortController();
  const latest = new Map<string, string>();
  let events = 0;
  let failure: unknown;
  const done = (async () => {
    const res = await fetch(url, { signal: controller.signal, headers: { accept: 'text/event-stream', cookie } });
    if (!res.ok || !res.body) throw new Error(`stream answered ${res.status}`);
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const chunk of res.body) {
      buffer += decoder.decode(chunk as Uint8Array, { stream: true });
      let end = buffer.indexOf('\n\n');
      while (end >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = block
          .split('\n')
          .filter((line) => line.startsWith('data:'))
          .map((line) => line.slice(5).trimStart())
          .join('\n');
        if (data) {
          events++;
          try {
            for (const device of devicesIn(JSON.parse(data))) latest.set(device.id, device.status);
          } catch {
            // a non-JSON event (none expected): ignore it
          }
        }
        end = buffer.indexOf('\n\n');
      }
    }
  })().catch((err) => {
    if (!controller.signal.aborted) failure = err;
  });
  return {
    statusOf: (deviceId: string) => {
      if (failure) throw failure;
      return latest.get(deviceId);
    },
    events: () => events,
    async close() {
      controller.abort();
      await done;
    },
  };
}
