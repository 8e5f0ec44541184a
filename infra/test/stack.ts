import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
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
  /** More agent config (moduleUser, modulesDir, ...). */
  config?: Record<string, unknown>;
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
      ...options.config,
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

/**
 * A device joining as a real one does (and as `pnpm dev` enrols dev-device-01): registered through the API with the
 * admin token, then `outpost-agent enroll` with the one-time token the API answered, which writes the device's
 * credential, the pinned CA and the deployment-signing keys it trusts (trusted-keys.json) into `<dir>/state`.
 * `dir` is traversable (0711) so a module user can reach `<dir>/modules`; the state dir stays the agent's (0700).
 */
export async function enrollDevice(options: {
  apiUrl: string;
  adminToken: string;
  natsUrl: string;
  deviceId: string;
}): Promise<{ dir: string; stateDir: string; modulesDir: string; credsFile: string; caFile: string }> {
  const registered = await fetch(`${options.apiUrl}/api/v1/devices`, {
    method: 'POST',
    headers: { authorization: `Bearer ${options.adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ id: options.deviceId }),
  });
  const body = (await registered.json()) as { enrollment?: { token?: string } };
  const token = body.enrollment?.token;
  if (registered.status !== 201 || typeof token !== 'string') {
    throw new Error(`registering ${options.deviceId} answered ${registered.status}: ${JSON.stringify(body)}`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'outpost-e2e-agent-'));
  chmodSync(dir, 0o711);
  const stateDir = join(dir, 'state');
  const modulesDir = join(dir, 'modules');
  mkdirSync(modulesDir, { mode: 0o755 });
  const cli = join(repoRoot, 'apps/edge-agent/dist/cli.js');
  const args = ['enroll', '--nats', options.natsUrl, '--token', token, '--state-dir', stateDir];
  await new Promise<void>((resolveEnroll, rejectEnroll) => {
    execFile(
      process.execPath,
      [cli, ...args, '--config', join(dir, 'agent.json')],
      { encoding: 'utf8', timeout: 60_000 },
      (err, stdout, stderr) =>
        err
          ? rejectEnroll(new Error(`outpost-agent enroll failed: ${err.message}\n${stdout}${stderr}`))
          : resolveEnroll(),
    );
  });
  return { dir, stateDir, modulesDir, credsFile: join(stateDir, 'device.creds'), caFile: join(stateDir, 'ca.pem') };
}

export { pidsWithMarker } from '@outpost/testing';

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
