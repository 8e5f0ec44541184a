import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { createUserKey } from '@outpost/nats-identity';
import {
  CredentialRenewedV1,
  CredentialRenewRequestV1,
  decodeReply,
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
import { connect, credsAuthenticator } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EnrollmentService } from '../src/enrollment/enrollment.service.js';
import { api, type DeviceBody, registerDevice, secureNatsEnv, startTestApp, type TestApp } from './helpers.js';

/**
 * Credential renewal end to end: a device enrolled with a 20-second credential (the built agent CLI, NATS in operator
 * mode with TLS, a real database) renews it over `credential.renew` before it runs out, so it keeps reporting past
 * the first credential's expiry and reconnects with the renewed one after a nats-server restart.
 */
const AGENT_CLI = resolve(import.meta.dirname, '../../edge-agent/dist/cli.js');
const TTL_SECONDS = 20;

let nats: SecureNatsServerHandle;
let database: TestDatabase;
let app: TestApp;
let dir: string;
let agent: SpawnedProcess | undefined;

const jwtOf = (credsText: string) => credsText.match(/-----BEGIN NATS USER JWT-----\s*\n(\S+)/)?.[1] ?? '';
/** The JWT's `iat`, in ms. */
const jwtIssuedAt = (jwt: string) =>
  (JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8')) as { iat: number }).iat * 1000;

/** The device as the API shows it once it is online with a sighting after `after`. */
function seenOnlineAfter(deviceId: string, after: number, what: string): Promise<DeviceBody> {
  return waitFor(
    async () => {
      const { status, body } = await api(app, `/api/v1/devices/${deviceId}`, { token: app.adminToken });
      const device = body as DeviceBody;
      return status === 200 && device.status === 'online' && Date.parse(device.lastSeen ?? '') > after ? device : null;
    },
    { timeoutMs: 60_000, intervalMs: 250, what },
  );
}

beforeAll(async () => {
  nats = await startSecureNatsServer();
  database = await createTestDatabase();
  app = await startTestApp({
    natsUrl: nats.url,
    databaseUrl: database.url,
    env: {
      ...secureNatsEnv(nats),
      OUTPOST_DEVICE_CREDENTIAL_TTL_SECONDS: String(TTL_SECONDS),
      PRESENCE_FLUSH_INTERVAL_MS: '100',
      PRESENCE_SWEEP_INTERVAL_MS: '200',
    },
  });
  await waitFor(async () => (await api(app, '/healthz')).status === 200, { what: 'the API to reach NATS over TLS' });
  dir = mkdtempSync(join(tmpdir(), 'outpost-renew-'));
});

afterAll(async () => {
  await agent?.stop('SIGTERM', 10_000).catch(() => {});
  await app?.close();
  await nats?.stop();
  await database?.drop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('credential renewal', () => {
  it('keeps a device with a short-lived credential online past its expiry and across a nats-server restart', async () => {
    const token = await registerDevice(app, 'renewing-01');
    const stateDir = join(dir, 'state');
    const { stderr } = await promisify(execFile)(
      process.execPath,
      [AGENT_CLI, 'enroll', '--nats', nats.url, '--token', token, '--state-dir', stateDir],
      { timeout: 60_000 },
    );
    expect(stderr).toBe('');
    const credsPath = join(stateDir, 'device.creds');
    const firstCreds = readFileSync(credsPath, 'utf8');
    const firstExpiry = Date.parse(
      (JSON.parse(readFileSync(join(stateDir, 'enrollment.json'), 'utf8')) as { credentialExpiresAt: string })
        .credentialExpiresAt,
    );
    expect(firstExpiry - Date.now()).toBeLessThanOrEqual(TTL_SECONDS * 1000);

    const running = await spawnProcess(process.execPath, [AGENT_CLI, 'run', '--config', join(stateDir, 'agent.json')]);
    agent = running;
    await seenOnlineAfter('renewing-01', 0, 'renewing-01 online');

    // Renewed before the first credential runs out: a new JWT for the same key, written 0600.
    const renewedCreds = await waitFor(
      () => {
        const text = readFileSync(credsPath, 'utf8');
        return jwtOf(text) !== jwtOf(firstCreds) ? text : null;
      },
      { timeoutMs: 60_000, intervalMs: 250, what: 'the agent to renew its credential' },
    );
    // Issued while the first one was still valid.
    expect(jwtIssuedAt(jwtOf(renewedCreds))).toBeLessThan(firstExpiry);
    expect(statSync(credsPath).mode & 0o777).toBe(0o600);
    expect(renewedCreds.split('-----BEGIN USER NKEY SEED-----')[1]).toBe(
      firstCreds.split('-----BEGIN USER NKEY SEED-----')[1],
    );
    await waitFor(() => running.output().includes('"msg":"credential renewed"'), { what: 'the renewal log line' });
    expect(running.output()).not.toContain(jwtOf(renewedCreds));
    expect(running.output()).not.toMatch(/\bSU[A-Z2-7]{56}\b/);

    // Past the first credential's expiry the device still reports; that credential no longer gets in.
    await seenOnlineAfter('renewing-01', firstExpiry + 2_000, 'heartbeats after the first credential expired');
    const expired = await connect({
      servers: nats.url,
      tls: { caFile: nats.caFile },
      authenticator: credsAuthenticator(new TextEncoder().encode(firstCreds)),
      reconnect: false,
    }).then(
      (nc) => nc.close().then(() => 'connected'),
      (err: unknown) => String(err),
    );
    expect(expired).toMatch(/authorization|expired/i);

    // A forced reconnect after the first expiry: the agent comes back with the renewed credential.
    const restartedAt = Date.now();
    await nats.restart();
    await waitFor(async () => (await api(app, '/healthz')).status === 200, { what: 'the API back on NATS' });
    await seenOnlineAfter('renewing-01', restartedAt + 1_000, 'renewing-01 online again after the restart');
    expect(running.output()).toContain('"reconnect":true');
    expect(running.output()).not.toContain('CREDENTIAL_EXPIRED');
  }, 180_000);

  it('refuses to renew for a key other than the enrolled one, and for a revoked device', async () => {
    const token = await registerDevice(app, 'refused-01');
    const stateDir = join(dir, 'refused');
    await promisify(execFile)(
      process.execPath,
      [AGENT_CLI, 'enroll', '--nats', nats.url, '--token', token, '--state-dir', stateDir],
      { timeout: 60_000 },
    );
    const creds = readFileSync(join(stateDir, 'device.creds'));
    const nc = await connect({
      servers: nats.url,
      tls: { caFile: nats.caFile },
      authenticator: credsAuthenticator(creds),
      inboxPrefix: subjects.device.inboxPrefix('refused-01'),
      reconnect: false,
    });
    try {
      const renew = async (publicKey: string) => {
        const reply = await nc.request(
          subjects.device.credentialRenew('refused-01'),
          encodeMessage(CredentialRenewRequestV1, { publicKey }),
          { timeout: 10_000 },
        );
        return decodeReply(CredentialRenewedV1, reply.data);
      };
      const otherKey = createUserKey().publicKey;
      const refused = await renew(otherKey).then(
        () => null,
        (err: unknown) => err,
      );
      expect(refused).toBeInstanceOf(OutpostError);
      expect(refused).toMatchObject({ code: 'FORBIDDEN', message: expect.stringMatching(/is not the enrolled key/) });
      const { publicKey } = JSON.parse(readFileSync(join(stateDir, 'enrollment.json'), 'utf8')) as {
        publicKey: string;
      };
      expect((await renew(publicKey)).jwt).not.toBe('');
    } finally {
      if (!nc.isClosed()) await nc.close();
    }

    const { publicKey } = JSON.parse(readFileSync(join(stateDir, 'enrollment.json'), 'utf8')) as { publicKey: string };
    expect(
      (await api(app, '/api/v1/devices/refused-01/revoke', { method: 'POST', token: app.adminToken })).status,
    ).toBe(200);
    const afterRevoke = await app.running.app
      .get(EnrollmentService)
      .renew('refused-01', publicKey)
      .then(
        () => null,
        (err: unknown) => err,
      );
    expect(afterRevoke).toMatchObject({ code: 'FORBIDDEN', message: 'Device refused-01 is revoked' });
    expect(app.logs.find((l) => l.code === 'RENEW_DEVICE_REVOKED' && l.deviceId === 'refused-01')).toBeDefined();
  });
});
