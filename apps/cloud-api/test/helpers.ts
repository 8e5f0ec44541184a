import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import {
  AgentGoodbyeV1,
  AgentHeartbeatV1,
  AgentHelloV1,
  type AgentMethodName,
  DevicePresenceChangedV1,
  decodeMessage,
  decodeReply,
  encodeErrorReply,
  encodeMessage,
  encodeReply,
  type MessageData,
  type MessageInput,
  MethodReplyV1,
  MethodRequestV1,
  OutpostError,
  type Role,
  type RpcDef,
  subjectMap,
  subjects,
} from '@outpost/protocol';
import { type SecureNatsServerHandle, waitFor } from '@outpost/testing';
import { connect, credsAuthenticator, headers, type NatsConnection, type Subscription } from 'nats';
import { createApp, type RunningApp } from '../src/app.js';
import { type AppConfig, loadConfig } from '../src/config/config.js';
import { createLogger } from '../src/logging/logger.js';

/** Every JSON log line an in-process app wrote, parsed. */
export class LogCapture {
  readonly lines: Record<string, unknown>[] = [];
  write(line: string): void {
    this.lines.push(JSON.parse(line) as Record<string, unknown>);
  }
  find(predicate: (line: Record<string, unknown>) => boolean): Record<string, unknown> | undefined {
    return this.lines.find(predicate);
  }
}

export interface TestApp {
  running: RunningApp;
  url: string;
  logs: LogCapture;
  /** The bootstrap admin token the app wrote on first start. */
  adminToken: string;
  tokenFile: string;
  /** The bootstrap admin user (`admin`) and the password the app wrote on first start. */
  adminPassword: string;
  passwordFile: string;
  close(): Promise<void>;
}

export interface TestAppOptions {
  natsUrl: string;
  databaseUrl: string;
  env?: Record<string, string>;
  /** Share a token file between replicas (defaults to a fresh one). */
  tokenFile?: string;
  /** Share the bootstrap admin password file between replicas (defaults to a fresh one). */
  passwordFile?: string;
}

/** Starts the API in-process on a free port, with its logs captured and a bootstrap admin token. */
export async function startTestApp(options: TestAppOptions): Promise<TestApp> {
  const tokenDir = options.tokenFile ? null : mkdtempSync(join(tmpdir(), 'outpost-token-'));
  const tokenFile = options.tokenFile ?? join(tokenDir ?? '', 'secrets', 'admin-token');
  const passwordFile = options.passwordFile ?? join(dirname(tokenFile), 'admin-password');
  const config: AppConfig = loadConfig({
    HOST: '127.0.0.1',
    PORT: '0',
    NATS_URL: options.natsUrl,
    DATABASE_URL: options.databaseUrl,
    LOG_LEVEL: 'debug',
    OUTPOST_BOOTSTRAP_TOKEN_FILE: tokenFile,
    OUTPOST_BOOTSTRAP_ADMIN_PASSWORD_FILE: passwordFile,
    // The cheapest cost the API accepts: tests hash many passwords; the stored format is the same.
    AUTH_PASSWORD_SCRYPT_COST: '14',
    ...options.env,
  });
  const logs = new LogCapture();
  const running = await createApp(config, { logger: createLogger(config.logLevel, logs) });
  return {
    running,
    url: running.url,
    logs,
    adminToken: readFileSync(tokenFile, 'utf8').trim(),
    tokenFile,
    adminPassword: readFileSync(passwordFile, 'utf8').trim(),
    passwordFile,
    async close() {
      await running.close();
      if (tokenDir) rmSync(tokenDir, { recursive: true, force: true });
    },
  };
}

export async function api(
  app: { url: string },
  path: string,
  init: { method?: string; token?: string | null; body?: unknown; rawBody?: string } = {},
): Promise<{ status: number; body: unknown; headers: Headers }> {
  const headers: Record<string, string> = {};
  if (init.token) headers.authorization = `Bearer ${init.token}`;
  let body: string | undefined;
  if (init.rawBody !== undefined) body = init.rawBody;
  else if (init.body !== undefined) body = JSON.stringify(init.body);
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${app.url}${path}`, { method: init.method ?? 'GET', headers, body });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON (e.g. the Swagger UI page): keep the text
  }
  return { status: response.status, body: parsed, headers: response.headers };
}

/** A simulated agent speaking the protocol on its own device subjects. */
export class FakeAgent {
  private seq = 0;
  constructor(
    private readonly nc: NatsConnection,
    readonly deviceId: string,
    readonly heartbeatIntervalMs = 200,
    readonly bootId = `boot-${Math.random().toString(36).slice(2)}`,
    readonly agentVersion = '0.1.0',
  ) {}

  hello(): void {
    this.nc.publish(
      subjects.device.hello(this.deviceId),
      encodeMessage(AgentHelloV1, {
        agentVersion: this.agentVersion,
        bootId: this.bootId,
        startedAt: new Date().toISOString(),
        heartbeatIntervalMs: this.heartbeatIntervalMs,
      }),
    );
  }

  heartbeat(): void {
    this.nc.publish(
      subjects.device.heartbeat(this.deviceId),
      encodeMessage(AgentHeartbeatV1, {
        agentVersion: this.agentVersion,
        bootId: this.bootId,
        seq: this.seq++,
        sentAt: new Date().toISOString(),
        heartbeatIntervalMs: this.heartbeatIntervalMs,
        uptimeSec: this.seq,
      }),
    );
  }

  goodbye(): void {
    this.nc.publish(
      subjects.device.goodbye(this.deviceId),
      encodeMessage(AgentGoodbyeV1, { bootId: this.bootId, reason: 'shutdown' }),
    );
  }

  /**
   * Answers the agent methods (`…agent.methods.<name>`) as the agent does: MethodReplyV1 `{ status: 200, payload }`
   * with what the handler returns, an error reply when it throws an OutpostError, and no answer at all when it returns
   * FakeAgent.NO_ANSWER (a stuck agent) or has no handler for the method. Every request is kept in `methodCalls`.
   */
  serveMethods(handlers: Partial<Record<AgentMethodName, (payload: unknown) => unknown>>): Subscription {
    return this.nc.subscribe(subjects.device.agentMethods(this.deviceId), {
      callback: (err, msg) => {
        if (err) return;
        const method = subjectMap.agentMethod.parse(msg.subject)?.method as AgentMethodName | undefined;
        const request = decodeMessage(MethodRequestV1, msg.data);
        this.methodCalls.push({ method: method ?? '?', payload: request.payload, reply: msg.reply ?? '' });
        const handler = method ? handlers[method] : undefined;
        if (!handler) return;
        let payload: unknown;
        try {
          payload = handler(request.payload);
        } catch (error) {
          if (!(error instanceof OutpostError)) throw error;
          msg.respond(encodeErrorReply(error.toBody()));
          return;
        }
        if (payload === FakeAgent.NO_ANSWER) return;
        msg.respond(encodeReply(MethodReplyV1, { status: 200, payload: payload as MethodPayload }));
      },
    });
  }

  static readonly NO_ANSWER = Symbol('no answer');
  readonly methodCalls: { method: string; payload: unknown; reply: string }[] = [];

  /** Heartbeats every `everyMs` until the returned function is called. */
  keepBeating(everyMs: number): () => void {
    const timer = setInterval(() => this.heartbeat(), everyMs);
    return () => clearInterval(timer);
  }
}

type MethodPayload = MessageInput<typeof MethodReplyV1>['payload'];

export type PresenceEvent = MessageData<typeof DevicePresenceChangedV1>;

/** Collects every presence event the API publishes. */
export function watchPresence(nc: NatsConnection): PresenceEvent[] {
  const events: PresenceEvent[] = [];
  nc.subscribe(subjects.events.devicePresence, {
    callback: (err, msg) => {
      if (!err) events.push(decodeMessage(DevicePresenceChangedV1, msg.data));
    },
  });
  return events;
}

export function natsClient(url: string): Promise<NatsConnection> {
  return connect({ servers: url, name: 'cloud-api-test' });
}

export interface DeviceBody {
  id: string;
  status: 'online' | 'offline';
  lastSeen: string | null;
  agentVersion: string | null;
  tags: Record<string, string>;
  createdAt: string;
}

/**
 * Registers a device through the API (POST /api/v1/devices with the bootstrap admin token): presence refuses hellos
 * and heartbeats from devices the registry does not know. Returns the device's one-time enrolment token.
 */
export async function registerDevice(
  app: { url: string; adminToken: string },
  id: string,
  tags: Record<string, string> = {},
): Promise<string> {
  const { status, body } = await api(app, '/api/v1/devices', {
    method: 'POST',
    token: app.adminToken,
    body: { id, tags },
  });
  if (status !== 201) throw new Error(`registering device ${id} answered ${status}: ${JSON.stringify(body)}`);
  return (body as { enrollment: { token: string } }).enrollment.token;
}

/** Waits until GET /api/v1/devices/:id shows the device with this status. */
export function waitForStatus(
  app: { url: string },
  token: string,
  deviceId: string,
  status: 'online' | 'offline',
  timeoutMs = 20_000,
): Promise<DeviceBody> {
  return waitFor(
    async () => {
      const { status: http, body } = await api(app, `/api/v1/devices/${deviceId}`, { token });
      return http === 200 && (body as DeviceBody).status === status ? (body as DeviceBody) : null;
    },
    { timeoutMs, intervalMs: 50, what: `device ${deviceId} ${status}` },
  );
}

/** Logs in over HTTP; returns the session token. */
export async function login(app: { url: string }, username: string, password: string): Promise<string> {
  const { status, body } = await api(app, '/api/v1/auth/login', { method: 'POST', body: { username, password } });
  if (status !== 200) throw new Error(`login as ${username} answered ${status}: ${JSON.stringify(body)}`);
  return (body as { token: string }).token;
}

let people = 0;

/** A new user with this role (created by the bootstrap admin token), logged in: returns its session token and id. */
export async function personWithRole(
  app: TestApp,
  role: Role,
): Promise<{ token: string; id: string; username: string }> {
  people += 1;
  const username = `${role}-${people}-${Math.random().toString(36).slice(2, 8)}`;
  const password = `password for ${username}`;
  const created = await api(app, '/api/v1/users', {
    method: 'POST',
    token: app.adminToken,
    body: { username, password, role },
  });
  if (created.status !== 201) throw new Error(`creating ${username} answered ${created.status}`);
  return { token: await login(app, username, password), id: (created.body as { id: string }).id, username };
}

/** A new API token with this role (created by the bootstrap admin token). */
export async function apiTokenWithRole(app: TestApp, role: Role, name = `${role}-token`): Promise<string> {
  const created = await api(app, '/api/v1/tokens', { method: 'POST', token: app.adminToken, body: { name, role } });
  if (created.status !== 201) throw new Error(`creating token ${name} answered ${created.status}`);
  return (created.body as { token: string }).token;
}

/** A NATS request as the portal makes it: the person's token in Outpost-Authorization. Resolves to the reply bytes. */
export async function rpcRaw<D extends RpcDef>(
  nc: NatsConnection,
  def: D,
  request: MessageInput<D['request']>,
  token: string | null,
  options: { timeout?: number; clientAddress?: string } = {},
): Promise<Uint8Array> {
  const h = headers();
  const payload = encodeMessage(def.request, request, {
    headers: h,
    ...(token ? { bearerToken: token } : {}),
    ...(options.clientAddress ? { clientAddress: options.clientAddress } : {}),
  });
  return (await nc.request(def.subject, payload, { headers: h, timeout: options.timeout ?? 5_000 })).data;
}

/** rpcRaw, decoded: throws the API's OutpostError for an error reply. */
export async function rpcCall<D extends RpcDef>(
  nc: NatsConnection,
  def: D,
  request: MessageInput<D['request']>,
  token: string | null,
  options: { timeout?: number; clientAddress?: string } = {},
): Promise<MessageData<D['response']>> {
  return decodeReply<D['response']>(def.response, await rpcRaw(nc, def, request, token, options));
}

/** The cloud API's variables for a NATS server in operator/TLS mode: its own creds, the pinned CA, the signing keys. */
export function secureNatsEnv(nats: SecureNatsServerHandle): Record<string, string> {
  return { NATS_CREDS: nats.serviceCreds.cloudApi, NATS_CA: nats.caFile, OUTPOST_IDENTITY_DIR: nats.identity.dir };
}

/** A connection with a freshly minted credential for `deviceId`, as the agent connects: TLS, its own reply inbox. */
export async function connectAsDevice(nats: SecureNatsServerHandle, deviceId: string): Promise<NatsConnection> {
  const creds = await nats.mintDeviceCreds(deviceId);
  return connect({
    servers: nats.url,
    tls: { caFile: nats.caFile },
    authenticator: credsAuthenticator(readFileSync(creds.credsFile)),
    inboxPrefix: subjects.device.inboxPrefix(deviceId),
    name: `device-${deviceId}`,
  });
}
