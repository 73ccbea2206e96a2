import type pg from 'pg';

export interface ThrottleLimits {
  /** Pause while more sessions than this wait on locks in this database. */
  maxLockWaiters: number;
  /** Pause while a replica lags more than this many seconds (when replicas exist and are visible). */
  maxReplicationLagSeconds: number;
}

/**
 * Why the database looks under pressure right now, or null. One cheap query; pg_stat_replication shows
 * lag only to roles with pg_monitor (or superuser): otherwise that signal reads as no lag.
 */
export async function databasePressure(pool: pg.Pool, limits: ThrottleLimits): Promise<string | null> {
  const { rows } = await pool.query<{ lock_waiters: number; lag_seconds: number | null }>(
    `select (select count(*)::int from pg_stat_activity
              where datname = current_database() and wait_event_type = 'Lock') as lock_waiters,
            (select max(extract(epoch from replay_lag))::float8 from pg_stat_replication) as lag_seconds`,
  );
  const row = rows[0];
  if (!row) return null;
  if (row.lock_waiters > limits.maxLockWaiters) {
    return `${row.lock_waiters} sessions are waiting on locks (limit ${limits.maxLockWaiters})`;
  }
  if (row.lag_seconds !== null && row.lag_seconds > limits.maxReplicationLagSeconds) {
    return `a replica lags ${row.lag_seconds.toFixed(0)} s (limit ${limits.maxReplicationLagSeconds} s)`;
  }
  return null;
}
