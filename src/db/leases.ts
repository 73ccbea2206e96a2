import { hostname } from 'node:os';
import type pg from 'pg';
import { PreconditionError } from '../runtime/errors.ts';
import { quoteIdent } from './sql-files.ts';

// A lease expires unless renewed: a process killed with -9 blocks others for at most this long.
export const LEASE_TTL_SECONDS = 30;
// Renewed well within the TTL, so a slow event loop tick doesn't lose it.
export const LEASE_HEARTBEAT_MS = 10_000;

/**
 * Which running commands exclude which. Writers of the target exclude each other and the teardown;
 * drop-legacy and restore exclude everything. reconcile is read-only but must not race a teardown.
 */
const EXCLUDES: Record<string, readonly string[]> = {
  backfill: ['backfill', 'fix-parts', 'drop-legacy', 'restore'],
  'fix-parts': ['backfill', 'fix-parts', 'drop-legacy', 'restore'],
  'stamp-artist-id': ['stamp-artist-id', 'drop-legacy', 'restore'],
  reconcile: ['drop-legacy', 'restore'],
  'drop-legacy': ['backfill', 'fix-parts', 'stamp-artist-id', 'reconcile', 'drop-legacy', 'restore'],
  restore: ['backfill', 'fix-parts', 'stamp-artist-id', 'reconcile', 'drop-legacy', 'restore'],
};

function isDeadLocalHolder(holder: string): boolean {
  const separator = holder.lastIndexOf(':');
  if (holder.slice(0, separator) !== hostname()) return false;
  const pid = Number(holder.slice(separator + 1));
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

export interface HeldLease {
  release(): Promise<void>;
}

/**
 * Takes the command's lease row in the state schema, after checking that no live lease of an
 * incompatible command exists. Expired leases (a dead process) are taken over.
 */
export async function acquireLease(
  pool: pg.Pool,
  schema: string,
  lease: { command: string; runId: string },
): Promise<HeldLease> {
  const table = `${quoteIdent(schema)}.leases`;
  const holder = `${hostname()}:${process.pid}`;
  const excluded = EXCLUDES[lease.command] ?? [lease.command];
  const client = await pool.connect();
  try {
    await client.query('begin');
    // Serialise lease takers for this check-then-insert; transaction-scoped, so pooler-safe.
    await client.query(`select pg_advisory_xact_lock(hashtext($1))`, [`recoup-migrate:leases:${schema}`]);
    const { rows } = await client.query<{ command: string; run_id: string; holder: string; expires_at: Date }>(
      `select command, run_id, holder, expires_at from ${table}
        where expires_at > now() and command = any($1::text[])`,
      [excluded],
    );
    const blocking = rows.find((row) => !isDeadLocalHolder(row.holder));
    const stale = rows.filter((row) => isDeadLocalHolder(row.holder));
    if (stale.length > 0) {
      // A process on this machine that no longer exists (kill -9, OOM) can't renew: don't make the
      // operator wait out its lease before resuming.
      await client.query(`delete from ${table} where run_id = any($1::uuid[]) and holder = any($2::text[])`, [
        stale.map((row) => row.run_id),
        stale.map((row) => row.holder),
      ]);
    }
    if (blocking) {
      throw new PreconditionError(
        `Another ${blocking.command} run (${blocking.run_id}, on ${blocking.holder}) is active, and ` +
          `${lease.command} must not overlap it. Wait for it to finish (\`recoup-migrate status\`), or, if ` +
          `that process is dead, its lease expires by itself at ${blocking.expires_at.toISOString()}.`,
      );
    }
    await client.query(
      `insert into ${table} (name, run_id, command, holder, expires_at)
       values ($1, $2, $3, $4, now() + make_interval(secs => $5))
       on conflict (name) do update set run_id = excluded.run_id, command = excluded.command,
         holder = excluded.holder, acquired_at = now(), expires_at = excluded.expires_at`,
      [`${lease.command}:${lease.runId}`, lease.runId, lease.command, holder, LEASE_TTL_SECONDS],
    );
    await client.query('commit');
  } catch (error) {
    await client.query('rollback').catch(() => {});
    throw error;
  } finally {
    client.release();
  }

  const name = `${lease.command}:${lease.runId}`;
  const heartbeat = setInterval(() => {
    pool
      .query(`update ${table} set expires_at = now() + make_interval(secs => $2) where name = $1`, [name, LEASE_TTL_SECONDS])
      .catch(() => {});
  }, LEASE_HEARTBEAT_MS);
  heartbeat.unref();
  return {
    async release() {
      clearInterval(heartbeat);
      await pool.query(`delete from ${table} where name = $1`, [name]).catch(() => {});
    },
  };
}
