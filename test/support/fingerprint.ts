// A digest of every row of every table, so a test can prove that a refused request changed
// nothing at all: no row added, removed or updated. One deliberate exception: a refused code
// redemption is counted (code_redeem_failures) so that guessing codes stays bounded.
import { sql } from 'drizzle-orm';
import type { Database } from '../../db/client.js';

export async function databaseFingerprint(db: Database): Promise<Record<string, string>> {
  const tables = (await db.execute(
    sql`select table_name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE' and table_name <> 'code_redeem_failures' order by table_name`,
  )) as unknown as { table_name: string }[];
  const digests = (await db.execute(
    sql.raw(
      tables
        .map(({ table_name: name }) => `select '${name}' as name, md5(coalesce(string_agg(t::text, '|' order by t::text), '')) as digest from "${name}" t`)
        .join(' union all '),
    ),
  )) as unknown as { name: string; digest: string }[];
  return Object.fromEntries(digests.map((d) => [d.name, d.digest]));
}
