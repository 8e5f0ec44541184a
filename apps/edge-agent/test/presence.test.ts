import { readFileSync } from 'node:fs';
import { AgentHelloV1, decodeMessage, subjects } from '@outpost/protocol';
import { type NatsServerHandle, startNatsServer, startTcpProxy, type TcpProxy, waitFor } from '@outpost/testing';
import { connect, type NatsConnection, StorageType } from 'nats';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  killAgents,
  logsWithMsg,
  recordDevice,
  removeTempDirs,
  startAgent,
  uniqueDeviceId,
  waitForLog,
} from './helpers.js';

const packageVersion = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

// One server for the file: every test uses its own device id, so their messages never mix.
let server: NatsServerHandle;
let nc: NatsConnection;
const proxies: TcpProxy[] = [];

beforeAll(async () => {
  server = await startNatsServer({ jetstream: true });
  // The observer must outlive the server restart in the last test.
  nc = await connect({ servers: server.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
});

afterEach(killAgents);

afterAll(async () => {
  await nc?.close();
  for (const proxy of proxies) await proxy.close();
  await server?.stop();
  removeTempDirs();
});

function increasing(values: number[]): boolean {
  return values.every((value, i) => i === 0 || value > (values[i - 1] ?? Number.POSITIVE_INFINITY));
}

describe('presence', () => {
  it('says hello on connect, then sends heartbeats with an increasing seq', async () => {
    const deviceId = uniqueDeviceId('hello');
    const recorder = recordDevice(nc, deviceId);
    await nc.flush();
    const agent = await startAgent({ natsUrl: server.url, deviceId, heartbeatIntervalMs: 200 });

    await waitFor(() => recorder.heartbeats().length >= 3, { what: 'three heartbeats' });
    expect(recorder.kinds()[0]).toBe('hello');
    const [hello] = recorder.hellos();
    expect(hello).toMatchObject({ agentVersion: packageVersion, heartbeatIntervalMs: 200 });
    const heartbeats = recorder.heartbeats();
    expect(new Set(heartbeats.map((beat) => beat.bootId))).toEqual(new Set([hello?.bootId]));
    expect(heartbeats.every((beat) => beat.agentVersion === packageVersion)).toBe(true);
    expect(increasing(heartbeats.map((beat) => beat.seq))).toBe(true);

    const [connected] = logsWithMsg(agent.proc, 'connected');
    expect(connected).toMatchObject({ server: `127.0.0.1:${server.port}`, reconnect: false, deviceId });
    const [started] = logsWithMsg(agent.proc, 'agent started');
    expect(started).toMatchObject({ deviceId, version: packageVersion, bootId: hello?.bootId });
  });

  it('says goodbye on SIGTERM and exits 0', async () => {
    const deviceId = uniqueDeviceId('goodbye');
    const recorder = recordDevice(nc, deviceId);
    await nc.flush();
    const agent = await startAgent({ natsUrl: server.url, deviceId });
    const hello = await waitFor(() => recorder.hellos()[0], { what: 'hello' });

    expect(await agent.proc.stop('SIGTERM', 20_000)).toBe(0);
    const goodbye = await waitFor(() => recorder.goodbyes()[0], { what: 'goodbye' });
    expect(goodbye).toEqual({ bootId: hello.bootId, reason: 'SIGTERM' });
    expect(logsWithMsg(agent.proc, 'stopped')).toMatchObject([{ goodbyePublished: true, timedOut: false }]);
  });

  it('says goodbye on SIGINT too', async () => {
    const deviceId = uniqueDeviceId('sigint');
    const recorder = recordDevice(nc, deviceId);
    await nc.flush();
    const agent = await startAgent({ natsUrl: server.url, deviceId });
    await waitFor(() => recorder.hellos()[0], { what: 'hello' });

    expect(await agent.proc.stop('SIGINT', 20_000)).toBe(0);
    await waitFor(() => recorder.goodbyes().some((goodbye) => goodbye.reason === 'SIGINT'), { what: 'goodbye' });
  });

  it('reconnects after the link is cut and says hello again, same boot', async () => {
    const proxy = await startTcpProxy({ port: server.port });
    proxies.push(proxy);
    const deviceId = uniqueDeviceId('cut');
    const recorder = recordDevice(nc, deviceId);
    await nc.flush();
    const agent = await startAgent({ natsUrl: `nats://127.0.0.1:${proxy.port}`, deviceId });
    await waitFor(() => recorder.hellos()[0], { what: 'first hello' });

    proxy.cut();
    await waitForLog(agent.proc, 'disconnected');
    proxy.restore();

    const hellos = await waitFor(() => (recorder.hellos().length >= 2 ? recorder.hellos() : null), {
      what: 'a hello after the reconnect',
    });
    expect(hellos[1]?.bootId).toBe(hellos[0]?.bootId);
    // Heartbeats resume after the new hello.
    await waitFor(() => recorder.kinds().lastIndexOf('heartbeat') > recorder.kinds().lastIndexOf('hello'), {
      what: 'a heartbeat after the second hello',
    });
    expect(increasing(recorder.heartbeats().map((beat) => beat.seq))).toBe(true);
    expect(logsWithMsg(agent.proc, 'connected').map((line) => line.reconnect)).toEqual([false, true]);
  });

  // Last: restarting the shared server disturbs every connection to it.
  it('reconnects after a server restart and says hello again', async () => {
    const deviceId = uniqueDeviceId('restart');
    // A stream keeps what the agent sends while this test's own connection is also down and coming back.
    const stream = `DEVICE_${deviceId.replaceAll('-', '_')}`;
    const jsm = await nc.jetstreamManager();
    await jsm.streams.add({ name: stream, subjects: [subjects.device.all(deviceId)], storage: StorageType.File });
    const lastHello = async () => {
      const stored = await jsm.streams.getMessage(stream, { last_by_subj: subjects.device.hello(deviceId) });
      return { seq: stored.seq, hello: decodeMessage(AgentHelloV1, stored.data) };
    };

    const agent = await startAgent({ natsUrl: server.url, deviceId });
    const first = await waitFor(lastHello, { what: 'first hello in the stream' });

    await server.restart();
    await waitForLog(agent.proc, 'connected', 2);
    const second = await waitFor(
      async () => {
        const latest = await lastHello();
        return latest.seq > first.seq ? latest : null;
      },
      { what: 'a hello after the restart' },
    );
    expect(second.hello.bootId).toBe(first.hello.bootId);
    expect(logsWithMsg(agent.proc, 'disconnected').length).toBeGreaterThanOrEqual(1);
  });
});
