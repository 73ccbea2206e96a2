import type pg from 'pg';
import { quoteIdent } from '../../engine/sql-files.ts';
import { applyStateDdl } from '../../engine/state-schema.ts';

/** The quoted name of the table that keeps artist_id values overwritten by --overwrite-conflicts. */
export function artistIdBackupTable(stateSchema: string): string {
  return `${quoteIdent(stateSchema)}.artist_id_backup`;
}

/**
 * Creates the backup table in the state schema (which must exist). Owned by this command rather than
 * sql/state.sql; IF NOT EXISTS, under a transaction-scoped advisory lock so two runs starting together
 * don't race on it.
 */
export async function ensureArtistIdBackupTable(pool: pg.Pool, stateSchema: string): Promise<void> {
  await applyStateDdl(
    pool,
    `recoup-migrate:artist-id-backup:${stateSchema}`,
    `create table if not exists ${artistIdBackupTable(stateSchema)} (
       run_id uuid not null,
       session_id text not null,
       room_id uuid not null,
       old_artist_id uuid not null,
       new_artist_id uuid not null,
       stamped_at timestamptz not null default now(),
       primary key (run_id, session_id)
     )`,
  );
}

// insufficient_privilege: SET session_replication_role needs superuser or GRANT SET ON PARAMETER.
const INSUFFICIENT_PRIVILEGE = '42501';

/**
 * Whether this role may `SET LOCAL session_replication_role = replica` (superuser, or, from PG 15, a
 * GRANT SET ON PARAMETER — Supabase's postgres has it). Tried for real in a transaction that is rolled
 * back, so no catalog guesswork across versions.
 */
export async function canUseReplicaRole(pool: pg.Pool): Promise<boolean> {
  const client = await pool.connect();
  try {
    await client.query('begin');
    await client.query(`select set_config('session_replication_role', 'replica', true)`);
    return true;
  } catch (error) {
    if ((error as { code?: string }).code === INSUFFICIENT_PRIVILEGE) return false;
    throw error;
  } finally {
    await client.query('rollback').catch(() => {});
    client.release();
  }
}

/**
 * SELECT … FOR KEY SHARE on accounts (the existence check that stands in for the skipped FK trigger)
 * needs an UPDATE privilege on some column of accounts, not just SELECT.
 */
export async function canLockAccounts(pool: pg.Pool): Promise<boolean> {
  const { rows } = await pool.query<{ allowed: boolean }>(
    `select has_any_column_privilege(current_user, 'public.accounts', 'UPDATE') as allowed`,
  );
  return rows[0]?.allowed === true;
}

/**
 * The settings of one stamp transaction, SET LOCAL in one round trip:
 * - replica: session_replication_role = replica, so set_updated_at (and the FK's checks) don't fire and
 *   users' chat lists keep their order;
 * - enable_seqscan off: a batch probes a few hundred ids in sessions, rooms and the ledger; a full scan
 *   per batch would make the run cost batches × table size (the statement is written for probes too);
 * - jit off: the statement runs for milliseconds, and JIT-compiling it would take far longer;
 * - synchronous_commit off: a batch's commit doesn't wait for its WAL flush. A server crash can lose
 *   the last few batches' commits (never half of one); the stamp is idempotent, so a re-run redoes them.
 */
export async function configureStampTransaction(client: pg.ClientBase, options: { replica: boolean }): Promise<void> {
  await client.query(
    `select set_config('enable_seqscan', 'off', true), set_config('jit', 'off', true),
            set_config('synchronous_commit', 'off', true)${
      options.replica ? `, set_config('session_replication_role', 'replica', true)` : ''
    }`,
  );
}
