// Queries whose SQL text drizzle builds once per process instead of on every run.
//
// drizzle turns a query builder into SQL each time it runs (walking its chunks, checking each
// entity's kind). On the IVR's call path that was the largest item of the process's CPU, about
// 2.3 ms of some 10 ms a call (docs/performance.md), paid while the caller waits for the
// decision. A query made with builtOnce() is built the first time, with a placeholder
// (sql.placeholder) for every value that changes, and each later run only fills them in.
//
// drizzle's own .prepare() does this for a query on the pool, not for one inside a transaction:
// a prepared query keeps the connection it was made on. Ours runs on the connection of the
// transaction given, so it takes that transaction's locks and sees its writes like any query
// made on `tx` (test/integration/built-once.test.ts: its writes and rollbacks on PostgreSQL
// and PGlite, its locks and two transactions at once on PostgreSQL).
import type { PgPreparedQuery, PreparedQueryConfig } from 'drizzle-orm/pg-core';
import type { Database } from '../client.js';

type Prepared<Result> = PgPreparedQuery<PreparedQueryConfig & { execute: Result }>;

/** What a drizzle transaction (or database) holds at run time: its session, whose `client` is its connection (or pool). */
interface TxInternals {
  session: { client: unknown; constructor: object };
}

/**
 * `build` writes the query on the transaction (or database) it is given, every changing value as
 * sql.placeholder('name'), and ends with .prepare(name). The function returned runs it in `tx`
 * with `values` for the placeholders. A value written into the builder instead of a
 * placeholder would be frozen at its first run: only constants belong there.
 */
export function builtOnce<Result>(name: string, build: (tx: Database, name: string) => Prepared<Result>): (tx: Database, values?: Record<string, unknown>) => Promise<Result> {
  // One per driver (postgres.js, PGlite): the SQL text is the same for every database of a
  // driver, and only the connection changes from run to run.
  const byDriver = new Map<object, Prepared<Result>>();
  return (tx, values = {}) => {
    const { session } = tx as unknown as TxInternals;
    let query = byDriver.get(session.constructor);
    if (!query) byDriver.set(session.constructor, (query = build(tx, name)));
    // drizzle's prepared queries (postgres.js and PGlite alike) send through `this.client`:
    // this run's copy sends through the transaction's connection instead.
    const onTx = Object.create(query, { client: { value: session.client } }) as Prepared<Result>;
    return onTx.execute(values);
  };
}
