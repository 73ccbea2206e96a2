import { sql } from 'kysely';
import type pg from 'pg';
import { errorMessage } from './errors.ts';
import type { Logger } from './logger.ts';
import { workerName } from './leases.ts';
import { execute, sqlBuilder } from './query-builder.ts';

export const TOOL_VERSION = '0.1.0';

export interface RunRecord {
  runId: string;
  command: string;
  scope: object;
  options: object;
  converterVersion: number;
}

export async function recordRunStart(db: pg.Pool | pg.ClientBase, schema: string, run: RunRecord): Promise<void> {
  await execute(
    db,
    sqlBuilder.withSchema(schema).insertInto('runs').values({
      run_id: run.runId,
      command: run.command,
      scope: JSON.stringify(run.scope),
      options: JSON.stringify(run.options),
      tool_version: TOOL_VERSION,
      converter_version: run.converterVersion,
    }),
  );
}

export async function recordRunEnd(
  db: pg.Pool,
  schema: string,
  runId: string,
  status: 'completed' | 'incomplete' | 'failed' | 'undone',
  summary: object,
): Promise<void> {
  let update = sqlBuilder
    .withSchema(schema)
    .updateTable('runs')
    .set({ status, finished_at: sql`now()`, heartbeat_at: sql`now()`, summary: JSON.stringify(summary) })
    .where('run_id', '=', runId);
  if (status === 'failed') {
    // One failing worker of a shared run does not fail the run while other workers still hold it: they
    // may finish it, and a restarted worker must still be able to join it.
    update = update.where(({ not, exists, selectFrom }) =>
      not(
        exists(
          selectFrom('leases')
            .select(sql`1`.as('one'))
            .where('leases.run_id', '=', runId)
            .where('leases.expires_at', '>', sql<Date>`now()`)
            .where('leases.holder', '<>', workerName()),
        ),
      ),
    );
  }
  await execute(db, update);
}

/** recordRunEnd once the report is written: a failure to record it is logged, never thrown. */
export async function recordRunEndOrWarn(
  db: pg.Pool,
  schema: string,
  runId: string,
  status: 'completed' | 'incomplete' | 'failed',
  summary: object,
  logger: Logger,
): Promise<void> {
  await recordRunEnd(db, schema, runId, status, summary).catch((error: unknown) =>
    logger.warn({ error: errorMessage(error) }, 'Could not record the end of the run'),
  );
}
