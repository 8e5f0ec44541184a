import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

export interface TestDatabase {
  /** `postgres://…/<fresh db>` or `pglite:<temp dir>`; the cloud API's DATABASE_URL accepts both. */
  readonly url: string;
  readonly kind: 'postgres' | 'pglite';
  /** Drops the database (or removes the PGlite dir). Safe to call twice. */
  drop(): Promise<void>;
}

const LOCAL_POSTGRES = 'postgres://postgres@127.0.0.1:5432/postgres';

function reachable(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** The server to create test databases on: $DATABASE_URL, else local PostgreSQL when it answers, else none. */
async function adminUrl(): Promise<string | null> {
  if (process.env.OUTPOST_TEST_DB === 'pglite') return null;
  const fromEnv = process.env.DATABASE_URL;
  if (fromEnv?.startsWith('postgres')) return fromEnv;
  return (await reachable('127.0.0.1', 5432)) ? LOCAL_POSTGRES : null;
}

/**
 * A fresh, empty database for one test run: a new database on PostgreSQL when one is reachable ($DATABASE_URL or
 * 127.0.0.1:5432), else a PGlite directory. Never touches any other database on the server.
 */
export async function createTestDatabase(): Promise<TestDatabase> {
  const admin = await adminUrl();
  if (!admin) {
    const dir = mkdtempSync(join(tmpdir(), 'outpost-pglite-'));
    return {
      url: `pglite:${dir}`,
      kind: 'pglite',
      async drop() {
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const name = `outpost_test_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  const client = new pg.Client({ connectionString: admin });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE "${name}"`);
  } finally {
    await client.end();
  }
  const url = new URL(admin);
  url.pathname = `/${name}`;
  let dropped = false;
  return {
    url: url.toString(),
    kind: 'postgres',
    async drop() {
      if (dropped) return;
      dropped = true;
      const c = new pg.Client({ connectionString: admin });
      await c.connect();
      try {
        // FORCE ends sessions a test forgot to close (PostgreSQL ≥ 13).
        await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}
