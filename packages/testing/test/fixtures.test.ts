import { connect as natsConnect } from 'nats';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { createTestDatabase, isAlive, spawnProcess, startNatsServer, startTcpProxy, waitFor } from '../src/index.js';

describe('startNatsServer', () => {
  it('starts a private server with JetStream that clients can use, and cleans up on stop', async () => {
    const server = await startNatsServer({ jetstream: true });
    const nc = await natsConnect({ servers: server.url });
    const jsm = await nc.jetstreamManager();
    const info = await jsm.getAccountInfo();
    expect(info.limits).toBeDefined();
    const sub = nc.subscribe('hello');
    nc.publish('hello', 'world');
    for await (const msg of sub) {
      expect(msg.string()).toBe('world');
      break;
    }
    await nc.close();
    const pid = server.pid;
    await server.stop();
    expect(isAlive(pid)).toBe(false);
  });

  it('restarts on the same port after a crash', async () => {
    const server = await startNatsServer();
    await server.kill();
    await server.restart();
    const nc = await natsConnect({ servers: server.url });
    await nc.flush();
    await nc.close();
    await server.stop();
  });

  it('refuses a broken config and says why', async () => {
    await expect(startNatsServer({ config: 'this is { not valid' })).rejects.toThrow(/exited|nats/i);
  });
});

describe('createTestDatabase', () => {
  const dbs: Array<{ drop(): Promise<void> }> = [];
  afterAll(async () => {
    for (const db of dbs) await db.drop();
  });

  it('creates a fresh empty database and drops it', async () => {
    const db = await createTestDatabase();
    dbs.push(db);
    if (db.kind === 'pglite') {
      expect(db.url).toMatch(/^pglite:/);
      return;
    }
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    const tables = await client.query("select count(*)::int as n from pg_tables where schemaname = 'public'");
    expect(tables.rows[0].n).toBe(0);
    await client.end();
    await db.drop();
    const again = new pg.Client({ connectionString: db.url });
    await expect(again.connect()).rejects.toThrow(/does not exist/);
    await again.end().catch(() => {});
  });
});

describe('startTcpProxy', () => {
  it('forwards, cuts and restores a real NATS link', async () => {
    const server = await startNatsServer();
    const proxy = await startTcpProxy({ port: server.port });
    const nc = await natsConnect({
      servers: `nats://127.0.0.1:${proxy.port}`,
      reconnectTimeWait: 100,
      maxReconnectAttempts: -1,
    });
    await nc.flush();
    expect(proxy.connections()).toBe(1);
    const statuses: string[] = [];
    (async () => {
      for await (const s of nc.status()) statuses.push(s.type);
    })();
    proxy.cut();
    await waitFor(() => statuses.includes('disconnect'), { what: 'client to notice the cut' });
    proxy.restore();
    await waitFor(() => statuses.includes('reconnect'), { what: 'client to reconnect' });
    await nc.flush();
    await nc.close();
    await proxy.close();
    await server.stop();
  });

  it('adds latency without reordering', async () => {
    const server = await startNatsServer();
    const proxy = await startTcpProxy({ port: server.port }, { latencyMs: 20 });
    const nc = await natsConnect({ servers: `nats://127.0.0.1:${proxy.port}` });
    const received: number[] = [];
    const sub = nc.subscribe('seq', { callback: (_e, m) => received.push(Number(m.string())) });
    for (let i = 0; i < 50; i++) nc.publish('seq', String(i));
    await waitFor(() => received.length === 50, { what: '50 messages' });
    expect(received).toEqual([...Array(50).keys()]);
    sub.unsubscribe();
    await nc.close();
    await proxy.close();
    await server.stop();
  });
});

describe('spawnProcess', () => {
  it('waits for readiness and stops by signal', async () => {
    const proc = await spawnProcess(
      process.execPath,
      [
        '-e',
        "process.on('SIGTERM', () => { console.log('bye'); process.exit(3); }); setInterval(() => {}, 1000); console.log('ready');",
      ],
      { readyWhen: /ready/ },
    );
    expect(isAlive(proc.pid)).toBe(true);
    expect(await proc.stop()).toBe(3);
    expect(proc.output()).toMatch(/bye/);
  });

  it('fails readiness with the output when the process dies first', async () => {
    await expect(
      spawnProcess(process.execPath, ['-e', "console.error('boom'); process.exit(2)"], { readyWhen: /ready/ }),
    ).rejects.toThrow(/boom/);
  });
});
