import { type DevicePage, encodeErrorReply, encodeReply, OutpostError, rpc } from '@outpost/protocol';
import { getFreePort, type NatsServerHandle, startNatsServer } from '@outpost/testing';
import { connect, type NatsConnection } from 'nats';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type ApiClient, createApiClient, type PersonApiClient } from '@/server/api-client';
import { lazyNatsConnection } from '@/server/nats';

/*
 * The portal's API client against a real nats-server. The replies come from responders written here with the
 * protocol codec, so what is tested is how the client reads the wire format and NATS failures, not the cloud API.
 */

let server: NatsServerHandle;
let clientConnection: NatsConnection;
let responderConnection: NatsConnection;
let client: ApiClient;
/** The client as one signed-in person, which is how every page and stream calls the API. */
let person: PersonApiClient;
const SESSION = 'ops_a-session-token-for-the-tests';

beforeAll(async () => {
  server = await startNatsServer();
  clientConnection = await connect({ servers: server.url, name: 'portal-api-client-test' });
  responderConnection = await connect({ servers: server.url, name: 'test-responder' });
  client = createApiClient(async () => clientConnection, { timeoutMs: 1_000 });
  person = client.forPerson(SESSION);
});

afterAll(async () => {
  await clientConnection?.close();
  await responderConnection?.close();
  await server?.stop();
});

const responders: Array<{ unsubscribe(): void }> = [];
afterEach(async () => {
  for (const sub of responders.splice(0)) sub.unsubscribe();
  await responderConnection.flush();
});

/** Answers every devices.list request with whatever `reply` returns. */
async function respondToDevicesList(reply: () => Uint8Array | null): Promise<void> {
  responders.push(
    responderConnection.subscribe(rpc.devicesList.subject, {
      callback: (_err, msg) => {
        const body = reply();
        if (body) msg.respond(body);
      },
    }),
  );
  // The subscription must have reached the server before the client's request does.
  await responderConnection.flush();
}

async function rejection(promise: Promise<unknown>): Promise<OutpostError> {
  const err = await promise.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(OutpostError);
  return err as OutpostError;
}

describe('api client over NATS', () => {
  it('reports UNAVAILABLE when no cloud API is subscribed', async () => {
    const err = await rejection(person.listDevices({ limit: 10 }));
    expect(err.code).toBe('UNAVAILABLE');
    expect(err.message).toContain(rpc.devicesList.subject);
  });

  it('returns the typed page the API sends', async () => {
    const page: DevicePage = {
      items: [
        {
          id: 'dev-1',
          status: 'online',
          lastSeen: '2025-03-01T12:00:00.000Z',
          agentVersion: '1.2.3',
          tags: { site: 'plant-7' },
          createdAt: '2025-02-01T08:00:00.000Z',
        },
      ],
      nextCursor: 'next-1',
    };
    await respondToDevicesList(() => encodeReply(rpc.devicesList.response, page));
    await expect(person.listDevices({ status: 'online' })).resolves.toEqual(page);
  });

  it("surfaces the API's error body with its code, message and details", async () => {
    await respondToDevicesList(() =>
      encodeErrorReply({
        code: 'VALIDATION_FAILED',
        message: 'Invalid cursor',
        details: [{ path: 'cursor', message: 'not a cursor this API issued' }],
      }),
    );
    const err = await rejection(person.listDevices({ cursor: 'forged' }));
    expect(err.code).toBe('VALIDATION_FAILED');
    expect(err.message).toBe('Invalid cursor');
    expect(err.details).toEqual([{ path: 'cursor', message: 'not a cursor this API issued' }]);
  });

  it('reports TIMEOUT when the API takes the request but never answers', async () => {
    await respondToDevicesList(() => null);
    const err = await rejection(person.listDevices({}));
    expect(err.code).toBe('TIMEOUT');
  });

  it('reports BAD_MESSAGE for a reply that is not an Outpost reply', async () => {
    await respondToDevicesList(() => new TextEncoder().encode('{"hello":"world"}'));
    const err = await rejection(person.listDevices({}));
    expect(err.code).toBe('BAD_MESSAGE');
  });

  it('reports VALIDATION_FAILED for a page that breaks the schema', async () => {
    await respondToDevicesList(() =>
      new TextEncoder().encode(
        JSON.stringify({ ok: true, type: rpc.devicesList.response.type, v: 1, data: { items: [{ id: 'x' }] } }),
      ),
    );
    const err = await rejection(person.listDevices({}));
    expect(err.code).toBe('VALIDATION_FAILED');
  });

  it("sends the person's session token in Outpost-Authorization on every call, and none for login", async () => {
    const seen: Array<{ subject: string; authorization: string; address: string }> = [];
    for (const def of [rpc.devicesList, rpc.authLogin]) {
      responders.push(
        responderConnection.subscribe(def.subject, {
          callback: (_err, msg) => {
            seen.push({
              subject: msg.subject,
              authorization: msg.headers?.get('Outpost-Authorization') ?? '',
              address: msg.headers?.get('Outpost-Client-Address') ?? '',
            });
            msg.respond(encodeErrorReply({ code: 'UNAUTHORIZED', message: 'no', details: [] }));
          },
        }),
      );
    }
    await responderConnection.flush();
    expect((await rejection(person.listDevices({}))).code).toBe('UNAUTHORIZED');
    const login = client.call(
      rpc.authLogin,
      { username: 'u', password: 'p' },
      { token: null, clientAddress: '10.1.2.3' },
    );
    expect((await rejection(login)).code).toBe('UNAUTHORIZED');
    expect(seen).toEqual([
      { subject: rpc.devicesList.subject, authorization: `Bearer ${SESSION}`, address: '' },
      { subject: rpc.authLogin.subject, authorization: '', address: '10.1.2.3' },
    ]);
  });

  it('refuses an invalid query before sending it', async () => {
    const err = await rejection(person.listDevices({ limit: 100_000 }));
    expect(err.code).toBe('VALIDATION_FAILED');
    expect(err.details.map((d) => d.path)).toContain('data.limit');
  });
});

describe('lazy NATS connection', () => {
  it('reports UNAVAILABLE when no NATS server listens, then connects once one does', async () => {
    const port = await getFreePort();
    const unreachable = createApiClient(lazyNatsConnection([`nats://127.0.0.1:${port}`], 'portal-lazy-test'), {
      timeoutMs: 1_000,
    });
    const err = await rejection(unreachable.forPerson(SESSION).listDevices({}));
    expect(err.code).toBe('UNAVAILABLE');

    // The failed first connect is not remembered: once a server is there, the same client works.
    const late = await startNatsServer({ port });
    try {
      const responder = await connect({ servers: late.url });
      responder.subscribe(rpc.devicesList.subject, {
        callback: (_e, msg) => msg.respond(encodeReply(rpc.devicesList.response, { items: [], nextCursor: null })),
      });
      await responder.flush();
      await expect(unreachable.forPerson(SESSION).listDevices({})).resolves.toEqual({ items: [], nextCursor: null });
      await (await unreachable.connection()).close();
      await responder.close();
    } finally {
      await late.stop();
    }
  });
});
