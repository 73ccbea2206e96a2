import type pg from 'pg';

export interface TransactionOptions {
  isolation: 'read committed' | 'repeatable read';
  readOnly?: boolean;
  /** Per-transaction timeouts (SET LOCAL: a session-level SET would not survive a pooler). */
  statementTimeoutMs: number;
  lockTimeoutMs: number;
  /** Roll back instead of committing: how --dry-run runs the real statements and writes nothing. */
  rollback?: boolean;
  /**
   * SET LOCAL synchronous_commit = off: the commit returns before its WAL is flushed. A server crash may
   * then lose the last few batches, but each batch carries its own ledger rows, so the state stays
   * consistent and a re-run redoes exactly those. Only for idempotent, resumable writers.
   */
  asyncCommit?: boolean;
}

// SQLSTATEs worth retrying: the same statements usually succeed a moment later.
const TRANSIENT_SQLSTATES = new Set([
  '40001', // serialization_failure: a row changed after this transaction's snapshot
  '40P01', // deadlock_detected
  '55P03', // lock_not_available (lock_timeout)
  '57P01', // admin_shutdown
  '08000', '08003', '08006', // connection exceptions
]);
const TRANSIENT_NODE_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT']);
// node-postgres reports a dropped connection with these messages and no code.
const CONNECTION_LOST_MESSAGE = /Connection terminated|connection timeout|not queryable|Client was closed/i;

/** The connection itself is gone: retrying elsewhere in this process won't help; exit 3 and re-run. */
export function isConnectionLoss(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string') return code.startsWith('08') || code === '57P01' || TRANSIENT_NODE_CODES.has(code);
  return error instanceof Error && CONNECTION_LOST_MESSAGE.test(error.message);
}

export function isTransient(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') {
    return error instanceof Error && CONNECTION_LOST_MESSAGE.test(error.message);
  }
  return TRANSIENT_SQLSTATES.has(code) || TRANSIENT_NODE_CODES.has(code);
}

/** Timeouts for the tool's own short bookkeeping transactions (claims, leases, state DDL, done-marks). */
export const BOOKKEEPING_TIMEOUTS = { statementTimeoutMs: 30_000, lockTimeoutMs: 10_000 } as const;

/** Runs `work` in one transaction on its own pooled client; commits, or rolls back on error or dry run. */
export async function inTransaction<T>(
  pool: pg.Pool,
  options: TransactionOptions,
  work: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  let broken = false;
  try {
    // One round trip for the transaction's start and its settings: over a network each costs a latency.
    // No JIT and no parallel workers: a batch statement touches a few thousand rows, yet its cost
    // estimates (state tables analysed while still small) crossed jit_above_cost, and each statement
    // paid up to a second compiling, or several milliseconds starting workers. SET LOCAL rather than
    // SELECT set_config: a SET takes no snapshot, so a REPEATABLE READ transaction's snapshot is taken by
    // its first real statement (a batch's row lock), not before it.
    await client.query(
      `begin isolation level ${options.isolation}${options.readOnly ? ' read only' : ''};` +
        ` set local statement_timeout = ${integerMs(options.statementTimeoutMs)}; set local lock_timeout = ${integerMs(options.lockTimeoutMs)};` +
        ' set local jit = off; set local max_parallel_workers_per_gather = 0' +
        (options.asyncCommit ? '; set local synchronous_commit = off' : ''),
    );
    const result = await work(client);
    await client.query(options.rollback ? 'rollback' : 'commit');
    return result;
  } catch (error) {
    try {
      await client.query('rollback');
    } catch {
      broken = true;
    }
    throw error;
  } finally {
    client.release(broken);
  }
}

/** A timeout in ms as SQL text: a non-negative integer, so it can be spliced into SET LOCAL safely. */
function integerMs(ms: number): string {
  if (!Number.isSafeInteger(ms) || ms < 0) throw new RangeError(`timeout must be a whole number of milliseconds, got ${ms}`);
  return String(ms);
}

// Retry caps for transient errors: 3 attempts, as GitLab's batched migrations do, with jittered backoff.
export const MAX_TRANSIENT_ATTEMPTS = 3;
const BACKOFF_BASE_MS = 200;

export async function withTransientRetry<T>(work: () => Promise<T>, onRetry?: (error: unknown, attempt: number) => void): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await work();
    } catch (error) {
      if (attempt >= MAX_TRANSIENT_ATTEMPTS || !isTransient(error)) throw error;
      onRetry?.(error, attempt);
      const delay = BACKOFF_BASE_MS * 2 ** (attempt - 1) * (0.5 + Math.random());
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}
