import { readFileSync } from 'node:fs';
import { type DevicePage, encodeReply, rpc, subjects } from '@outpost/protocol';
import { type SecureNatsServerHandle, startSecureNatsServer, waitFor } from '@outpost/testing';
import { connect, credsAuthenticator, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiClient } from '@/server/api-client';
import { lazyNatsConnection, natsSecurityFromEnv } from '@/server/nats';

/** The portal as the portal service user, over TLS, against NATS in operator mode. */
let server: SecureNatsServerHandle;
let cloud: NatsConnection;
const emptyPage: DevicePage = { items: [], nextCursor: null };

beforeAll(async () => {
  server = await startSecureNatsServer();
  cloud = await connect({
    servers: server.url,
    tls: { caFile: server.caFile },
    authenticator: credsAuthenticator(readFileSync(server.serviceCreds.cloudApi)),
    inboxPrefix: subjects.cloudApi.inboxPrefix,
  });
  cloud.subscribe(rpc.devicesList.subject, {
    queue: 'outpost-cloud-api',
    callback: (_err, msg) => msg.respond(encodeReply(rpc.devicesList.response, emptyPage)),
  });
  await cloud.flush();
});

afterAll(async () => {
  await cloud?.close();
  await server?.stop();
});

describe('portal NATS connection with NATS_CREDS and NATS_CA', () => {
  it('reads the variables, treating empty ones as unset', () => {
    expect(natsSecurityFromEnv({ NATS_CREDS: '/a.creds', NATS_CA: '/ca.pem' })).toEqual({
      credsFile: '/a.creds',
      caFile: '/ca.pem',
    });
    expect(natsSecurityFromEnv({ NATS_CREDS: '', NATS_CA: '' })).toEqual({});
  });

  it('calls the cloud API as the portal user, with replies on its own inbox', async () => {
    const provider = lazyNatsConnection([server.url], 'portal-test', {
      credsFile: server.serviceCreds.portal,
      caFile: server.caFile,
    });
    const client = createApiClient(provider).forPerson('ops_portal-security-test');
    expect(await client.listDevices({})).toEqual(emptyPage);
    const nc = await provider();
    // The portal user may not read other clients' replies.
    const violations: string[] = [];
    void (async () => {
      for await (const status of nc.status()) if (status.type === 'error') violations.push(String(status.data));
    })();
    nc.subscribe('_INBOX.>', { callback: () => {} });
    await nc.flush();
    await waitFor(() => violations.includes('PERMISSIONS_VIOLATION'), { what: 'the _INBOX.> subscription refused' });
    await nc.close();
  });

  it('refuses to connect without the CA or without credentials', async () => {
    await expect(
      lazyNatsConnection([server.url], 'portal-test', { credsFile: server.serviceCreds.portal })(),
    ).rejects.toThrow();
    await expect(lazyNatsConnection([server.url], 'portal-test', { caFile: server.caFile })()).rejects.toThrow(
      /authorization/i,
    );
  });
});
