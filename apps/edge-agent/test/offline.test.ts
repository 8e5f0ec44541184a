import {
  getFreePort,
  isAlive,
  type NatsServerHandle,
  startNatsServer,
  startTcpProxy,
  type TcpProxy,
  waitFor,
} from '@outpost/testing';
import { connect, type NatsConnection } from 'nats';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  killAgents,
  logsWithMsg,
  recordDevice,
  removeTempDirs,
  startAgent,
  uniqueDeviceId,
  waitForLog,
} from './helpers.js';

// Each test here takes its server down or never has one, so each starts its own.
const servers: NatsServerHandle[] = [];
const connections: NatsConnection[] = [];
const proxies: TcpProxy[] = [];

afterEach(killAgents);

afterAll(async () => {
  for (const nc of connections) await nc.close();
  for (const proxy of proxies) await proxy.close();
  for (const server of servers) await server.stop();
  removeTempDirs();
});

async function startServer(port?: number): Promise<NatsServerHandle> {
  const server = await startNatsServer(port === undefined ? {} : { port });
  servers.push(server);
  return server;
}

// SIGKILL comes only if the agent has not exited by then; the agent's own deadline is 5 s.
const STOP_GRACE_MS = 20_000;

describe('when NATS is unreachable', () => {
  it('keeps retrying at start, then connects and reports in once a server appears', async () => {
    const port = await getFreePort();
    const deviceId = uniqueDeviceId('late');
    const agent = await startAgent({ natsUrl: `nats://127.0.0.1:${port}`, deviceId });

    const retries = await waitForLog(agent.proc, 'connect failed; retrying', 2);
    expect(retries.slice(0, 2).map((line) => line.attempt)).toEqual([1, 2]);
    expect(retries[0]).toMatchObject({
      level: 40,
      code: 'NATS_CONNECT_FAILED',
      natsCode: 'CONNECTION_REFUSED',
      servers: `nats://127.0.0.1:${port}`,
    });
    expect(isAlive(agent.proc.pid)).toBe(true);

    const server = await startServer(port);
    const nc = await connect({ servers: server.url });
    connections.push(nc);
    const recorder = recordDevice(nc, deviceId);
    await nc.flush();

    const [connected] = await waitForLog(agent.proc, 'connected');
    expect(connected).toMatchObject({ server: `127.0.0.1:${port}`, reconnect: false });
    await waitForLog(agent.proc, 'hello sent');
    // The hello may beat this test's subscription to the new server; heartbeats keep coming, so they prove the link.
    const [started] = logsWithMsg(agent.proc, 'agent started');
    const heartbeat = await waitFor(() => recorder.heartbeats()[0], { what: 'a heartbeat once connected' });
    expect(heartbeat.bootId).toBe(started?.bootId);
  });

  it('exits 0 on SIGTERM while it has never connected', async () => {
    const port = await getFreePort();
    const agent = await startAgent({ natsUrl: `nats://127.0.0.1:${port}`, deviceId: uniqueDeviceId('never') });
    await waitForLog(agent.proc, 'connect failed; retrying');

    expect(await agent.proc.stop('SIGTERM', STOP_GRACE_MS)).toBe(0);
    expect(logsWithMsg(agent.proc, 'stopped')).toMatchObject([{ goodbyePublished: false, timedOut: false }]);
  });

  it('exits 0 on SIGTERM after the server died, without a goodbye', async () => {
    const server = await startServer();
    const agent = await startAgent({ natsUrl: server.url, deviceId: uniqueDeviceId('died') });
    await waitForLog(agent.proc, 'connected');
    await server.kill();
    await waitForLog(agent.proc, 'disconnected');

    expect(await agent.proc.stop('SIGTERM', STOP_GRACE_MS)).toBe(0);
    expect(logsWithMsg(agent.proc, 'stopped')).toMatchObject([{ goodbyePublished: false, timedOut: false }]);
  });

  it('exits 0 on SIGTERM when the link stopped answering, cut short by the shutdown deadline', async () => {
    const server = await startServer();
    const proxy = await startTcpProxy({ port: server.port });
    proxies.push(proxy);
    const agent = await startAgent({ natsUrl: `nats://127.0.0.1:${proxy.port}`, deviceId: uniqueDeviceId('stall') });
    await waitForLog(agent.proc, 'connected');
    // Nothing gets through any more, but the TCP connection stays open: the agent still believes it is connected.
    proxy.setLatency(60_000);

    expect(await agent.proc.stop('SIGTERM', STOP_GRACE_MS)).toBe(0);
    expect(logsWithMsg(agent.proc, 'stopped')).toMatchObject([{ goodbyePublished: true, timedOut: true }]);
  });
});
