import type pg from 'pg';
import type { DdlStep } from './schema-state.ts';

// SQLSTATEs after which the same DDL usually succeeds a moment later: the lock was busy.
const LOCK_SQLSTATES = new Set([
  '55P03', // lock_not_available: our lock_timeout fired while waiting
  '40P01', // deadlock_detected
]);

export function isLockBusy(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && LOCK_SQLSTATES.has(code);
}

export interface DdlTimeouts {
  /** How long one statement may wait for its lock before giving up (and being retried). */
  lockTimeoutMs: number;
  statementTimeoutMs: number;
}

/**
 * Runs one DDL statement with a short lock_timeout, so that while it waits behind a long transaction
 * the app's queries, which queue behind the waiting DDL, are held up for at most that long.
 *
 * - transactional: BEGIN; SET LOCAL …; the statement; COMMIT (pooler-safe).
 * - concurrent: CREATE/DROP INDEX CONCURRENTLY cannot run in a transaction block, not even a
 *   multi-statement query string, so the timeouts are set on the session of a client of its own, the
 *   statement runs alone, and the client is discarded so the settings never reach another caller.
 */
export async function runDdlStep(pool: pg.Pool, step: DdlStep, timeouts: DdlTimeouts): Promise<void> {
  const client = await pool.connect();
  let discard = step.mode === 'concurrent';
  try {
    if (step.mode === 'transactional') {
      await client.query('begin');
      try {
        await setTimeouts(client, timeouts, true);
        await client.query(step.sql);
        await client.query('commit');
      } catch (error) {
        await client.query('rollback').catch(() => {
          discard = true;
        });
        throw error;
      }
    } else {
      await setTimeouts(client, timeouts, false);
      await client.query(step.sql);
    }
  } finally {
    client.release(discard);
  }
}

async function setTimeouts(client: pg.ClientBase, timeouts: DdlTimeouts, local: boolean): Promise<void> {
  await client.query(`select set_config('lock_timeout', $1, $3), set_config('statement_timeout', $2, $3)`, [
    `${timeouts.lockTimeoutMs}ms`,
    `${timeouts.statementTimeoutMs}ms`,
    local,
  ]);
}

// Backoff between attempts on a busy lock: doubling from the base, capped, with jitter so that two runs
// (or a run and a busy app) don't keep colliding on the same beat.
const LOCK_BACKOFF_BASE_MS = 250;
const LOCK_BACKOFF_CAP_MS = 5_000;

export interface LockRetryOptions {
  attempts: number;
  /** Called before each wait; `attempt` is the one that just failed. */
  onRetry: (error: unknown, attempt: number, delayMs: number) => void;
  /** The error to throw when the last attempt failed on a busy lock. */
  onGiveUp: (error: unknown, attempts: number) => Promise<Error>;
}

/**
 * Runs `work` until it gets through without a busy lock, at most `attempts` times. Each attempt must
 * carry its own short lock_timeout; other errors are thrown at once.
 */
export async function withLockRetries<T>(options: LockRetryOptions, work: () => Promise<T>): Promise<{ value: T; retries: number }> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return { value: await work(), retries: attempt - 1 };
    } catch (error) {
      if (!isLockBusy(error)) throw error;
      if (attempt >= options.attempts) throw await options.onGiveUp(error, attempt);
      const delay = Math.min(LOCK_BACKOFF_CAP_MS, LOCK_BACKOFF_BASE_MS * 2 ** (attempt - 1)) * (0.5 + Math.random());
      options.onRetry(error, attempt, Math.round(delay));
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}
