import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import { type SQL, sql } from 'drizzle-orm';
import { drizzle as drizzleNodePg } from 'drizzle-orm/node-postgres';
import { migrate as migrateNodePg } from 'drizzle-orm/node-postgres/migrator';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import pg from 'pg';
import type { DatabaseTarget } from '../config/config.js';
import type { Logger } from '../logging/logger.js';
import { schema } from './schema.js';

/** The drizzle database, whichever driver is underneath (node-postgres pool or PGlite). */
export type Database = PgDatabase<PgQueryResultHKT, typeof schema>;

/** A transaction handle; repositories accept either. */
export type Transaction = Parameters<Parameters<Database['transaction']>[0]>[0];

export interface DatabaseHandle {
  readonly db: Database;
  readonly kind: 'postgres' | 'pglite';
  /** Applies the committed drizzle-kit migrations (serialized across replicas on PostgreSQL). */
  migrate(): Promise<void>;
  close(): Promise<void>;
}

/** src/database → ../../drizzle and dist/database → ../../drizzle: the same folder from source and build. */
const MIGRATIONS_FOLDER = fileURLToPath(new URL('../../drizzle', import.meta.url));

/** Held while migrating so two replicas starting together do not both create the tables. */
const MIGRATION_LOCK_KEY = 0x4f50_4d49_4752n; // "OPMIGR"

/** Connection and query limits for PostgreSQL; a dead connection is dropped, never reused. */
const POOL_OPTIONS = {
  max: 10,
  connectionTimeoutMillis: 5_000,
  idleTimeoutMillis: 30_000,
  // A query that gets no answer fails and its client is discarded by the pool, so a half-dead link cannot wedge it.
  query_timeout: 30_000,
  keepAlive: true,
} as const;

export async function openDatabase(target: DatabaseTarget, logger: Logger): Promise<DatabaseHandle> {
  if (target.kind === 'postgres') return openPostgres(target.url, logger);
  if (target.kind === 'pglite') mkdirSync(target.dir, { recursive: true });
  const client = target.kind === 'pglite' ? new PGlite(target.dir) : new PGlite();
  await client.waitReady;
  const db = drizzlePglite(client, { schema });
  return {
    db,
    kind: 'pglite',
    // PGlite runs inside this process and locks its directory, so there is no other replica to wait for.
    migrate: () => migratePglite(db, { migrationsFolder: MIGRATIONS_FOLDER }),
    close: () => client.close(),
  };
}

async function openPostgres(url: string, logger: Logger): Promise<DatabaseHandle> {
  const pool = new pg.Pool({ connectionString: url, ...POOL_OPTIONS });
  // An idle client whose server went away emits 'error'; without a listener that would crash the process.
  pool.on('error', (err) => {
    logger.warn({ code: 'DB_CONNECTION_LOST', err: err.message }, 'database connection lost; the pool reconnects');
  });
  const db = drizzleNodePg(pool, { schema });
  return {
    db,
    kind: 'postgres',
    async migrate() {
      const client = await pool.connect();
      try {
        await client.query('select pg_advisory_lock($1::bigint)', [MIGRATION_LOCK_KEY.toString()]);
        try {
          await migrateNodePg(drizzleNodePg(client, { schema }), { migrationsFolder: MIGRATIONS_FOLDER });
        } finally {
          await client.query('select pg_advisory_unlock($1::bigint)', [MIGRATION_LOCK_KEY.toString()]);
        }
      } finally {
        client.release();
      }
    },
    close: () => pool.end(),
  };
}

/**
 * Rows of a raw statement. node-postgres and PGlite both answer `{ rows }`, but drizzle's driver-neutral type
 * cannot say so; this checks it at run time instead of casting.
 */
export async function executeRows(db: Database | Transaction, query: SQL): Promise<Record<string, unknown>[]> {
  const result: unknown = await db.execute(query);
  if (typeof result === 'object' && result !== null && 'rows' in result && Array.isArray(result.rows)) {
    return result.rows as Record<string, unknown>[];
  }
  throw new Error('database driver returned no rows array');
}

/** `select 1`, failing after `timeoutMs` (a hung connection must not hang the health check). */
export async function pingDatabase(db: Database, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    await Promise.race([executeRows(db, sql`select 1`), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Nest injection token for the drizzle database. */
export const DATABASE = Symbol('DATABASE');
