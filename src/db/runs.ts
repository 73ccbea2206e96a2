import type pg from 'pg';
import { errorMessage } from '../runtime/errors.ts';
import type { Logger } from '../runtime/logger.ts';
import { quoteIdent } from './sql-files.ts';

export const TOOL_VERSION = '0.1.0';

export interface RunRecord {
  runId: string;
  command: string;
  scope: object;
  options: object;
  converterVersion: number;
}

export async function recordRunStart(db: pg.Pool, schema: string, run: RunRecord): Promise<void> {
  await db.query(
    `insert into ${quoteIdent(schema)}.runs (run_id, command, scope, options, tool_version, converter_version)
     values ($1, $2, $3::jsonb, $4::jsonb, $5, $6)`,
    [run.runId, run.command, JSON.stringify(run.scope), JSON.stringify(run.options), TOOL_VERSION, run.converterVersion],
  );
}

export async function recordRunEnd(
  db: pg.Pool,
  schema: string,
  runId: string,
  status: 'completed' | 'incomplete' | 'failed' | 'undone',
  summary: object,
): Promise<void> {
  await db.query(
    `update ${quoteIdent(schema)}.runs
        set status = $2, finished_at = now(), heartbeat_at = now(), summary = $3::jsonb
      where run_id = $1`,
    [runId, status, JSON.stringify(summary)],
  );
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

export async function findRun(
  db: pg.Pool,
  schema: string,
  runId: string,
): Promise<{ command: string; status: string; dry: boolean } | null> {
  const { rows } = await db.query<{ command: string; status: string }>(
    `select command, status from ${quoteIdent(schema)}.runs where run_id = $1`,
    [runId],
  );
  const row = rows[0];
  return row ? { command: row.command, status: row.status, dry: false } : null;
}
