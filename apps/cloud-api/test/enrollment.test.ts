import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { createUserKey, formatCredsFile } from '@outpost/nats-identity';
import {
  decodeEnrollmentToken,
  decodeReply,
  EnrollReplyV1,
  EnrollRequestV1,
  encodeMessage,
  OutpostError,
  subjects,
} from '@outpost/protocol';
import {
  createTestDatabase,
  type SecureNatsServerHandle,
  type SpawnedProcess,
  spawnProcess,
  startSecureNatsServer,
  type TestDatabase,
  waitFor,
} from '@outpost/testing';
import { connect, credsAuthenticator, type NatsConnection } from 'nats';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  api,
  connectAsDevice,
  FakeAgent,
  secureNatsEnv,
  startTestApp,
  type TestApp,
  waitForStatus,
} from './helpers.js';

/**
 * Enrolment end to end against NATS in operator mode with TLS and a real database: the built agent CLI enrols with
 * the one token, then runs from what it saved; tokens are single use and expire; group tokens create devices;
 * revoked devices stay out across a server restart; unknown devices are refused.
 */
const AGENT_CLI = resolve(import.meta.dirname, '../../edge-agent/dist/cli.js');
const execFileAsync = promisify(execFile);

let nats: SecureNatsServerHandle;
let database: TestDatabase;
let app: TestApp;
const dirs: string[] = [];
const agents: SpawnedProcess[] = [];
const open: NatsConnection[] = [];

async function enrollCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileAsync(process.execPath, [AGENT_CLI, 'enroll', ...args], {
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

function stateDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'outpost-enroll-'));
  dirs.push(dir);
  return join(dir, 'state');
}

async function createDevice(id: string, tags: Record<string, string> = {}): Promise<string> {
  const { status, body } = await api(app, '/api/v1/devices', {
    method: 'POST',
    token: app.adminToken,
    body: { id, tags },
  });
  expect(status).toBe(201);
  return (body as { enrollment: { token: string } }).enrollment.token;
}

/** Sends one enrolment request the way the agent does, with the token's own enrolment credential. */
async function enrollRequest(token: string, deviceId: string, publicKey = createUserKey().publicKey) {
  const bundle = decodeEnrollmentToken(token);
  const creds = bundle.creds as { jwt: string; seed: string };
  const nc = await connect({
    servers: nats.url,
    tls: { caFile: nats.caFile },
    authenticator: credsAuthenticator(new TextEncoder().encode(formatCredsFile(creds.jwt, creds.seed))),
    inboxPrefix: subjects.enroll.inboxPrefix,
    reconnect: false,
  });
  open.push(nc);
  const reply = await nc.request(
    subjects.enroll.request,
    encodeMessage(EnrollRequestV1, { deviceId, token: bundle.secret, publicKey }),
    { timeout: 10_000 },
  );
  return decodeReply(EnrollReplyV1, reply.data);
}

async function refusal(work: Promise<unknown>): Promise<OutpostError> {
  const err = await work.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(OutpostError);
  return err as OutpostError;
}

beforeAll(async () => {
  nats = await startSecureNatsServer();
  database = await createTestDatabase();
  app = await startTestApp({
    natsUrl: nats.url,
    databaseUrl: database.url,
    env: {
      ...secureNatsEnv(nats),
      OUTPOST_ENROLLMENT_GROUP_RATE_LIMIT: '3',
      PRESENCE_FLUSH_INTERVAL_MS: '100',
      PRESENCE_SWEEP_INTERVAL_MS: '200',
    },
  });
  await waitFor(async () => (await api(app, '/healthz')).status === 200, { what: 'the API to reach NATS over TLS' });
});

afterAll(async () => {
  for (const agent of agents) await agent.stop('SIGTERM', 10_000).catch(() => {});
  for (const nc of open) if (!nc.isClosed()) await nc.close();
  await app?.close();
  await nats?.stop();
  await database?.drop();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('enrolment', () => {
  it('outpost-agent enroll saves the credential, CA and keys; run connects with them and the device shows online', async () => {
    const token = await createDevice('enrolled-01', { site: 'plant-7' });
    const dir = stateDir();
    const enrolled = await enrollCli(['--nats', nats.url, '--token', token, '--state-dir', dir]);
    expect(enrolled.stderr).toBe('');
    expect(enrolled.code).toBe(0);
    expect(enrolled.stdout).toContain('enrolled enrolled-01');
    for (const file of ['device.nk', 'device.creds', 'enrollment.json', 'agent.json']) {
      expect(statSync(join(dir, file)).mode & 0o077).toBe(0);
    }
    expect(readFileSync(join(dir, 'ca.pem'), 'utf8')).toBe(readFileSync(nats.caFile, 'utf8'));
    const trusted = JSON.parse(readFileSync(join(dir, 'trusted-keys.json'), 'utf8')) as { keyId: string }[];
    const listed = await api(app, '/api/v1/signing-keys', { token: app.adminToken });
    expect(trusted.map((k) => k.keyId)).toEqual(
      (listed.body as { items: { keyId: string }[] }).items.map((k) => k.keyId),
    );
    // The seed never left the device: the creds file holds the seed from device.nk.
    expect(readFileSync(join(dir, 'device.creds'), 'utf8')).toContain(
      readFileSync(join(dir, 'device.nk'), 'utf8').trim(),
    );
    expect(enrolled.stdout).not.toContain(readFileSync(join(dir, 'device.nk'), 'utf8').trim());

    const agent = await spawnProcess(process.execPath, [AGENT_CLI, 'run', '--config', join(dir, 'agent.json')]);
    agents.push(agent);
    const device = await waitForStatus(app, app.adminToken, 'enrolled-01', 'online', 30_000);
    expect(device.tags).toEqual({ site: 'plant-7' });
    await agent.stop('SIGTERM', 10_000);
  });

  it('refuses a reused token with a clear message, from the CLI too', async () => {
    const token = await createDevice('reused-01');
    await enrollRequest(token, 'reused-01');
    const again = await refusal(enrollRequest(token, 'reused-01'));
    expect(again.code).toBe('UNAUTHORIZED');
    expect(again.message).toMatch(/Enrolment token already used/);
    const cli = await enrollCli(['--nats', nats.url, '--token', token, '--state-dir', stateDir()]);
    expect(cli.code).toBe(2);
    expect(cli.stderr).toMatch(/refused by the cloud \(UNAUTHORIZED\): Enrolment token already used/);
    expect(cli.stderr).not.toContain(decodeEnrollmentToken(token).secret);
  });

  it('refuses an expired token and a token for another device', async () => {
    const token = await createDevice('expired-01');
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      await client.query(`update enrollment_tokens set expires_at = now() - interval '1 second' where device_id = $1`, [
        'expired-01',
      ]);
    } finally {
      await client.end();
    }
    const expired = await refusal(enrollRequest(token, 'expired-01'));
    expect(expired.message).toMatch(/Enrolment token expired at/);
    const other = await createDevice('other-01');
    expect((await refusal(enrollRequest(other, 'expired-01'))).message).toMatch(/is for device other-01/);
  });

  it('refuses a hello from a device the registry does not know, logged with a code', async () => {
    const nc = await connectAsDevice(nats, 'stranger-01');
    open.push(nc);
    new FakeAgent(nc, 'stranger-01').hello();
    await waitFor(() => app.logs.find((l) => l.code === 'UNKNOWN_DEVICE' && l.deviceId === 'stranger-01') ?? null, {
      what: 'UNKNOWN_DEVICE log line',
    });
    expect((await api(app, '/api/v1/devices/stranger-01', { token: app.adminToken })).status).toBe(404);
  });

  it('group tokens create devices with templated tags, are rate limited and expire', async () => {
    const created = await api(app, '/api/v1/enrollment-groups', {
      method: 'POST',
      token: app.adminToken,
      body: { name: 'line 3', tags: { line: 'L3', serial: '{deviceId}' }, expiresInSeconds: 3600, idPrefix: 'l3-' },
    });
    expect(created.status).toBe(201);
    const token = (created.body as { enrollment: { token: string } }).enrollment.token;
    expect(decodeEnrollmentToken(token).group).toBe(true);
    const dir = stateDir();
    // The token from a file (install scripts: a token on a command line shows in `ps`); not both ways at once.
    const tokenFile = join(dirname(dir), 'enrollment-token');
    writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
    const both = await enrollCli(['--nats', nats.url, '--token', token, '--token-file', tokenFile, '--state-dir', dir]);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('give --token or --token-file, not both');
    const cli = await enrollCli([
      '--nats',
      nats.url,
      '--token-file',
      tokenFile,
      '--state-dir',
      dir,
      '--device-id',
      'l3-0001',
    ]);
    expect(cli.stderr).toBe('');
    const device = await api(app, '/api/v1/devices/l3-0001', { token: app.adminToken });
    expect((device.body as { tags: Record<string, string> }).tags).toEqual({ line: 'L3', serial: 'l3-0001' });
    expect((await refusal(enrollRequest(token, 'other-0001'))).code).toBe('FORBIDDEN');
    expect((await refusal(enrollRequest(token, 'l3-0001'))).message).toMatch(/already exists/);
    // The limit is 3 per window; three attempts were made.
    const limited = await refusal(enrollRequest(token, 'l3-0002'));
    expect(limited.code).toBe('RATE_LIMITED');
    expect(await api(app, '/api/v1/devices/l3-0002', { token: app.adminToken })).toMatchObject({ status: 404 });

    const shortLived = await api(app, '/api/v1/enrollment-groups', {
      method: 'POST',
      token: app.adminToken,
      body: { name: 'short', expiresInSeconds: 60 },
    });
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      await client.query(`update enrollment_groups set expires_at = now() - interval '1 second' where name = 'short'`);
    } finally {
      await client.end();
    }
    const expired = await refusal(
      enrollRequest((shortLived.body as { enrollment: { token: string } }).enrollment.token, 'short-01'),
    );
    expect(expired.message).toMatch(/Group enrolment token short expired/);
  });

  it('revocation closes the device’s connection and keeps it out across a nats-server restart', async () => {
    const token = await createDevice('revoked-01');
    const dir = stateDir();
    expect((await enrollCli(['--nats', nats.url, '--token', token, '--state-dir', dir])).code).toBe(0);
    const creds = readFileSync(join(dir, 'device.creds'));
    const nc = await connect({
      servers: nats.url,
      tls: { caFile: nats.caFile },
      authenticator: credsAuthenticator(creds),
      inboxPrefix: subjects.device.inboxPrefix('revoked-01'),
      reconnect: false,
    });
    const closed = nc.closed();
    const revoked = await api(app, '/api/v1/devices/revoked-01/revoke', { method: 'POST', token: app.adminToken });
    expect(revoked.status).toBe(200);
    expect((revoked.body as { revokedKeys: string[] }).revokedKeys).toHaveLength(1);
    await closed;
    expect(nc.isClosed()).toBe(true);

    await nats.restart();
    await waitFor(async () => (await api(app, '/healthz')).status === 200, { what: 'the API back on NATS' });
    const refused = await connect({
      servers: nats.url,
      tls: { caFile: nats.caFile },
      authenticator: credsAuthenticator(creds),
      reconnect: false,
    }).then(
      (c) => c.close().then(() => 'connected'),
      (err: unknown) => String(err),
    );
    expect(refused).toMatch(/Authorization|authorization/);
    const audit = await api(app, '/api/v1/audit?action=device.revoke', { token: app.adminToken });
    expect(JSON.stringify(audit.body)).toContain('revoked-01');
  });
});
