import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createUserKey, formatCredsFile } from '@outpost/nats-identity';
import { decodeReply, encodeMessage, OutpostError, rpc, subjects } from '@outpost/protocol';
import {
  createTestDatabase,
  type SecureNatsServerHandle,
  startSecureNatsServer,
  type TestDatabase,
  waitFor,
} from '@outpost/testing';
import { connect, credsAuthenticator, headers, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config/config.js';
import { NatsIdentityService } from '../src/nats-identity/nats-identity.service.js';
import { api, FakeAgent, registerDevice, secureNatsEnv, startTestApp, type TestApp, waitForStatus } from './helpers.js';

/** The API against NATS in operator mode with TLS: its own creds, minting device credentials, revoking them. */
let nats: SecureNatsServerHandle;
let database: TestDatabase;
let app: TestApp;
const open: NatsConnection[] = [];

const connectAs = async (creds: string, inboxPrefix: string) => {
  const nc = await connect({
    servers: nats.url,
    tls: { caFile: nats.caFile },
    authenticator: credsAuthenticator(new TextEncoder().encode(creds)),
    inboxPrefix,
    reconnect: false,
  });
  open.push(nc);
  return nc;
};

beforeAll(async () => {
  nats = await startSecureNatsServer();
  database = await createTestDatabase();
  app = await startTestApp({
    natsUrl: nats.url,
    databaseUrl: database.url,
    env: secureNatsEnv(nats),
  });
  await waitFor(async () => (await api(app, '/healthz')).status === 200, { what: 'the API to reach NATS over TLS' });
});

afterAll(async () => {
  for (const nc of open) if (!nc.isClosed()) await nc.close();
  await app?.close();
  await nats?.stop();
  await database?.drop();
});

describe('cloud API on NATS in operator mode with TLS', () => {
  it('answers the portal’s service user on the portal’s own inbox', async () => {
    const portal = await connectAs(readFileSync(nats.serviceCreds.portal, 'utf8'), subjects.portal.inboxPrefix);
    // The portal forwards the signed-in person's token; the admin token stands in for one.
    const h = headers();
    const body = encodeMessage(rpc.devicesList.request, {}, { headers: h, bearerToken: app.adminToken });
    const reply = await waitFor(() => portal.request(rpc.devicesList.subject, body, { timeout: 2_000, headers: h }), {
      what: 'a devices.list reply',
    });
    expect(decodeReply(rpc.devicesList.response, reply.data).items).toEqual([]);
  });

  it('mints a device credential that works for that device only, then revokes it', async () => {
    const identity = app.running.app.get(NatsIdentityService);
    expect(identity.enabled).toBe(true);
    expect(identity.caCertificate()).toContain('-----BEGIN CERTIFICATE-----');

    await registerDevice(app, 'press-01');
    const key = createUserKey();
    const credential = await identity.mintDeviceCredential('press-01', key.publicKey, { expiresInSecs: 600 });
    expect(credential.expiresAt.getTime()).toBeGreaterThan(Date.now() + 500_000);
    expect(credential.expiresAt.getTime()).toBeLessThanOrEqual(Date.now() + 601_000);

    const device = await connectAs(formatCredsFile(credential.jwt, key.seed), subjects.device.inboxPrefix('press-01'));
    const violations: string[] = [];
    void (async () => {
      for await (const status of device.status()) if (status.type === 'error') violations.push(String(status.data));
    })();
    const agent = new FakeAgent(device, 'press-01');
    agent.hello();
    agent.heartbeat();
    await waitForStatus(app, app.adminToken, 'press-01', 'online');

    // Its credential does not reach another device's space.
    new FakeAgent(device, 'press-02').hello();
    await device.flush();
    await waitFor(() => violations.includes('PERMISSIONS_VIOLATION'), { what: 'the spoofed hello to be refused' });
    expect((await api(app, '/api/v1/devices/press-02', { token: app.adminToken })).status).toBe(404);

    const closed = device.closed();
    const result = await identity.revoke([key.publicKey]);
    expect(result.revokedAt.getTime()).toBeGreaterThan(0);
    await closed;
    expect(device.isClosed()).toBe(true);
    const info = await identity.accountInfo();
    expect(Object.keys(info.revocations)).toContain(key.publicKey);
    await expect(
      connectAs(formatCredsFile(credential.jwt, key.seed), subjects.device.inboxPrefix('press-01')),
    ).rejects.toThrow(/authorization/i);
  });

  it('refuses to mint for a malformed key or device id', async () => {
    const identity = app.running.app.get(NatsIdentityService);
    await expect(identity.mintDeviceCredential('press-01', 'not-a-key')).rejects.toSatisfy(
      (err) => err instanceof OutpostError && err.code === 'VALIDATION_FAILED',
    );
    await expect(identity.mintDeviceCredential('no.dots', createUserKey().publicKey)).rejects.toSatisfy(
      (err) => err instanceof OutpostError && err.code === 'VALIDATION_FAILED',
    );
  });
});

describe('NATS security configuration', () => {
  const problemsOf = (env: NodeJS.ProcessEnv) => {
    try {
      loadConfig(env);
      return [];
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      return err.problems;
    }
  };

  it('is off when the variables are unset (plain NATS)', () => {
    expect(loadConfig({}).natsSecurity).toEqual({ credsFile: null, caFile: null, identityDir: null });
  });

  it('names the variable whose file is missing or unusable, without quoting secrets', () => {
    const dir = mkdtempSync(join(tmpdir(), 'outpost-config-'));
    writeFileSync(join(dir, 'not-a-cert.pem'), 'hello');
    writeFileSync(join(dir, 'bad.creds'), 'SUASECRETSEEDTHATMUSTNOTLEAK');
    expect(problemsOf({ OUTPOST_IDENTITY_DIR: dir })).toEqual([
      { variable: 'OUTPOST_IDENTITY_DIR', message: expect.stringMatching(/identity manifest not found/) },
    ]);
    expect(problemsOf({ NATS_CA: join(dir, 'not-a-cert.pem') })).toEqual([
      { variable: 'NATS_CA', message: expect.stringMatching(/no PEM certificate/) },
    ]);
    expect(problemsOf({ NATS_CREDS: join(dir, 'missing.creds') })).toEqual([
      { variable: 'NATS_CREDS', message: expect.stringMatching(/does not exist/) },
    ]);
    const creds = problemsOf({ NATS_CREDS: join(dir, 'bad.creds') });
    expect(creds).toEqual([{ variable: 'NATS_CREDS', message: expect.stringMatching(/holds no JWT and seed/) }]);
    expect(JSON.stringify(creds)).not.toContain('SUASECRET');
  });

  it('accepts a full set', () => {
    const config = loadConfig({
      NATS_URL: nats.url,
      ...secureNatsEnv(nats),
    });
    expect(config.natsSecurity).toEqual({
      credsFile: nats.serviceCreds.cloudApi,
      caFile: nats.caFile,
      identityDir: nats.identity.dir,
    });
  });
});
