import type pg from 'pg';
import { quoteIdent } from '../../../engine/sql-files.ts';

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

/** All in one round trip: a query without parameters may hold several statements. */
export async function applySnapshotSettings(client: pg.ClientBase, timeouts: { statementTimeoutMs: number; lockTimeoutMs: number }): Promise<void> {
  // Integers only (validated by the flag schema), so splicing them is safe; SET takes no parameters.
  const statements = [
    ...SNAPSHOT_SESSION_SETTINGS,
    `set local statement_timeout = ${Math.trunc(timeouts.statementTimeoutMs)}`,
    `set local lock_timeout = ${Math.trunc(timeouts.lockTimeoutMs)}`,
  ];
  await client.query(statements.join('; '));
}

/** Row count and an order-independent digest of a table's rows, computed by the server. */
export interface TableChecksum {
  rows: number;
  /** md5 over (rows, the sums of two 64-bit hashes of each row's text): equal iff the same multiset of rows, in practice. */
  digest: string;
}

/** Names the digest formula below in the manifest; a different formula must get a different name. */
export const CHECKSUM_ALGORITHM = 'hashtextextended-2x64/length-prefixed-columns';
const PROBE_TEXT = 'recoup-migrate checksum probe';

/**
 * The digest sums per-row hashes instead of hashing the rows in order: a sum needs no sort and no 1 GB
 * string_agg buffer, streams over any table size, and two tables with the same rows give the same sum
 * whatever their physical order.
 *
 * A row's text is each column's text (under the fixed settings above) prefixed by its length in bytes,
 * `-` for NULL, concatenated: an unambiguous encoding, and a quarter cheaper than the record's text,
 * which quotes and escapes every JSON value. It is hashed twice, with two seeds, by hashtextextended:
 * the hash that hash partitioning relies on, so it stays the same across PostgreSQL versions, and
 * several times cheaper per row than md5. The OFFSET 0 subqueries keep the planner from inlining them,
 * which would print each column once per use.
 */
export async function tableChecksum(db: pg.ClientBase, qualifiedTable: string, columns: readonly string[]): Promise<TableChecksum> {
  const texts = columns.map((c, i) => `t.${quoteIdent(c)}::text as c${i}`).join(', ');
  const row = columns.length > 0 ? columns.map((_, i) => `coalesce(pg_catalog.octet_length(c${i})::text || ':' || c${i}, '-')`).join(' || ') : `''`;
  const { rows } = await db.query<{ rows: string; digest: string }>(
    `select count(*)::text as rows,
            md5(count(*)::text || ':' || coalesce(sum(pg_catalog.hashtextextended(r, 0)), 0)::text
                || ':' || coalesce(sum(pg_catalog.hashtextextended(r, 1)), 0)::text) as digest
       from (select (${row}) collate "C" as r from (select ${texts} from ${qualifiedTable} t offset 0) c offset 0) x`,
  );
  const result = rows[0];
  if (!result) throw new Error(`No checksum row for ${qualifiedTable}`);
  return { rows: Number(result.rows), digest: result.digest };
}

/**
 * hashtextextended of a fixed text. Its word-wise hashing gives other values on a big-endian server:
 * comparing the probe tells "this server cannot recompute the manifest's digests" apart from "the data
 * differs".
 */
export async function checksumProbe(db: pg.ClientBase | pg.Pool): Promise<string> {
  const { rows } = await db.query<{ probe: string }>(`select pg_catalog.hashtextextended($1 collate "C", 0)::text as probe`, [PROBE_TEXT]);
  return rows[0]?.probe ?? '';
}
