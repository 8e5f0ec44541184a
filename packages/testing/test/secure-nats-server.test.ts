import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createAccount } from '@nats-io/nkeys';
import {
  connectSystemUser,
  createUserKey,
  fetchAccountInfo,
  formatCredsFile,
  mintDeviceJwt,
} from '@outpost/nats-identity';
import { createCa } from '@outpost/nats-identity/pki';
import { subjects } from '@outpost/protocol';
import { type NatsConnection, type NatsError } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SecureNatsServerHandle, startNatsServer, startSecureNatsServer, waitFor } from '../src/index.js';
import { connectWithCreds, plaintextAttempt } from './secure-helpers.js';

const errorCode = (err: unknown) => (err as NatsError | undefined)?.code;

describe('startSecureNatsServer', () => {
  let server: SecureNatsServerHandle;
  const open: NatsConnection[] = [];
  const track = (nc: NatsConnection) => {
    open.push(nc);
    return nc;
  };

  beforeAll(async () => {
    server = await startSecureNatsServer({ leafnodes: true });
  });

  afterAll(async () => {
    for (const nc of open) if (!nc.isClosed()) await nc.close();
    await server?.stop();
  });

  it('serves the cloud API and portal service users over TLS, with JetStream for the cloud API', async () => {
    expect(server.url).toMatch(/^tls:\/\/127\.0\.0\.1:\d+$/);
    const api = track(
      await connectWithCreds(
        server,
        { file: server.serviceCreds.cloudApi },
        { inboxPrefix: subjects.cloudApi.inboxPrefix },
      ),
    );
    const portal = track(
      await connectWithCreds(
        server,
        { file: server.serviceCreds.portal },
        { inboxPrefix: subjects.portal.inboxPrefix },
      ),
    );
    // The portal asks, the cloud API answers on the portal's own inbox.
    api.subscribe(subjects.api.devicesList, {
      queue: 'outpost-cloud-api',
      callback: (_err, msg) => msg.respond(msg.data),
    });
    await api.flush();
    const reply = await portal.request(subjects.api.devicesList, 'page please', { timeout: 10_000 });
    expect(reply.string()).toBe('page please');

    const jsm = await api.jetstreamManager();
    const account = await jsm.getAccountInfo();
    expect(account.domain).toBe('cloud');
    expect(account.limits.max_storage).toBeGreaterThan(0);
    await jsm.streams.add({ name: 'IDENTITY_TEST', subjects: ['outpost.test.identity.>'] });
    const ack = await api.jetstream().publish('outpost.test.identity.one', 'x');
    expect(ack.stream).toBe('IDENTITY_TEST');
  });

  it('refuses plaintext connections on the client and leaf-node ports', async () => {
    for (const port of [server.port, Number(new URL(server.leafUrl ?? '').port)]) {
      const attempt = await plaintextAttempt(port);
      expect(attempt.said).toContain('"tls_required":true');
      expect(attempt.said).not.toContain('PONG');
      expect(attempt.closedByServer).toBe(true);
    }
  });

  it('refuses a client that does not trust the pinned CA', async () => {
    const other = await createCa({ commonName: 'someone else' });
    const caFile = join(server.dir, 'other-ca.pem');
    writeFileSync(caFile, other.certPem);
    await expect(
      connectWithCreds(
        { url: server.url, caFile },
        { file: server.serviceCreds.portal },
        { inboxPrefix: '_INBOX_portal' },
      ),
    ).rejects.toThrow();
  });

  it('refuses connections without credentials, with credentials of another account, and with expired JWTs', async () => {
    const { connect } = await import('nats');
    await expect(connect({ servers: server.url, tls: { caFile: server.caFile }, reconnect: false })).rejects.toSatisfy(
      (err) => errorCode(err) === 'AUTHORIZATION_VIOLATION',
    );

    // A JWT signed by an account signing key the operator never vouched for.
    const foreignKey = createUserKey();
    const foreign = await mintDeviceJwt({
      issuer: { accountPublicKey: server.identity.manifest.account.publicKey, signingKey: createAccount() },
      deviceId: 'forged-01',
      publicKey: foreignKey.publicKey,
    });
    await expect(
      connectWithCreds(
        server,
        { text: formatCredsFile(foreign, foreignKey.seed) },
        { inboxPrefix: '_INBOX_forged-01' },
      ),
    ).rejects.toSatisfy((err) => errorCode(err) === 'AUTHORIZATION_VIOLATION');

    const shortLived = await server.mintDeviceCreds('short-lived-01', { expiresInSecs: 1 });
    await waitFor(
      async () => {
        try {
          const nc = await connectWithCreds(
            server,
            { file: shortLived.credsFile },
            { inboxPrefix: '_INBOX_short-lived-01' },
          );
          await nc.close();
          return false;
        } catch (err) {
          return errorCode(err) === 'AUTHORIZATION_VIOLATION';
        }
      },
      { timeoutMs: 30_000, intervalMs: 250, what: 'the expired device JWT to be refused' },
    );
  });

  it('lets a device hub join as a leaf node with its device creds, over TLS only', async () => {
    const creds = await server.mintDeviceCreds('leaf-device-01');
    const api = track(
      await connectWithCreds(
        server,
        { file: server.serviceCreds.cloudApi },
        { inboxPrefix: subjects.cloudApi.inboxPrefix },
      ),
    );
    let hellos = 0;
    api.subscribe(subjects.device.hello('leaf-device-01'), {
      callback: () => {
        hellos += 1;
      },
    });
    await api.flush();
    const hub = await startNatsServer({
      config: [
        'leafnodes {',
        '  remotes: [{',
        `    url: "${server.leafUrl}"`,
        `    credentials: "${creds.credsFile}"`,
        `    tls { ca_file: "${server.caFile}" }`,
        '  }]',
        '}',
      ].join('\n'),
    });
    try {
      const { connect } = await import('nats');
      const local = await connect({ servers: hub.url });
      await waitFor(
        async () => {
          local.publish(subjects.device.hello('leaf-device-01'), 'hello from the hub');
          await local.flush();
          return hellos > 0;
        },
        { timeoutMs: 30_000, intervalMs: 250, what: 'the hub’s hello to cross the leaf connection' },
      );
      await local.close();
    } finally {
      await hub.stop();
    }
  });

  it('closes a revoked device’s live connection, refuses it afterwards, and keeps it out across a restart', async () => {
    const revoked = await server.mintDeviceCreds('revoked-01');
    const kept = await server.mintDeviceCreds('kept-01');
    const inbox = (id: string) => ({ inboxPrefix: subjects.device.inboxPrefix(id) });
    const live = await connectWithCreds(server, { file: revoked.credsFile }, inbox('revoked-01'));
    const closed = live.closed();

    const result = await server.revoke(revoked.publicKey);
    expect(Object.keys(result.revocations)).toContain(revoked.publicKey);
    const closedWith = await closed;
    expect(live.isClosed()).toBe(true);
    expect(String(closedWith)).toMatch(/authorization|revoked/i);

    await expect(connectWithCreds(server, { file: revoked.credsFile }, inbox('revoked-01'))).rejects.toSatisfy(
      (err) => errorCode(err) === 'AUTHORIZATION_VIOLATION',
    );

    await server.restart();
    await expect(connectWithCreds(server, { file: revoked.credsFile }, inbox('revoked-01'))).rejects.toSatisfy(
      (err) => errorCode(err) === 'AUTHORIZATION_VIOLATION',
    );
    const stillFine = await connectWithCreds(server, { file: kept.credsFile }, inbox('kept-01'));
    stillFine.publish(subjects.device.heartbeat('kept-01'), 'alive');
    await stillFine.flush();
    await stillFine.close();

    // The account the server serves after the restart is the revised one, not the preloaded original.
    const sys = await connectSystemUser({
      servers: server.url,
      creds: readFileSync(server.serviceCreds.systemUser, 'utf8'),
      caFile: server.caFile,
    });
    const info = await fetchAccountInfo(sys, server.identity.manifest.account.publicKey);
    await sys.close();
    expect(info.revocations[revoked.publicKey]).toBeGreaterThan(0);
    expect(info.revocations[kept.publicKey]).toBeUndefined();
    expect(info.jetstreamEnabled).toBe(true);
  });
});
