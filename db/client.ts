// Opens the database: a PostgreSQL server through postgres.js when DATABASE_URL is set
// (production, tests, several processes sharing one database), otherwise an embedded PGlite
// under DATA_DIR so that sanscode starts anywhere Node runs.
//
// A replicated PostgreSQL is reached through a multi-host URL, hosts tried in order:
// postgres://h1:5432,h2:5432/db?target_session_attrs=primary (postgres.js keeps only the
// primary, so after a failover the promoted standby is found; a transaction cut by it is
// rolled back whole and fails, never half-applied).
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import type { ParameterOrJSON, Sql, UnsafeQueryOptions } from 'postgres';
import * as schema from './schema.js';

export type Database = PgDatabase<PgQueryResultHKT, typeof schema>;

export interface DbHandle {
  db: Database;
  kind: 'postgres' | 'pglite';
  /**
   * LISTENs on a NOTIFY channel (postgres.js keeps a dedicated connection and re-listens after
   * reconnecting). Returns a function that stops listening.
   */
  listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

export const migrationsFolder = path.join(path.dirname(fileURLToPath(import.meta.url)), 'migrations');

// Arbitrary constant: serialises migrations when several processes start at once.
const MIGRATION_LOCK = 7215_0001;

export interface OpenOptions {
  databaseUrl?: string | undefined;
  dataDir?: string;
  /** Apply pending migrations before returning (default true). */
  migrate?: boolean;
  poolSize?: number;
}

export async function openDatabase(opts: OpenOptions): Promise<DbHandle> {
  if (opts.databaseUrl) return openPostgres(opts.databaseUrl, opts.migrate ?? true, opts.poolSize ?? 10);
  return openPglite(opts.dataDir ?? './data/pglite', opts.migrate ?? true);
}

async function openPostgres(url: string, runMigrations: boolean, max: number): Promise<DbHandle> {
  const { default: postgres } = await import('postgres');
  const { drizzle } = await import('drizzle-orm/postgres-js');
  if (runMigrations) {
    // A single dedicated connection holds the advisory lock for the whole migration.
    const lockClient = postgres(url, { max: 1, onnotice: () => {} });
    try {
      await lockClient`select pg_advisory_lock(${MIGRATION_LOCK})`;
      const { migrate } = await import('drizzle-orm/postgres-js/migrator');
      await migrate(drizzle(lockClient), { migrationsFolder });
      await lockClient`select pg_advisory_unlock(${MIGRATION_LOCK})`;
    } finally {
      await lockClient.end();
    }
  }
  const client = postgres(url, { max, onnotice: () => {} });
  const db = drizzle(preparingEveryQuery(client), { schema }) as unknown as Database;
  return {
    db,
    kind: 'postgres',
    async listen(channel, onNotify) {
      const { unlisten } = await client.listen(channel, onNotify);
      return unlisten;
    },
    close: () => client.end({ timeout: 5 }),
  };
}

/**
 * drizzle runs a query through `sql.unsafe(text, params, { prepare: false })` unless it was
 * .prepare()d by name. Unprepared, postgres.js first asks the server for the parameters' types
 * (a round trip of its own) and the server parses and plans the text again on every call.
 * Our query texts are fixed (values are always parameters), so every one is prepared once per
 * connection instead: one round trip a query. `?prepare=false` in DATABASE_URL (a pooler in
 * transaction mode) still turns preparing off for the whole client.
 */
function preparingEveryQuery(sql: Sql): Sql {
  return new Proxy(sql, {
    get(target, prop, receiver) {
      if (prop === 'unsafe') {
        return (text: string, params?: ParameterOrJSON<never>[], options?: UnsafeQueryOptions) =>
          target.unsafe(text, params, params?.length ? { ...options, prepare: true } : options);
      }
      // Transactions and savepoints hand the callback a connection-bound sql of their own.
      if (prop === 'begin' || prop === 'savepoint') {
        return (...args: unknown[]) => {
          const run = args.pop() as (tx: Sql) => unknown;
          const start = (target as unknown as Record<typeof prop, (...a: unknown[]) => unknown>)[prop];
          return start(...args, (tx: Sql) => run(preparingEveryQuery(tx)));
        };
      }
      return Reflect.get(target, prop, receiver) as unknown;
    },
  });
}

async function openPglite(dataDir: string, runMigrations: boolean): Promise<DbHandle> {
  const { PGlite } = await import('@electric-sql/pglite');
  const { btree_gist } = await import('@electric-sql/pglite/contrib/btree_gist');
  const { drizzle } = await import('drizzle-orm/pglite');
  mkdirSync(dataDir, { recursive: true });
  // btree_gist backs the exclusion constraint on number lendings.
  const client = new PGlite(dataDir, { extensions: { btree_gist } });
  const db = drizzle(client, { schema });
  if (runMigrations) {
    const { migrate } = await import('drizzle-orm/pglite/migrator');
    await migrate(db, { migrationsFolder });
  }
  return {
    db: db as unknown as Database,
    kind: 'pglite',
    async listen(channel, onNotify) {
      const unlisten = await client.listen(channel, onNotify);
      return () => unlisten();
    },
    close: () => client.close(),
  };
}
