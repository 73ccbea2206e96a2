/**
 * stamp-artist-id's data phase vs the single hand-written UPDATE production ran. Not run by the tests.
 *
 * `url` is a database the bench may change: the runner passes its seeded, backfilled database. If it
 * has no legacy/target tables, a synthetic one is created there (accounts, rooms, derived sessions).
 * Both sides start from the same state — every artist_id NULL, table vacuumed — and end stamped.
 */
import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { stampArtistId } from '../src/commands/stamp-artist-id/stamp-artist-id.ts';
import { ensureArtistIdSchema } from '../src/commands/stamp-artist-id/schema.ts';
import { applySchema } from '../src/commands/schema/schema.ts';
import { createPool, resolveConnection, type ResolvedConnection } from '../src/engine/connection.ts';
import { SESSION_ID_NAMESPACE, sessionIdForRoom } from '../src/migration/session-id.ts';
import { createLogger, type Logger } from '../src/engine/logger.ts';

// Synthetic data when the database is empty: production's size (23,252 sessions, 17,985 with an artist).
const SYNTHETIC_ROOMS = 23_252;
const SYNTHETIC_ARTIST_SHARE = 17_985 / 23_252;
const SYNTHETIC_ACCOUNTS = 1_000;
// The tool's CLI defaults, so the bench measures what operators run.
const BATCH_SIZE = 1000;
// Alternating tool/baseline rounds; each side's best counts.
const ROUNDS = 3;
const CONCURRENCY = 2;
const STATEMENT_TIMEOUT_MS = 120_000;
const LOCK_TIMEOUT_MS = 10_000;
const DDL_LOCK_TIMEOUT_MS = 1_000;
const DDL_ATTEMPTS = 10;
// Pool clients: the batch workers plus the planner and lease heartbeat, as the CLI sizes it.
const POOL_SIZE = CONCURRENCY + 2;

export async function benchStampArtistId(url: string): Promise<{ toolMs: number; baselineMs: number }> {
  const connection = resolveConnection({ databaseUrl: url });
  const pool = createPool(connection, POOL_SIZE);
  const logger = createLogger('silent');
  try {
    await ensureData(pool);
    await ensureArtistIdSchema(
      pool,
      { dryRun: false, skipSchema: false, attempts: DDL_ATTEMPTS, lockTimeoutMs: DDL_LOCK_TIMEOUT_MS, statementTimeoutMs: STATEMENT_TIMEOUT_MS },
      logger,
    );

    const v5 = await uuidV5Function(pool);
    // Alternating rounds, best of each: the machine is shared, and one slow moment shouldn't decide.
    const toolTimes: number[] = [];
    const baselineTimes: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      await resetArtistIds(pool);
      baselineTimes.push(await productionUpdate(pool, v5.name));
      const baselineStamped = await countStamped(pool);
      await resetArtistIds(pool);
      toolTimes.push(await timedToolRun(pool, connection, logger));
      const toolStamped = await countStamped(pool);
      if (toolStamped !== baselineStamped) {
        throw new Error(`The tool stamped ${toolStamped} sessions, the baseline ${baselineStamped}: not the same work`);
      }
    }
    if (v5.created) await pool.query('drop extension "uuid-ossp"');
    return { toolMs: Math.round(Math.min(...toolTimes)), baselineMs: Math.round(Math.min(...baselineTimes)) };
  } finally {
    await pool.end();
  }
}

/** One run of the command function, as the CLI runs it (minus process start-up), timed. */
async function timedToolRun(pool: pg.Pool, connection: ResolvedConnection, logger: Logger): Promise<number> {
  const started = performance.now();
  const summary = await stampArtistId(
    {
      scope: {},
      batchSize: BATCH_SIZE,
      concurrency: CONCURRENCY,
      dryRun: false,
      skipSchema: true,
      overwriteConflicts: false,
      allowTouchUpdatedAt: false,
      statementTimeoutMs: STATEMENT_TIMEOUT_MS,
      lockTimeoutMs: LOCK_TIMEOUT_MS,
      ddlLockTimeoutMs: DDL_LOCK_TIMEOUT_MS,
      ddlAttempts: DDL_ATTEMPTS,
    },
    {
      pool,
      connection,
      logger,
      stateSchema: 'recoup_migrate',
      runId: randomUUID(),
      startedAt: new Date(),
      reportDir: join(tmpdir(), `recoup-bench-stamp-${process.pid}-${Date.now()}`),
      progress: false,
      showValues: false,
      stopSignal: new AbortController().signal,
    },
  );
  const elapsed = performance.now() - started;
  if (summary.exitCode !== 0) throw new Error(`stamp-artist-id failed in the bench: ${String(summary.error)}`);
  await rm(summary.reportDir as string, { recursive: true, force: true });
  return elapsed;
}

/** The production statement, timed; session ids through uuid_generate_v5 when the extension can be had. */
async function productionUpdate(pool: pg.Pool, v5: string | null): Promise<number> {
  if (v5) {
    const started = performance.now();
    await pool.query(
      `update public.sessions s set artist_id = r.artist_id from public.rooms r
        where s.id = ${v5}($1::uuid, r.id::text)::text and r.artist_id is not null`,
      [SESSION_ID_NAMESPACE],
    );
    return performance.now() - started;
  }
  // No uuid-ossp: a mapping table computed here, its load untimed (which favours the baseline).
  const client = await pool.connect();
  try {
    const { rows } = await client.query<{ id: string }>('select id::text from public.rooms where artist_id is not null');
    await client.query('create temporary table room_session (room_id uuid primary key, session_id text not null)');
    await client.query(`insert into room_session select * from unnest($1::uuid[], $2::text[])`, [
      rows.map((r) => r.id),
      rows.map((r) => sessionIdForRoom(r.id)),
    ]);
    await client.query('analyze room_session');
    const started = performance.now();
    await client.query(
      `update public.sessions s set artist_id = r.artist_id
         from public.rooms r join room_session m on m.room_id = r.id
        where s.id = m.session_id and r.artist_id is not null`,
    );
    const elapsed = performance.now() - started;
    await client.query('drop table room_session');
    return elapsed;
  } finally {
    client.release();
  }
}

/**
 * The schema-qualified uuid_generate_v5, creating uuid-ossp if allowed (and saying so, to drop it after);
 * null when it can't be had.
 */
async function uuidV5Function(pool: pg.Pool): Promise<{ name: string | null; created: boolean }> {
  const find = async () => {
    const { rows } = await pool.query<{ schema: string }>(
      `select n.nspname as schema from pg_extension e join pg_namespace n on n.oid = e.extnamespace where e.extname = 'uuid-ossp'`,
    );
    return rows[0]?.schema ?? null;
  };
  let schema = await find();
  let created = false;
  if (schema === null) {
    created = await pool.query('create extension "uuid-ossp"').then(() => true, () => false);
    schema = await find();
  }
  return { name: schema ? `"${schema.replaceAll('"', '""')}".uuid_generate_v5` : null, created };
}

async function resetArtistIds(pool: pg.Pool): Promise<void> {
  await pool.query('update public.sessions set artist_id = null where artist_id is not null');
  await pool.query('vacuum analyze public.sessions');
}

async function countStamped(pool: pg.Pool): Promise<number> {
  const { rows } = await pool.query<{ n: number }>('select count(*)::int as n from public.sessions where artist_id is not null');
  return rows[0]?.n ?? 0;
}

/** A database without the tables gets production-sized synthetic rooms and their derived sessions. */
async function ensureData(pool: pg.Pool): Promise<void> {
  const { rows } = await pool.query<{ present: boolean }>(`select to_regclass('public.sessions') is not null as present`);
  if (rows[0]?.present) return;
  await applySchema(pool, { legacy: true, target: true, withoutArtistId: true });
  await pool.query(`insert into public.accounts (name) select 'account ' || g from generate_series(1, $1::int) g`, [SYNTHETIC_ACCOUNTS]);
  await pool.query(
    `with a as (select array_agg(id) as ids from public.accounts)
     insert into public.rooms (account_id, topic, artist_id)
     select a.ids[1 + (g % $2::int)], 'room ' || g, case when random() < $3::float8 then a.ids[1 + ((g * 7) % $2::int)] end
       from generate_series(1, $1::int) g, a`,
    [SYNTHETIC_ROOMS, SYNTHETIC_ACCOUNTS, SYNTHETIC_ARTIST_SHARE],
  );
  const { rows: rooms } = await pool.query<{ id: string; account_id: string }>('select id::text, account_id::text from public.rooms');
  await pool.query(
    `insert into public.sessions (id, account_id, title) select s, a, 'synthetic' from unnest($1::text[], $2::uuid[]) as x(s, a)`,
    [rooms.map((r) => sessionIdForRoom(r.id)), rooms.map((r) => r.account_id)],
  );
}
