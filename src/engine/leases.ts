import { hostname } from 'node:os';
import type pg from 'pg';
import { PreconditionError } from './errors.ts';
import { quoteIdent } from './sql-files.ts';
import { BOOKKEEPING_TIMEOUTS, inTransaction } from './transactions.ts';

/** How this process names itself in leases and batch claims: host and pid (see isDeadLocalHolder). */
export function workerName(): string {
  return `${hostname()}:${process.pid}`;
}

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

/** A holder (`host:pid`) on this machine whose process no longer exists. */
export function isDeadLocalHolder(holder: string): boolean {
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
  /** The run the lease is held for: the one given, or the one `chooseRun` picked. */
  runId: string;
  release(): Promise<void>;
}

export interface LeaseRequest {
  command: string;
  runId: string;
  /**
   * Picks the run to hold the lease for, inside the lease transaction (after the exclusion check, under
   * its lock), so that joining or starting a shared run cannot race another process doing the same.
   */
  chooseRun?: (client: pg.ClientBase) => Promise<string>;
}

/**
 * Takes the command's lease row in the state schema, after checking that no live lease of an
 * incompatible command exists. Expired leases (a dead process) are taken over. Workers of the same run
 * (several processes sharing one backfill) don't exclude each other: each holds its own row.
 */
export async function acquireLease(
  pool: pg.Pool,
  schema: string,
  request: LeaseRequest,
): Promise<HeldLease> {
  const lease = { command: request.command, runId: request.runId };
  const table = `${quoteIdent(schema)}.leases`;
  const holder = workerName();
  const excluded = EXCLUDES[lease.command] ?? [lease.command];
  await inTransaction(pool, { isolation: 'read committed', ...BOOKKEEPING_TIMEOUTS }, async (client) => {
    // Serialise lease takers for this check-then-insert; transaction-scoped, so pooler-safe.
    await client.query(`select pg_advisory_xact_lock(hashtext($1))`, [`recoup-migrate:leases:${schema}`]);
    // Rolled back with the rest if another run turns out to block this one.
    if (request.chooseRun) lease.runId = await request.chooseRun(client);
    const { rows } = await client.query<{ command: string; run_id: string; holder: string; expires_at: Date }>(
      `select command, run_id, holder, expires_at from ${table}
        where expires_at > now() and command = any($1::text[]) and run_id <> $2::uuid`,
      [excluded, lease.runId],
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
      [`${lease.command}:${lease.runId}:${holder}`, lease.runId, lease.command, holder, LEASE_TTL_SECONDS],
    );
  });

  const name = `${lease.command}:${lease.runId}:${holder}`;
  const heartbeat = setInterval(() => {
    pool
      .query(`update ${table} set expires_at = now() + make_interval(secs => $2) where name = $1`, [name, LEASE_TTL_SECONDS])
      .catch(() => {});
  }, LEASE_HEARTBEAT_MS);
  heartbeat.unref();
  return {
    runId: lease.runId,
    async release() {
      clearInterval(heartbeat);
      await pool.query(`delete from ${table} where name = $1`, [name]).catch(() => {});
    },
  };
}

/**
 * For read-only commands, which take no lease (a lease row is a write): refuse when a live lease of a
 * command that must not run alongside is held by another run.
 */
export async function assertNoConflictingLease(pool: pg.Pool, schema: string, request: { command: string; runId: string }): Promise<void> {
  const excluded = EXCLUDES[request.command] ?? [];
  const { rows } = await pool.query<{ command: string; run_id: string; holder: string; expires_at: Date }>(
    `select command, run_id, holder, expires_at from ${quoteIdent(schema)}.leases
      where expires_at > now() and command = any($1::text[]) and run_id <> $2::uuid`,
    [excluded, request.runId],
  );
  const blocking = rows.find((row) => !isDeadLocalHolder(row.holder));
  if (blocking) {
    throw new PreconditionError(
      `A ${blocking.command} run (${blocking.run_id}, on ${blocking.holder}) is active, and ${request.command} must not ` +
        `run alongside it. Wait for it to finish (\`recoup-migrate status\`); its lease expires by itself at ${blocking.expires_at.toISOString()} if that process is gone.`,
    );
  }
}
