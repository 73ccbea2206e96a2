import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import type { TableName } from './dependents.ts';
import { failed, passed, type GateResult } from './gates.ts';

// pg_stat_user_tables counters reach other sessions up to ~10 s late on PG 15 (stats are flushed at
// most once a second, and by idle backends only after 10 s); a shorter window can miss a write there.
export const STATS_LAG_SECONDS = 15;

/** Signals that move the moment a write commits: row count, newest xmin, newest updated_at. */
interface LiveSignals {
  rows: string;
  newestXmin: string | null;
  newestUpdatedAt: string | null;
}

/** Cumulative counters: they catch an insert undone by a delete, but lag. */
interface Counters {
  writes: number;
  reads: number;
}

export interface WatchHooks {
  /** Called once the window is open (tests write here to prove the gate sees it). */
  duringWatch?: () => Promise<void>;
}

/** Gate 2: no insert, update or delete on the tables for `seconds`; reads by others are a warning. */
export async function quietGate(
  pool: pg.Pool,
  tables: readonly TableName[],
  seconds: number,
  signal: AbortSignal,
  hooks: WatchHooks = {},
): Promise<GateResult> {
  const warnings: string[] = [];
  if (seconds < STATS_LAG_SECONDS) {
    warnings.push(`--watch ${seconds} is under ${STATS_LAG_SECONDS} s: the statistics counters lag by up to ~10 s, so only row counts, xmin and updated_at cover this window`);
  }
  const countersBefore = await readCounters(pool, tables);
  const before = await readSignals(pool, tables);
  await hooks.duringWatch?.();
  await sleep(seconds * 1000, undefined, { signal }).catch(() => {});
  if (signal.aborted) return failed('quiet', 'interrupted before the watch window ended', 'run drop-legacy again');
  const countersAfter = await readCounters(pool, tables);
  const after = await readSignals(pool, tables);

  const changes: string[] = [];
  for (const table of tables) {
    const was = before.get(table.printed);
    const now = after.get(table.printed);
    if (!was || !now) continue;
    if (was.rows !== now.rows) changes.push(`${table.printed}: ${was.rows} → ${now.rows} rows`);
    if (was.newestXmin !== now.newestXmin) changes.push(`${table.printed}: newest xmin ${was.newestXmin} → ${now.newestXmin}`);
    if (was.newestUpdatedAt !== now.newestUpdatedAt) changes.push(`${table.printed}: newest updated_at ${was.newestUpdatedAt} → ${now.newestUpdatedAt}`);
    const writes = (countersAfter.get(table.printed)?.writes ?? 0) - (countersBefore.get(table.printed)?.writes ?? 0);
    if (writes > 0) changes.push(`${table.printed}: pg_stat_user_tables counted ${writes} inserted/updated/deleted row(s) (may include writes up to ~10 s before the window)`);
    // Our own signal read is one scan per table; anything beyond that is someone else reading.
    const reads = (countersAfter.get(table.printed)?.reads ?? 0) - (countersBefore.get(table.printed)?.reads ?? 0) - OWN_SCANS_PER_WINDOW;
    if (reads > 0) warnings.push(`${table.printed}: about ${reads} scan(s) beyond this run's own during the window (the counters lag, so this may include this run's reconcile or other recent readers): something may still read it`);
  }
  if (changes.length > 0) {
    return failed('quiet', `writes during the ${seconds} s window: ${changes.join('; ')}`, 'stop whatever writes the legacy tables (the app\'s email/Slack flows), run `recoup-migrate backfill --since <time of the first write>`, then re-run drop-legacy', warnings);
  }
  const total = [...after.values()].reduce((sum, s) => sum + Number(s.rows), 0);
  return passed('quiet', `no writes on ${tables.length} table(s) (${total} rows) during ${seconds} s`, warnings);
}

// The signal query between the two counter readings scans each table once.
const OWN_SCANS_PER_WINDOW = 1;

async function readSignals(pool: pg.Pool, tables: readonly TableName[]): Promise<Map<string, LiveSignals>> {
  const result = new Map<string, LiveSignals>();
  const { rows: withUpdatedAt } = await pool.query<{ printed: string }>(
    `select quote_ident(n.nspname) || '.' || quote_ident(c.relname) as printed
       from pg_attribute a join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace
      where a.attname = 'updated_at' and not a.attisdropped and c.oid = any($1::regclass[])`,
    [tables.map((t) => t.printed)],
  );
  const hasUpdatedAt = new Set(withUpdatedAt.map((r) => r.printed));
  for (const table of tables) {
    const updatedAt = hasUpdatedAt.has(table.printed) ? `max(updated_at)::text` : 'null::text';
    const { rows } = await pool.query<LiveSignals>(
      `select count(*)::text as rows, max(xmin::text::bigint)::text as "newestXmin", ${updatedAt} as "newestUpdatedAt" from ${table.printed}`,
    );
    if (rows[0]) result.set(table.printed, rows[0]);
  }
  return result;
}

async function readCounters(pool: pg.Pool, tables: readonly TableName[]): Promise<Map<string, Counters>> {
  const client = await pool.connect();
  try {
    // Statistics are cached per transaction; clear the cache so this reading is current.
    await client.query('select pg_stat_clear_snapshot()');
    const { rows } = await client.query<{ printed: string; writes: string; reads: string }>(
      `select quote_ident(schemaname) || '.' || quote_ident(relname) as printed,
              (n_tup_ins + n_tup_upd + n_tup_del)::text as writes,
              (coalesce(seq_scan, 0) + coalesce(idx_scan, 0))::text as reads
         from pg_stat_user_tables where relid = any($1::regclass[])`,
      [tables.map((t) => t.printed)],
    );
    return new Map(rows.map((r) => [r.printed, { writes: Number(r.writes), reads: Number(r.reads) }]));
  } finally {
    client.release();
  }
}
