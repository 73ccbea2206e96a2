import type pg from 'pg';
import { quoteIdent } from './sql-files.ts';

/**
 * Settings that fix the text form of every value, so that COPY output and row checksums do not depend
 * on the session (a timestamptz prints in the session's TimeZone). search_path = '' makes catalog
 * definitions print every name schema-qualified. SET LOCAL: the transaction's own, pooler-safe, and
 * (being utility statements) they do not take the repeatable-read snapshot early.
 */
export const SNAPSHOT_SESSION_SETTINGS = [
  `set local timezone = 'UTC'`,
  `set local datestyle = 'ISO, YMD'`,
  `set local intervalstyle = 'postgres'`,
  `set local extra_float_digits = 3`,
  `set local bytea_output = 'hex'`,
  `set local search_path = ''`,
] as const;

export async function applySnapshotSettings(client: pg.ClientBase, timeouts: { statementTimeoutMs: number; lockTimeoutMs: number }): Promise<void> {
  for (const statement of SNAPSHOT_SESSION_SETTINGS) await client.query(statement);
  // Integers only (validated by the flag schema), so splicing them is safe; SET takes no parameters.
  await client.query(`set local statement_timeout = ${Math.trunc(timeouts.statementTimeoutMs)}`);
  await client.query(`set local lock_timeout = ${Math.trunc(timeouts.lockTimeoutMs)}`);
}

/** Row count and an order-independent digest of a table's rows, computed by the server. */
export interface TableChecksum {
  rows: number;
  /** md5 over (rows, sum of each row's md5 in two 64-bit halves): equal iff the same multiset of rows, in practice. */
  digest: string;
}

/**
 * The digest sums per-row md5 values instead of hashing the rows in order: a sum needs no sort and no
 * 1 GB string_agg buffer, streams over any table size, and two tables with the same rows give the
 * same sum whatever their physical order. OFFSET 0 keeps the planner from inlining the subquery, which
 * would print each row and compute its md5 twice (once per half): half the time, the same digest.
 */
export async function tableChecksum(db: pg.ClientBase, qualifiedTable: string, columns: readonly string[]): Promise<TableChecksum> {
  const row = columns.length > 0 ? `row(${columns.map((c) => `t.${quoteIdent(c)}`).join(', ')})::text` : `''`;
  const { rows } = await db.query<{ rows: string; digest: string }>(
    `select count(*)::text as rows,
            md5(count(*)::text || ':' || coalesce(sum(('x' || substr(h, 1, 16))::bit(64)::bigint::numeric), 0)::text
                || ':' || coalesce(sum(('x' || substr(h, 17, 16))::bit(64)::bigint::numeric), 0)::text) as digest
       from (select md5(${row}) as h from ${qualifiedTable} t offset 0) x`,
  );
  const result = rows[0];
  if (!result) throw new Error(`No checksum row for ${qualifiedTable}`);
  return { rows: Number(result.rows), digest: result.digest };
}
