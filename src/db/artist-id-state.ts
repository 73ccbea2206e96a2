import type pg from 'pg';
import { quoteIdent } from './sql-files.ts';

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
  const table = artistIdBackupTable(stateSchema);
  const client = await pool.connect();
  try {
    await client.query('begin');
    await client.query(`select pg_advisory_xact_lock(hashtext($1))`, [`recoup-migrate:artist-id-backup:${stateSchema}`]);
    await client.query(
      `create table if not exists ${table} (
         run_id uuid not null,
         session_id text not null,
         room_id uuid not null,
         old_artist_id uuid not null,
         new_artist_id uuid not null,
         stamped_at timestamptz not null default now(),
         primary key (run_id, session_id)
       )`,
    );
    await client.query('commit');
  } catch (error) {
    await client.query('rollback').catch(() => {});
    throw error;
  } finally {
    client.release();
  }
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

/** Turns triggers off for the rest of the transaction: set_updated_at (and the FK's checks) don't fire. */
export async function useReplicaRoleLocally(client: pg.ClientBase): Promise<void> {
  await client.query(`select set_config('session_replication_role', 'replica', true)`);
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
