import type pg from 'pg';
import { messageScopeFilter, type ResolvedMessageScope } from './message-scope.ts';
import { scopeFilter, type RoomScope } from './source-reads.ts';

/** A batch is a keyset range of one table's primary key, as text: (after, last]. */
export interface KeyRange {
  after: string | null;
  last: string;
}

type Queryable = pg.Pool | pg.ClientBase;

/**
 * The keys a command walks, in key order, within its scope: rooms by uuid (backfill, reconcile) or
 * chat_messages by text id (fix-parts). The work queue and the batch runner know nothing else about the
 * table, so every command shares one runner. Keys travel and are stored as text; each keyset casts
 * them back to its column's type, so the order is always the index's order.
 */
export interface Keyset {
  /** What one key is, for progress, status and the run's totals. */
  readonly unit: 'rooms' | 'messages';
  /** --limit: at most this many keys in the whole walk. */
  readonly limit: number | undefined;
  /** How many keys the walk will visit (for progress and ETA). */
  count(db: Queryable): Promise<number>;
  /** The next page of at most `take` keys after `after`: its last key and its size; null when none is left. */
  page(db: Queryable, after: string | null, take: number): Promise<{ last: string; count: number } | null>;
  /** A key that cuts (after, last] into two non-empty halves, with the size of each; null for a single key. */
  halve(db: Queryable, range: KeyRange): Promise<{ mid: string; first: number; second: number } | null>;
}

interface KeysetSql {
  unit: Keyset['unit'];
  limit: number | undefined;
  /** `select <key> as id from <table> <alias> where <scope>`, parameters numbered from `firstParam`. */
  keys(firstParam: number): { from: string; key: string; cast: string; filter: string; params: unknown[] };
}

/** Rooms by uuid, within --room/--since/--limit. */
export function roomKeyset(scope: RoomScope): Keyset {
  return keyset({
    unit: 'rooms',
    limit: scope.limit,
    keys: (firstParam) => {
      const filter = scopeFilter(scope, firstParam);
      return { from: 'public.rooms r', key: 'r.id', cast: 'uuid', filter: filter.sql, params: filter.params };
    },
  });
}

/** chat_messages by text id (its primary key, the only index the table is known to have), within --chat/--since/--limit. */
export function messageKeyset(scope: ResolvedMessageScope): Keyset {
  return keyset({
    unit: 'messages',
    limit: scope.limit,
    keys: (firstParam) => {
      const filter = messageScopeFilter(scope, firstParam);
      return { from: 'public.chat_messages cm', key: 'cm.id', cast: 'text', filter: filter.sql, params: filter.params };
    },
  });
}

function keyset(sql: KeysetSql): Keyset {
  return {
    unit: sql.unit,
    limit: sql.limit,
    async count(db) {
      const k = sql.keys(1);
      const { rows } = await db.query<{ count: string }>(`select count(*) as count from ${k.from} where ${k.filter}`, k.params);
      const count = Number(rows[0]?.count ?? 0);
      return sql.limit !== undefined ? Math.min(count, sql.limit) : count;
    },
    async page(db, after, take) {
      const k = sql.keys(3);
      const { rows } = await db.query<{ last: string | null; count: number }>(
        `select (array_agg(id order by id desc))[1]::text as last, count(*)::int as count from (
           select ${k.key} as id from ${k.from}
            where ($1::${k.cast} is null or ${k.key} > $1::${k.cast}) and ${k.filter}
            order by ${k.key} limit $2) page`,
        [after, take, ...k.params],
      );
      const page = rows[0];
      return page && page.last !== null ? { last: page.last, count: page.count } : null;
    },
    async halve(db, range) {
      const k = sql.keys(3);
      const inRange = `($1::${k.cast} is null or ${k.key} > $1::${k.cast}) and ${k.key} <= $2::${k.cast} and ${k.filter}`;
      const { rows } = await db.query<{ mid: string | null; total: number }>(
        `with total as (select count(*)::int as n from ${k.from} where ${inRange})
         select (select ${k.key}::text from ${k.from} where ${inRange}
                  order by ${k.key} offset greatest(total.n / 2 - 1, 0) limit 1) as mid, total.n as total
           from total`,
        [range.after, range.last, ...k.params],
      );
      const row = rows[0];
      if (!row?.mid || row.mid === range.last || row.total < 2) return null;
      const first = Math.max(1, Math.floor(row.total / 2));
      return { mid: row.mid, first, second: row.total - first };
    },
  };
}

/**
 * Plans ranges in memory, page by page (dry runs, and reconcile when it does not share a run): each
 * query is short and holds nothing open between pages, so no snapshot or lock is kept across the walk.
 */
export async function* planRanges(db: pg.Pool, keys: Keyset, batchSize: number): AsyncGenerator<KeyRange> {
  let after: string | null = null;
  let remaining = keys.limit ?? Number.POSITIVE_INFINITY;
  while (remaining > 0) {
    const page: { last: string; count: number } | null = await keys.page(db, after, Math.min(batchSize, remaining));
    if (!page) return;
    yield { after, last: page.last };
    after = page.last;
    remaining -= page.count;
  }
}
