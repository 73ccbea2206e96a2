import type pg from 'pg';
import { runDdlStep, withLockRetries, type DdlTimeouts } from './ddl.ts';
import { describeSessionsLockHolders } from './locks.ts';
import { inspectArtistIdSchema, planArtistIdDdl, type ArtistIdSchemaState } from './schema-state.ts';
import { errorMessage, PreconditionError } from '../../engine/errors.ts';
import type { Logger } from '../../engine/logger.ts';

export interface ArtistIdSchemaOptions extends DdlTimeouts {
  dryRun: boolean;
  skipSchema: boolean;
  /** How many times the whole schema step is tried when a lock is busy. */
  attempts: number;
}

export interface ArtistIdSchemaOutcome {
  /** The DDL a real run would execute (dry run), or did execute. */
  ddl: string[];
  /** Whether sessions.artist_id exists now (false only in a dry run that would add it). */
  columnExists: boolean;
  /** Schema attempts that hit a busy lock and were retried. */
  lockRetries: number;
}

/**
 * Brings sessions.artist_id, its FK and its index to the shape of sql/target-artist-id.sql, doing only
 * what is missing. Every attempt re-reads the catalogs, so a step interrupted by a lock timeout (which,
 * for CREATE INDEX CONCURRENTLY, leaves an INVALID index behind) is planned again from what is there.
 */
export async function ensureArtistIdSchema(
  pool: pg.Pool,
  options: ArtistIdSchemaOptions,
  logger: Logger,
): Promise<ArtistIdSchemaOutcome> {
  const state = await inspectArtistIdSchema(pool);
  if (options.skipSchema) {
    if (state.columnType === null) {
      throw new PreconditionError(
        'public.sessions.artist_id does not exist, and --skip-schema says not to create it. Add the column ' +
          '(see sql/target-artist-id.sql), or drop --skip-schema to let stamp-artist-id add it.',
      );
    }
    return { ddl: [], columnExists: true, lockRetries: 0 };
  }
  const first = checkedPlan(state);
  if (options.dryRun || first.length === 0) {
    return { ddl: first.map((step) => step.sql), columnExists: state.columnType !== null, lockRetries: 0 };
  }

  const executed: string[] = [];
  let current = '';
  const { retries } = await withLockRetries(
    {
      attempts: options.attempts,
      onRetry: (error, attempt, retryInMs) =>
        logger.warn({ ddl: current, attempt, retryInMs, error: errorMessage(error) }, 'Schema step could not take its lock; retrying'),
      onGiveUp: async (error, attempts) => {
        const holders = await describeSessionsLockHolders(pool).catch(() => 'unknown (could not read pg_locks)');
        return new Error(
          `Gave up on \`${current}\` after ${attempts} attempts: each waited ${options.lockTimeoutMs} ms for its lock ` +
            `and timed out (${errorMessage(error)}). Holding locks on public.sessions or old snapshots: ${holders}. ` +
            'Nothing was left half-done (an INVALID index from an interrupted build is dropped and rebuilt next run). ' +
            'Re-run when those transactions are gone, or raise --ddl-lock-timeout / --ddl-attempts.',
          { cause: error },
        );
      },
    },
    async () => {
      for (const step of checkedPlan(await inspectArtistIdSchema(pool))) {
        current = step.sql;
        const started = Date.now();
        await runDdlStep(pool, step, options);
        executed.push(step.sql);
        logger.info({ ddl: step.sql, durationMs: Date.now() - started }, 'Schema step done');
      }
    },
  );
  return { ddl: executed, columnExists: true, lockRetries: retries };
}

/** The plan, after refusing shapes DDL must not paper over and roles that may not run it. */
function checkedPlan(state: ArtistIdSchemaState): ReturnType<typeof planArtistIdDdl>['steps'] {
  const plan = planArtistIdDdl(state);
  if (plan.conflicts.length > 0) {
    throw new PreconditionError(
      `sessions.artist_id is not shaped as stamp-artist-id expects: ${plan.conflicts.join('; ')}. Fix it by hand ` +
        '(see sql/target-artist-id.sql), or pass --skip-schema if the column is managed elsewhere.',
    );
  }
  if (plan.steps.length > 0 && !state.canAlter) {
    throw new PreconditionError(
      `Role ${state.currentUser} does not own public.sessions (its owner is ${state.owner}), so it cannot run the ` +
        `schema step: ${plan.steps.map((s) => s.sql).join('; ')}. Run stamp-artist-id as ${state.owner} (on ` +
        "Supabase: the postgres role), or have the owner run that DDL and re-run with --skip-schema.",
    );
  }
  if (plan.steps.some((s) => s.sql.includes('references public.accounts')) && !state.canReferenceAccounts) {
    throw new PreconditionError(
      `Role ${state.currentUser} lacks the REFERENCES privilege on public.accounts, which the foreign key ` +
        `needs. Run: GRANT REFERENCES ON public.accounts TO ${state.currentUser};`,
    );
  }
  return plan.steps;
}
