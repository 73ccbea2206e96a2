import type pg from 'pg';
import { withLockRetries } from './ddl.ts';
import { describeSessionsLockHolders } from './locks.ts';
import { canLockAccounts, canUseReplicaRole } from './state.ts';
import { inspectDatabase, type DatabaseShape } from '../../engine/preflight.ts';
import { inTransaction } from '../../engine/transactions.ts';
import { errorMessage, PreconditionError } from '../../engine/errors.ts';
import type { Logger } from '../../engine/logger.ts';

export interface StampPreflight {
  shape: DatabaseShape;
  /** Stamp under session_replication_role = replica (set_updated_at does not fire). */
  preserveUpdatedAt: boolean;
  lockRetries: number;
}

/**
 * The shared preflight, plus what stamping needs: rooms.artist_id to read, and a way to keep
 * updated_at (or the operator's consent not to).
 *
 * information_schema.columns takes ACCESS SHARE on sessions (it deparses column defaults), so behind an
 * ACCESS EXCLUSIVE holder the preflight itself would wait forever: it runs with the DDL's short
 * lock_timeout and the same retries instead.
 */
export async function stampPreflight(
  pool: pg.Pool,
  options: { dryRun: boolean; allowTouchUpdatedAt: boolean; lockTimeoutMs: number; statementTimeoutMs: number; attempts: number; stateSchema: string },
  logger: Logger,
): Promise<StampPreflight> {
  const { value: shape, retries } = await withLockRetries(
    {
      attempts: options.attempts,
      onRetry: (error, attempt, retryInMs) =>
        logger.warn({ attempt, retryInMs, error: errorMessage(error) }, 'Preflight could not read the target tables; retrying'),
      onGiveUp: async (error, attempts) => {
        const holders = await describeSessionsLockHolders(pool).catch(() => 'unknown (could not read pg_locks)');
        return new Error(
          `Preflight gave up after ${attempts} attempts: reading the definition of the target tables waited ` +
            `${options.lockTimeoutMs} ms each time (${errorMessage(error)}). Holding locks: ${holders}. Nothing was ` +
            'written. Re-run when that transaction is gone, or raise --ddl-lock-timeout / --ddl-attempts.',
          { cause: error },
        );
      },
    },
    () =>
      inTransaction(
        pool,
        { isolation: 'read committed', readOnly: true, lockTimeoutMs: options.lockTimeoutMs, statementTimeoutMs: options.statementTimeoutMs },
        (client) => inspectDatabase(client, { target: true, writes: { sessions: ['UPDATE'] }, state: { schema: options.stateSchema, write: true } }),
      ),
  );
  if (!shape.roomsHasArtistId) {
    throw new PreconditionError('public.rooms.artist_id does not exist: there is nothing to stamp sessions.artist_id from.');
  }
  const preserveUpdatedAt = await canUseReplicaRole(pool);
  if (!preserveUpdatedAt && !options.allowTouchUpdatedAt) {
    throw new PreconditionError(
      `Role ${shape.currentUser} may not SET session_replication_role, so stamping would fire the set_updated_at ` +
        "trigger on every stamped session and move old chats to the top of users' chat lists (the app sorts by " +
        "updated_at). Run as a role that may (Supabase's postgres can; a superuser can; or GRANT SET ON PARAMETER " +
        `session_replication_role TO ${shape.currentUser}), or pass --allow-touch-updated-at to accept the reordering.`,
    );
  }
  if (preserveUpdatedAt && !options.dryRun && !(await canLockAccounts(pool))) {
    throw new PreconditionError(
      `Role ${shape.currentUser} may not lock rows of public.accounts (FOR KEY SHARE needs an UPDATE privilege), ` +
        'which stamping needs: with triggers off for the stamp, the tool itself makes sure each artist exists until ' +
        `it commits. Run: GRANT UPDATE (id) ON public.accounts TO ${shape.currentUser}; or connect as the table owner.`,
    );
  }
  return { shape, preserveUpdatedAt, lockRetries: retries };
}
